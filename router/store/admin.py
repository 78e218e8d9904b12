"""The operators' part of the journal: provider suspensions, admin actions, ingress notes.

An operator suspends a provider (no message is routed to it until it is resumed), resumes
it, or resets its circuit breaker; each action is journalled with its reason, and a
suspension in force survives a restart. An ingress (a drop-in API such as Kannel's
``sendsms``) keeps a note beside a message it took: what it needs to call its client back
when the message's delivery reports arrive, after a restart too.

:class:`AdminJournal` is that part of the :class:`~router.store.MessageStore` contract;
:class:`MemoryAdminJournal` keeps it in this process (the memory store's), and the SQLite
store keeps it in its file (:mod:`router.store._admin_sqlite`).
"""

from __future__ import annotations

import abc
import collections
import enum
from collections.abc import Mapping

import attrs

__all__ = [
    "AdminAction",
    "AdminJournal",
    "AdminKind",
    "IngressNote",
    "MemoryAdminJournal",
    "Suspension",
]


class AdminKind(enum.StrEnum):
    """What an operator did to a provider."""

    SUSPEND = "suspend"
    """No message is routed to it until it is resumed."""
    RESUME = "resume"
    """It takes messages again (its breaker permitting)."""
    RESET = "reset"
    """Its circuit breaker was closed and its failures forgotten."""


@attrs.frozen
class AdminAction:
    """One journalled action of an operator on a provider."""

    provider: str
    kind: AdminKind
    reason: str
    """What the operator said (may be empty)."""
    at: float


@attrs.frozen
class Suspension:
    """A provider suspended by an operator, and why."""

    provider: str
    reason: str
    since: float


@attrs.frozen
class IngressNote:
    """What an ingress keeps beside a message it took, to call its client back later."""

    message_id: str
    ingress: str
    """The ingress's name (``kannel``)."""
    fields: Mapping[str, str]
    """The ingress's own fields (its client's callback URL, its options); strings only."""
    at: float


class AdminJournal(abc.ABC):
    """The operators' part of the journal contract. Every method is a coroutine."""

    @abc.abstractmethod
    async def record_admin(self, action: AdminAction) -> None:
        """Journal *action*, and apply it to the suspensions in force.

        A suspend suspends the provider since ``action.at`` with ``action.reason`` (a second
        suspend replaces the reason and keeps the first ``since``); a resume ends its
        suspension; a reset changes no suspension.
        """

    @abc.abstractmethod
    async def suspensions(self) -> dict[str, Suspension]:
        """The suspensions in force, by provider name."""

    @abc.abstractmethod
    async def admin_actions(
        self, *, provider: str | None = None, limit: int = 50
    ) -> list[AdminAction]:
        """Journalled actions, newest first: only *provider*'s when given, at most *limit*.

        Raises:
            ValueError: *limit* is below 1.
        """

    @abc.abstractmethod
    async def add_ingress_note(self, note: IngressNote) -> None:
        """Keep *note* beside its message; a second note for one message replaces it."""

    @abc.abstractmethod
    async def ingress_note(self, message_id: str) -> IngressNote | None:
        """The note an ingress kept beside *message_id*, or None."""


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")


class MemoryAdminJournal(AdminJournal):
    """The operators' journal in this process: gone when it ends.

    Args:
        max_notes: how many ingress notes to keep; beyond it the oldest are forgotten.
        max_actions: how many actions to keep; beyond it the oldest are forgotten.
    """

    def __init__(self, *, max_notes: int = 100_000, max_actions: int = 10_000) -> None:
        self._suspended: dict[str, Suspension] = {}
        self._actions: collections.deque[AdminAction] = collections.deque(maxlen=max_actions)
        self._notes: collections.OrderedDict[str, IngressNote] = collections.OrderedDict()
        self._max_notes = max_notes

    async def record_admin(self, action: AdminAction) -> None:
        self._actions.append(action)
        if action.kind is AdminKind.SUSPEND:
            before = self._suspended.get(action.provider)
            since = action.at if before is None else before.since
            self._suspended[action.provider] = Suspension(action.provider, action.reason, since)
        elif action.kind is AdminKind.RESUME:
            self._suspended.pop(action.provider, None)

    async def suspensions(self) -> dict[str, Suspension]:
        return dict(self._suspended)

    async def admin_actions(
        self, *, provider: str | None = None, limit: int = 50
    ) -> list[AdminAction]:
        _check_limit(limit)
        found = [a for a in reversed(self._actions) if provider in (None, a.provider)]
        return found[:limit]

    async def add_ingress_note(self, note: IngressNote) -> None:
        self._notes.pop(note.message_id, None)
        self._notes[note.message_id] = attrs.evolve(note, fields=dict(note.fields))
        while len(self._notes) > self._max_notes:
            self._notes.popitem(last=False)

    async def ingress_note(self, message_id: str) -> IngressNote | None:
        return self._notes.get(message_id)
