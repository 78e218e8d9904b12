"""Fixtures for the webhook tests: receivers on loopback, emulators, daemons in either."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from plugins.smsbroadcast.emulator import SMSBroadcastEmulator
from router.testing import FakeClock
from router.webhooks import verify
from tests.webhooks import readme_receiver
from tests.webhooks.support import (
    CALLBACK_SECRET,
    TOKEN,
    WEBHOOK_SECRET,
    DaemonProcess,
    InProcessDaemon,
    Receiver,
    free_port,
)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp session, closed after the test."""
    async with aiohttp.ClientSession() as made:
        yield made


@pytest.fixture
async def receiver(clock: FakeClock) -> AsyncIterator[Receiver]:
    """A receiver that checks signatures against the fake clock's time."""
    made = Receiver(lambda body, header: verify(WEBHOOK_SECRET, header, body, clock.time()))
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
async def live_receiver() -> AsyncIterator[Receiver]:
    """A receiver for a real daemon, checking signatures as the README's receiver does.

    Not started: a test starts it (perhaps only after the daemon was killed).
    """
    made = Receiver(lambda body, header: readme_receiver.verify(WEBHOOK_SECRET, header, body))
    yield made
    await made.stop()


@pytest.fixture
def daemon_env() -> dict[str, str]:
    """The daemon's environment: secrets, no autoloaded plugins."""
    env = dict(os.environ)
    env.update(
        SMSROUTER_DISABLE_PLUGIN_AUTOLOAD="1",
        SMSROUTER_API_TOKEN=TOKEN,
        SMSROUTER_CALLBACK_SECRET=CALLBACK_SECRET,
        SMSROUTER_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    return env


@pytest.fixture
async def broadcast() -> AsyncIterator[SMSBroadcastEmulator]:
    """An SMS Broadcast emulator on loopback that pushes at once."""
    emulator = SMSBroadcastEmulator(push_scale=0.001)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def daemon_factory(
    tmp_path: Path, daemon_env: dict[str, str]
) -> AsyncIterator[Callable[[str], DaemonProcess]]:
    """Make daemons for a config text, on one port; every one is stopped after the test."""
    made: list[DaemonProcess] = []
    port = free_port()

    def make(config_text: str) -> DaemonProcess:
        config = tmp_path / f"config{len(made)}.toml"
        config.write_text(config_text, encoding="utf-8")
        daemon = DaemonProcess(config, port, daemon_env, tmp_path / "daemon.log")
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        await daemon.stop()
        if daemon.http is not None:
            await daemon.http.close()


@pytest.fixture
async def served_factory(
    tmp_path: Path, daemon_env: dict[str, str]
) -> AsyncIterator[Callable[[str], InProcessDaemon]]:
    """Make in-process daemons for a config text; every one is stopped after the test."""
    made: list[InProcessDaemon] = []

    def make(config_text: str) -> InProcessDaemon:
        config = tmp_path / f"config{len(made)}.toml"
        config.write_text(config_text, encoding="utf-8")
        daemon = InProcessDaemon(config, daemon_env)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        await daemon.stop()
        if daemon.http is not None:
            await daemon.http.close()
