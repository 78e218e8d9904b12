"""``smsrouter providers suspend|resume|reset NAME`` as a real process, against a daemon.

The daemon's app is served in the test's process on loopback; the command line talks to it
over HTTP as an operator's shell would.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from tests.cli.support import config_text
from tests.daemon.support import TOKEN


async def smsrouter(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run the command line; (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "router",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_suspend_resume_and_reset_through_a_running_daemon(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any, daemon_env: dict[str, str]
) -> None:
    daemon = served_factory(config_text(tmp_path, emulators))
    await daemon.start()
    server = ["--server", daemon.url]

    code, out, err = await smsrouter(
        "providers", "suspend", "office", *server, "--reason", "invoice unpaid", env=daemon_env
    )
    assert code == 0, err
    assert out.strip() == ("office: suspended; now suspended (invoice unpaid), breaker closed")
    status, plan = await daemon.request(
        "POST", "/v1/route", json={"to": ["+27821234567"], "text": "Hi"}
    )
    assert status == 200
    excluded = {e["provider"]: e["reason"] for e in plan["routes"][0]["excluded"]}
    assert excluded["office"] == "suspended by an operator: invoice unpaid"

    code, out, err = await smsrouter("providers", "resume", "office", *server, env=daemon_env)
    assert code == 0, err
    assert out.strip() == "office: resumed; now not suspended, breaker closed"

    code, out, err = await smsrouter(
        "providers", "reset", "office", *server, "--token", TOKEN, env=daemon_env
    )
    assert code == 0, err
    assert out.strip() == "office: breaker reset; now not suspended, breaker closed"


async def test_a_refusal_or_a_missing_token_is_one_line_and_exit_status(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any, daemon_env: dict[str, str]
) -> None:
    daemon = served_factory(config_text(tmp_path, emulators))
    await daemon.start()

    code, _, err = await smsrouter(
        "providers", "suspend", "nobody", "--server", daemon.url, env=daemon_env
    )
    assert code == 1
    assert "the daemon refused to suspend 'nobody': no enabled provider with this name" in err
    assert "Traceback" not in err

    code, _, err = await smsrouter(
        "providers",
        "suspend",
        "office",
        "--server",
        daemon.url,
        "--token",
        "wrong",
        env=daemon_env,
    )
    assert code == 1
    assert "HTTP 401" in err
    assert "wrong" not in err.replace("--token", "")

    no_token = {k: v for k, v in daemon_env.items() if k != "SMSROUTER_API_TOKEN"}
    code, _, err = await smsrouter(
        "providers", "suspend", "office", "--server", daemon.url, env=no_token
    )
    assert code == 2
    assert "--token" in err


async def test_the_options_may_come_before_the_action_and_v_after_it(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any, daemon_env: dict[str, str]
) -> None:
    daemon = served_factory(config_text(tmp_path, emulators))
    await daemon.start()

    code, out, err = await smsrouter(
        "providers", "--server", daemon.url, "suspend", "office", "-v", env=daemon_env
    )

    assert code == 0, err
    assert out.strip() == "office: suspended; now suspended (no reason given), breaker closed"
