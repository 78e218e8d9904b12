"""``cheapest``: the lowest cost for this message, in the base currency."""

from __future__ import annotations

from decimal import Decimal

from router import Policy, ProviderView, RoutingContext


class Cheapest(Policy):
    """Orders by price per segment (longest prefix) x segments x recipients, in base currency.

    A provider with no price for the destination, or whose currency has no configured rate,
    goes after every priced one.
    """

    name = "cheapest"
    orders = True
    cacheable = True

    def key(self, ctx: RoutingContext, provider: ProviderView) -> Decimal | None:
        cost = provider.cost(ctx)
        return None if cost is None else ctx.to_base(cost, provider.currency)

    def describe(self, key: Decimal | None) -> str:
        return "no price" if key is None else f"cost {key:f}"
