"""How learnt weights move: toward what the delivery statistics say, by bounded steps.

For each destination country, a provider whose delivered share counts (its sample has at
least ``min_sample`` outcomes) and falls short of the best provider's there by more than
``tolerance`` aims at ``resting x share / best``, never below ``min_weight``; any other
provider aims at its resting weight. A provider measured alone in a country is held to
perfect delivery (best = 1). A weight falls toward its aim by at most ``step`` per
interval and rises by at most ``return_step``: a provider doing badly loses traffic in
steps, and one that recovers (or whose sample is too small to say) wins it back slowly.
"""

from __future__ import annotations

from collections.abc import Mapping

from router.config import QualitySettings
from router.store import DeliveryFigures, QualityWeight


def aim(
    figures: DeliveryFigures | None, best: float | None, resting: float, settings: QualitySettings
) -> float:
    """Where one provider's weight to one country heads, given the best delivered share."""
    if figures is None or figures.outcomes < settings.min_sample or not best:
        return resting
    share = figures.delivered_share or 0.0
    if share >= best * (1 - settings.tolerance):
        return resting
    return max(min(settings.min_weight, resting), resting * share / best)


def moved(weight: float, target: float, settings: QualitySettings) -> float:
    """*weight* one interval on toward *target*, by the bounded steps."""
    if target < weight:
        return max(target, weight - settings.step)
    return min(target, weight + settings.return_step)


def next_weights(
    figures: Mapping[tuple[str, str], DeliveryFigures],
    weights: Mapping[tuple[str, str], float],
    resting: Mapping[str, float],
    settings: QualitySettings,
) -> tuple[QualityWeight, ...]:
    """The weights one interval on; a weight back at its resting weight is left out.

    Args:
        figures: the delivery statistics, by (provider, country).
        weights: the weights now, by (provider, country); a missing one is resting.
        resting: the resting weight of every provider that may send.
    """
    shares: dict[str, list[float]] = {}
    for (provider, country), found in figures.items():
        share = found.delivered_share
        if provider in resting and share is not None and found.outcomes >= settings.min_sample:
            shares.setdefault(country, []).append(share)
    # One provider measured alone is held to perfect delivery, so that while it does badly
    # the others get traffic and a measure of their own.
    best = {c: max(found) if len(found) > 1 else 1.0 for c, found in shares.items()}
    out = []
    for provider, country in sorted({*figures, *weights}):
        rest = resting.get(provider)
        if rest is None:
            continue  # no longer configured: forgotten
        now = weights.get((provider, country), rest)
        target = aim(figures.get((provider, country)), best.get(country), rest, settings)
        new = round(moved(now, target, settings), 6)
        if new != rest:
            out.append(QualityWeight(provider, country, new))
    return tuple(out)
