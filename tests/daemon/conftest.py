"""Fixtures for the daemon tests: emulators in this process, daemons in either."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from plugins.smsbroadcast.emulator import SMSBroadcastEmulator
from plugins.smsoffice.emulator import SMSOfficeEmulator
from tests.daemon.fleet_support import fleet
from tests.daemon.support import (
    SECRET,
    TOKEN,
    DaemonProcess,
    InProcessDaemon,
    free_port,
    write_config,
)

__all__ = ["SECRET", "TOKEN", "fleet"]


@pytest.fixture
def daemon_env(tmp_path: Path) -> dict[str, str]:
    """The daemon's environment: secrets, no autoloaded plugins, the event file."""
    env = dict(os.environ)
    env.update(
        SMSROUTER_DISABLE_PLUGIN_AUTOLOAD="1",
        SMSROUTER_API_TOKEN=TOKEN,
        SMSROUTER_CALLBACK_SECRET=SECRET,
        SMSROUTER_TEST_EVENTS=str(tmp_path / "events.jsonl"),
        PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")]),
    )
    return env


@pytest.fixture
async def emulators() -> AsyncIterator[dict[str, Any]]:
    """An SMS Broadcast and an SMS Office emulator on loopback; callbacks set per test."""
    broadcast = SMSBroadcastEmulator(push_scale=0.001)
    office = SMSOfficeEmulator(push_scale=0.001)
    await broadcast.start()
    await office.start()
    try:
        yield {"broadcast": broadcast, "office": office}
    finally:
        await broadcast.stop()
        await office.stop()


@pytest.fixture
async def daemon_factory(tmp_path: Path, daemon_env: dict[str, str]) -> AsyncIterator[Any]:
    """Make daemons for a config text; every one is stopped at the end of the test."""
    made: list[DaemonProcess] = []

    def make(config_text: str, port: int | None = None) -> DaemonProcess:
        config = write_config(tmp_path / f"config{len(made)}.toml", config_text)
        daemon = DaemonProcess(config, port or free_port(), daemon_env, tmp_path / "daemon.log")
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        await daemon.stop()
        if daemon.http is not None:
            await daemon.http.close()


@pytest.fixture
async def served_factory(
    tmp_path: Path, daemon_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Any]:
    """Make in-process daemons for a config text; every one is stopped at the end of the test.

    The ``event_recorder`` plugin loads by name from this folder and writes where the
    subprocess daemons' one does.
    """
    monkeypatch.setenv("SMSROUTER_TEST_EVENTS", daemon_env["SMSROUTER_TEST_EVENTS"])
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    made: list[InProcessDaemon] = []

    def make(config_text: str) -> InProcessDaemon:
        config = write_config(tmp_path / f"config{len(made)}.toml", config_text)
        daemon = InProcessDaemon(config, daemon_env)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        await daemon.stop()
        if daemon.http is not None:
            await daemon.http.close()
