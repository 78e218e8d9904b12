"""For tests, yours and ours: a fake provider, a fake clock, and the conformance kit.

Register the fake provider type by passing this module as a plugin::

    async with Router(config, plugins=[router.testing]) as router: ...

with a provider table ``plugin = "fake"``. Each send call takes the next scripted outcome
(``script = ["provider_error", "accepted"]``), then ``outcome`` for ever after.

The conformance kit checks a provider type against the contract every adapter keeps, in
one call from the plugin's own tests::

    await check_provider(make_provider, password="s3cret-pw", callbacks={...})

where ``make_provider(base_url, session)`` builds the adapter pointed at *base_url*. It
checks the declarations (:func:`check_provider_type`), how transport failures map to
outcomes against a misbehaving loopback server (:func:`check_outcome_mapping`), that the
password shows nowhere (:func:`check_no_secret_leaks`) and how pushes are parsed
(:func:`check_callbacks`). Every problem found is reported together in one
:class:`ConformanceError`.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import itertools
import logging
import re
import socket
import traceback
import types
import typing
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

import aiohttp
import attrs
from aiohttp import web

from router.config import Duration
from router.errors import (
    CallbackError,
    PluginError,
    ProviderError,
    ProviderUnavailableError,
)
from router.hookspecs import hookimpl
from router.model import (
    Balance,
    Batch,
    CallbackKind,
    CallbackRequest,
    CallbackResponse,
    CallbackResult,
    DeliveryReport,
    DeliveryStatus,
    Encoding,
    ErrorKind,
    InboundMessage,
    Outcome,
    Recipient,
    RecipientOutcome,
    SenderKind,
    StatusQuery,
    new_message_id,
)
from router.numbers import parse
from router.plugins import ProviderRegistry
from router.provider import Capabilities, Limits, Operation, Provider, ProviderContext
from router.redact import Secret


class FakeClock:
    """A clock for tests: time moves when a test advances it or code sleeps on it."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def time(self) -> float:
        """The fake time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Advance the time by *seconds* at once, then let other tasks run."""
        self.slept.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Move the time forward."""
        self.now += seconds


@attrs.frozen
class FakeConfig:
    """The options of a ``fake`` provider table."""

    outcome: Outcome = Outcome.ACCEPTED
    """The outcome of every send once the script is used up."""
    script: tuple[Outcome, ...] = ()
    """Outcomes of the first send calls, one per call, for all its recipients."""
    kind: ErrorKind | None = None
    """The error kind that goes with a provider_error outcome."""
    balance: Decimal | None = None
    balance_unit: str = "credits"
    max_recipients: int = 100
    max_parts: int = 10
    unicode: bool = True
    status_query: bool = False
    delay: float = 0.0
    """Seconds each send takes."""


class FakeProvider(Provider[FakeConfig]):
    """A provider that answers from a script and remembers every batch it was sent."""

    type_name = "fake"
    Config = FakeConfig

    def __init__(self, config: FakeConfig, context: ProviderContext) -> None:
        super().__init__(config, context)
        self.capabilities = Capabilities(
            max_recipients=config.max_recipients,
            max_parts=config.max_parts,
            unicode=config.unicode,
            balance=config.balance is not None,
            status_query=config.status_query,
            push_dlr=True,
            push_inbound=True,
            client_reference=True,
            reference_length=20,
        )
        self._script = list(config.script)
        self.batches: list[Batch] = []
        self.balance_calls = 0
        self.status_calls: list[tuple[StatusQuery, ...]] = []
        self.status_answer = DeliveryStatus.ACCEPTED
        self._ids = itertools.count(1)
        self.closed = False

    def script(self, *outcomes: Outcome) -> None:
        """Queue the outcomes of the next send calls."""
        self._script.extend(outcomes)

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        """Answer every recipient with the next scripted outcome."""
        self.batches.append(batch)
        if self.config.delay:
            await asyncio.sleep(self.config.delay)
        outcome = self._script.pop(0) if self._script else self.config.outcome
        kind = self.config.kind if outcome is Outcome.PROVIDER_ERROR else None
        return [
            RecipientOutcome(
                recipient=r.e164,
                outcome=outcome,
                provider_message_id=f"{self.name}-{next(self._ids)}"
                if outcome is Outcome.ACCEPTED
                else None,
                reason="" if outcome is Outcome.ACCEPTED else f"scripted {outcome}",
                kind=kind,
            )
            for r in batch.recipients
        ]

    async def balance(self) -> Balance:
        """The configured balance."""
        self.balance_calls += 1
        if self.config.balance is None:
            raise NotImplementedError("no balance configured")
        return Balance(self.config.balance, self.config.balance_unit)

    async def query_status(self, queries: Sequence[StatusQuery]) -> list[DeliveryReport]:
        """Every queried recipient in ``status_answer``."""
        self.status_calls.append(tuple(queries))
        return [
            DeliveryReport(
                provider=self.name,
                status=self.status_answer,
                raw_status=str(self.status_answer),
                provider_message_id=q.provider_message_id,
                ref=q.ref,
                recipient=q.recipient,
            )
            for q in queries
        ]

    def parse_callback(self, kind: CallbackKind, request: CallbackRequest) -> CallbackResult:
        """``?ref=..&status=delivered`` reports; ``?from=..&to=..&text=..`` inbound."""
        params = request.params
        answer = CallbackResponse("OK")
        if kind is CallbackKind.DLR:
            try:
                status = DeliveryStatus(params.get("status", "unknown"))
            except ValueError:
                # An unknown status is the pusher's mistake: refuse it, never answer 500.
                raise CallbackError(
                    f"unknown status {params['status']!r}", provider=self.name
                ) from None
            report = DeliveryReport(
                provider=self.name,
                status=status,
                raw_status=params.get("status", ""),
                provider_message_id=params.get("id"),
                ref=params.get("ref"),
            )
            return CallbackResult(answer, reports=(report,))
        inbound = InboundMessage(
            provider=self.name,
            sender=params.get("from", ""),
            recipient=params.get("to", ""),
            text=params.get("text", ""),
            in_reply_to=params.get("ref"),
        )
        return CallbackResult(answer, inbound=(inbound,))

    async def aclose(self) -> None:
        """Remember that it was closed."""
        self.closed = True


@hookimpl
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Register the ``fake`` provider type."""
    registry.add(FakeProvider)


