"""The Echo plugin's own tests: the conformance kit, then the adapter against the emulator."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from aiohttp import web

from router import (
    Batch,
    CallbackKind,
    CallbackRequest,
    DeliveryStatus,
    Encoding,
    ErrorKind,
    Outcome,
    ProviderContext,
    Recipient,
    Secret,
    SenderKind,
)
from router.testing import Account, Fault, check_provider

# In the plugin's own repository these read ``from smsrouter_echo import ...``; inside
# smsrouter's tree the tests import the package by its path.
from tests.example_plugins.smsrouter_echo.smsrouter_echo import EchoConfig, EchoProvider
from tests.example_plugins.smsrouter_echo.smsrouter_echo.emulator import EchoEmulator

PASSWORD = "s3cret/pa ss+word"
"""Spaces, a slash and a plus: the URL-encoded forms differ, so the leak check sees them."""

SAMPLES = {
    CallbackKind.DLR: [
        CallbackRequest(
            "GET",
            query={
                "id": "echo-7",
                "ref": "0123456789abcdef-0",
                "to": "61412345678",
                "status": "DELIVRD",
            },
        )
    ],
    CallbackKind.INBOUND: [
        CallbackRequest(
            "GET", query={"id": "in-1", "from": "61412345678", "to": "61400000000", "text": "Yes"}
        )
    ],
}


def make_provider(base_url: str, session: aiohttp.ClientSession) -> EchoProvider:
    """The adapter the conformance kit checks: every request to *base_url*."""
    config = EchoConfig(username="demo", password=Secret(PASSWORD), base_url=base_url)
    context = ProviderContext(name="echo", session=session, logger=logging.getLogger("echo"))
    return EchoProvider(config, context)


async def test_conforms() -> None:
    report = await check_provider(make_provider, password=PASSWORD, callbacks=SAMPLES)

    assert report.provider_type == "echo"
    assert report.checks == (
        "type",
        "send/refused", "balance/refused",
        "send/http_500", "balance/http_500",
        "send/http_429", "balance/http_429",
        "send/http_401", "balance/http_401",
        "send/hang", "balance/hang",
        "send/drop", "balance/drop",
        "send/empty_200", "balance/empty_200",
        "send/html_200", "balance/html_200",
        "send/garbage_200", "balance/garbage_200",
        "secrets",
        "callbacks",
    )  # fmt: skip


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def emulator() -> AsyncIterator[EchoEmulator]:
    emulator = EchoEmulator([Account("demo", PASSWORD, Decimal(10))], push_scale=0.0)
    async with emulator:
        yield emulator


def echo(emulator: EchoEmulator, session: aiohttp.ClientSession, **options: str) -> EchoProvider:
    config = EchoConfig(
        username=options.get("username", "demo"),
        password=Secret(options.get("password", PASSWORD)),
        base_url=f"{emulator.url}/v1",
    )
    return EchoProvider(config, ProviderContext("echo", session, logging.getLogger("echo")))


def batch(*numbers: str) -> Batch:
    recipients = tuple(
        Recipient(n, "AU", 61, f"0123456789abcdef-{i}") for i, n in enumerate(numbers)
    )
    return Batch("0123456789abcdef", "Hello", None, SenderKind.NONE, Encoding.GSM7, 1, recipients)


async def test_send_and_balance(emulator: EchoEmulator, session: aiohttp.ClientSession) -> None:
    provider = echo(emulator, session)

    outcomes = await provider.send(batch("+61412345678", "+61412345679"))
    balance = await provider.balance()

    assert [(o.recipient, o.outcome, o.provider_message_id) for o in outcomes] == [
        ("+61412345678", Outcome.ACCEPTED, "echo-1"),
        ("+61412345679", Outcome.ACCEPTED, "echo-2"),
    ]
    assert [s["ref"] for s in emulator.counters.sent] == [
        "0123456789abcdef-0",
        "0123456789abcdef-1",
    ]
    assert (balance.amount, balance.unit) == (Decimal(8), "credits")


async def test_error_answers(emulator: EchoEmulator, session: aiohttp.ClientSession) -> None:
    wrong = await echo(emulator, session, password="not-the-password").send(batch("+61412345678"))
    emulator.accounts["demo"].balance = Decimal(0)
    broke = await echo(emulator, session).send(batch("+61412345678"))

    assert [(o.outcome, o.kind, o.reason) for o in wrong] == [
        (Outcome.PROVIDER_ERROR, ErrorKind.AUTH, "login failed")
    ]
    assert [(o.outcome, o.kind, o.reason) for o in broke] == [
        (Outcome.PROVIDER_ERROR, ErrorKind.CREDIT, "no credit")
    ]
    assert emulator.counters.sent == []


async def test_a_dropped_send_is_ambiguous_and_sent_once(
    emulator: EchoEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.inject(Fault(operation="send", drop=True, after_effect=True, times=1))

    outcomes = await echo(emulator, session).send(batch("+61412345678"))

    assert [o.outcome for o in outcomes] == [Outcome.AMBIGUOUS]
    assert len(emulator.counters.sent) == 1
    assert emulator.counters.requests["send"] == 1


async def test_pushes_round_trip(session: aiohttp.ClientSession) -> None:
    provider: EchoProvider | None = None
    parsed = []

    async def callback(request: web.Request) -> web.Response:
        assert provider is not None
        kind = CallbackKind(request.match_info["kind"])
        result = provider.parse_callback(kind, CallbackRequest("GET", query=dict(request.query)))
        parsed.append(result)
        return web.Response(text=result.response.body, status=result.response.status)

    app = web.Application()
    app.router.add_get("/callbacks/echo/{kind}", callback)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    ours = f"http://127.0.0.1:{runner.addresses[0][1]}/callbacks/echo"
    emulator = EchoEmulator(callback_url=f"{ours}/dlr", inbound_url=f"{ours}/inbound")
    try:
        async with emulator:
            provider = echo(emulator, session, password="demo-password")
            await provider.send(batch("+61412345678"))
            emulator.push_inbound("61412345678", "Yes please")
            await emulator.settle()
    finally:
        await runner.cleanup()

    assert [(p.answers, p.body) for p in emulator.pushes] == [([200], "OK"), ([200], "OK")]
    report, inbound = parsed[0].reports[0], parsed[1].inbound[0]
    assert (report.status, report.provider_message_id, report.ref, report.recipient) == (
        DeliveryStatus.DELIVERED,
        "echo-1",
        "0123456789abcdef-0",
        "+61412345678",
    )
    assert (inbound.sender, inbound.recipient, inbound.text) == (
        "+61412345678",
        "+61400000000",
        "Yes please",
    )


async def test_sandbox_makes_no_request(session: aiohttp.ClientSession) -> None:
    config = EchoConfig(username="demo", password=Secret(PASSWORD), sandbox=True)
    provider = EchoProvider(config, ProviderContext("echo", session, logging.getLogger("echo")))

    outcomes = await provider.send(batch("+61412345678"))

    assert [(o.outcome, o.provider_message_id) for o in outcomes] == [
        (Outcome.ACCEPTED, "sandbox-0123456789abcdef-0")
    ]
    assert provider.capabilities.balance is False
