"""``smsrouter optouts list|add|remove``: in this process on the config's journal, and through
a daemon's API (the daemon's app served in the test's process, the command run in a thread
as the command line runs it)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from router.cli.main import main
from tests.cli.support import config_text
from tests.daemon.support import TOKEN, write_config


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["optouts", *args])
    out, err = capsys.readouterr()
    return code, out, err


def listed(out: str) -> list[list[str]]:
    """The table's rows, as cells."""
    return [line.split() for line in out.splitlines() if line.startswith("+") and ": " not in line]


async def test_add_list_and_remove_in_this_process(
    tmp_path: Path,
    emulators: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMSROUTER_API_TOKEN", TOKEN)
    monkeypatch.setenv("SMSROUTER_CALLBACK_SECRET", "cli-test-secret")
    path = write_config(tmp_path / "config.toml", config_text(tmp_path, emulators))
    code, out, err = await asyncio.to_thread(run, capsys, "add", "0412 345 678", "-c", str(path))
    assert code == 0, err
    assert out.startswith("+61412345678: added")
    assert [row[0] for row in listed(out)] == ["+61412345678"]
    code, out, _ = await asyncio.to_thread(run, capsys, "add", "+61412345678", "-c", str(path))
    assert out.startswith("+61412345678: already on the list")
    code, out, _ = await asyncio.to_thread(run, capsys, "list", "-c", str(path))
    assert [(row[0], row[-1]) for row in listed(out)] == [("+61412345678", "cli")]
    code, out, _ = await asyncio.to_thread(run, capsys, "remove", "0412345678", "-c", str(path))
    assert out.startswith("+61412345678: removed")
    assert listed(out) == []
    code, _, err = await asyncio.to_thread(run, capsys, "add", "not-a-number", "-c", str(path))
    assert code == 1
    assert "number:" in err


async def test_add_and_remove_through_a_daemon_which_obeys_at_once(
    tmp_path: Path,
    emulators: dict[str, Any],
    served_factory: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    daemon = served_factory(config_text(tmp_path, emulators))
    await daemon.start()
    server = ["--server", daemon.url, "--token", TOKEN]
    code, out, _ = await asyncio.to_thread(run, capsys, "add", "+61412345678", *server)
    assert (code, out.splitlines()[0]) == (0, "+61412345678: added")
    status, answer = await daemon.request(
        "POST", "/v1/messages", json={"to": "+61412345678", "text": "Sale"}
    )
    assert status == 200
    assert answer["recipients"][0]["reason"] == "opted out"
    code, out, _ = await asyncio.to_thread(run, capsys, "list", *server)
    assert [(row[0], row[-1]) for row in listed(out)] == [("+61412345678", "api")]
    code, out, _ = await asyncio.to_thread(run, capsys, "remove", "+61412345678", *server)
    assert out.splitlines()[0] == "+61412345678: removed"
    status, answer = await daemon.request(
        "POST", "/v1/messages", json={"to": "+61412345678", "text": "Sale"}
    )
    assert (status, answer["recipients"][0]["status"]) == (200, "accepted")


def test_usage_mistakes_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["list"], ["add", "-c", "x.toml"], ["list", "+61412345678", "-c", "x.toml"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["optouts", *args])
        assert exit_info.value.code == 2
