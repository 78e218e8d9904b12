"""The parts of bulk sending: the CSV reader, references, the daemon client, progress, usage."""

from __future__ import annotations

import argparse
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from router.cli import build_parser, main
from router.cli.bulk import BulkAborted, DaemonSender, send_row
from router.cli.bulk_report import Progress, RowResult, RowStatus, Summary
from router.cli.bulk_rows import Row, derived_reference, read_rows
from router.errors import RouterError
from tests.daemon.support import free_port


def _write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "rows.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_rows_keep_their_line_numbers_across_blank_and_multi_line_rows(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "\ufeffTo , TEXT,sender\n"  # 1: a spreadsheet's BOM and loose header
        "+61412345678,first,\n"  # 2
        "\n"  # 3
        '0412345679,"two\n'  # 4
        'lines",Shop\n'  # 5
        ",,\n"  # 6: an empty spreadsheet row
        " +61412345680 , spaced text ,\n",  # 7
    )
    rows, bad = read_rows(path, sender="Default")
    assert bad == []
    assert [(r.line, r.to, r.text, r.sender) for r in rows] == [
        (2, "+61412345678", "first", "Default"),
        (4, "0412345679", "two\nlines", "Shop"),
        (7, "+61412345680", " spaced text ", "Default"),
    ]
    assert rows[0].reference == derived_reference("+61412345678", "first", 0)


def test_bad_rows_are_named_by_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "to,text,reference\n"
        "+61412345678,ok,\n"  # 2
        ",no number,\n"  # 3
        "+61412345678,  ,\n"  # 4
        "+61412345678\n"  # 5
        "+61412345678,x,r,extra\n"  # 6
        "+61412345678,y,r1\n"  # 7
        "+61412345678,z,r1\n",  # 8
    )
    rows, bad = read_rows(path)
    assert [r.line for r in rows] == [2, 7]
    assert bad == [
        RowResult(3, RowStatus.BAD, reason="to: is empty"),
        RowResult(4, RowStatus.BAD, reason="text: is empty"),
        RowResult(
            5,
            RowStatus.BAD,
            reason="expected 3 columns (to, text, reference), got 1: no text, reference",
        ),
        RowResult(
            6,
            RowStatus.BAD,
            reason="expected 3 columns (to, text, reference), got 4: too many columns",
        ),
        RowResult(8, RowStatus.BAD, reason="reference: 'r1' is also line 7's"),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no header row (expected: to, text, sender, reference, send_at, expires_at)"),
        ("to,message\n", "line 1: unknown column 'message'; no 'text' column"),
        ("to,text,to\n", "line 1: column 'to' twice"),
    ],
)
def test_a_wrong_header_stops_before_any_row(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(RouterError) as caught:
        read_rows(_write(tmp_path, text))
    assert str(caught.value).startswith(f"{tmp_path / 'rows.csv'}: {problem}")


def test_an_unreadable_file_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(RouterError, match="not UTF-8 text"):
        read_rows(_write(tmp_path, "to,text\n+61412345678,café\n", "latin-1"))
    with pytest.raises(RouterError, match="cannot read"):
        read_rows(tmp_path / "missing.csv")


def test_derived_references_are_stable_and_tell_repeated_rows_apart(tmp_path: Path) -> None:
    text = "to,text\n+61412345678,hi\n+61412345678,hi\n+61412345679,hi\n"
    first, _ = read_rows(_write(tmp_path, text))
    again, _ = read_rows(_write(tmp_path, "to,text\n\n" + text.split("\n", 1)[1]))
    refs = [r.reference for r in first]
    assert len(set(refs)) == 3
    # A line moved down by a blank line keeps its reference: only to and text count.
    assert [r.reference for r in again] == refs
    assert [r.line for r in again] == [3, 4, 5]
    assert refs[1] == derived_reference("+61412345678", "hi", 1)
    # Pinned: a new version deriving other references would send a resumed file again.
    assert refs[0] == "csv-8945a6af957264d7e92e12c4"
    assert derived_reference("+61412345678", "hi", 0, "may") == "csv-44303b2ff8e40e681e8e93b9"


def test_an_explicit_reference_is_used_as_it_is(tmp_path: Path) -> None:
    rows, _ = read_rows(_write(tmp_path, "to,text,reference\n+61412345678,hi, order-17 \n"))
    assert rows == [Row(2, "+61412345678", "hi", None, "order-17")]


def _result(status: RowStatus, provider: str | None = None, **kw: Any) -> RowResult:
    return RowResult(1, status, provider, **kw)


def test_the_summary_counts_rows_and_what_each_provider_took() -> None:
    summary = Summary(total=6)
    summary.add(_result(RowStatus.SENT, "a", segments=2, cost=Decimal("0.1")))
    summary.add(_result(RowStatus.SENT, "a", segments=1, cost=Decimal("0.05")))
    summary.add(_result(RowStatus.EARLIER, "b", segments=1))
    summary.add(_result(RowStatus.SENT, "b", segments=1))
    summary.add(RowResult(9, RowStatus.FAILED, reason="x"))
    assert summary.headline() == "6 rows: 3 sent, 1 sent earlier, 1 failed, 1 not sent"
    assert summary.provider_rows() == [
        ("a", 2, 0, 3, "0.15"),
        ("b", 1, 1, 1, ""),
        ("total", 3, 1, 4, "0.15"),
    ]
    assert summary.lines == {RowStatus.FAILED: [9]}
    assert not summary.ok


def test_progress_off_a_terminal_is_a_line_per_tenth() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=False, now=lambda: 0.0)
    summary = Summary(total=20)
    for n in range(20):
        summary.add(_result(RowStatus.BAD if n == 4 else RowStatus.SENT, "a"))
        progress.show(summary)
    lines = out.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0] == "2/20 rows (10%): 2 sent, 0 failed, 0 bad"
    assert lines[-1] == "20/20 rows (100%): 19 sent, 0 failed, 1 bad"