# -- the conformance kit ------------------------------------------------------------------

ProviderFactory = Callable[[str, aiohttp.ClientSession], Provider[Any]]
"""``make_provider(base_url, session)``: an adapter whose every request goes to *base_url*."""

DEFAULT_NUMBERS = ("+61412345678", "+61412345679")
"""The recipients the kit sends to, as many as the provider takes in one call."""

_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CREDENTIAL = re.compile(r"pass(word|wd)?|secret|token|api_?key|psw|pwd", re.IGNORECASE)
_PLAIN_TYPES = (str, int, bool, float, Decimal, Secret, Duration)


class ConformanceError(AssertionError):
    """A provider type breaks the provider contract; *problems* lists every way it does."""

    def __init__(self, subject: str, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{subject} does not conform:\n  - " + "\n  - ".join(self.problems))


@attrs.frozen
class ConformanceReport:
    """What a conformance run checked, when it found nothing wrong."""

    provider_type: str
    checks: tuple[str, ...]
    """Each check made: ``type``, ``send/refused``, ``balance/http_500``, ``secrets``, ..."""


def _raise_if(subject: str, problems: Sequence[str]) -> None:
    if problems:
        raise ConformanceError(subject, problems)


# -- declarations -------------------------------------------------------------------------


def _config_type_problem(tp: Any) -> str | None:
    """Why the strict config converter cannot structure *tp*, or None when it can."""
    if tp in _PLAIN_TYPES or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        return None
    if isinstance(tp, type) and attrs.has(tp):
        return None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return None
    if origin in (typing.Union, types.UnionType, tuple, list, frozenset):
        inner = [a for a in args if a is not type(None) and a is not Ellipsis]
        return next((p for p in map(_config_type_problem, inner) if p), None)
    if origin is dict and args and args[0] is str:
        return _config_type_problem(args[1])
    return f"{tp!r} is not a config type (str, int, bool, float, Decimal, Secret, ...)"


def _mentions_secret(tp: Any) -> bool:
    return tp is Secret or any(_mentions_secret(a) for a in typing.get_args(tp))


def _type_problems(cls: object) -> list[str]:
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        return [f"{cls!r} is not a subclass of router.Provider"]
    problems: list[str] = []
    type_name = getattr(cls, "type_name", None)
    if not isinstance(type_name, str) or not _TYPE_NAME.match(type_name):
        problems.append(f"type_name {type_name!r} is not a lowercase name like 'smsoffice'")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        problems.append(f"abstract methods not implemented: {missing}")
    config = getattr(cls, "Config", None)
    if not (isinstance(config, type) and attrs.has(config)):
        problems.append("Config is not an attrs class")
    else:
        try:
            attrs.resolve_types(config)
        except Exception as exc:
            problems.append(f"Config's annotations cannot be resolved: {exc!r}")
        else:
            for field in attrs.fields(config):
                why = _config_type_problem(field.type)
                if why:
                    problems.append(f"Config.{field.name}: {why}")
                elif _CREDENTIAL.search(field.name) and not _mentions_secret(field.type):
                    problems.append(f"Config.{field.name} holds a credential: type it Secret")
    caps = getattr(cls, "capabilities", None)
    if not isinstance(caps, Capabilities):
        problems.append("capabilities is not a router.Capabilities")
    else:
        if caps.max_recipients < 1 or caps.max_parts < 1:
            problems.append("capabilities: max_recipients and max_parts must be at least 1")
        if not caps.sender_kinds:
            problems.append("capabilities: sender_kinds is empty")
        if caps.client_reference and not (caps.reference_length or 0) >= 1:
            problems.append("capabilities: client_reference needs a reference_length")
        for declared, method in (
            (caps.balance, "balance"),
            (caps.status_query, "query_status"),
            (caps.push_dlr or caps.push_inbound, "parse_callback"),
        ):
            if declared and getattr(cls, method) is getattr(Provider, method):
                problems.append(f"capabilities declare {method} but {cls.__name__} lacks it")
    limits = getattr(cls, "limits", None)
    if not isinstance(limits, Limits):
        problems.append("limits is not a router.Limits")
    elif any(not isinstance(op, Operation) for op in limits.rates):
        problems.append("limits.rates keys must be router.Operation members")
    if not isinstance(getattr(cls, "callback_answer", None), str):
        problems.append("callback_answer is not a string")
    if not problems:
        try:
            ProviderRegistry().add(cls)
        except PluginError as exc:
            problems.append(f"registering it fails: {exc}")
    return problems


def check_provider_type(cls: object) -> None:
    """Check what a provider type declares.

    It must subclass :class:`~router.Provider` and implement ``send``; have a lowercase
    ``type_name``; an attrs ``Config`` whose fields the strict config converter can read,
    with credentials typed :class:`~router.Secret`; :class:`~router.Capabilities` that hold
    together and are backed by the methods they promise; :class:`~router.Limits`; and a
    ``callback_answer``.

    Raises:
        ConformanceError: listing every problem.
    """
    _raise_if(getattr(cls, "__name__", repr(cls)), _type_problems(cls))


# -- transport failures -------------------------------------------------------------------


@attrs.frozen
class _Scenario:
    name: str
    mode: str
    """What the server does: ``refused``, ``hang``, ``drop`` or an HTTP status."""
    outcome: Outcome
    error: type[ProviderError]
    """What a read (balance, status) must raise."""
    kind: ErrorKind | None = None
    retry_after: float | None = None


_SCENARIOS = (
    _Scenario("refused", "refused", Outcome.UNAVAILABLE, ProviderUnavailableError),
    _Scenario("http_500", "500", Outcome.UNAVAILABLE, ProviderUnavailableError),
    _Scenario("http_429", "429", Outcome.UNAVAILABLE, ProviderUnavailableError, retry_after=7.0),
    _Scenario("http_401", "401", Outcome.PROVIDER_ERROR, ProviderError, kind=ErrorKind.AUTH),
    _Scenario("hang", "hang", Outcome.AMBIGUOUS, ProviderError),
    _Scenario("drop", "drop", Outcome.AMBIGUOUS, ProviderError),
)
"""What a loopback server does wrong, and what the adapter must make of it."""


class _FaultServer:
    """A loopback server that fails every request one way, and remembers each request."""

    def __init__(self) -> None:
        self.mode = "500"
        self.requests: list[tuple[str, str, bytes]] = []
        self.url = ""
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.path == "/__warm__":
            return web.Response(text="warm")
        self.requests.append((request.method, str(request.rel_url), body))
        if self.mode == "hang":
            await self._release.wait()
            return web.Response(status=503)
        if self.mode == "drop":
            # The request was read (it took effect), then the connection is lost.
            if request.transport is not None:
                request.transport.abort()
            return web.Response()
        headers = {"Retry-After": "7"} if self.mode == "429" else {}
        return web.Response(status=int(self.mode), text="failure", headers=headers)


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
class _Run:
    """One operation under one scenario, and everything it left behind."""

    scenario: _Scenario
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
    server: _FaultServer,
    scenario: _Scenario,
    operation: str,
    numbers: Sequence[str],
    timeout: float,
) -> _Run:
    run = _Run(scenario, operation)
    server.mode, server.requests = scenario.mode, []
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
    provider: Provider[Any], run: _Run, numbers: Sequence[str], limit: float
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
        answer: Any = await asyncio.wait_for(call, limit)
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


