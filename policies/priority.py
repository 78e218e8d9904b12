"""``priority``: a static order from config, for plain failover."""

from __future__ import annotations

from router import Policy, ProviderView, RoutingContext


class Priority(Policy):
    """Orders by each provider's ``priority`` (lower first); unset goes last, in config order."""

    name = "priority"
    orders = True
    cacheable = True

    def key(self, ctx: RoutingContext, provider: ProviderView) -> int | None:
        return provider.priority

    def describe(self, key: int | None) -> str:
        return "no priority" if key is None else f"priority {key}"
