"""``send --send-at / --expires-at / --urgent / --callback-url``: one message's timing and
report URL, in this process and through a daemon, each option checked where it is read."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from router.cli import main
from router.store import MessageState, SQLiteStore
from tests.cli.support import config_text
from tests.cli.test_bulk_inprocess import FAKE_CONFIG
from tests.cli.test_commands import cells, smsrouter
from tests.daemon.support import TOKEN, sent_texts

LATER = "2099-01-01T00:00:00+00:00"
"""A send time no test reaches."""


def send(*options: str) -> list[str]:
    return ["send", "-c", "config.toml", "--to", "+61412345678", "--text", "hi", *options]


def test_a_message_held_in_a_journal_file_is_there_for_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    journal = tmp_path / "held.db"
    store = f'\n[store]\nurl = "sqlite:///{journal}"\n'
    Path("config.toml").write_text(FAKE_CONFIG + store, encoding="utf-8")
    assert main(send("--send-at", LATER, "--expires-at", "4070995200")) == 0
    out = capsys.readouterr().out
    message_id = out.split()[1].rstrip(":")
    assert cells(out, "+61412345678")[1:4] == ["scheduled", "until", LATER]

    async def held() -> Any:
        store = SQLiteStore(journal)
        await store.open()
        try:
            return await store.get(message_id)
        finally:
            await store.close()

    record = asyncio.run(held())
    assert record.state is MessageState.HELD
    assert (record.send_at, record.expires_at) == (4070908800.0, 4070995200.0)


def test_a_message_held_in_a_memory_journal_is_refused_as_lost_with_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("config.toml").write_text(FAKE_CONFIG, encoding="utf-8")
    assert main(send("--send-at", LATER)) == 1
    err = capsys.readouterr().err
    assert "+61412345678: held for later, but [store] url is memory:" in err
    assert "name a journal file" in err


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--send-at", "tomorrow"], "--send-at: expected Unix seconds or an ISO 8601 time"),
        (["--expires-at", "2099-01-01T00:00:00"], "--expires-at: '2099-01-01T00:00:00' has no"),
        (["--expires-at", "4102531200"], "expires_at: is after 2100"),
    ],
)
def test_a_bad_time_is_refused_naming_the_option(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    said: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("config.toml").write_text(FAKE_CONFIG, encoding="utf-8")
    assert main(send(*options)) == 1
    assert said in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--send-at", LATER], "--csv takes send_at and expires_at from the file's columns"),
        (["--urgent"], "--urgent and --callback-url are options of one message, not of --csv"),
    ],
)
def test_one_message_options_are_refused_with_csv(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    said: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("config.toml").write_text(FAKE_CONFIG, encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(["send", "-c", "config.toml", "--csv", "rows.csv", *options])
    assert exited.value.code == 2
    assert said in capsys.readouterr().err


async def test_the_options_reach_a_daemon_as_the_api_fields(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any, daemon_env: dict[str, str]
) -> None:
    daemon = served_factory(config_text(tmp_path, emulators))
    await daemon.start()
    server = ["--server", daemon.url, "--token", TOKEN]
    message = ["--to", "+61412345678", "--text", "Later from the CLI"]

    held = await smsrouter(["send", *server, *message, "--send-at", LATER], daemon_env)
    assert held.status == 0, held.err
    assert cells(held.out, "+61412345678")[1:3] == ["scheduled", "until"]
    status, record = await daemon.request("GET", f"/v1/messages/{held.out.split()[1][:-1]}")
    assert (status, record["state"]) == (200, "held")
    assert sent_texts(emulators["broadcast"]) == []

    gone = str(time.time() - 60)
    expired = await smsrouter(["send", *server, *message, "--expires-at", gone], daemon_env)
    assert expired.status == 1, expired.out + expired.err  # not sent: not ok
    assert cells(expired.out, "+61412345678")[1] == "expired"
    assert sent_texts(emulators["broadcast"]) == []

    # No [message_callbacks] secret on this daemon: the daemon's 400 names the field.
    hook = ["--callback-url", "http://127.0.0.1:9/reports"]
    refused = await smsrouter(["send", *server, *message, *hook], daemon_env)
    assert refused.status == 1
    assert "callback_url" in refused.err
