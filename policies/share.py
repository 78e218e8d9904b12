"""``share``: traffic split by weights across the providers that pass the filters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from router import Policy, ProviderView, RoutingContext, weighted_score


def _weights(_: object, attribute: attrs.Attribute[Any], value: dict[str, float]) -> None:
    for name, weight in value.items():
        if weight < 0:
            raise ValueError(f"{name}: a weight cannot be below 0, got {weight!r}")
    if not any(weight > 0 for weight in value.values()):
        raise ValueError("give at least one provider a weight above 0")


@attrs.frozen
class ShareConfig:
    """``[policies.share]``: each provider's weight; one left out has weight 0."""

    weights: dict[str, float] = attrs.field(validator=_weights)


class Share(Policy):
    """Orders providers by a draw weighted by ``weights``: of providers weighted 70 and 30,
    the first goes first for about 70% of recipients, the other for 30%, and the second
    stays warm and measured. A provider that another filter excludes drops out of the draw,
    and the others share its part by their weights. The draw is fixed by the message id and
    the recipient's place in the message, so a message sent again goes the same way; a
    provider of weight 0 goes after the others (it stays a failover).
    """

    name = "share"
    orders = True
    cacheable = False  # the answer depends on the message id
    Config = ShareConfig

    @classmethod
    def problems(cls, config: ShareConfig, providers: Sequence[str]) -> list[str]:
        return [
            f"weights.{name}: no provider is named {name!r}"
            for name in config.weights
            if name not in providers
        ]

    def key(self, ctx: RoutingContext, provider: ProviderView) -> tuple[float, float] | None:
        weight = self.config.weights.get(provider.name, 0.0)
        score = weighted_score(ctx.recipient.ref, provider.name, weight, "share")
        return None if score is None else (score, weight)

    def describe(self, key: tuple[float, float] | None) -> str:
        if key is None:
            return "weight 0: after the weighted providers"
        total = sum(self.config.weights.values())
        return f"weight {key[1]:g} of {total:g}, draw {key[0]:.4f} (lowest first)"
