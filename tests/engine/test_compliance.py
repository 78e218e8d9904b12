"""The Router's admission of recipients: the opt-out list, quiet hours, send and expiry
times, cancels, and the scheduler that sends held messages on the fake clock."""

from __future__ import annotations

import asyncio
import datetime
import zoneinfo
from typing import Any

import pytest

import router.testing
from router.engine import Router
from router.errors import ValidationError
from router.model import CallbackKind, CallbackRequest, Message, RecipientStatus
from router.store import MessageState
from router.testing import FakeClock
from tests.engine.conftest import RouterFactory, fakes

SYDNEY = zoneinfo.ZoneInfo("Australia/Sydney")
SYDNEY_LANDLINE = "+61291234567"
"""phonenumbers puts a (02) number in Sydney's zone alone."""
MOBILE = "+61412345678"


def at_sydney(day: int, hour: int, minute: int = 0) -> float:
    return datetime.datetime(2026, 12, day, hour, minute, tzinfo=SYDNEY).timestamp()


def config(**router: Any) -> dict[str, Any]:
    return {
        "router": {"policy": ["priority"], **router},
        "providers": {
            "a": {"plugin": "fake", "priority": 1},
            "b": {"plugin": "fake", "priority": 2},
        },
        "optouts": {"stop_reply": "You will get no more texts. Reply START to rejoin."},
    }


def sent_to(r: Router) -> list[tuple[str, str]]:
    return [
        (name, recipient.e164)
        for name, fake in fakes(r).items()
        for batch in fake.batches
        for recipient in batch.recipients
    ]


async def push_inbound(r: Router, provider: str, sender: str, text: str) -> None:
    query = {"from": sender, "to": "+61400000000", "text": text}
    await r.handle_callback(provider, CallbackKind.INBOUND, CallbackRequest("GET", query=query))


async def until(check: Any) -> None:
    """Let the event loop run until *check()* holds (bounded in steps, not in time)."""
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


async def test_an_opted_out_recipient_is_refused_and_the_rest_go_on(
    started: RouterFactory,
) -> None:
    r = await started(config())
    await r.compliance.optouts.add(MOBILE)
    result = await r.send(Message(to=[MOBILE, "+61412345679"], text="Sale"))
    refused = result[MOBILE]
    assert (refused.status, refused.reason, refused.attempts) == (
        RecipientStatus.REJECTED, "opted out", ())  # fmt: skip
    assert result["+61412345679"].status is RecipientStatus.ACCEPTED
    assert sent_to(r) == [("a", "+61412345679")]
    record = await r.store.get(result.message_id)
    assert record is not None
    assert record.recipients[0].reason == "opted out"


async def test_stop_on_one_provider_blocks_the_number_for_every_provider_until_start(
    started: RouterFactory,
) -> None:
    r = await started(config())
    await push_inbound(r, "b", MOBILE, " stop. ")
    await until(lambda: len(sent_to(r)) == 1)
    # The confirmation went back through the provider that received the stop word.
    assert sent_to(r) == [("b", MOBILE)]
    assert fakes(r)["b"].batches[0].text.startswith("You will get no more texts")
    assert [(o.number, o.provider, o.source) for o in await r.store.optouts()] == [
        (MOBILE, "b", "STOP")
    ]
    result = await r.send(Message(to=MOBILE, text="Sale"))
    assert result[MOBILE].reason == "opted out"
    assert len(sent_to(r)) == 1
    await push_inbound(r, "a", MOBILE, "START")
    assert await r.store.optouts() == []
    result = await r.send(Message(to=MOBILE, text="Sale"))
    assert result[MOBILE].status is RecipientStatus.ACCEPTED
    assert sorted(sent_to(r)) == [("a", MOBILE), ("b", MOBILE)]


async def test_the_opt_out_list_is_read_from_the_journal_at_start(
    started: RouterFactory, clock: FakeClock
) -> None:
    first = await started(config())
    await first.compliance.optouts.add(MOBILE, source="cli")
    again = Router(config(), store=first.store, clock=clock, plugins=[router.testing])
    await again.start(track_balances=False)
    try:
        result = await again.send(Message(to=MOBILE, text="Sale"))
        assert result[MOBILE].reason == "opted out"
    finally:
        await again.aclose()


@pytest.fixture
def night() -> FakeClock:
    """22:00 in Sydney; time moves only when the test moves it."""
    return FakeClock(at_sydney(4, 22), autojump=False)


async def test_a_message_in_quiet_hours_is_held_and_sent_when_they_end(
    started: RouterFactory, night: FakeClock
) -> None:
    r = await started(config(quiet_hours="21:00-08:00"), on=night)
    result = await r.send(Message(to=SYDNEY_LANDLINE, text="Hello"))
    held = result[SYDNEY_LANDLINE]
    assert (held.status, held.scheduled_at) == (RecipientStatus.SCHEDULED, at_sydney(5, 8))
    record = await r.store.get(result.message_id)
    assert record is not None
    assert record.state is MessageState.HELD
    assert sent_to(r) == []
    # The scheduler sleeps until the held message is due: ten hours, not a poll.
    await until(lambda: night.slept and night.slept[-1] == 10 * 3600)
    night.advance(10 * 3600 - 60)
    await asyncio.sleep(0)
    assert sent_to(r) == []
    night.advance(60)
    await until(lambda: sent_to(r) == [("a", SYDNEY_LANDLINE)])
    record = await r.store.get(result.message_id)
    assert record is not None
    assert record.state is MessageState.DONE
    assert record.recipients[0].status is RecipientStatus.ACCEPTED
    assert record.recipients[0].attempts[0].at == at_sydney(5, 8)


