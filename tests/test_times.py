"""Providers' times: only finite times from the epoch to 2100 are times; no NaN is written."""

from __future__ import annotations

import json
import logging
import math
from decimal import Decimal

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.smsc.adapter import SMSCConfig, SMSCProvider
from router import read_time
from router.clock import MAX_TIME
from router.daemon.json import respond
from router.model import CallbackKind, CallbackRequest
from router.provider import ProviderContext
from router.redact import Secret

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.from_regex(r"\A[-+]?\d{1,4}(\.\d+)?[eE][-+]?\d{1,4}\Z"),
    st.sampled_from(["1e400", "-1e400", "inf", "-Infinity", "nan", "NaN", "sNaN", "-0", "1_0"]),
    st.text(max_size=12),
)


def accepted(text: str) -> bool:
    try:
        number = float(Decimal(text.strip()))
    except ArithmeticError:
        return False
    return math.isfinite(number) and 0 <= number <= MAX_TIME


@settings(max_examples=500, deadline=None)
@given(text=NUMBERS)
def test_only_finite_times_in_range_are_read(text: str) -> None:
    at = read_time(text)
    if at is None:
        return
    assert math.isfinite(at)
    assert 0 <= at <= MAX_TIME
    assert accepted(text)
    json.dumps(at, allow_nan=False)


@pytest.mark.parametrize("value", ["1e400", "-1", "-0.5", "nan", "Infinity", "4102444801", True])
def test_the_reported_times_are_absent(value: object, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="smsrouter.time"):
        assert read_time(value) is None
    assert "not a time" in caplog.text


@pytest.mark.parametrize(
    ("value", "at"), [("1700000005", 1700000005.0), (0, 0.0), (Decimal("1.5"), 1.5)]
)
def test_times_are_read(value: object, at: float) -> None:
    assert read_time(value) == at


@settings(max_examples=300, deadline=None)
@given(ts=NUMBERS)
async def test_an_smsc_push_never_carries_a_time_json_cannot_write(ts: str) -> None:
    async with aiohttp.ClientSession() as session:
        config = SMSCConfig(login="acme", psw=Secret("pw"))
        context = ProviderContext(name="smsc", session=session, logger=logging.getLogger("t"))
        adapter = SMSCProvider(config, context)
        status = {"id": "5", "phone": "79991234567", "status": "1", "err": "0", "ts": ts}
        inbound = {"phone": "79991234567", "to": "79990000000", "mes": "hi", "ts": ts}
        for form in (status, inbound):
            result = adapter.parse_callback(CallbackKind.DLR, CallbackRequest("POST", form=form))
            times = [r.at for r in result.reports] + [m.at for m in result.inbound]
            for at in times:
                assert at is None or (math.isfinite(at) and at >= 0)
                json.dumps(at, allow_nan=False)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_the_daemon_never_writes_nan_or_infinity(value: float) -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        respond({"at": value})
    assert json.loads(respond({"at": 1.5, "cost": Decimal("0.1")}).text or "") == {
        "at": 1.5,
        "cost": "0.1",
    }
