"""``prefix``: send only where a provider is allowed to, preferring the most specific match."""

from __future__ import annotations

from router import Policy, ProviderView, RoutingContext


def longest_match(digits: str, prefixes: tuple[str, ...]) -> int | None:
    """Length of the longest of *prefixes* that *digits* starts with, or None."""
    lengths = [len(p) for p in prefixes if digits.startswith(p)]
    return max(lengths) if lengths else None


class Prefix(Policy):
    """Excludes a provider whose ``prefixes`` do not cover the destination.

    Orders by how specific the matching prefix is: a provider configured for ``614``
    goes before one configured for ``61``, and both before one without ``prefixes``.
    """

    name = "prefix"
    orders = True
    cacheable = True

    def exclude(self, ctx: RoutingContext, provider: ProviderView) -> str | None:
        if provider.prefixes and longest_match(ctx.recipient.digits, provider.prefixes) is None:
            allowed = ", ".join(provider.prefixes)
            return f"does not send to {ctx.recipient.e164} (prefixes {allowed})"
        return None

    def key(self, ctx: RoutingContext, provider: ProviderView) -> int:
        return -(longest_match(ctx.recipient.digits, provider.prefixes) or 0)

    def describe(self, key: int) -> str:
        return f"prefix length {-key}" if key else "any destination"