async def _run_all(
    make_provider: ProviderFactory, numbers: Sequence[str], timeout: float
) -> tuple[Provider[Any], list[_Run]]:
    server = _FaultServer()
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
            for scenario in _SCENARIOS
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


def _send_problems(run: _Run, batch_numbers: Sequence[str]) -> list[str]:
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


def _read_problems(run: _Run) -> list[str]:
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


def _mapping_problems(
    probe: Provider[Any], runs: Sequence[_Run], numbers: Sequence[str]
) -> list[str]:
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


def _secret_forms(password: str) -> set[str]:
    if len(password) < 6:
        raise ValueError("use a password of at least 6 characters, so a match means a leak")
    return {password, quote(password, safe=""), quote_plus(password, safe=""), quote(password)}


def _leak_problems(runs: Sequence[_Run], password: str) -> list[str]:
    forms = _secret_forms(password)
    problems = []
    for run in runs:
        for text in run.texts:
            if any(form in text for form in forms):
                problems.append(
                    f"{run.operation}/{run.scenario.name}: the password shows in {text[:200]!r}"
                )
                break
    return problems


def _checks(runs: Sequence[_Run]) -> list[str]:
    return [f"{r.operation}/{r.scenario.name}" for r in runs]


async def check_outcome_mapping(
    make_provider: ProviderFactory,
    *,
    numbers: Sequence[str] = DEFAULT_NUMBERS,
    timeout: float = 0.05,
) -> ConformanceReport:
    """Check how transport failures map to outcomes, against a loopback server.

    For ``send`` (and ``balance`` and ``query_status`` when the capabilities declare
    them): a refused connection, HTTP 500 and HTTP 429 (with ``Retry-After: 7``) are
    ``unavailable``; HTTP 401 is a ``provider_error`` of kind ``auth``; a server that never
    answers (within *timeout*, which the kit sets as the provider's ``context.timeout``)
    and a connection dropped after the request was read are ``ambiguous``, and the
    dropped request was not sent again. ``send`` answers one outcome per recipient, in
    order, and never raises; ``balance`` and ``query_status`` raise the matching
    :class:`~router.errors.ProviderError`.

    Args:
        make_provider: ``make_provider(base_url, session)`` builds the adapter with every
            request going to *base_url*; it is called once per check.
        numbers: the recipients to send to (as many as the provider takes in one call).
        timeout: seconds the provider waits for the hanging server.

    Raises:
        ConformanceError: listing every problem.
    """
    probe, runs = await _run_all(make_provider, numbers, timeout)
    _raise_if(type(probe).__name__, _mapping_problems(probe, runs, numbers))
    return ConformanceReport(probe.type_name, tuple(_checks(runs)))


