"""Bulk sending: every row of a CSV file, each sent once, with progress and a summary.

The file's first row names its columns: ``to`` and ``text``, and optionally ``sender`` and
``reference``. Each further row is one message to one number. A row that cannot be sent as
written (a column missing or too many, an empty text, a bad number) is reported with its
line number and the other rows go on.

Every row is sent with a reference, and the router answers a reference it has seen with
the first result instead of sending again. A row without one gets a reference derived from
its ``to`` and ``text`` and how many rows before it had the same (:func:`derived_reference`),
so running the same file again, after an interruption or after fixing its bad rows, sends
only what was not sent. A row an earlier run failed without any provider taking it (an
outage) is sent again, under a reference of its own (:func:`send_row`).

A :class:`DaemonSender` sends through a daemon's ``POST /v1/messages``; an
:class:`InProcessSender` through a Router of this process. The provider budgets apply
either way (the daemon's or the Router's own); :func:`send_rows` keeps at most
*concurrency* rows under way, and on Ctrl-C takes no new row and lets those under way end.
:mod:`router.bulk_report` counts the results and shows the progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import signal
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol, TextIO

import aiohttp
import attrs

from router.bulk_report import Progress, RowResult, RowStatus, Summary, describe
from router.engine import Router
from router.errors import NoRouteError, RouterError, ValidationError
from router.model import Message, SendResult
from router.store import MessageState

COLUMNS = ("to", "text", "sender", "reference")
"""The columns a bulk file may have; ``to`` and ``text`` are required."""


class BulkAborted(RouterError):
    """The run cannot go on: the daemon is unreachable or refuses the token."""


@attrs.frozen
class Row:
    """One row of a bulk file, ready to send."""

    line: int
    """The line of the file the row starts on (the header is line 1)."""
    to: str
    text: str
    sender: str | None
    reference: str


def derived_reference(to: str, text: str, occurrence: int, campaign: str = "") -> str:
    """The reference of a row that has none: the same row of the same file gets the same one.

    *occurrence* counts the earlier rows with the same *to* and *text* (without a
    reference), so repeating a row in a file sends it again, and only a changed *to*,
    *text* or *campaign* makes a row new.
    """
    key = "\x1f".join((campaign, to, text, str(occurrence)))
    return "csv-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def read_rows(
    path: str | Path, *, campaign: str = "", sender: str | None = None
) -> tuple[list[Row], list[RowResult]]:
    """The rows of a bulk file to send, and the bad ones with their line numbers.

    *sender* is the sender of rows whose ``sender`` cell is empty or missing.

    Raises:
        RouterError: the file cannot be read, is not UTF-8, or its header is wrong.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            return _parse(stream, str(path), campaign, sender)
    except OSError as exc:
        raise RouterError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise RouterError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _header(cells: list[str], name: str) -> list[str]:
    columns = [c.strip().lower() for c in cells]
    problems = [f"unknown column {c!r}" for c in columns if c not in COLUMNS]
    problems += [f"column {c!r} twice" for c, n in Counter(columns).items() if n > 1]
    problems += [f"no {c!r} column" for c in ("to", "text") if c not in columns]
    if problems:
        known = ", ".join(COLUMNS)
        raise RouterError(f"{name}: line 1: {'; '.join(problems)} (columns: {known})")
    return columns


def _parse(
    stream: TextIO, name: str, campaign: str, default_sender: str | None
) -> tuple[list[Row], list[RowResult]]:
    reader = csv.reader(stream)
    columns: list[str] | None = None
    rows: list[Row] = []
    bad: list[RowResult] = []
    seen: Counter[tuple[str, str]] = Counter()
    references: dict[str, int] = {}
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            bad.append(RowResult(start, RowStatus.BAD, reason=f"not valid CSV: {exc}"))
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue  # a blank line, or a spreadsheet's empty row: nothing to send
        if columns is None:
            columns = _header(cells, name)
            continue
        if len(cells) != len(columns):
            missing = ", ".join(columns[len(cells) :])
            why = f"no {missing}" if missing else "too many columns"
            reason = f"expected {len(columns)} columns ({', '.join(columns)}), got {len(cells)}"
            bad.append(RowResult(line, RowStatus.BAD, reason=f"{reason}: {why}"))
            continue
        row = dict(zip(columns, cells, strict=True))
        to, text = row["to"].strip(), row["text"]
        reference = row.get("reference", "").strip()
        problem = (
            "to: is empty"
            if not to
            else "text: is empty"
            if not text.strip()
            else f"reference: {reference!r} is also line {references[reference]}'s"
            if reference in references
            else None
        )
        if problem is not None:
            bad.append(RowResult(line, RowStatus.BAD, reason=problem))
            continue
        if reference:
            references[reference] = line
        else:
            reference = derived_reference(to, text, seen[to, text], campaign)
            seen[to, text] += 1
        sender = row.get("sender", "").strip() or default_sender
        rows.append(Row(line, to, text, sender, reference))
    if columns is None:
        raise RouterError(f"{name}: no header row (expected: {', '.join(COLUMNS)})")
    return rows, bad


