"""The webhook event journal: events waiting to be posted to the user's receivers.

An :class:`Event` (a delivery report, an inbound message, a failed message, a provider's
breaker moving) is journalled once, with one :class:`Delivery` per webhook that wants it.
A delivery is ``pending`` until its receiver answers 2xx (``delivered``) or its retries run
out (``dead``: a dead letter, kept until it is re-queued). Pending deliveries outlive a
restart, which is what makes delivery at least once.

:class:`MemoryEventJournal` is for the library and tests; the daemon's is the SQLite one
(:mod:`router.webhooks.sqlite`, which also picks the journal that goes with a message
journal).
"""

from __future__ import annotations

import abc
import enum
import json
from collections.abc import Callable, Collection, Sequence

import attrs

from router.model import EventType
from router.store.base import check_limit
from router.store.records import Columns
from router.webhooks.events import Event

__all__ = ["Delivery", "DeliveryState", "EventJournal", "MemoryEventJournal"]


class DeliveryState(enum.StrEnum):
    """Where one event's delivery to one webhook is."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    """Retried until its webhook's ``max_age``; kept until re-queued."""


@attrs.frozen
class Delivery:
    """One event on its way to one webhook."""

    seq: int
    """Grows with each delivery journalled: the cursor of :meth:`EventJournal.list`."""
    event: Event
    webhook: str
    state: DeliveryState
    attempts: int
    queued_at: float
    """When it was journalled or last re-queued: its webhook's ``max_age`` runs from here."""
    next_at: float | None
    """When a pending delivery is due next; None once delivered or dead."""
    last_at: float | None = None
    last_status: int | None = None
    """The HTTP status of the last answer, when there was one."""
    last_error: str | None = None
    delivered_at: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        """(event id, webhook name): what names a delivery."""
        return self.event.id, self.webhook


def delivery_record(row: Columns) -> Delivery:
    """A delivery from its row in a SQL event journal, joined with its event's row (the
    event's data as JSON text)."""
    event = Event(
        id=row["event_id"],
        type=EventType(row["type"]),
        created_at=row["created_at"],
        data=json.loads(row["data"]),
    )
    return Delivery(
        seq=row["seq"],
        event=event,
        webhook=row["webhook"],
        state=DeliveryState(row["state"]),
        attempts=row["attempts"],
        queued_at=row["queued_at"],
        next_at=row["next_at"],
        last_at=row["last_at"],
        last_status=row["last_status"],
        last_error=row["last_error"],
        delivered_at=row["delivered_at"],
    )


