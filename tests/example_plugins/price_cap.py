"""An example policy plugin: ``price_cap`` excludes providers too dear for a destination,
and ``least_busy`` orders providers by the calls they have under way.

docs/plugins.md ("Writing a policy plugin") walks through it. Packaged, it would declare
``[project.entry-points.smsrouter] price_cap = "price_cap"``; here tests pass the module to
``Router(..., plugins=[price_cap])``.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from router import Policy, PolicyRegistry, ProviderView, RoutingContext, hookimpl


@attrs.frozen
class PriceCapConfig:
    """The ``[policies.price_cap]`` table."""

    max_price: Decimal
    """The most one segment may cost, in the router's base currency."""
    unpriced: bool = True
    """Whether a provider with no price for the destination may still take it."""


class PriceCap(Policy):
    """Excludes every provider whose price per segment is over ``max_price``."""

    name = "price_cap"
    Config = PriceCapConfig
    cacheable = True  # reads only the destination's price and the provider's currency
    config: PriceCapConfig

    def exclude(self, ctx: RoutingContext, provider: ProviderView) -> str | None:
        """Why *provider* is too dear for this destination, or None when it is not."""
        price = provider.price(ctx.recipient.digits)
        if price is None:
            return None if self.config.unpriced else "no price for this destination"
        in_base = ctx.to_base(price, provider.currency)
        if in_base is None:
            return f"no rate for {provider.currency} in router.currencies"
        cap = self.config.max_price
        if in_base > cap:
            return f"{in_base} {ctx.base_currency} a segment is over the cap of {cap}"
        return None


class LeastBusy(Policy):
    """Orders providers by the calls they have in flight, fewest first."""

    name = "least_busy"
    orders = True

    def key(self, ctx: RoutingContext, provider: ProviderView) -> int:
        """The calls *provider* has under way now."""
        return provider.in_flight

    def describe(self, key: int) -> str:
        """How the explanation shows the key."""
        return f"{key} in flight"


@hookimpl
def smsrouter_register_policies(registry: PolicyRegistry) -> None:
    """Register ``price_cap`` and ``least_busy``."""
    registry.add(PriceCap)
    registry.add(LeastBusy)