def _result(
    line: int,
    status: str,
    *,
    duplicate: bool,
    provider: str | None,
    segments: int,
    cost: Decimal | None,
    reason: str,
    outcomes: Sequence[str],
) -> RowResult:
    if status == "accepted":
        done = RowStatus.EARLIER if duplicate else RowStatus.SENT
        return RowResult(line, done, provider, segments, None if duplicate else cost)
    if duplicate:
        reason = f"{reason} (an earlier run)"
    ended = RowStatus.AMBIGUOUS if status == "ambiguous" else RowStatus.FAILED
    # Failed means every provider answered with an error or could not be reached, unless
    # an ambiguous attempt was failed over (on_ambiguous = "failover"): that one may be out.
    resendable = duplicate and status == "failed" and "ambiguous" not in outcomes
    return RowResult(line, ended, provider, segments, reason=reason, resendable=resendable)


def _no_route(line: int, reasons: Mapping[str, str]) -> RowResult:
    why = "; ".join(f"{name}: {reason}" for name, reason in reasons.items()) or "no providers"
    return RowResult(line, RowStatus.FAILED, reason=f"no provider could take it ({why})")


class Sender(Protocol):
    """Sends one row; raises :class:`BulkAborted` only when no row can be sent."""

    async def send(self, row: Row) -> RowResult:
        """Send *row* once (by its reference) and say what became of it."""


class InProcessSender:
    """Sends rows with a Router of this process, journalled so a rerun sends nothing twice."""

    def __init__(self, router: Router) -> None:
        self.router = router

    async def __aenter__(self) -> InProcessSender:
        await self.router.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.router.aclose()

    async def send(self, row: Row) -> RowResult:
        """Send *row*; a message an earlier run left half sent is finished, not resent."""
        message = Message(to=row.to, text=row.text, sender=row.sender, reference=row.reference)
        try:
            record, created = await self.router.accept(message)
            if created or record.state is not MessageState.DONE:
                # New, or left unfinished by an earlier run: resume() settles what was in
                # flight and sends what never was, never anything twice.
                result = await self.router.resume(record)
            else:
                result = record.result(duplicate=True)
        except ValidationError as exc:
            return RowResult(row.line, RowStatus.BAD, reason=str(exc))
        except NoRouteError as exc:
            return _no_route(row.line, exc.reasons)
        return self._row(row.line, result)

    @staticmethod
    def _row(line: int, result: SendResult) -> RowResult:
        recipient = result.recipients[0]
        last = recipient.attempts[-1] if recipient.attempts else None
        reason = "" if last is None else f"{last.provider}: {last.outcome}: {last.reason}"
        return _result(
            line,
            recipient.status.value,
            duplicate=result.duplicate,
            provider=recipient.provider,
            segments=result.segments,
            cost=recipient.cost,
            reason=reason.rstrip(": "),
            outcomes=[a.outcome.value for a in recipient.attempts],
        )


