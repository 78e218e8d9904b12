"""A provider's rate holds across restarts: the daemon as a real process, against SMSC.

SMSC allows 10 balance calls a minute per account (providers.md 3.5). Each daemon that
starts polls the balance at once; the calls the processes before it made are in the
journal, so a restarted daemon waits its turn instead of breaking the rate.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from plugins.smsc.emulator import BALANCE_CALLS, SMSCEmulator
from tests.daemon.support import DaemonProcess

CONFIG = """
[router]
default_region = "RU"

[server]
api_tokens = ["${{SMSROUTER_API_TOKEN}}"]
callback_secret = "${{SMSROUTER_CALLBACK_SECRET}}"

[store]
url = "sqlite:///{db}"

[providers.smsc]
plugin = "smsc"
login = "demo"
psw = "demo-password"
base_url = "{smsc}"
timeout = "5s"
balance_interval = "50ms"
"""

RESTARTS = 6
LIFE = 0.3
"""Real seconds each restarted daemon lives: a fresh budget would poll at once."""


@pytest.fixture
async def smsc() -> AsyncIterator[SMSCEmulator]:
    """An SMSC emulator on loopback, on the real clock (the daemons run on it too)."""
    emulator = SMSCEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


async def within(seconds: float, done: Callable[[], bool]) -> None:
    """Wait (real time, bounded) until *done*; fail if it never is."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_six_restarts_in_a_minute_keep_smsc_s_balance_rate(
    tmp_path: Path, smsc: SMSCEmulator, daemon_factory: Any
) -> None:
    text = CONFIG.format(db=tmp_path / "journal.db", smsc=smsc.api_url)
    first: DaemonProcess = daemon_factory(text)
    await first.start()
    # The first daemon spends the minute's balance calls, 50 ms apart.
    await within(20, lambda: smsc.counters.requests["balance"] >= BALANCE_CALLS)
    await asyncio.sleep(LIFE)
    await first.stop()
    assert smsc.counters.violations["balance_rate"] == 0

    for n in range(RESTARTS):
        daemon: DaemonProcess = daemon_factory(text)
        await daemon.start()
        await asyncio.sleep(LIFE)
        if n % 2 == 0:  # a crash loop, and restarts in between
            daemon.signal(signal.SIGKILL)
            await daemon.wait()
        else:
            await daemon.stop()

    assert smsc.counters.requests["balance"] >= BALANCE_CALLS
    assert smsc.counters.violations["balance_rate"] == 0
