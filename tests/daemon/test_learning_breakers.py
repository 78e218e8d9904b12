"""A breaker per provider and country, against the emulators: a provider whose route to
one country is down is held for that country only, and still sends to another."""

from __future__ import annotations

from pathlib import Path

from router.testing import Fault
from tests.daemon.learning_support import AU, ZA, served

ROUTER = {
    "policy": ["cheapest"],
    "country_breaker": {"threshold": 2, "cooldown": "1m"},
    "breaker": {"threshold": 2},
}


async def test_a_provider_is_held_for_one_country_while_it_sends_to_another(
    tmp_path: Path,
) -> None:
    async with served(tmp_path, ("a", "b"), ROUTER) as s:
        s.emulators["a"].set_outcome("27", "refuse")  # a's route to South Africa is down
        for n in range(2):
            result = await s.send(ZA, f"za{n}")
            [attempt_a, _attempt_b] = result.recipients[0].attempts
            assert (attempt_a.provider, attempt_a.outcome) == ("a", "provider_error")
            assert result.recipients[0].provider == "b"
        entry = await s.provider("a")
        assert entry["breaker"] == "closed"
        assert entry["country_breakers"] == {"ZA": "open"}
        async with s.client.get("/metrics") as answer:
            text = await answer.text()
        assert (
            'smsrouter_provider_country_breaker_state{country="ZA",provider="a",state="open"} 1.0'
            in text
        )
        assert 'smsrouter_provider_breaker_state{provider="a",state="closed"} 1.0' in text

        # Held for ZA: routing leaves a out with why, and a hears nothing more of ZA ...
        status, plan = await s.call("POST", "/v1/route", {"to": ZA, "text": "hi"})
        assert status == 200
        [excluded] = plan["routes"][0]["excluded"]
        assert excluded == {
            "provider": "a",
            "policy": "breaker",
            "reason": "circuit breaker for ZA is open",
        }
        before = s.sent()
        assert (await s.send(ZA, "za2")).recipients[0].provider == "b"
        assert s.sent() - before == {"b": 1}
        # ... while it still sends to Australia, where it is the cheaper.
        for n in range(3):
            assert (await s.send(AU, f"au{n}")).recipients[0].provider == "a"
        assert (await s.provider("a"))["country_breakers"] == {"ZA": "open"}

        # After the cooldown one probe goes; the route is back, so ZA is a's again.
        s.emulators["a"].set_outcome("27", "delivered")
        s.clock.advance(61)
        assert (await s.provider("a"))["country_breakers"] == {"ZA": "half_open"}
        assert (await s.send(ZA, "za3")).recipients[0].provider == "a"
        assert (await s.provider("a"))["country_breakers"] == {}
        assert (await s.send(ZA, "za4")).recipients[0].provider == "a"


async def test_failures_of_the_whole_account_open_the_providers_own_breaker(
    tmp_path: Path,
) -> None:
    async with served(tmp_path, ("a", "b"), ROUTER) as s:
        s.emulators["a"].inject(Fault(operation="send", status=503))
        for n in range(2):
            assert (await s.send(AU if n else ZA, f"m{n}")).recipients[0].provider == "b"
        entry = await s.provider("a")
        assert entry["breaker"] == "open"
        assert entry["country_breakers"] == {}  # one failure each: no country is to blame
