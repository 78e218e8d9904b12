"""A taken or invalid listen address stops ``serve`` and ``demo`` with one line, no traceback.

Each runs as a real process: what is printed at the process boundary is the point.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.support import write_config

CONFIG = """
[server]
api_tokens = ["${{SMSROUTER_API_TOKEN}}"]
listen = "{listen}"

[store]
url = "sqlite:///{db}"

[providers.office]
plugin = "smsoffice"
username = "demo"
password = "demo-password"
sender = "Demo"
"""


@pytest.fixture
def taken() -> Iterator[str]:
    """A loopback HOST:PORT this test listens on, so nobody else can."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"127.0.0.1:{sock.getsockname()[1]}"


async def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run ``python -m router ARGS`` to its end: (exit code, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "router",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, err.decode()


def the_line(stderr: str, address: str) -> str:
    """The one line of *stderr* naming *address*, after the command's error heading."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 2, stderr
    assert lines[0].endswith(": error")
    assert address in lines[1]
    return lines[1]


async def test_serve_on_a_taken_address_names_it_and_the_option(
    tmp_path: Path, daemon_env: dict[str, str], taken: str
) -> None:
    config = write_config(
        tmp_path / "config.toml", CONFIG.format(listen=taken, db=tmp_path / "journal.db")
    )
    code, stderr = await run(daemon_env, "serve", "--config", str(config))
    assert code == 1
    line = the_line(stderr, taken)
    assert f"cannot listen on {taken}: Address already in use" in line
    assert f"change server.listen in {config}, or pass --listen HOST:PORT" in line
    # Nothing was started before the address was had: no journal was opened.
    assert not (tmp_path / "journal.db").exists()

    code, stderr = await run(daemon_env, "serve", "--config", str(config), "--listen", taken)
    assert code == 1
    assert "pass another --listen HOST:PORT" in the_line(stderr, taken)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("nonsense", "expected HOST:PORT"),
        ("127.0.0.1:70000", "expected HOST:PORT"),
        ("no-such-host.invalid:8080", ""),
    ],
)
async def test_serve_on_an_invalid_address_names_it_and_the_option(
    tmp_path: Path, daemon_env: dict[str, str], address: str, why: str
) -> None:
    config = write_config(
        tmp_path / "config.toml", CONFIG.format(listen=address, db=tmp_path / "journal.db")
    )
    code, stderr = await run(daemon_env, "serve", "--config", str(config))
    assert code == 1
    line = the_line(stderr, address)
    assert f"cannot listen on {address}: {why}" in line
    assert "server.listen" in line


async def test_demo_on_a_taken_address_names_it_and_the_option(
    daemon_env: dict[str, str], taken: str
) -> None:
    code, stderr = await run(daemon_env, "demo", "--once", "--listen", taken)
    assert code == 1
    line = the_line(stderr, taken)
    assert f"cannot listen on {taken}: Address already in use" in line
    assert "pass another --listen HOST:PORT" in line