class DaemonSender:
    """Sends rows through a daemon's API; safe to retry, as every row has a reference.

    A connection failure, a timeout or a 5xx is retried *attempts* times, with a pause
    doubling from *pause* seconds; then the run is aborted.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        attempts: int = 5,
        pause: float = 0.5,
        timeout: float = 300.0,
    ) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self.attempts = attempts
        self.pause = pause
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> DaemonSender:
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=self.timeout)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        assert self._session is not None, "use the sender as an async context manager"
        problem = ""
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(self.pause * 2 ** (attempt - 1))
            try:
                async with self._session.request(method, self.url + path, json=body) as answer:
                    status = answer.status
                    try:
                        data = await answer.json(content_type=None)
                    except ValueError:
                        data = None
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = str(exc) or type(exc).__name__
                continue
            if status in (401, 403):
                raise BulkAborted(f"{self.url}: the daemon refused the API token (HTTP {status})")
            if status == 429 or status >= 500:
                problem = f"HTTP {status}"
                continue
            if not isinstance(data, dict):
                raise BulkAborted(f"{self.url}{path}: HTTP {status} without a JSON object")
            return status, data
        raise BulkAborted(f"{self.url}: no answer after {self.attempts} tries ({problem})")

    async def check(self) -> None:
        """Make sure the daemon answers and takes the token, before any row is sent."""
        status, _ = await self._call("GET", "/v1/providers")
        if status != 200:
            raise BulkAborted(f"{self.url}/v1/providers: HTTP {status}: is it a smsrouter daemon?")

    async def send(self, row: Row) -> RowResult:
        """``POST /v1/messages`` for *row*, waiting for the result."""
        body: dict[str, Any] = {"to": row.to, "text": row.text, "reference": row.reference}
        if row.sender is not None:
            body["sender"] = row.sender
        status, data = await self._call("POST", "/v1/messages", body)
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        if status in (400, 413):
            field = error.get("field")
            message = error.get("message", f"HTTP {status}")
            return RowResult(row.line, RowStatus.BAD, reason=f"{field}: {message}")
        if status == 422:
            return _no_route(row.line, error.get("reasons") or {})
        if status != 200:
            raise BulkAborted(f"{self.url}/v1/messages: unexpected HTTP {status}: {data}")
        recipient = data["recipients"][0]
        attempts = recipient.get("attempts") or [{}]
        last = attempts[-1]
        reason = f"{last.get('provider', '')}: {last.get('outcome', '')}: {last.get('reason', '')}"
        return _result(
            row.line,
            recipient["status"],
            duplicate=bool(data.get("duplicate")),
            provider=recipient.get("provider"),
            segments=int(data.get("segments", 0)),
            cost=_decimal(recipient.get("cost")),
            reason=reason.strip(": "),
            outcomes=[str(a.get("outcome")) for a in recipient.get("attempts") or []],
        )


def _decimal(value: object) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None


MAX_RESENDS = 20
"""How many times one row that keeps failing is sent again, one rerun after another."""


async def send_row(sender: Sender, row: Row) -> RowResult:
    """Send *row*; if an earlier run failed it without sending it, send it again.

    The new try goes under the next reference of the row's own chain (``<reference>~1``,
    ``~2`` ...), so it too is sent at most once, however often the file is run.
    """
    result = await sender.send(row)
    for n in range(1, MAX_RESENDS + 1):
        if not result.resendable:
            break
        result = await sender.send(attrs.evolve(row, reference=f"{row.reference}~{n}"))
    return result


@contextlib.contextmanager
def _on_interrupt(callback: Callable[[], None]) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed = []
    # SIGTERM (a supervisor stopping the run) ends it as gently as Ctrl-C; a signal the
    # process was started ignoring (a background job's SIGINT) stays ignored.
    for number in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(number) is signal.SIG_IGN:
            continue
        try:
            loop.add_signal_handler(number, callback)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or no signal handlers here: the signal aborts
        installed.append(number)
    try:
        yield
    finally:
        for number in installed:
            loop.remove_signal_handler(number)


async def send_rows(
    rows: Sequence[Row],
    sender: Sender,
    summary: Summary,
    progress: Progress,
    *,
    concurrency: int = 8,
) -> Summary:
    """Send *rows* with at most *concurrency* under way, counting each into *summary*.

    The first Ctrl-C (or SIGTERM) takes no new row and lets those under way end; a second
    abandons them (a daemon still finishes them, and an in-process rerun settles them). A
    :class:`BulkAborted` from the sender stops the run the same way as the first.
    """
    stop = asyncio.Event()
    pending = iter(rows)
    busy = 0

    async def work() -> None:
        nonlocal busy
        while not stop.is_set():
            row = next(pending, None)
            if row is None:
                return
            busy += 1
            try:
                result = await send_row(sender, row)
            except BulkAborted as exc:
                summary.aborted = summary.aborted or str(exc)
                stop.set()
                return
            finally:
                busy -= 1
            summary.add(result)
            if result.status not in (RowStatus.SENT, RowStatus.EARLIER):
                progress.note(describe(result))
            progress.show(summary)

    workers = [asyncio.ensure_future(work()) for _ in range(max(1, min(concurrency, len(rows))))]

    def interrupt() -> None:
        if summary.interrupted:
            for worker in workers:
                worker.cancel()
            return
        summary.interrupted = True
        stop.set()
        progress.note(
            f"interrupted: letting {busy} send(s) under way end (Ctrl-C again to abandon them)"
        )

    with _on_interrupt(interrupt):
        ended = await asyncio.gather(*workers, return_exceptions=True)
    for outcome in ended:
        if isinstance(outcome, Exception):
            raise outcome
    progress.close()
    return summary