async def check_no_secret_leaks(
    make_provider: ProviderFactory,
    password: str,
    *,
    numbers: Sequence[str] = DEFAULT_NUMBERS,
    timeout: float = 0.05,
) -> ConformanceReport:
    """Check that *password* never shows: not plain, not URL-encoded.

    Runs the failures of :func:`check_outcome_mapping` and looks in every outcome, every
    exception (its text, repr, notes and the exceptions chained to it), every log record
    at DEBUG and up, and the reprs of the provider and of its config.

    Raises:
        ConformanceError: listing every place the password showed.
    """
    probe, runs = await _run_all(make_provider, numbers, timeout)
    _raise_if(type(probe).__name__, _leak_problems(runs, password))
    return ConformanceReport(probe.type_name, ("secrets",))


# -- callbacks ----------------------------------------------------------------------------


def _spoil(fields: Mapping[str, str], key: str, value: str | None) -> dict[str, str]:
    out = {k: v for k, v in fields.items() if k != key}
    if value is not None and key in fields:
        out[key] = value
    return out


def _mutations(request: CallbackRequest) -> Iterator[tuple[str, CallbackRequest]]:
    """*request* spoilt one field at a time: the field missing, empty, or garbage."""
    for key in request.params:
        for label, value in (("without", None), ("empty", ""), ("garbage", "\x00zz\u2603-1")):
            spoilt = attrs.evolve(
                request,
                query=_spoil(request.query, key, value),
                form=_spoil(request.form, key, value),
            )
            yield f"{label} {key!r}", spoilt


