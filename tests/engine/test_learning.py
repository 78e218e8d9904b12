"""The engine's side of routing that learns: breaker settings from config, statistics and
weights that outlive a restart, missing reports counted, the config's freeze."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import router.testing
from router.engine import Router
from router.model import DeliveryStatus, Message, Outcome
from router.store import DeliverySample, SQLiteStore
from router.testing import FakeClock
from tests.engine.conftest import RouterFactory, fakes

ZA = "+27821234567"
QUALITY = {"window": "1h", "report_timeout": "10m", "interval": "1m", "min_sample": 4}


def config(**router_settings: Any) -> dict[str, Any]:
    return {
        "router": {"policy": ["quality", "priority"], **router_settings},
        "providers": {
            "a": {"plugin": "fake", "priority": 1},
            "b": {"plugin": "fake", "priority": 2},
        },
    }


async def test_breaker_thresholds_and_cooldowns_come_from_config(started: RouterFactory) -> None:
    r = await started(config(breaker={"threshold": 4, "cooldown": "45s"}))
    fakes(r)["a"].script(*[Outcome.UNAVAILABLE] * 4)
    for n in range(3):
        assert (await r.send(Message(to=ZA, text="hi"))).recipients[0].provider == "b"
        assert r.providers["a"].breaker.state == "closed", n
    await r.send(Message(to=ZA, text="hi"))
    breaker = r.providers["a"].breaker
    assert (breaker.state, breaker.retry_in) == ("open", 45.0)
    assert r.providers["a"].countries.settings.threshold == 10  # the country default


async def test_country_breaker_settings_come_from_config(started: RouterFactory) -> None:
    r = await started(config(country_breaker={"threshold": 2, "cooldown": "2m"}))
    fakes(r)["a"].script(Outcome.PROVIDER_ERROR, Outcome.PROVIDER_ERROR)
    for _ in range(2):
        await r.send(Message(to=ZA, text="hi"))
    countries = r.providers["a"].countries
    assert countries.states() == {"ZA": "open"}
    assert countries.breaker("ZA").retry_in == 120.0
    assert r.providers["a"].breaker.state == "closed"


async def samples(store: SQLiteStore, provider: str, at: float, count: int) -> None:
    await store.deliveries.record_sends(
        [DeliverySample(provider, "ZA", f"{provider}{at:.0f}x{i}-0", at) for i in range(count)]
    )


async def test_statistics_and_weights_outlive_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    store = SQLiteStore(tmp_path / "journal.db")
    await store.open()
    try:
        first = Router(config(quality=QUALITY), plugins=[router.testing], clock=clock, store=store)
        await first.start(track_balances=False)
        now = clock.time()
        await samples(store, "a", now, 10)
        for i in range(10):
            await store.deliveries.record_final(
                "a", f"a{now:.0f}x{i}-0", DeliveryStatus.FAILED, now + 1
            )
        clock.advance(60)
        await first.quality.refresh()
        assert first.quality.learnt("a")["ZA"].weight == 0.9
        await first.aclose()

        again = Router(config(quality=QUALITY), plugins=[router.testing], clock=clock, store=store)
        await again.start(track_balances=False)
        learnt = again.quality.learnt("a")["ZA"]
        assert learnt.weight == 0.9  # not stepped again: the interval is not over
        assert learnt.figures is not None
        assert (learnt.figures.sent, learnt.figures.failed) == (10, 10)
        await again.aclose()
    finally:
        await store.close()


async def test_reports_missing_past_the_timeout_count_as_not_delivered(
    started: RouterFactory, clock: FakeClock
) -> None:
    r = await started(config(quality=QUALITY))
    for _ in range(6):
        assert (await r.send(Message(to=ZA, text="hi"))).recipients[0].provider == "a"
    clock.advance(60)
    await r.quality.refresh()
    figures = r.quality.learnt("a")["ZA"].figures
    assert figures is not None
    assert (figures.pending, figures.missing, r.quality.learnt("a")["ZA"].weight) == (6, 0, 1.0)
    clock.advance(10 * 60)
    await r.quality.refresh()
    figures = r.quality.learnt("a")["ZA"].figures
    assert figures is not None
    assert (figures.pending, figures.missing, figures.delivered_share) == (0, 6, 0.0)
    assert r.quality.learnt("a")["ZA"].weight == 0.9


async def test_a_config_freeze_holds_and_the_api_cannot_lift_it(
    started: RouterFactory, clock: FakeClock
) -> None:
    r = await started(config(quality={**QUALITY, "frozen": True}))
    for _ in range(6):
        await r.send(Message(to=ZA, text="hi"))
    clock.advance(11 * 60)
    await r.quality.refresh()
    await r.quality.freeze(False)
    clock.advance(60)
    await r.quality.refresh()
    assert r.quality.frozen
    assert r.quality.learnt("a")["ZA"].weight == 1.0
    figures = r.quality.learnt("a")["ZA"].figures
    assert figures is not None
    assert figures.missing == 6  # the statistics go on being counted
