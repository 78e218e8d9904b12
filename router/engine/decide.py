"""Deciding, without sending, where each recipient of a prepared message goes and why.

:class:`Decider` shows the policy chain one :class:`~router.policy.ProviderView` per
provider (rebuilt only when the live state it shows has moved) and one
:class:`~router.policy.RoutingContext` per recipient; the chain answers with the
candidates in failover order and every excluded provider with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from router.clock import Clock
from router.config import RouterSettings
from router.engine.decisions import Decisions
from router.engine.prepare import Prepared
from router.engine.providers import ProviderState
from router.engine.quality import QualityTracker
from router.model import Recipient, RecipientResult
from router.policy import PolicyChain, ProviderView, Route, RoutingContext


@attrs.frozen
class RoutePlan:
    """What :meth:`Router.route` explains: how the text is sent and each recipient's route."""

    message_id: str
    encoding: str
    segments: int
    routes: tuple[Route, ...]
    settled: tuple[RecipientResult | None, ...]
    """Beside each route: what compliance would do instead of sending that recipient now
    (refused as opted out, expired, or held until its time), or None: it is sent now."""


class Decider:
    """The policy chain asked about the live providers.

    Args:
        providers: every enabled provider's state, by name (read, never changed here but
            for the cached view).
        chain: the configured policies.
        settings: the ``[router]`` table (currencies, staleness of balances).
        clock: what a balance's age is measured against.
        quality: what was learnt of each provider's delivery, for the views.
    """

    def __init__(
        self,
        providers: Mapping[str, ProviderState],
        chain: PolicyChain,
        settings: RouterSettings,
        clock: Clock,
        quality: QualityTracker | None = None,
    ) -> None:
        self.providers = providers
        self.chain = chain
        self.settings = settings
        self.clock = clock
        self.quality = quality
        self._decisions: Decisions | None = None
        self._decisions_for: tuple[str, ...] = ()
        self._moved = 0
        """Counts the moves of any provider's balance, breaker or budget seen by a view."""

    def routes(self, prepared: Prepared, *, cached: bool = True) -> list[Route]:
        """Each recipient's route, in the order of ``prepared.recipients``.

        Through a cacheable chain a decision is remembered per destination prefix and
        message shape (:class:`~router.engine.decisions.Decisions`); *cached* False
        decides every recipient afresh (the same answer, as the tests prove).
        """
        only = prepared.message.providers
        if not (cached and self.chain.cacheable):
            fresh = self._views(only)
            return [
                Route(r.e164, *self.chain.decide(self._context(r, prepared), fresh))
                for r in prepared.recipients
            ]
        decisions = self.decisions
        decisions.check((self._watch(), self.chain.version()))
        views: list[ProviderView] | None = None
        message, text = prepared.message, prepared.text
        shape = (
            text.encoding,
            text.segments,
            prepared.sender_kind,
            len(message.sender or ""),
            len(message.to),
            only,
        )
        routes = []
        for recipient in prepared.recipients:
            key = (decisions.destination(recipient.digits), shape)
            found = decisions.get(key, recipient.e164)
            if found is None:
                views = self._views(only) if views is None else views
                found = self.chain.decide(self._context(recipient, prepared), views)
                decisions.put(key, recipient.e164, found)
            routes.append(Route(recipient.e164, *found))
        return routes

    @property
    def decisions(self) -> Decisions:
        """The decisions remembered through a cacheable chain (made on first use, once
        the Router has started its providers)."""
        providers = tuple(self.providers)
        if self._decisions is None or self._decisions_for != providers:
            commons = [s.settings.common for s in self.providers.values()]
            tables = [c.prices for c in commons] + [c.prefixes for c in commons]
            self._decisions, self._decisions_for = Decisions(tables), providers
        return self._decisions

    def plan(
        self, prepared: Prepared, settled: Mapping[str, RecipientResult] | None = None
    ) -> RoutePlan:
        """The routes with what they were decided on, for an explanation; *settled*: the
        recipients compliance would not send now, by reference."""
        return RoutePlan(
            prepared.message.id,
            prepared.text.encoding.value,
            prepared.text.segments,
            tuple(self.routes(prepared)),
            tuple((settled or {}).get(r.ref) for r in prepared.recipients),
        )

    def _views(self, only: Sequence[str] | None) -> list[ProviderView]:
        now = self.clock.time()
        stale_after = self.settings.balance_stale_after
        views = []
        for state in self.providers.values():
            if only is not None and state.name not in only:
                continue
            balance = state.balance
            if balance is not None and now - balance.at > stale_after:
                balance = None
            breaker = state.breaker
            said = None if state.suspended is None else state.suspended.reason
            live: tuple[object, ...] = (balance, breaker.state, breaker.accepting)
            live = (*live, state.budget.in_flight, said, *self._learnt(state))
            cached = state.view
            if cached is None or cached[0] != live:
                # A view is rebuilt only when the live state it shows has moved.
                cached = state.view = (live, self._view(state, live))
            views.append(cached[1])
        return views

    def _watch(self) -> int:
        """Count the moves of the state remembered decisions rest on; the count now.

        A provider's balance (as fresh as ``balance_stale_after`` allows), breaker state,
        whether it lets a call through and its suspension: what a cacheable policy may read
        of it besides its settings. Its calls in flight are not (not for them).
        """
        now = self.clock.time()
        stale_after = self.settings.balance_stale_after
        for state in self.providers.values():
            balance = state.balance
            if balance is not None and now - balance.at > stale_after:
                balance = None
            live = (balance, *state.breaker.gate(), state.suspended, *self._learnt(state))
            if live != state.watched:
                state.watched = live
                self._moved += 1
        return self._moved

    def _learnt(self, state: ProviderState) -> tuple[object, int]:
        """What a provider's view shows beside its own live state: the countries its breakers
        hold it from, and how far the learnt weights have moved (a remembered decision
        rests on both)."""
        return state.countries.closed_to(), 0 if self.quality is None else self.quality.version

    def _view(self, state: ProviderState, live: tuple[Any, ...]) -> ProviderView:
        balance, breaker, accepting, in_flight, suspended, closed_to, _ = live
        common, quality = state.settings.common, self.quality
        return ProviderView(
            name=state.name,
            index=state.index,
            capabilities=state.provider.capabilities,
            prefixes=common.prefixes,
            prices=common.prices,
            currency=common.currency,
            priority=common.priority,
            balance=balance,
            breaker=breaker.value,
            accepting=accepting,
            in_flight=in_flight,
            suspended=suspended,
            price_lengths=state.price_lengths,
            closed_to=closed_to,
            learnt={} if quality is None else quality.learnt(state.name),
            resting=1.0 if quality is None else quality.resting(state.name),
        )

    def _context(self, recipient: Recipient, prepared: Prepared) -> RoutingContext:
        message = prepared.message
        return RoutingContext(
            recipient=recipient,
            encoding=prepared.text.encoding,
            segments=prepared.text.segments,
            sender_kind=prepared.sender_kind,
            sender_length=len(message.sender or ""),
            recipient_count=len(message.to),
            base_currency=self.settings.base_currency,
            currencies=self.settings.currencies,
        )
