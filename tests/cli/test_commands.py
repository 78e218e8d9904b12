"""``route``, ``send``, ``balance`` and ``providers``, in this process and against a daemon.

Each command is a real process, as a user runs it; the daemon it asks with ``--server`` is
the daemon's app served in the test's process, on loopback, in front of the emulators.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from router.cli import build_parser, main
from router.cli.commands import target_problem
from router.cli.main import log_level
from router.version import VERSION
from tests.cli.support import config_text
from tests.daemon.support import TOKEN, sent_texts, write_config


@attrs.frozen
class Ran:
    status: int
    out: str
    err: str


async def smsrouter(args: Sequence[str], env: dict[str, str]) -> Ran:
    """Run ``python -m router ARGS`` to its end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "router",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


def cells(output: str, first: str) -> list[str]:
    """The cells of the table row of *output* that starts with *first*."""
    for line in output.splitlines():
        if line.split()[:1] == [first]:
            return line.split()
    raise AssertionError(f"no row {first!r} in:\n{output}")


async def test_route_in_process_explains_every_candidate_in_order(
    tmp_path: Path, emulators: dict[str, Any], daemon_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", config_text(tmp_path, emulators))
    to = ["--to", "+61412345678", "--to", "+27821234567", "--text", "Hello"]
    ran = await smsrouter(["route", "--config", str(config), *to], daemon_env)
    assert ran.status == 0, ran.err
    _, australian, african = ran.out.strip().split("\n\n")
    assert australian.startswith("+61412345678")
    assert cells(australian, "1")[1] == "broadcast"
    assert "excluded by prefix: does not send to +61412345678" in australian
    assert african.startswith("+27821234567")
    assert cells(african, "1")[1] == "office"
    assert ran.out.startswith("gsm7, 1 segment(s)")
    assert not sent_texts(emulators["broadcast"])  # explained, not sent


async def test_each_command_asks_a_running_daemon_with_server_and_token(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any, daemon_env: dict[str, str]
) -> None:
    daemon = served_factory(config_text(tmp_path, emulators))
    await daemon.start()
    env = {k: v for k, v in daemon_env.items() if k != "SMSROUTER_API_TOKEN"}
    server = ["--server", daemon.url, "--token", TOKEN]

    route = await smsrouter(["route", *server, "--to", "+61412345678", "--text", "Hi"], env)
    assert route.status == 0, route.err
    assert cells(route.out, "1")[1] == "broadcast"

    message = ["--to", "+61412345678", "--text", "Hello from the CLI", "--reference", "cli-1"]
    sent = await smsrouter(["send", *server, *message], env)
    assert sent.status == 0, sent.err
    message_id = sent.out.split()[1].rstrip(":")
    assert cells(sent.out, "+61412345678")[1:3] == ["accepted", "broadcast"]
    assert sent_texts(emulators["broadcast"]) == ["Hello from the CLI"]
    status, record = await daemon.request("GET", f"/v1/messages/{message_id}")
    assert status == 200  # journalled by the daemon, not by a Router of the command's own
    assert record["reference"] == "cli-1"

    balance = await smsrouter(["balance", *server, "broadcast"], env)
    assert balance.status == 0, balance.err
    row = cells(balance.out, "broadcast")
    assert row[2] == "credits"
    assert row[3] == "now" or row[4] == "ago"  # the daemon's reading, and its age

    providers = await smsrouter(["providers", *server], env)
    assert providers.status == 0, providers.err
    assert cells(providers.out, "plugins.smsbroadcast")[1] == VERSION
    assert cells(providers.out, "broadcast")[1:3] == ["smsbroadcast", "closed"]
    assert cells(providers.out, "office")[1:3] == ["smsoffice", "closed"]


async def test_send_and_balance_in_process_use_a_router_of_their_own(
    tmp_path: Path, emulators: dict[str, Any], daemon_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", config_text(tmp_path, emulators))
    sent = await smsrouter(
        ["send", "-c", str(config), "--to", "+27821234567", "--text", "Hi there"], daemon_env
    )
    assert sent.status == 0, sent.err
    assert cells(sent.out, "+27821234567")[1:3] == ["accepted", "office"]
    assert sent_texts(emulators["office"]) == ["Hi there"]
    balance = await smsrouter(["balance", "-c", str(config)], daemon_env)
    assert balance.status == 0, balance.err
    assert cells(balance.out, "broadcast")[3] == "now"
    assert cells(balance.out, "office")[3] == "now"


async def test_a_message_no_provider_takes_exits_1_with_every_reason(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any, daemon_env: dict[str, str]
) -> None:
    daemon = served_factory(config_text(tmp_path, emulators))
    await daemon.start()
    config = write_config(tmp_path / "c.toml", config_text(tmp_path, emulators, "local.db"))
    message = ["--to", "+79123456789", "--text", "Nobody sends to Russia here"]
    for where in (["--server", daemon.url], ["--config", str(config)]):
        ran = await smsrouter(["send", *where, *message], daemon_env)
        assert ran.status == 1, ran.out + ran.err
        assert "no provider could take the message" in ran.out
        assert "broadcast: " in ran.out
        assert "office: " in ran.out


async def test_a_refused_token_and_an_unreachable_daemon_are_said_plainly(
    served_factory: Any, tmp_path: Path, emulators: dict[str, Any], daemon_env: dict[str, str]
) -> None:
    daemon = served_factory(config_text(tmp_path, emulators))
    await daemon.start()
    refused = await smsrouter(
        ["balance", "--server", daemon.url, "--token", "wrong-token"], daemon_env
    )
    assert refused.status == 1
    assert "the daemon refused the API token (HTTP 401)" in refused.err
    assert "Traceback" not in refused.err
    gone = await smsrouter(["providers", "--server", "http://127.0.0.1:9"], daemon_env)
    assert gone.status == 1
    assert "cannot reach the daemon at http://127.0.0.1:9" in gone.err
    bad = await smsrouter(
        ["route", "--server", daemon.url, "--to", "+61 4", "--text", "x"], daemon_env
    )
    assert bad.status == 1
    assert "to:" in bad.err  # the daemon's 400 names the field, as in-process would


@pytest.mark.parametrize(
    ("argv", "level"),
    [
        (["route", "-c", "f", "--to", "1", "--text", "x"], 30),
        (["-v", "route", "-c", "f", "--to", "1", "--text", "x"], 20),
        (["route", "-v", "-c", "f", "--to", "1", "--text", "x"], 20),
        (["route", "-c", "f", "--to", "1", "--text", "x", "-vv"], 10),
        (["-v", "route", "-c", "f", "-v", "--to", "1", "--text", "x"], 10),
        (["serve", "-c", "f"], 20),
        (["serve", "-c", "f", "-q"], 30),
        (["-q", "serve", "-qq", "-c", "f"], 50),
        (["balance", "-c", "f", "broadcast", "-q"], 40),
        (["emulate", "all", "-v"], 10),
    ],
)
def test_verbose_and_quiet_count_in_any_position(argv: list[str], level: int) -> None:
    assert log_level(build_parser().parse_args(argv)) == level


@pytest.mark.parametrize(
    "argv",
    [
        ["--log-format", "json", "serve", "-c", "f"],
        ["serve", "-c", "f", "--log-format", "json"],
    ],
)
def test_log_format_goes_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert "json" in (args.log_format, getattr(args, "sub_log_format", None))


def test_version_says_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"smsrouter {VERSION}"
    assert VERSION != "0+unknown"  # the installed distribution's


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["route", "--to", "1", "--text", "x"], "give --config FILE to run in this process"),
        (["balance", "-c", "f", "--server", "http://x"], "not both"),
        (["providers", "--server", "http://x"], "--server needs --token TOKEN"),
        (["providers", "--token", "t"], "give --server URL with it"),
    ],
)
def test_where_to_run_is_checked_before_anything_starts(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.delenv("SMSROUTER_API_TOKEN", raising=False)
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert problem in capsys.readouterr().err


def test_the_token_may_come_from_the_environment(monkeypatch: Any) -> None:
    monkeypatch.setenv("SMSROUTER_API_TOKEN", "from-env")
    args = build_parser().parse_args(["providers", "--server", "http://x"])
    assert target_problem(args, config_needed=False) is None
    assert os.environ["SMSROUTER_API_TOKEN"] == "from-env"
