"""``quality``: providers that deliver to this country keep their traffic; others give up
some of it, by the weights the router learns from delivery reports."""

from __future__ import annotations

import attrs

from router import Learnt, Policy, ProviderView, RoutingContext, draw


@attrs.frozen(order=True)
class QualityKey:
    """Whether this recipient moves away from the provider (1) or not (0), with the figures."""

    moved: int
    country: str = attrs.field(eq=False, order=False)
    learnt: Learnt = attrs.field(eq=False, order=False)
    draw: float = attrs.field(eq=False, order=False)


class Quality(Policy):
    """Orders by learnt delivery quality per provider and destination country.

    The router keeps each provider's delivered share and report latency per country over a
    rolling window (``[router.quality]``) and a weight from them: 1 (its resting weight)
    while it delivers as well as the best, lower, by bounded steps each interval, while it
    delivers worse, never below ``min_weight``, rising slowly back when it recovers or its
    sample is too small to count. A recipient keeps the provider where the other policies
    put it with the chance of its weight, and otherwise moves it after the providers it
    does not move from: traffic is shared by weight, not moved whole, so a provider doing
    badly stays measured. At resting weights it changes nothing, and the policies after it
    decide. The draw is fixed by the message id and recipient, so a retry goes the same way.
    """

    name = "quality"
    orders = True
    learns = True
    cacheable = False  # the answer depends on the message id and on learnt weights

    def key(self, ctx: RoutingContext, provider: ProviderView) -> QualityKey:
        country = ctx.recipient.country
        learnt = provider.learnt_for(country)
        chance = draw(ctx.recipient.ref, provider.name, "quality")
        moved = int(learnt.weight < 1.0 and chance >= learnt.weight)
        return QualityKey(moved, country, learnt, chance)

    def describe(self, key: QualityKey) -> str:
        learnt, figures = key.learnt, key.learnt.figures
        words = [f"weight {learnt.weight:.2f} (resting {learnt.resting:.2f}) to {key.country}"]
        if figures is None:
            words.append("no sends in the window")
        else:
            share = figures.delivered_share
            words.append(
                f"delivered {figures.delivered} of {figures.outcomes}"
                + ("" if share is None else f" ({share:.0%})")
                + f", {figures.failed} failed, {figures.missing} missing,"
                f" {figures.pending} pending"
            )
            if figures.latency is not None:
                words.append(f"mean report after {figures.latency:.1f}s")
        verdict = "moved back" if key.moved else "kept in place"
        words.append(f"draw {key.draw:.2f}: {verdict}")
        return "; ".join(words)
