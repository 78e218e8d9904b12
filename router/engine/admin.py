"""An operator's word on a provider: suspend it, resume it, reset its circuit breaker.

Each action is journalled first (:class:`~router.store.admin.AdminJournal`), then applied
to the provider's live state: a suspended provider is excluded from every route with the
operator's reason (``policy = "suspended"`` in explanations) and skipped by sends already
under way, so they fail over past it; a suspension in force is restored when a Router
starts on the same journal (a restart, a config reload). A reset closes the breaker and
forgets its failures and any hold the provider asked for.

In a fleet, the instance an operator asked journals the action and tells the others
(:class:`~router.state.fleet.Notices`, topic ``admin``), which apply it to their own
providers without journalling it again; a reset reaches them through the shared breaker
itself. After a lost connection each instance restores the suspensions from the journal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from router.clock import Clock
from router.engine.metrics import Metrics
from router.engine.providers import ProviderState
from router.state.fleet import Notices
from router.store.admin import AdminAction, AdminJournal, AdminKind, Suspension

__all__ = ["MAX_REASON", "ProviderAdmin"]

log = logging.getLogger("smsrouter.admin")

MAX_REASON = 500
"""The longest reason an operator may give, in characters."""


class ProviderAdmin:
    """Suspends, resumes and resets providers, journalling each action.

    Args:
        providers: every enabled provider's state, by name.
        journal: where actions and suspensions are kept.
        metrics: where a suspension shows (``smsrouter_provider_suspended``).
        clock: when an action happened.
        notices: how the other instances of a fleet are told, and tell this one.
    """

    def __init__(
        self,
        providers: Mapping[str, ProviderState],
        journal: AdminJournal,
        metrics: Metrics,
        clock: Clock,
        notices: Notices | None = None,
    ) -> None:
        self.providers = providers
        self.journal = journal
        self.metrics = metrics
        self.clock = clock
        self.notices = notices
        self._listening = False

    async def restore(self) -> None:
        """Apply the journal's suspensions to the providers (when the Router starts), and
        from then on hear the other instances' actions."""
        if self.notices is not None and not self._listening:
            self.notices.listen("admin", self._heard, self.restore)
            self._listening = True
        suspended = await self.journal.suspensions()
        for name, state in self.providers.items():
            state.suspended = suspended.get(name)
            self.metrics.series(self.metrics.suspended, name).set_function(
                lambda state=state: float(state.suspended is not None)  # type: ignore[misc]
            )
            if state.suspended is not None:
                log.info("provider %r is suspended: %s", name, state.suspended.reason or "-")

    async def suspend(self, name: str, reason: str = "") -> ProviderState:
        """Route nothing to *name* until it is resumed; journalled with *reason*.

        Raises:
            KeyError: no enabled provider has that name.
            ValueError: *reason* is too long or has a control character.
        """
        return await self._act(name, AdminKind.SUSPEND, reason)

    async def resume(self, name: str, reason: str = "") -> ProviderState:
        """Let *name* take messages again (its breaker permitting); journalled."""
        return await self._act(name, AdminKind.RESUME, reason)

    async def reset(self, name: str, reason: str = "") -> ProviderState:
        """Close *name*'s circuit breaker and forget its failures and hold; journalled."""
        return await self._act(name, AdminKind.RESET, reason)

    async def _act(self, name: str, kind: AdminKind, reason: str) -> ProviderState:
        state = self.providers[name]
        _check_reason(reason)
        action = AdminAction(name, kind, reason, self.clock.time())
        await self.journal.record_admin(action)
        if kind is AdminKind.SUSPEND:
            state.suspended = (await self.journal.suspensions()).get(name)
        elif kind is AdminKind.RESUME:
            state.suspended = None
        else:
            state.breaker.reset()
        log.info("provider %r: %s by an operator%s", name, kind.value, f": {reason}" * bool(reason))
        if self.notices is not None:
            since = None if state.suspended is None else state.suspended.since
            self.notices.tell(
                "admin",
                {"provider": name, "kind": kind.value, "reason": reason, "since": since},
            )
        return state

    def _heard(self, notice: Mapping[str, Any]) -> None:
        """Apply another instance's action (journalled there) to this one's provider."""
        name, kind = str(notice["provider"]), AdminKind(notice["kind"])
        state = self.providers.get(name)
        if state is None:
            return  # not enabled here
        reason = str(notice["reason"])
        if kind is AdminKind.SUSPEND:
            since = notice.get("since")
            at = float(since) if since is not None else self.clock.time()
            state.suspended = Suspension(name, reason, at)
        elif kind is AdminKind.RESUME:
            state.suspended = None
        # A reset moved the shared breaker: that move reaches this instance by itself.
        log.info("provider %r: %s by an operator elsewhere in the fleet", name, kind.value)


def _check_reason(reason: str) -> None:
    if len(reason) > MAX_REASON:
        raise ValueError(f"the reason is longer than {MAX_REASON} characters")
    if any(not ch.isprintable() for ch in reason):
        raise ValueError("the reason has a control character in it")
