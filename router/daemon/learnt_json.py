"""What routing learnt of one provider, as the API shows it in ``/v1/providers``."""

from __future__ import annotations

from typing import Any

from router.engine.providers import ProviderState
from router.engine.quality import QualityTracker
from router.policy import Learnt

__all__ = ["countries_json", "learnt_json"]


def learnt_json(country: str, learnt: Learnt) -> dict[str, Any]:
    """One country's figures and weight."""
    f = learnt.figures
    return {
        "country": country,
        "weight": learnt.weight,
        "resting_weight": learnt.resting,
        "sent": 0 if f is None else f.sent,
        "delivered": 0 if f is None else f.delivered,
        "failed": 0 if f is None else f.failed,
        "missing": 0 if f is None else f.missing,
        "pending": 0 if f is None else f.pending,
        "delivered_share": None if f is None else f.delivered_share,
        "report_latency_seconds": None if f is None else f.latency,
    }


def countries_json(state: ProviderState, quality: QualityTracker) -> dict[str, Any]:
    """What one provider's entry in ``/v1/providers`` shows per destination country."""
    breakers = state.countries.states()
    learnt = quality.learnt(state.name)
    return {
        "country_breakers": {country: s.value for country, s in breakers.items()},
        "delivery": [learnt_json(c, learnt[c]) for c in sorted(learnt)],
    }
