"""What ``smsrouter serve`` logs: where it listens, each request, each message, no secret.

The daemon is a real process here (its log is the point), in front of the emulators.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli.support import LoggedDaemon, config_text
from tests.daemon.support import SECRET, TOKEN, DaemonProcess, wait_until, write_config


async def delivered(daemon: DaemonProcess, message_id: str) -> bool:
    status, record = await daemon.request("GET", f"/v1/messages/{message_id}")
    return status == 200 and all(r["delivery"] for r in record["recipients"])


async def test_json_lines_say_where_it_listens_each_request_and_each_message(
    tmp_path: Path, emulators: dict[str, Any], daemon_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", config_text(tmp_path, emulators))
    daemon = LoggedDaemon(
        config, daemon_env, tmp_path / "serve.log", "-v", "--access-log", "--log-format", "json"
    )
    broadcast = emulators["broadcast"]
    broadcast.callback_url = f"{daemon.url}/callbacks/broadcast/dlr/{SECRET}"
    broadcast.inbound_url = f"{daemon.url}/callbacks/broadcast/inbound/{SECRET}"
    await daemon.start()
    status, sent = await daemon.request(
        "POST",
        "/v1/messages",
        json={"to": "+61412345678", "text": "Your code is 4711", "reference": "log-1"},
    )
    assert status == 200, sent
    await wait_until(lambda: delivered(daemon, sent["id"]))
    broadcast.push_reply("61412345678", "61400000000", "YES", reference=sent["id"])
    await broadcast.settle()
    assert (await daemon.request("GET", "/v1/providers", token="not-the-token"))[0] == 401
    text = await daemon.finish()

    lines = [json.loads(line) for line in text.splitlines()]  # every line is one object
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line)
        assert line["time"].endswith("Z")
    start = next(line for line in lines if "listening on" in line["message"])
    assert start["logger"] == "smsrouter.server"
    assert start["level"] == "info"
    assert start["listen"] == [daemon.url]
    assert start["providers"] == ["broadcast", "office"]
    assert start["store"] == f"sqlite:///{tmp_path / 'journal.db'}"
    assert f"listening on {daemon.url}; providers: broadcast (smsbroadcast)" in start["message"]

    access = [line for line in lines if line["logger"] == "smsrouter.access"]
    posted = next(a for a in access if a["path"] == "/v1/messages")
    assert (posted["method"], posted["status"]) == ("POST", 200)
    assert posted["duration_ms"] >= 0
    assert {"/callbacks/broadcast/dlr/***", "/callbacks/broadcast/inbound/***"} <= {
        a["path"] for a in access
    }
    assert 401 in {a["status"] for a in access if a["path"] == "/v1/providers"}

    events = [line for line in lines if line["logger"] == "smsrouter.messages"]
    accepted = next(e for e in events if e.get("status") == "accepted")
    assert accepted["message_id"] == sent["id"]
    assert accepted["provider"] == "broadcast"
    assert accepted["reference"] == "log-1"
    report = next(e for e in events if "delivery report" in e["message"])
    assert (report["message_id"], report["provider"]) == (sent["id"], "broadcast")
    inbound = next(e for e in events if "inbound" in e["message"])
    assert (inbound["provider"], inbound["in_reply_to"]) == ("broadcast", sent["id"])
    assert "4711" not in text  # no text of a message is logged
    for secret in (TOKEN, SECRET, "demo-password", "not-the-token"):
        assert secret not in text


async def test_by_default_the_start_line_is_logged_and_no_request_is(
    tmp_path: Path, emulators: dict[str, Any], daemon_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", config_text(tmp_path, emulators))
    daemon = LoggedDaemon(config, daemon_env, tmp_path / "serve.log")
    await daemon.start()
    assert (await daemon.request("GET", "/v1/providers"))[0] == 200
    text = await daemon.finish()
    first = text.splitlines()[0]
    assert " INFO smsrouter.server: smsrouter " in first
    assert f"listening on {daemon.url}; providers: broadcast (smsbroadcast), office" in first
    assert "store: sqlite:///" in first
    assert "/v1/providers" not in text  # the access log is off unless switched on
    assert TOKEN not in text


async def test_quiet_leaves_the_access_log_on_when_it_is_switched_on(
    tmp_path: Path, emulators: dict[str, Any], daemon_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", config_text(tmp_path, emulators))
    daemon = LoggedDaemon(config, daemon_env, tmp_path / "serve.log", "-q", "--access-log")
    await daemon.start()
    assert (await daemon.request("GET", "/v1/plugins"))[0] == 200
    text = await daemon.finish()
    assert "listening on" not in text  # -q: warnings and worse
    assert "INFO smsrouter.access: 127.0.0.1 GET /v1/plugins 200" in text