async def test_an_urgent_message_goes_at_once_in_quiet_hours(
    started: RouterFactory, night: FakeClock
) -> None:
    r = await started(config(quiet_hours="21:00-08:00"), on=night)
    result = await r.send(Message(to=SYDNEY_LANDLINE, text="Your code: 1234", urgent=True))
    assert result.ok
    assert sent_to(r) == [("a", SYDNEY_LANDLINE)]


async def test_quiet_hours_per_country_override_the_default(
    started: RouterFactory, night: FakeClock
) -> None:
    r = await started(
        config(quiet_hours="21:00-08:00", quiet_hours_by_country={"AU": "off"}), on=night
    )
    assert (await r.send(Message(to=SYDNEY_LANDLINE, text="Hi"))).ok


async def test_a_mobile_number_waits_for_its_countrys_last_zone(
    started: RouterFactory, night: FakeClock
) -> None:
    r = await started(config(quiet_hours="21:00-08:00"), on=night)
    result = await r.send(Message(to=MOBILE, text="Hi"))
    # An Australian mobile may be anywhere in Australia, the Cocos Islands included:
    # 08:00 there (UTC+6:30) is 12:30 in Sydney (UTC+11).
    assert result[MOBILE].scheduled_at == at_sydney(5, 12, 30)


async def test_a_scheduled_message_waits_for_send_at_and_an_expired_one_is_never_sent(
    started: RouterFactory, clock: FakeClock
) -> None:
    later = FakeClock(clock.now, autojump=False)
    r = await started(config(), on=later)
    soon = await r.send(Message(to=MOBILE, text="Soon", send_at=later.now + 600))
    assert soon[MOBILE].scheduled_at == later.now + 600
    await until(lambda: later.slept == [600])
    later.advance(599)
    await asyncio.sleep(0)
    assert sent_to(r) == []
    later.advance(1)
    await until(lambda: sent_to(r) == [("a", MOBILE)])
    past = await r.send(Message(to="+61412345670", text="Old", expires_at=later.now - 1))
    assert past["+61412345670"].status is RecipientStatus.EXPIRED
    assert past["+61412345670"].reason == "expired before it was sent"
    assert len(sent_to(r)) == 1


async def test_a_held_message_past_its_expiry_ends_expired(
    started: RouterFactory, night: FakeClock
) -> None:
    r = await started(config(quiet_hours="21:00-08:00"), on=night)
    result = await r.send(Message(to=SYDNEY_LANDLINE, text="Tonight only",
                                  expires_at=night.now + 3600))  # fmt: skip
    assert result[SYDNEY_LANDLINE].status is RecipientStatus.SCHEDULED
    night.advance(3600)
    await until(lambda: night.slept and night.slept[-1] != 3600)

    async def ended() -> RecipientStatus | None:
        record = await r.store.get(result.message_id)
        assert record is not None
        status: RecipientStatus | None = record.recipients[0].status
        return status

    for _ in range(200):
        if await ended() is RecipientStatus.EXPIRED:
            break
        await asyncio.sleep(0)
    assert await ended() is RecipientStatus.EXPIRED
    assert sent_to(r) == []


async def test_a_cancelled_message_is_never_sent(started: RouterFactory, night: FakeClock) -> None:
    r = await started(config(), on=night)
    result = await r.send(Message(to=MOBILE, text="Later", send_at=night.now + 60))
    record = await r.cancel(result.message_id)
    assert record is not None
    assert record.state is MessageState.DONE
    assert record.recipients[0].status is RecipientStatus.CANCELLED
    night.advance(3600)
    await r.scheduler.run_due()
    assert sent_to(r) == []
    assert await r.cancel("unknown") is None


async def test_bad_times_and_callback_urls_are_refused_naming_the_field(
    started: RouterFactory,
) -> None:
    r = await started(config())
    with pytest.raises(ValidationError, match="expires_at"):
        r.prepare(Message(to=MOBILE, text="x", send_at=100.0, expires_at=50.0))
    with pytest.raises(ValidationError, match=r"callback_url.*\[message_callbacks\] secret"):
        r.prepare(Message(to=MOBILE, text="x", callback_url="https://example.com/cb"))
    signed = await started({**config(), "message_callbacks": {"secret": "s" * 16}})
    with pytest.raises(ValidationError, match="callback_url"):
        signed.prepare(Message(to=MOBILE, text="x", callback_url="ftp://example.com/cb"))
    signed.prepare(Message(to=MOBILE, text="x", callback_url="https://example.com/cb"))


async def test_a_route_explanation_says_who_would_be_refused_or_held_instead(
    started: RouterFactory, night: FakeClock
) -> None:
    r = await started(config(quiet_hours="21:00-08:00"), on=night)
    await r.compliance.optouts.add(MOBILE)
    to = [MOBILE, SYDNEY_LANDLINE]
    plan = r.route(Message(to=to, text="Sale"))
    refused, held = plan.settled
    assert refused is not None
    assert held is not None
    assert (refused.status, refused.reason) == (RecipientStatus.REJECTED, "opted out")
    assert (held.status, held.scheduled_at) == (RecipientStatus.SCHEDULED, at_sydney(5, 8))
    assert [route.providers for route in plan.routes] == [("a", "b"), ("a", "b")]
    assert r.route(Message(to=to, text="Now", urgent=True)).settled[1] is None
    assert sent_to(r) == []  # explained, never sent