def _parse_problem(
    provider: Provider[Any], kind: CallbackKind, request: CallbackRequest, label: str
) -> tuple[CallbackResult | None, str | None]:
    try:
        # Typed as object: a provider under test may answer anything at all.
        result: object = provider.parse_callback(kind, request)
    except CallbackError:
        return None, None
    except Exception as exc:
        return None, f"callbacks/{kind} {label}: raised {exc!r}; expected a CallbackError"
    if not isinstance(result, CallbackResult) or not isinstance(result.response, CallbackResponse):
        return None, f"callbacks/{kind} {label}: answered {result!r}, not a CallbackResult"
    return result, None


def _sample_problems(
    provider: Provider[Any], kind: CallbackKind, result: CallbackResult
) -> list[str]:
    where, problems = f"callbacks/{kind}", []
    answer = type(provider).callback_answer
    if result.response.body != answer or not 200 <= result.response.status < 300:
        problems.append(
            f"{where}: answered {result.response.status} {result.response.body!r}, "
            f"expected 200 {answer!r} (the class's callback_answer)"
        )
    items: Sequence[DeliveryReport | InboundMessage] = (
        result.reports if kind is CallbackKind.DLR else result.inbound
    )
    if not items:
        problems.append(f"{where}: the sample parsed to nothing")
    for item in items:
        if item.provider != provider.name:
            problems.append(f"{where}: provider is {item.provider!r}, not {provider.name!r}")
        number = item.recipient if isinstance(item, DeliveryReport) else item.sender
        if number and number.lstrip("+").isdigit() and not number.startswith("+"):
            problems.append(f"{where}: number {number!r} is not in E.164")
        status: object = item.status if isinstance(item, DeliveryReport) else None
        if isinstance(item, DeliveryReport) and not isinstance(status, DeliveryStatus):
            problems.append(f"{where}: status {status!r} is not a DeliveryStatus")
    return problems


