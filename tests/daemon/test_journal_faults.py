"""The daemon with its journal's disk full: 503 for what it cannot commit, the result for
what was sent, one log line per change, and the kept writes landing once there is room.

The full disk is SQLite's own answer injected at the writer's seam (a transaction that
wrote fails at COMMIT, reads work), in the daemon running in this process.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from router.store import SQLiteStore
from tests.daemon.support import TOKEN, InProcessDaemon, sent_texts

CONFIG = """
[router]
default_region = "AU"
policy = ["priority"]

[server]
api_tokens = ["${{SMSROUTER_API_TOKEN}}"]
callback_secret = "${{SMSROUTER_CALLBACK_SECRET}}"

[store]
url = "sqlite:///{db}"

[providers.broadcast]
plugin = "smsbroadcast"
username = "demo"
password = "demo-password"
base_url = "{broadcast}/api-adv.php"
timeout = "5s"
"""


def disk_full(wrote: bool) -> sqlite3.Error | None:
    """SQLite on a full disk: a transaction that wrote fails, reads work."""
    return sqlite3.OperationalError("database or disk is full") if wrote else None


def io_error(wrote: bool) -> sqlite3.Error | None:
    """A failing device: every transaction fails, reads too."""
    return sqlite3.OperationalError("disk I/O error")


async def call(
    daemon: InProcessDaemon, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    """Call the API: (status, headers, parsed JSON body)."""
    assert daemon.http is not None
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with daemon.http.request(method, daemon.url + path, json=body, headers=headers) as got:
        return got.status, dict(got.headers), await got.json(content_type=None)


def assert_journal_unavailable(answer: tuple[int, dict[str, str], Any]) -> None:
    """A JSON 503 from the one error writer, with Retry-After."""
    status, headers, body = answer
    assert status == 503, body
    assert headers["Content-Type"].startswith("application/json")
    assert int(headers["Retry-After"]) > 0
    assert body["error"]["code"] == "journal_unavailable"
    assert body["error"]["message"].startswith("the journal cannot serve this request now")


async def test_a_full_disk_answers_503_for_new_work_and_the_result_for_what_was_sent(
    tmp_path: Path,
    emulators: dict[str, Any],
    served_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    text = CONFIG.format(db=tmp_path / "journal.db", broadcast=emulators["broadcast"].url)
    daemon = served_factory(text)
    await daemon.start()
    assert daemon.daemon is not None
    store = daemon.daemon.store
    assert isinstance(store, SQLiteStore)
    store.writer.backlog.retry_first = store.writer.backlog.retry_max = 60.0
    started = store.add_started

    async def start_then_fill_the_disk(*args: Any) -> Any:
        # The message and its attempt's start are one write: a single-call send commits
        # twice, this and its outcome.
        done = await started(*args)
        store.writer.fault = disk_full  # the disk fills while the SMS is on its way
        return done

    monkeypatch.setattr(store, "add_started", start_then_fill_the_disk)
    body = {"to": "+61412345678", "text": "sent before the disk filled", "reference": "r-1"}
    status, _, result = await call(daemon, "POST", "/v1/messages", body)
    monkeypatch.undo()
    # Sent: answered with its result, although its attempt and result are not journalled.
    assert status == 200, result
    assert result["recipients"][0]["status"] == "accepted"
    assert len(store.writer.backlog) == 1  # the outcome: the attempt's end and the result

    # Not committed, so not sent: a JSON 503 with Retry-After, in either mode.
    new = {"to": "+61412345679", "text": "not sent while the disk is full"}
    assert_journal_unavailable(await call(daemon, "POST", "/v1/messages", new))
    assert_journal_unavailable(await call(daemon, "POST", "/v1/messages", {**new, "wait": False}))
    # The sent one's journal entry is out of date until its writes land: refused, not
    # sent again when its reference comes back.
    assert_journal_unavailable(await call(daemon, "GET", f"/v1/messages/{result['id']}"))
    assert_journal_unavailable(await call(daemon, "POST", "/v1/messages", body))
    store.writer.fault = io_error  # a device failing reads too: GETs are refused alike
    assert_journal_unavailable(await call(daemon, "GET", "/v1/inbound"))
    assert sent_texts(emulators["broadcast"]) == ["sent before the disk filled"]

    store.writer.fault = None  # room again: the next write that commits sets the retry going
    after = {"to": "+61412345679", "text": "sent once there was room"}
    status, _, later = await call(daemon, "POST", "/v1/messages", after)
    assert status == 200, later
    status, _, record = await call(daemon, "GET", f"/v1/messages/{result['id']}")
    assert status == 200, record
    assert record["state"] == "done"
    assert record["recipients"][0]["status"] == "accepted"
    assert [a["outcome"] for a in record["recipients"][0]["attempts"]] == ["accepted"]
    status, _, again = await call(daemon, "POST", "/v1/messages", body)
    assert (status, again["duplicate"], again["id"]) == (200, True, result["id"])
    assert sent_texts(emulators["broadcast"]) == [
        "sent before the disk filled",
        "sent once there was room",
    ]

    # One line when the journal started failing, one when it worked again; no traceback.
    said = [r.getMessage() for r in caplog.records if r.name == "smsrouter.store"]
    assert len(said) == 2, said
    assert "the journal is failing" in said[0]
    assert "the journal works again (1 kept writes landed)" in said[1]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
