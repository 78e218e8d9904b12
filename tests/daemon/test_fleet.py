"""Three daemons on one PostgreSQL and one Redis: one router to the client and to the providers.

The daemons are real processes (the kill is the point) sharing the test's own database
and key prefix; the providers are emulators on loopback, whose counters are the providers'
side of the story. Bounded in messages and in time, all on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from plugins.smsc.emulator import BALANCE_CALLS, SMSCEmulator
from plugins.smscentral.emulator import SMSCentralEmulator
from plugins.smsoffice.emulator import SMSOfficeEmulator
from router.testing import Fault
from tests.daemon.fleet_support import options
from tests.daemon.support import SECRET, DaemonProcess, finished, wait_until

MESSAGES = 90
RU, AU, ZA = "+79123456789", "+61412345678", "+27821234567"

# A send may wait 1 s for its slot, 1 s for a connection and take 1 s: "not known" 3 s
# after it started is proof. SMSC's balance is asked for every second by whoever polls.
PROVIDERS = """
[providers.smsc]
plugin = "smsc"
{smsc}
prefixes = ["7"]
priority = 1
timeout = "1s"
connect_timeout = "1s"
limit_wait = "6s"
concurrency = 2
balance_interval = "1s"

[providers.central]
plugin = "smscentral"
{central}
prefixes = ["61"]
priority = 2
timeout = "1s"
connect_timeout = "1s"
limit_wait = "6s"
concurrency = 2
balance_interval = "1h"