def test_progress_on_a_terminal_redraws_one_line() -> None:
    out = io.StringIO()
    clock = iter(float(n) for n in range(100))
    progress = Progress(out, tty=True, now=lambda: next(clock))
    summary = Summary(total=4)
    summary.add(_result(RowStatus.SENT, "a"))
    progress.show(summary)
    progress.note("line 3: bad: text: is empty")
    for _ in range(3):
        summary.add(_result(RowStatus.SENT, "a"))
        progress.show(summary)
    progress.close()
    bar = "[######################........] 3/4  3 sent, 0 failed, 0 bad"
    assert out.getvalue() == (
        "\r[#######.......................] 1/4  1 sent, 0 failed, 0 bad\x1b[K"
        "\r\x1b[Kline 3: bad: text: is empty\n"
        "[#######.......................] 1/4  1 sent, 0 failed, 0 bad"
        "\r[###############...............] 2/4  2 sent, 0 failed, 0 bad\x1b[K"
        f"\r{bar}\x1b[K"
        "\r[##############################] 4/4  4 sent, 0 failed, 0 bad\x1b[K\n"
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def fake_daemon() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Serve one handler for ``POST /v1/messages`` on loopback; its base URL."""
    servers: list[TestServer] = []

    async def serve(handler: Handler) -> str:
        app = web.Application()
        app.router.add_post("/v1/messages", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url(""))

    yield serve
    for server in servers:
        await server.close()


ROW = Row(7, "+61412345678", "hi", "Shop", "csv-1")
ACCEPTED = {
    "id": "m1",
    "duplicate": False,
    "segments": 1,
    "recipients": [{"status": "accepted", "provider": "b", "cost": "0.05", "attempts": []}],
}


async def test_the_daemon_client_retries_what_is_safe_to_retry(
    fake_daemon: Callable[[Handler], Awaitable[str]],
) -> None:
    bodies: list[Any] = []

    async def flaky(request: web.Request) -> web.StreamResponse:
        bodies.append(await request.json())
        assert request.headers["Authorization"] == "Bearer t"
        if len(bodies) == 1:
            return web.json_response({"error": {"code": "stopping"}}, status=503)
        if len(bodies) == 2:
            assert request.transport is not None
            request.transport.abort()  # the connection drops: did the daemon take it?
            return web.Response()
        return web.json_response(ACCEPTED)

    url = await fake_daemon(flaky)
    async with DaemonSender(url, "t", pause=0.001) as sender:
        result = await sender.send(ROW)
    assert result == RowResult(7, RowStatus.SENT, "b", 1, Decimal("0.05"))
    # The same reference each time: the daemon sends a reference once, however often asked.
    expected: dict[str, object] = {"to": "+61412345678", "text": "hi", "sender": "Shop"}
    expected |= {"reference": "csv-1", "coalesce": True}  # rows of one text share requests
    assert bodies == [expected] * 3


async def test_the_daemon_client_maps_answers_to_row_results(
    fake_daemon: Callable[[Handler], Awaitable[str]],
) -> None:
    answers = [
        (400, {"error": {"code": "invalid", "message": "is empty", "field": "text"}}),
        (422, {"error": {"code": "no_route", "reasons": {"a": "down", "b": "no credit"}}}),
        (200, {**ACCEPTED, "duplicate": True}),
        (
            200,
            {
                **ACCEPTED,
                "recipients": [
                    {
                        "status": "rejected",
                        "provider": "b",
                        "cost": None,
                        "attempts": [
                            {"provider": "b", "outcome": "rejected_recipient", "reason": "BAD"}
                        ],
                    }
                ],
            },
        ),
    ]

    async def answer(request: web.Request) -> web.StreamResponse:
        status, body = answers.pop(0)
        return web.json_response(body, status=status)

    url = await fake_daemon(answer)
    async with DaemonSender(url, "t") as sender:
        results = [await sender.send(ROW) for _ in range(4)]
    assert results == [
        RowResult(7, RowStatus.BAD, reason="text: is empty"),
        RowResult(7, RowStatus.FAILED, reason="no provider could take it (a: down; b: no credit)"),
        RowResult(7, RowStatus.EARLIER, "b", 1),
        RowResult(7, RowStatus.FAILED, "b", 1, reason="b: rejected_recipient: BAD"),
    ]


async def test_the_daemon_client_gives_up_on_an_absent_daemon_or_a_refused_token(
    fake_daemon: Callable[[Handler], Awaitable[str]],
) -> None:
    async with DaemonSender(f"http://127.0.0.1:{free_port()}", "t", attempts=3, pause=0.001) as s:
        with pytest.raises(BulkAborted, match="no answer after 3 tries"):
            await s.send(ROW)

    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": {"code": "unauthorized"}}, status=401)

    async with DaemonSender(await fake_daemon(refuse), "t") as sender:
        with pytest.raises(BulkAborted, match=r"refused the API token \(HTTP 401\)"):
            await sender.send(ROW)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--csv", "f.csv", "--to", "+61412345678", "--config", "c"], "drop --to"),
        (["--csv", "f.csv", "--text", "hi", "--config", "c"], "drop --text"),
        (["--csv", "f.csv", "--reference", "r", "--config", "c"], "drop --reference"),
        (["--config", "c"], "give --to and --text for one message, or --csv FILE"),
        (["--to", "+61412345678", "--config", "c"], "give --to and --text"),
        (["--csv", "f.csv"], "give --config FILE to run in this process, or --server URL"),
        (["--csv", "f.csv", "--config", "c", "--server", "http://x"], "give --config FILE"),
        (["--to", "+61412345678", "--text", "hi", "--server", "http://x"], "--server needs"),
        (["--to", "+61412345678", "--text", "hi", "-c", "c", "--token", "t"], "give --server"),
        (["--csv", "f.csv", "--server", "http://x"], "--server needs --token TOKEN"),
        (["--csv", "f.csv", "--config", "c", "--concurrency", "0"], "at least 1, got 0"),
        (["--to", "+61412345678", "--text", "hi", "-c", "c", "--campaign", "m"], "--campaign"),
    ],
)
def test_send_usage_errors_exit_2_and_say_why(
    args: list[str], problem: str, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.delenv("SMSROUTER_API_TOKEN", raising=False)
    with pytest.raises(SystemExit) as caught:
        main(["send", *args])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: smsrouter send")
    assert problem in err


def test_send_help_says_how_resuming_works() -> None:
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    send = commands.choices["send"]
    text = " ".join(send.format_help().split())
    assert "a row without a reference gets one derived from its to and text" in text
    assert "resumed by running the same command again" in text
    assert "--csv FILE" in text


async def test_through_the_daemon_a_row_failed_unsent_is_sent_again_under_its_next_reference(
    fake_daemon: Callable[[Handler], Awaitable[str]],
) -> None:
    failed = {
        **ACCEPTED,
        "duplicate": True,
        "recipients": [
            {
                "status": "failed",
                "provider": None,
                "cost": None,
                "attempts": [{"provider": "b", "outcome": "unavailable", "reason": "down"}],
            }
        ],
    }
    references: list[str] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        references.append((await request.json())["reference"])
        return web.json_response(failed if len(references) < 3 else ACCEPTED)

    async with DaemonSender(await fake_daemon(answer), "t") as sender:
        result = await send_row(sender, ROW)
    assert result == RowResult(7, RowStatus.SENT, "b", 1, Decimal("0.05"))
    assert references == ["csv-1", "csv-1~1", "csv-1~2"]


def test_send_at_and_expires_at_columns_are_read_and_a_bad_time_is_a_bad_row(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        "to,text,send_at,expires_at\n"
        "+61412345678,a,2026-12-05T09:00:00+11:00,\n"  # 2
        "+61412345679,b,,1796400000\n"  # 3
        "+61412345670,c,tomorrow,\n"  # 4
        "+61412345671,d,2026-12-05T09:00:00,\n",  # 5
    )
    rows, bad = read_rows(path)
    assert [(r.line, r.send_at, r.expires_at) for r in rows] == [
        (2, 1796421600.0, None),
        (3, None, 1796400000.0),
    ]
    assert [(b.line, b.reason.split(":")[0]) for b in bad] == [(4, "send_at"), (5, "send_at")]
    assert "no timezone" in bad[1].reason


def test_a_row_held_for_its_time_counts_as_done() -> None:
    summary = Summary(total=1)
    summary.add(RowResult(2, RowStatus.SCHEDULED, reason="held until 2026-12-04T22:00:00+00:00"))
    assert summary.ok
    assert summary.headline() == "1 rows: 0 sent, 1 scheduled"


async def test_the_daemon_client_sends_a_rows_times_and_reports_held_and_opted_out_rows(
    fake_daemon: Callable[[Handler], Awaitable[str]],
) -> None:
    bodies: list[Any] = []
    held: dict[str, Any] = {"status": "scheduled", "provider": None, "cost": None, "attempts": [],
            "reason": "", "scheduled_at": 1796421600.0}  # fmt: skip
    refused = {**held, "status": "rejected", "reason": "opted out", "scheduled_at": None}
    answers = [{**ACCEPTED, "recipients": [held]}, {**ACCEPTED, "recipients": [refused]}]

    async def answer(request: web.Request) -> web.StreamResponse:
        bodies.append(await request.json())
        return web.json_response(answers.pop(0))

    row = attrs.evolve(ROW, send_at=1796421600.0, expires_at=1796425200.0)
    async with DaemonSender(await fake_daemon(answer), "t") as sender:
        results = [await sender.send(row), await sender.send(ROW)]
    assert (bodies[0]["send_at"], bodies[0]["expires_at"]) == (1796421600.0, 1796425200.0)
    assert "send_at" not in bodies[1]
    assert results == [
        RowResult(
            7, RowStatus.SCHEDULED, segments=1, reason="held until 2026-12-04T22:00:00+00:00"
        ),
        RowResult(7, RowStatus.FAILED, None, 1, reason="opted out"),
    ]