class EventJournal(abc.ABC):
    """Where webhook events wait. Every method is a coroutine."""

    async def open(self) -> None:  # noqa: B027 - a memory journal has nothing to open
        """Prepare the journal (create the file, bring its schema up to date)."""

    async def close(self) -> None:  # noqa: B027
        """Flush and release the journal."""

    async def listen(self, wake: Callable[[], None]) -> None:  # noqa: B027 - one process
        """Call *wake* whenever another instance gives deliveries up (it is stopping), so
        they are posted at once; a journal of one process has no other instance."""

    @abc.abstractmethod
    async def add(self, event: Event, webhooks: Sequence[str], now: float) -> int:
        """Journal *event* with a pending delivery to each of *webhooks*, due at *now*.

        Committed before this returns. An (event id, webhook) journalled before is left
        as it is, so an event pushed twice is posted once. Returns how many were new.
        """

    @abc.abstractmethod
    async def due(self, now: float, *, limit: int, skip: Collection[str] = ()) -> list[Delivery]:
        """Pending deliveries due at *now*, soonest first, none to a webhook in *skip*."""

    @abc.abstractmethod
    async def next_due(self, after: float) -> float | None:
        """When the first pending delivery due later than *after* is due, if any."""

    @abc.abstractmethod
    async def delivered(self, event_id: str, webhook: str, now: float, status: int) -> None:
        """Record a post its receiver took.

        Raises:
            KeyError: no such delivery.
        """

    @abc.abstractmethod
    async def failed(
        self,
        event_id: str,
        webhook: str,
        now: float,
        *,
        status: int | None,
        error: str,
        retry_at: float | None,
    ) -> None:
        """Record a post that failed: due again at *retry_at*, or dead when that is None.

        Raises:
            KeyError: no such delivery.
        """

    @abc.abstractmethod
    async def requeue(self, event_id: str, now: float, *, webhook: str | None = None) -> int:
        """Make the event's dead deliveries (to *webhook* only, if given) pending again.

        Each is due at *now* with a fresh ``max_age``. Returns how many were re-queued.
        """

    @abc.abstractmethod
    async def deliveries(self, event_id: str) -> list[Delivery]:
        """Every delivery of one event, in the order they were journalled."""

    @abc.abstractmethod
    async def list(
        self,
        *,
        state: DeliveryState | None = None,
        type: EventType | None = None,
        webhook: str | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> list[Delivery]:
        """Deliveries, newest first; *before* is the ``seq`` of the previous page's last."""

    @abc.abstractmethod
    async def prune(self, before: float) -> int:
        """Forget deliveries delivered before *before* (and events left with none).

        Dead and pending ones are never pruned. Returns how many were forgotten.
        """


class MemoryEventJournal(EventJournal):
    """Every delivery in a dictionary; a restart empties it."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], Delivery] = {}
        self._seq = 0

    def _get(self, event_id: str, webhook: str) -> Delivery:
        return self._rows[event_id, webhook]

    async def add(self, event: Event, webhooks: Sequence[str], now: float) -> int:
        added = 0
        for webhook in dict.fromkeys(webhooks):
            if (event.id, webhook) in self._rows:
                continue
            self._seq += 1
            self._rows[event.id, webhook] = Delivery(
                self._seq, event, webhook, DeliveryState.PENDING, 0, now, now
            )
            added += 1
        return added

    def _pending(self) -> list[Delivery]:
        return [d for d in self._rows.values() if d.state is DeliveryState.PENDING]

    async def due(self, now: float, *, limit: int, skip: Collection[str] = ()) -> list[Delivery]:
        found = [
            d
            for d in self._pending()
            if d.next_at is not None and d.next_at <= now and d.webhook not in skip
        ]
        return sorted(found, key=lambda d: (d.next_at or 0.0, d.seq))[:limit]

    async def next_due(self, after: float) -> float | None:
        later = [d.next_at for d in self._pending() if d.next_at is not None and d.next_at > after]
        return min(later, default=None)

    async def delivered(self, event_id: str, webhook: str, now: float, status: int) -> None:
        row = self._get(event_id, webhook)
        self._rows[row.key] = attrs.evolve(
            row,
            state=DeliveryState.DELIVERED,
            attempts=row.attempts + 1,
            next_at=None,
            last_at=now,
            last_status=status,
            last_error=None,
            delivered_at=now,
        )

    async def failed(
        self,
        event_id: str,
        webhook: str,
        now: float,
        *,
        status: int | None,
        error: str,
        retry_at: float | None,
    ) -> None:
        row = self._get(event_id, webhook)
        self._rows[row.key] = attrs.evolve(
            row,
            state=DeliveryState.DEAD if retry_at is None else DeliveryState.PENDING,
            attempts=row.attempts + 1,
            next_at=retry_at,
            last_at=now,
            last_status=status,
            last_error=error,
        )

    async def requeue(self, event_id: str, now: float, *, webhook: str | None = None) -> int:
        dead = [
            d
            for d in self._rows.values()
            if d.event.id == event_id
            and d.state is DeliveryState.DEAD
            and webhook in (None, d.webhook)
        ]
        for row in dead:
            self._rows[row.key] = attrs.evolve(
                row, state=DeliveryState.PENDING, queued_at=now, next_at=now
            )
        return len(dead)

    async def deliveries(self, event_id: str) -> list[Delivery]:
        return sorted((d for d in self._rows.values() if d.event.id == event_id), key=_seq)

    async def list(
        self,
        *,
        state: DeliveryState | None = None,
        type: EventType | None = None,
        webhook: str | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> list[Delivery]:
        check_limit(limit)
        found = [
            d
            for d in self._rows.values()
            if state in (None, d.state)
            and type in (None, d.event.type)
            and webhook in (None, d.webhook)
            and (before is None or d.seq < before)
        ]
        return sorted(found, key=_seq, reverse=True)[:limit]

    async def prune(self, before: float) -> int:
        old = [
            key
            for key, d in self._rows.items()
            if d.delivered_at is not None and d.delivered_at < before
        ]
        for key in old:
            del self._rows[key]
        return len(old)


def _seq(delivery: Delivery) -> int:
    return delivery.seq