[providers.office]
plugin = "smsoffice"
{office}
sender = "Acme"
prefixes = ["27"]
priority = 3
timeout = "1s"
connect_timeout = "1s"
limit_wait = "6s"
balance_interval = "1h"
"""

Providers = tuple[SMSCEmulator, SMSCentralEmulator, SMSOfficeEmulator]


@pytest.fixture
async def providers() -> AsyncIterator[Providers]:
    """SMSC, SMS Central and SMS Office emulators on loopback, pushing nothing."""
    made = (
        SMSCEmulator(delivery_status=None),
        SMSCentralEmulator(),
        SMSOfficeEmulator(),
    )
    for emulator in made:
        await emulator.start()
    try:
        yield made
    finally:
        for emulator in made:
            await emulator.stop()


def providers_toml(providers: Providers) -> str:
    smsc, central, office = providers
    return PROVIDERS.format(smsc=options(smsc), central=options(central), office=options(office))


def taken(providers: Providers) -> Counter[str]:
    """How often each text reached any provider."""
    smsc, central, office = providers
    texts = [s["mes"] for s in smsc.counters.sent]
    texts += [s["MESSAGE_TEXT"] for s in central.counters.sent]
    texts += [s["message"] for s in office.counters.sent]
    return Counter(texts)


async def start_all(daemons: list[DaemonProcess]) -> None:
    await asyncio.gather(*(daemon.start() for daemon in daemons))


async def test_a_member_killed_mid_load_loses_nothing_and_sends_nothing_twice(
    providers: Providers, fleet: Any
) -> None:
    smsc, _, office = providers
    daemons: list[DaemonProcess] = fleet(providers_toml(providers), 3)
    await start_all(daemons)
    for emulator in providers:
        emulator.inject(Fault(operation="send", latency=0.1))
    acknowledged: dict[str, tuple[str, str]] = {}

    async def post(n: int) -> None:
        to, text = (RU, AU, ZA)[n % 3], f"fleet load {n}"
        body = {"to": to, "text": text, "wait": n % 4 != 0}  # mostly queued, some waiting
        try:
            status, answer = await daemons[n % 3].request("POST", "/v1/messages", json=body)
        except OSError:
            return  # the killed member: never acknowledged
        if status in (200, 202):
            acknowledged[answer["id"]] = (to, text)

    posts = [asyncio.ensure_future(post(n)) for n in range(MESSAGES)]

    async def all_busy() -> bool:
        return all(len(e.counters.sent) >= 3 for e in providers)

    await wait_until(all_busy, 30)
    victim = daemons[1]
    victim.signal(signal.SIGKILL)
    await victim.wait()
    await asyncio.gather(*posts, return_exceptions=True)
    assert acknowledged, "the fleet acknowledged nothing"
    assert sum(taken(providers).values()) < len(acknowledged), "the kill came after the load"

    # The others take over the member's messages once its leases expire; it comes back later.
    await asyncio.sleep(1.0)
    await victim.start()
    records = await wait_until(lambda: finished(daemons[0], acknowledged), 60)

    sent = taken(providers)
    assert max(sent.values()) == 1, "a message reached a provider twice"
    for message_id, record in records.items():
        [recipient] = record["recipients"]
        to, text = acknowledged[message_id]
        if to == ZA and recipient["status"] == "ambiguous":
            continue  # SMS Office has no status query: caught mid-send, it may or may not have it
        assert recipient["status"] == "accepted", record
        assert sent[text] == 1, (record, sent[text])
    assert office.counters.violations["concurrent_connections"] == 0
    assert smsc.counters.violations["balance_rate"] == 0
    assert smsc.counters.requests["balance"] <= BALANCE_CALLS


async def test_one_reference_posted_to_two_members_at_once_is_sent_once(
    providers: Providers, fleet: Any
) -> None:
    smsc = providers[0]
    smsc.inject(Fault(operation="send", latency=0.2))
    daemons: list[DaemonProcess] = fleet(providers_toml(providers), 2)
    await start_all(daemons)
    body = {"to": RU, "text": "once only", "reference": "order-77"}
    answers = await asyncio.gather(*(d.request("POST", "/v1/messages", json=body) for d in daemons))
    assert [status for status, _ in answers] == [200, 200]
    ids = {answer["id"] for _, answer in answers}
    assert len(ids) == 1
    assert sorted(answer["duplicate"] for _, answer in answers) == [False, True]
    assert [a["recipients"][0]["status"] for _, a in answers] == ["accepted", "accepted"]
    assert taken(providers)["once only"] == 1


async def test_a_report_to_a_member_that_did_not_send_lands_on_the_message(
    providers: Providers, fleet: Any
) -> None:
    sender, other = fleet(providers_toml(providers), 2)
    await start_all([sender, other])
    office = providers[2]
    office.callback_url = f"{other.url}/callbacks/office/dlr/{SECRET}"
    status, result = await sender.request("POST", "/v1/messages", json={"to": ZA, "text": "hi"})
    assert status == 200, result
    message_id = result["id"]

    async def delivered() -> bool:
        _, record = await sender.request("GET", f"/v1/messages/{message_id}")
        delivery = record["recipients"][0]["delivery"] or {}
        return bool(delivery.get("status") == "delivered")

    await wait_until(delivered, 15)


SMSC_ONLY = """
[providers.smsc]
plugin = "smsc"
{smsc}
prefixes = ["7"]
balance_interval = "50ms"
"""


async def test_smsc_s_balance_rate_holds_across_the_fleet_and_its_restarts(fleet: Any) -> None:
    smsc = SMSCEmulator(delivery_status=None)
    await smsc.start()
    try:
        daemons: list[DaemonProcess] = fleet(SMSC_ONLY.format(smsc=options(smsc)), 3)
        await start_all(daemons)
        # Every member would poll every 50 ms; members die and come back within the minute.
        for n in range(6):
            member = daemons[n % 3]
            member.signal(signal.SIGKILL if n % 2 else signal.SIGTERM)
            await member.wait()
            await member.start()
            await asyncio.sleep(0.3)
        assert smsc.counters.requests["balance"] > 0
        assert smsc.counters.requests["balance"] <= BALANCE_CALLS
        assert smsc.counters.violations["balance_rate"] == 0
    finally:
        await smsc.stop()
