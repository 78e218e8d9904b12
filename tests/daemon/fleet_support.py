"""A fleet for the tests: daemons as real processes on one PostgreSQL database and one
Redis key prefix (each test's own), sending to emulators on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from router.testing import Emulator
from tests.daemon.support import DaemonProcess, free_port, write_config

FLEET = """
[router]
default_region = "AU"
policy = ["prefix", "priority"]
on_ambiguous = "stop"

[server]
api_tokens = ["${{SMSROUTER_API_TOKEN}}"]
callback_secret = "${{SMSROUTER_CALLBACK_SECRET}}"
workers = 8
shutdown_timeout = "10s"

[store]
url = "{postgres}"
lease = "2s"

[state]
url = "{redis}"
prefix = "{prefix}"
lease = "3s"
"""
"""The fleet's shared part of every config; each test appends its providers."""


def options(emulator: Emulator) -> str:
    """An emulator's provider options as TOML lines."""
    return "\n".join(f'{k} = "{v}"' for k, v in emulator.provider_options().items() if v)


Fleet = Callable[[str, int], list[DaemonProcess]]
"""Makes *n* daemons for the providers' TOML, sharing the test's database and prefix."""


@pytest.fixture
async def fleet(
    tmp_path: Path,
    daemon_env: dict[str, str],
    postgres_url: str,
    redis_url: str,
    redis_prefix: str,
) -> AsyncIterator[Any]:
    """Make daemons of one fleet (not started); every one is stopped at the end."""
    made: list[DaemonProcess] = []

    def make(providers: str, n: int) -> list[DaemonProcess]:
        shared = FLEET.format(postgres=postgres_url, redis=redis_url, prefix=redis_prefix)
        daemons = []
        for _ in range(n):
            index = len(made)
            config = write_config(tmp_path / f"fleet{index}.toml", shared + providers)
            log = tmp_path / f"daemon{index}.log"
            daemon = DaemonProcess(config, free_port(), daemon_env, log)
            made.append(daemon)
            daemons.append(daemon)
        return daemons

    yield make
    for daemon in made:
        await daemon.stop()
        if daemon.http is not None:
            await daemon.http.close()
