"""An operator's word on a provider: suspend it, resume it, reset its circuit breaker.

Each action is journalled first (:class:`~router.store.admin.AdminJournal`), then applied
to the provider's live state: a suspended provider is excluded from every route with the
operator's reason (``policy = "suspended"`` in explanations) and skipped by sends already
under way, so they fail over past it; a suspension in force is restored when a Router
starts on the same journal (a restart, a config reload). A reset closes the breaker and
forgets its failures and any hold the provider asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from router.clock import Clock
from router.engine.metrics import Metrics
from router.engine.providers import ProviderState
from router.store.admin import AdminAction, AdminJournal, AdminKind

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
    """

    def __init__(
        self,
        providers: Mapping[str, ProviderState],
        journal: AdminJournal,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self.providers = providers
        self.journal = journal
        self.metrics = metrics
        self.clock = clock

    async def restore(self) -> None:
        """Apply the journal's suspensions to the providers (when the Router starts)."""
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
        return state


def _check_reason(reason: str) -> None:
    if len(reason) > MAX_REASON:
        raise ValueError(f"the reason is longer than {MAX_REASON} characters")
    if any(not ch.isprintable() for ch in reason):
        raise ValueError("the reason has a control character in it")
