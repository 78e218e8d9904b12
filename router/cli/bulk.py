"""Bulk sending: every row of a CSV file, each sent once, with progress and a summary.

Every row is sent with a reference (:mod:`router.cli.bulk_rows` reads the file and gives
each row one), and the router answers a reference it has seen with the first result
instead of sending again. So running the same file again, after an interruption or after
fixing its bad rows, sends only what was not sent. A row an earlier run failed without any
provider taking it (an outage) is sent again, under a reference of its own
(:func:`send_row`).

A :class:`DaemonSender` sends through a daemon's ``POST /v1/messages``; an
:class:`InProcessSender` through a Router of this process. The provider budgets apply
either way (the daemon's or the Router's own); :func:`send_rows` keeps at most
*concurrency* rows under way, and on Ctrl-C takes no new row and lets those under way end.
:mod:`router.cli.bulk_report` counts the results and shows the progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import aiohttp
import attrs

from router.cli.bulk_report import Progress, RowResult, RowStatus, Summary, describe
from router.cli.bulk_rows import Row
from router.engine import Router
from router.errors import NoRouteError, RouterError, ValidationError
from router.model import Message, SendResult
from router.store import MessageState


class BulkAborted(RouterError):
    """The run cannot go on: the daemon is unreachable or refuses the token."""


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
    if status == "scheduled":
        return RowResult(line, RowStatus.SCHEDULED, segments=segments, reason=reason)
    if duplicate:
        reason = f"{reason} (an earlier run)"
    ended = RowStatus.AMBIGUOUS if status == "ambiguous" else RowStatus.FAILED
    # Failed means every provider answered with an error or could not be reached, unless
    # an ambiguous attempt was failed over (on_ambiguous = "failover"): that one may be out.
    resendable = duplicate and status == "failed" and "ambiguous" not in outcomes
    return RowResult(line, ended, provider, segments, reason=reason, resendable=resendable)


def _reason(why: str, scheduled_at: float | None) -> str:
    """Why a row no provider was asked about ended as it did: opted out, or when it goes."""
    if scheduled_at is None:
        return why
    moment = datetime.datetime.fromtimestamp(scheduled_at, datetime.UTC)
    return f"held until {moment.isoformat(timespec='seconds')}"


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
        message = Message(
            to=row.to,
            text=row.text,
            sender=row.sender,
            reference=row.reference,
            send_at=row.send_at,
            expires_at=row.expires_at,
        )
        try:
            record, created = await self.router.accept(message)
            if created or record.state is not MessageState.DONE:
                # New (sent as accept() checked it), or left unfinished by an earlier run:
                # resume() settles what was in flight and sends what never was, never
                # anything twice.
                sent = await self.router.send_accepted(record.id) if created else None
                result = sent or await self.router.resume(record)
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
        reason = _reason(recipient.reason, recipient.scheduled_at) if last is None else (
            f"{last.provider}: {last.outcome}: {last.reason}"
        )  # fmt: skip
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
        """``POST /v1/messages`` for *row*, waiting for the result; rows of one text share
        provider requests (``"coalesce": true``)."""
        body: dict[str, Any] = {
            "to": row.to,
            "text": row.text,
            "reference": row.reference,
            "coalesce": True,
        }
        if row.sender is not None:
            body["sender"] = row.sender
        for timing in ("send_at", "expires_at"):
            if getattr(row, timing) is not None:
                body[timing] = getattr(row, timing)
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
        if not recipient.get("attempts"):
            why, when = str(recipient.get("reason") or ""), recipient.get("scheduled_at")
            reason = _reason(why, when if isinstance(when, int | float) else None)
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
