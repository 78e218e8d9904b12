"""The conformance kit's transport part: how an adapter meets a misbehaving server.

Each operation the adapter declares runs against each failure of the loopback server
(:mod:`.fault_server`: refused, HTTP 500, 429, 401, a hang, a dropped connection, a 200
whose body fits no form), keeping all it showed the outside (outcomes, errors, log lines,
reprs); and the runs are judged: did each failure map to the right outcome, and did the
password show anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import traceback
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

import aiohttp
import attrs

from router.model import (
    Batch,
    Encoding,
    Outcome,
    Recipient,
    RecipientOutcome,
    SenderKind,
    StatusQuery,
    new_message_id,
)
from router.numbers import parse
from router.provider import Provider
from router.testing.fault_server import SCENARIOS, FaultServer, Scenario

ProviderFactory = Callable[[str, aiohttp.ClientSession], Provider[Any]]
"""``make_provider(base_url, session)``: an adapter whose every request goes to *base_url*."""


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record not in self.records:
            self.records.append(record)


@contextmanager
def _capture_logs(*loggers: logging.Logger) -> Iterator[list[logging.LogRecord]]:
    """Every log record at DEBUG and up, from the root and from *loggers*, while inside."""
    handler = _Records()
    targets = [logging.getLogger(), *loggers]
    levels = [t.level for t in targets]
    for target in targets:
        target.addHandler(handler)
        target.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        for target, level in zip(targets, levels, strict=True):
            target.removeHandler(handler)
            target.setLevel(level)


@attrs.define
class FaultRun:
    """One operation under one scenario, and everything it left behind."""

    scenario: Scenario
    operation: str
    outcomes: list[RecipientOutcome] | None = None
    error: BaseException | None = None
    result: object = None
    texts: list[str] = attrs.Factory(list)
    """Everything the run showed to the outside: outcomes, errors, log lines, reprs."""
    requests: list[tuple[str, str, bytes]] = attrs.Factory(list)


def _recipients(numbers: Sequence[str], message_id: str) -> tuple[Recipient, ...]:
    recipients = []
    for index, number in enumerate(numbers):
        parsed = parse(number, None)
        recipients.append(
            Recipient(parsed.e164, parsed.region, parsed.country_code, f"{message_id}-{index}")
        )
    return tuple(recipients)


def _batch(provider: Provider[Any], numbers: Sequence[str]) -> Batch:
    caps = provider.capabilities
    message_id = new_message_id()
    senders = {SenderKind.NONE: None, SenderKind.ALPHANUMERIC: "Conform"}
    kind = next((k for k in senders if k in caps.sender_kinds), SenderKind.NUMERIC)
    sender = senders.get(kind, "61412000000")
    return Batch(
        message_id=message_id,
        text="conformance check",
        sender=sender,
        sender_kind=kind,
        encoding=Encoding.GSM7,
        segments=1,
        recipients=_recipients(numbers[: max(1, caps.max_recipients)], message_id),
    )


def _error_texts(exc: BaseException) -> list[str]:
    texts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(texts) < 20:
        texts.append(repr(seen))
        texts.extend(traceback.format_exception_only(type(seen), seen))
        texts.extend(str(note) for note in getattr(seen, "__notes__", ()))
        seen = seen.__cause__ or seen.__context__
    return texts


async def _run_one(
    make_provider: ProviderFactory,
    server: FaultServer,
    scenario: Scenario,
    operation: str,
    numbers: Sequence[str],
    timeout: float,
) -> FaultRun:
    run = FaultRun(scenario, operation)
    server.scenario, server.requests = scenario, []
    seconds = timeout if scenario.mode == "hang" else 5.0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        # Bound but not listening: a connection to it is refused, and no one else takes it.
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}"
        async with aiohttp.ClientSession() as session:
            provider = make_provider(refused if scenario.mode == "refused" else server.url, session)
            provider.context = attrs.evolve(provider.context, timeout=seconds)
            if scenario.mode == "drop":
                # A kept-alive connection, so a dropped one is where aiohttp would re-send.
                async with session.get(f"{server.url}/__warm__") as warm:
                    await warm.read()
            with _capture_logs(provider.context.logger) as records:
                try:
                    await _operate(provider, run, numbers, seconds + 2.0)
                finally:
                    await provider.aclose()
    run.texts.extend(repr(o) for o in run.outcomes or ())
    run.texts.extend(_error_texts(run.error) if run.error else ())
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    run.texts.extend(formatter.format(r) for r in records)
    run.texts.extend([repr(provider), repr(provider.config), str(provider.config)])
    run.requests = list(server.requests)
    return run


async def _operate(
    provider: Provider[Any], run: FaultRun, numbers: Sequence[str], limit: float
) -> None:
    """Call the run's operation, keeping its answer or its error in *run*."""
    batch = _batch(provider, numbers)
    call: Awaitable[Any]
    if run.operation == "send":
        call = provider.send(batch)
    elif run.operation == "balance":
        call = provider.balance()
    else:
        first = batch.recipients[0]
        query = StatusQuery("conformance-1", ref=first.ref, recipient=first.e164)
        call = provider.query_status([query])
    try:
        async with asyncio.timeout(limit):
            answer: Any = await call
    except TimeoutError:
        run.error = TimeoutError(f"no answer in {limit:g}s: does it heed context.timeout?")
        return
    except Exception as exc:
        run.error = exc
        return
    run.result = answer
    if run.operation == "send":
        if isinstance(answer, list):
            run.outcomes = answer
        else:
            run.error = TypeError(f"send answered {answer!r}, not a list of outcomes")


