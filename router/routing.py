"""Validating a message and deciding, without sending, where each recipient goes and why.

:class:`Routing` is mixed into :class:`~router.engine.Router`, which owns the providers and
the policy chain these methods read; :func:`sender_kind` classifies a sender ID.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from router import text as texts
from router.errors import ValidationError
from router.health import BreakerState
from router.model import MAX_RECIPIENTS, Balance, Message, Recipient, Route, SenderKind
from router.numbers import parse
from router.policy import PolicyChain, ProviderView, RoutingContext
from router.state import ProviderState, RoutePlan

if TYPE_CHECKING:
    from router.clock import Clock
    from router.config import Config


def sender_kind(sender: str | None) -> SenderKind:
    """What kind of sender ID *sender* is, or ValidationError naming ``sender``."""
    if sender is None:
        return SenderKind.NONE
    if not sender:
        raise ValidationError("sender", "is empty (leave it out for the provider's default)")
    digits = sender.removeprefix("+")
    if digits.isdigit():
        if len(digits) > 15:
            raise ValidationError("sender", f"a numeric sender has at most 15 digits: {sender!r}")
        return SenderKind.NUMERIC
    if len(sender) > 11:
        raise ValidationError(
            "sender", f"an alphanumeric sender has at most 11 characters: {sender!r}"
        )
    if not all(ch.isascii() and ch.isalnum() for ch in sender):
        # No provider here takes spaces or punctuation (providers.md 1.6, 2.2, 4.2).
        raise ValidationError("sender", f"only letters and digits are allowed: {sender!r}")
    return SenderKind.ALPHANUMERIC


class Routing:
    """Checking and routing a message: the Router's part that asks the policies."""

    # Set by the Router: what validation and routing read.
    config: Config
    clock: Clock
    _states: dict[str, ProviderState]
    _chain: PolicyChain

    def _prepare(
        self, message: Message
    ) -> tuple[tuple[Recipient, ...], texts.TextInfo, SenderKind]:
        if not message.text.strip():
            raise ValidationError("text", "is empty")
        if not message.to:
            raise ValidationError("to", "no recipients")
        if len(message.to) > MAX_RECIPIENTS:
            raise ValidationError(
                "to", f"{len(message.to)} recipients, at most {MAX_RECIPIENTS} in one message"
            )
        kind = sender_kind(message.sender)
        if message.reference is not None and not message.reference.strip():
            raise ValidationError("reference", "expected a non-empty string")
        if message.providers is not None and not message.providers:
            raise ValidationError("providers", "is empty (leave it out to use every provider)")
        for index, name in enumerate(message.providers or ()):
            if name not in self._states:
                known = ", ".join(self._states) or "none"
                raise ValidationError(
                    f"providers[{index}]", f"unknown provider {name!r} (configured: {known})"
                )
        region = self.config.router.default_region
        recipients: list[Recipient] = []
        seen: dict[str, int] = {}
        for index, number in enumerate(message.to):
            field = f"to[{index}]" if len(message.to) > 1 else "to"
            parsed = parse(number, region, field=field)
            if parsed.e164 in seen:
                raise ValidationError(
                    field, f"{parsed.e164} is also to[{seen[parsed.e164]}]: send it once"
                )
            seen[parsed.e164] = index
            recipients.append(
                Recipient(parsed.e164, parsed.region, parsed.country_code, f"{message.id}-{index}")
            )
        return tuple(recipients), texts.analyse(message.text), kind

    def _views(self, only: Sequence[str] | None) -> list[ProviderView]:
        now = self.clock.time()
        stale_after = self.config.router.balance_stale_after
        views = []
        for state in self._states.values():
            if only is not None and state.name not in only:
                continue
            balance = state.balance
            if balance is not None and now - balance.at > stale_after:
                balance = None
            breaker = state.breaker
            live = (balance, breaker.state, breaker.accepting, state.budget.in_flight)
            cached = state.view
            if cached is None or cached[0] != live:
                # A view is rebuilt only when the live state it shows has moved.
                cached = state.view = (live, self._view(state, *live))
            views.append(cached[1])
        return views

    @staticmethod
    def _view(
        state: ProviderState,
        balance: Balance | None,
        breaker: BreakerState,
        accepting: bool,
        in_flight: int,
    ) -> ProviderView:
        common = state.settings.common
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
            price_lengths=state.price_lengths,
        )

    def _context(
        self, recipient: Recipient, info: texts.TextInfo, kind: SenderKind, message: Message
    ) -> RoutingContext:
        settings = self.config.router
        return RoutingContext(
            recipient=recipient,
            encoding=info.encoding,
            segments=info.segments,
            sender_kind=kind,
            sender_length=len(message.sender or ""),
            recipient_count=len(message.to),
            base_currency=settings.base_currency,
            currencies=settings.currencies,
        )

    def _routes(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        info: texts.TextInfo,
        kind: SenderKind,
    ) -> list[Route]:
        views = self._views(message.providers)
        routes = []
        for recipient in recipients:
            ctx = self._context(recipient, info, kind, message)
            candidates, excluded = self._chain.decide(ctx, views)
            routes.append(Route(recipient.e164, candidates, excluded))
        return routes

    def route(self, message: Message) -> RoutePlan:
        """Explain, without sending, where each recipient would go and why.

        Raises:
            ValidationError: the message is wrong (the field is named).
        """
        recipients, info, kind = self._prepare(message)
        return RoutePlan(
            message.id,
            info.encoding.value,
            info.segments,
            tuple(self._routes(message, recipients, info, kind)),
        )
