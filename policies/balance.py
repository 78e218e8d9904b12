"""``balance``: the provider whose balance pays for the most copies of this message first."""

from __future__ import annotations

from decimal import Decimal

from router import Policy, ProviderView, RoutingContext


class HighestBalance(Policy):
    """Orders by how many messages to this destination the balance affords, most first.

    A balance in credits pays one credit a segment; one in money pays the destination's
    price. An unknown or stale balance goes after every known one.
    """

    name = "balance"
    orders = True
    cacheable = True

    def key(self, ctx: RoutingContext, provider: ProviderView) -> Decimal | None:
        affordable = provider.affordable(ctx)
        return None if affordable is None else -affordable

    def describe(self, key: Decimal | None) -> str:
        return "balance unknown" if key is None else f"affords {int(-key)} messages"
