"""The ``quality`` policy against the emulators: traffic moves to the provider that
delivers by bounded steps, stays shared, stays put while frozen, and returns on recovery.

Two SMS Broadcast emulators: ``a`` is the cheaper to South Africa, so ``cheapest`` alone
sends it everything; it fails there (reports ``Failed``) while ``b`` delivers. Each round
sends a dozen messages, waits for their reports over loopback, moves the clock one
interval and reads the statistics. The draws are fixed by message id, so the test knows
how many of a round go to ``a`` at its weight.
"""

from __future__ import annotations

import collections
from pathlib import Path

from router import draw
from tests.daemon.learning_support import AU, ZA, Served, served

QUALITY = {
    "window": "5m",
    "report_timeout": "2m",
    "interval": "1m",
    "min_sample": 6,
    "step": 0.2,
    "return_step": 0.1,
    "min_weight": 0.2,
}
ROUTER = {"policy": ["prefix", "quality", "cheapest"], "quality": QUALITY}
PER_ROUND = 12


def weight(s: Served, provider: str = "a", country: str = "ZA") -> float:
    """*provider*'s learnt weight to *country*."""
    return s.router.quality.learnt(provider)[country].weight


async def one_round(s: Served, tag: str) -> collections.Counter[str]:
    """Send a round to ZA, wait for its reports, move one interval; who took each."""
    took: collections.Counter[str] = collections.Counter()
    for i in range(PER_ROUND):
        result = await s.send(ZA, f"{tag}n{i}")
        took[str(result.recipients[0].provider)] += 1
    s.clock.advance(60)
    await s.router.quality.refresh()
    return took


def expected_for_a(tag: str, w: float) -> int:
    """How many of round *tag* keep ``a`` first at weight *w* (the others move it back)."""
    return sum(1 for i in range(PER_ROUND) if w >= 1 or draw(f"{tag}n{i}-0", "a", "quality") < w)


async def test_traffic_moves_by_steps_stays_shared_holds_when_frozen_and_returns(
    tmp_path: Path,
) -> None:
    async with served(tmp_path, ("a", "b"), ROUTER) as s:
        s.emulators["a"].set_outcome("27", "failed")
        weights, to_a = [1.0], []
        for k in range(8):  # a fails: it loses traffic one bounded step per interval
            took = await one_round(s, f"f{k}")
            assert took["a"] == expected_for_a(f"f{k}", weights[-1])
            weights.append(weight(s))
            to_a.append(took["a"])
        assert weights == [1.0, 0.8, 0.6, 0.4, 0.2, 0.2, 0.2, 0.2, 0.2]
        assert weight(s, "b") == 1.0
        # Shared, not moved whole: at its floor a keeps a part and goes on being measured.
        assert 0 < sum(to_a[4:]) < 4 * PER_ROUND / 2
        figures = s.router.quality.learnt("a")["ZA"].figures
        assert figures is not None
        assert figures.sent == sum(to_a[3:])
        assert figures.delivered == 0
        # POST /v1/route explains with the figures it used; /v1/providers and metrics show them.
        status, plan = await s.call("POST", "/v1/route", {"to": ZA, "text": "hi"})
        keys = {c["provider"]: c["keys"]["quality"] for c in plan["routes"][0]["candidates"]}
        assert status == 200
        assert "weight 0.20 (resting 1.00) to ZA" in keys["a"]
        assert f"delivered 0 of {figures.outcomes} (0%)" in keys["a"]
        assert "weight 1.00" in keys["b"]
        assert "delivered" in keys["b"]
        [za] = (await s.provider("a"))["delivery"]
        assert (za["country"], za["weight"], za["delivered"]) == ("ZA", 0.2, 0)
        assert za["failed"] == figures.failed > 0
        async with s.client.get("/metrics") as answer:
            text = await answer.text()
        assert 'smsrouter_quality_weight{country="ZA",provider="a"} 0.2' in text
        assert 'smsrouter_delivery_outcomes{country="ZA",outcome="failed",provider="a"}' in text

        # Frozen through the API: a recovers, the figures say so, the weight stays.
        status, body = await s.call("PUT", "/v1/quality/freeze")
        assert (status, body["frozen"], body["frozen_by"]) == (200, True, "api")
        s.emulators["a"].set_outcome("27", "delivered")
        for k in range(7):
            took = await one_round(s, f"z{k}")
            assert weight(s) == 0.2
            assert took["a"] == expected_for_a(f"z{k}", 0.2)
        figures = s.router.quality.learnt("a")["ZA"].figures
        assert figures is not None
        assert figures.failed == 0
        assert figures.delivered > 0

        # Unfrozen: a delivers as well as b, so its weight climbs back, slowly, to resting.
        status, body = await s.call("DELETE", "/v1/quality/freeze")
        assert (status, body["frozen"]) == (200, False)
        climb = [0.2]
        for k in range(8):
            await one_round(s, f"r{k}")
            climb.append(weight(s))
        assert climb == [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
        # Back at resting weights the other policies decide again: a, the cheaper, takes all.
        took = await one_round(s, "back")
        assert took == {"a": PER_ROUND}
        # Australia was never learnt about: untouched throughout.
        assert (await s.send(AU, "au1")).recipients[0].provider == "a"