def _callback_problems(
    provider: Provider[Any], samples: Mapping[CallbackKind, Sequence[CallbackRequest]]
) -> list[str]:
    caps, problems = provider.capabilities, []
    for kind, declared in (
        (CallbackKind.DLR, caps.push_dlr),
        (CallbackKind.INBOUND, caps.push_inbound),
    ):
        given = samples.get(kind, ())
        if not declared:
            result, problem = _parse_problem(provider, kind, CallbackRequest("GET"), "undeclared")
            if problem or result is not None:
                problems.append(
                    problem or f"callbacks/{kind}: not declared, yet an empty push was accepted"
                )
            continue
        if not given:
            problems.append(f"callbacks/{kind}: declared, but no sample push was given")
        spoilt: list[tuple[str, CallbackRequest]] = [
            ("empty GET", CallbackRequest("GET")),
            ("empty POST", CallbackRequest("POST")),
        ]
        for index, sample in enumerate(given):
            result, problem = _parse_problem(provider, kind, sample, f"sample {index}")
            if problem or result is None:
                problems.append(problem or f"callbacks/{kind} sample {index}: refused")
            else:
                problems.extend(_sample_problems(provider, kind, result))
            spoilt.extend((f"sample {index} {label}", r) for label, r in _mutations(sample))
        for label, request in spoilt:
            _, problem = _parse_problem(provider, kind, request, label)
            if problem:
                problems.append(problem)
    return problems


def check_callbacks(
    provider: Provider[Any],
    samples: Mapping[CallbackKind, Sequence[CallbackRequest]],
) -> None:
    """Check how *provider* parses pushes.

    Each kind it declares (``push_dlr``, ``push_inbound``) needs at least one sample push
    in *samples*; each sample must parse into a :class:`~router.CallbackResult` with at
    least one report or message, ``provider`` set to the configured name, numbers in
    E.164, and the answer ``200 callback_answer``. The same samples spoilt one field at a
    time (missing, empty, garbage), and empty pushes, must parse or raise
    :class:`~router.CallbackError`: never another exception, which the daemon would answer
    with a 500. A kind it does not declare must be refused with CallbackError.

    Raises:
        ConformanceError: listing every problem.
    """
    _raise_if(type(provider).__name__, _callback_problems(provider, samples))


# -- all of it ----------------------------------------------------------------------------


async def check_provider(
    make_provider: ProviderFactory,
    *,
    password: str,
    callbacks: Mapping[CallbackKind, Sequence[CallbackRequest]] | None = None,
    numbers: Sequence[str] = DEFAULT_NUMBERS,
    timeout: float = 0.05,
) -> ConformanceReport:
    """Run every conformance check on one provider type, reporting all problems together.

    ``make_provider(base_url, session)`` builds the adapter configured with *password*
    and every request going to *base_url*. See :func:`check_provider_type`,
    :func:`check_outcome_mapping`, :func:`check_no_secret_leaks` and
    :func:`check_callbacks` for what each part checks; *callbacks* holds sample pushes
    by kind, for the kinds the provider declares.

    Returns:
        What was checked, when nothing was wrong.

    Raises:
        ConformanceError: listing every problem found.
    """
    _secret_forms(password)  # refuse a short password before doing anything
    probe, runs = await _run_all(make_provider, numbers, timeout)
    problems = _type_problems(type(probe))
    problems.extend(_mapping_problems(probe, runs, numbers))
    problems.extend(_leak_problems(runs, password))
    problems.extend(_callback_problems(probe, callbacks or {}))
    _raise_if(type(probe).__name__, problems)
    return ConformanceReport(
        probe.type_name,
        ("type", *_checks(runs), "secrets", "callbacks"),
    )