async def run_all(
    make_provider: ProviderFactory, numbers: Sequence[str], timeout: float
) -> tuple[Provider[Any], list[FaultRun]]:
    """Every operation of a provider against every fault of a loopback server, once."""
    server = FaultServer()
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            probe = make_provider(server.url, session)
        operations = ["send"]
        if probe.capabilities.balance:
            operations.append("balance")
        if probe.capabilities.status_query:
            operations.append("status")
        runs = [
            await _run_one(make_provider, server, scenario, operation, numbers, timeout)
            for scenario in SCENARIOS
            for operation in operations
        ]
    finally:
        await server.stop()
    return probe, runs


def _reached(number: str, requests: Sequence[tuple[str, str, bytes]]) -> bool:
    """Whether any request carried *number*, in whatever form (its last nine digits)."""
    tail = number[-9:]
    return any(
        tail in unquote_plus(target) or tail in unquote_plus(body.decode("utf-8", "replace"))
        for _, target, body in requests
    )


def _send_problems(run: FaultRun, batch_numbers: Sequence[str]) -> list[str]:
    where, scenario = f"send/{run.scenario.name}", run.scenario
    problems = []
    if scenario.mode == "drop" and len(run.requests) != len(set(run.requests)):
        problems.append(f"{where}: the same request reached the server {len(run.requests)} times")
    if run.error is not None:
        problems.append(f"{where}: send raised {run.error!r}; it must answer every recipient")
        return problems
    outcomes = run.outcomes or []
    got = [o.recipient for o in outcomes]
    if got != list(batch_numbers):
        problems.append(f"{where}: outcomes for {got}, expected one for each of {batch_numbers}")
        return problems
    for o in outcomes:
        expected = scenario.outcome
        if expected is Outcome.AMBIGUOUS and not _reached(o.recipient, run.requests):
            # An adapter that sends one request per recipient stops after an ambiguous one;
            # a recipient no request carried was plainly not sent.
            expected = o.outcome if o.outcome is Outcome.UNAVAILABLE else expected
        if o.outcome is not expected:
            problems.append(f"{where}: {o.recipient} is {o.outcome}, expected {expected}")
        elif scenario.kind is not None and o.kind is not scenario.kind:
            problems.append(f"{where}: {o.recipient} has kind {o.kind}, expected {scenario.kind}")
        elif scenario.retry_after is not None and o.retry_after != scenario.retry_after:
            problems.append(
                f"{where}: {o.recipient} has retry_after {o.retry_after}, expected "
                f"{scenario.retry_after} from the Retry-After header"
            )
        elif not o.reason:
            problems.append(f"{where}: {o.recipient} has no reason")
    return problems


def _read_problems(run: FaultRun) -> list[str]:
    where, scenario, error = f"{run.operation}/{run.scenario.name}", run.scenario, run.error
    if error is None:
        return [f"{where}: answered {run.result!r}; expected {scenario.error.__name__}"]
    if not isinstance(error, scenario.error):
        return [f"{where}: raised {error!r}; expected {scenario.error.__name__}"]
    if scenario.kind is not None and error.kind is not scenario.kind:
        return [f"{where}: raised kind {error.kind}, expected {scenario.kind}"]
    if scenario.retry_after is not None and error.retry_after != scenario.retry_after:
        return [f"{where}: retry_after {error.retry_after}, expected {scenario.retry_after}"]
    return []


def mapping_problems(
    probe: Provider[Any], runs: Sequence[FaultRun], numbers: Sequence[str]
) -> list[str]:
    """Runs whose outcome is not what the fault means in the outcome taxonomy."""
    expected = [
        r.e164 for r in _recipients(numbers[: max(1, probe.capabilities.max_recipients)], "0" * 16)
    ]
    problems: list[str] = []
    for run in runs:
        if run.operation == "send":
            problems.extend(_send_problems(run, expected))
        else:
            problems.extend(_read_problems(run))
    return problems


def secret_forms(password: str) -> set[str]:
    """*password* in every form a request may carry it: plain, and percent-encoded."""
    if len(password) < 6:
        raise ValueError("use a password of at least 6 characters, so a match means a leak")
    return {password, quote(password, safe=""), quote_plus(password, safe=""), quote(password)}


def leak_problems(runs: Sequence[FaultRun], password: str) -> list[str]:
    """Runs whose errors, reprs or log lines carry the password in any form."""
    forms = secret_forms(password)
    problems = []
    for run in runs:
        for text in run.texts:
            if any(form in text for form in forms):
                problems.append(
                    f"{run.operation}/{run.scenario.name}: the password shows in {text[:200]!r}"
                )
                break
    return problems


def checks_of(runs: Sequence[FaultRun]) -> list[str]:
    """The names of the checks *runs* made: ``operation/scenario``."""
    return [f"{r.operation}/{r.scenario.name}" for r in runs]
