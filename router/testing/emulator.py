"""The common part of every provider emulator: a loopback aiohttp server with faults.

A provider's emulator subclasses :class:`Emulator`, adds its routes in :meth:`routes`, names
the operation of each request in :meth:`operation_of`, and speaks its protocol. For the
command line and the demo it also says where its API lives (:attr:`~Emulator.base_path`),
how a provider table points an adapter at it (:meth:`~Emulator.provider_options`), its own
answer when the fault is on the provider's side (:meth:`~Emulator.provider_error`), and how
it pushes an inbound reply (:meth:`~Emulator.push_reply`). A plugin registers it with the
``smsrouter_register_emulators`` hook. This base
serves it on loopback, counts requests per operation and the most seen at once, injects
faults (an error answer, an HTTP status, latency, a hang, a dropped connection), and pushes
callbacks to a URL with the provider's retry schedule. Tests, the demo and users' own
integration tests run against emulators instead of real accounts.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import ClassVar, Self

import aiohttp
import attrs
from aiohttp import web

from router.clock import Clock, SystemClock

log = logging.getLogger("smsrouter.emulator")


@attrs.define
class Account:
    """One account on an emulated provider."""

    username: str
    password: str
    balance: Decimal = Decimal(1000)


@attrs.define
class Fault:
    """A fault to inject into the next *times* requests of *operation* (None: every one).

    Exactly one of the effects is used, checked in this order: ``drop`` closes the
    connection after reading the request, ``hang`` never answers (either after the request
    took effect when ``after_effect``), ``status`` answers that HTTP status,
    ``body`` answers that body with HTTP 200 (a provider's error text), ``answer`` answers
    what it returns for the request (an error in the format the request asked for).
    ``latency`` adds to any of them, or alone slows the real answer.
    """

    operation: str | None = None
    times: int | None = None
    body: str | None = None
    status: int | None = None
    retry_after: str | None = None
    latency: float = 0.0
    hang: bool = False
    drop: bool = False
    after_effect: bool = False
    answer: Callable[[web.Request], web.StreamResponse] | None = None


@attrs.define
class Push:
    """A callback the emulator pushed, with every try's HTTP status (None: no answer)."""

    url: str
    method: str
    params: dict[str, str]
    answers: list[int | None] = attrs.Factory(list)
    body: str | None = None
    """The answer body of the last try."""


@attrs.define
class Counters:
    """What a test can read off an emulator."""

    requests: collections.Counter[str] = attrs.Factory(collections.Counter)
    """Requests by operation."""
    in_flight: int = 0
    max_in_flight: int = 0
    """The most requests seen under way at once (SMS Office allows one)."""
    violations: collections.Counter[str] = attrs.Factory(collections.Counter)
    """Limit violations by rule."""
    sent: list[dict[str, str]] = attrs.Factory(list)
    """Every SMS the emulator took, as the provider would have sent it."""


DELIVERY_OUTCOMES = ("delivered", "failed", "expired", "none", "refuse")
"""What an emulator can make of a send to a destination (:meth:`Emulator.set_outcome`)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_FIELDS = web.RequestKey("fields", dict[str, str])


class Emulator:
    """A provider's double on loopback. Subclass it; see the module docstring."""

    name: ClassVar[str] = "emulator"
    """The provider type this emulator doubles for: its adapter's ``type_name``."""
    base_path: ClassVar[str] = ""
    """Where the provider's API lives under :attr:`url`, as an adapter's ``base_url`` ends."""
    credential_options: ClassVar[tuple[str, str]] = ("username", "password")
    """The provider table's options that hold an account's name and password."""
    push_schedule: ClassVar[Sequence[float]] = ()
    """Seconds to wait before each retry of a push that failed (the provider's policy)."""

    def __init__(
        self,
        accounts: Sequence[Account] = (),
        *,
        clock: Clock | None = None,
        callback_url: str | None = None,
        inbound_url: str | None = None,
        push_scale: float = 1.0,
    ) -> None:
        self.accounts = {a.username: a for a in accounts} or {
            "demo": Account("demo", "demo-password")
        }
        self.clock = clock or SystemClock()
        self.callback_url = callback_url
        self.inbound_url = inbound_url
        self.push_scale = push_scale
        """Multiplies ``push_schedule``, so tests can replay hours of retries in a moment."""
        self.counters = Counters()
        self.outcomes: dict[str, str] = {}
        """What becomes of sends by E.164 digit prefix of the destination (the longest wins):
        see :meth:`set_outcome`. A destination under none is delivered."""
        self.faults: list[Fault] = []
        self.pushes: list[Push] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    # -- what a subclass provides ---------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        """Add the provider's routes to *app*."""
        raise NotImplementedError

    def operation_of(self, request: web.Request) -> str:
        """The operation a request is (``send``, ``balance``, ``status``)."""
        return request.path

    def provider_error(self, request: web.Request) -> web.StreamResponse:
        """The provider's own answer to *request* when the fault is on its side (out of
        service, no route): the kind of error answer a router fails over on."""
        raise NotImplementedError

    def push_reply(
        self, sender: str, recipient: str, text: str, reference: str | None = None
    ) -> Push:
        """Push an inbound text from *sender* to our *recipient* number to ``inbound_url``.

        *reference* is our id of the message it replies to, for a provider that echoes the
        reference a message was sent with. A provider that pushes no inbound texts (its
        adapter's ``Capabilities.push_inbound`` is false) keeps this base's error.
        """
        raise NotImplementedError(f"{self.name} pushes no inbound texts")

    def provider_options(self) -> dict[str, str | None]:
        """The options of a provider table that point its adapter at this emulator.

        Its ``base_url`` and the first account's credentials (named by
        :attr:`credential_options`); an emulator that signs or authenticates its pushes
        adds what the adapter checks them with. None: leave that option unset.
        """
        account = next(iter(self.accounts.values()))
        user, password = self.credential_options
        return {"base_url": self.api_url, user: account.username, password: account.password}

    @staticmethod
    def fields(request: web.Request) -> dict[str, str]:
        """A request's query and form fields together (form fields win)."""
        found: dict[str, str] = request.get(_FIELDS, {})
        return found

    # -- serving --------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """The aiohttp application, with counting and fault injection in front."""
        app = web.Application(middlewares=[self._middleware])
        self.routes(app)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on *host*:*port* (0: any free port) and return the base URL."""
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.url = f"http://{host}:{bound_port}"
        return self.url

    @property
    def api_url(self) -> str:
        """The URL of the emulated API once started: an adapter's ``base_url``."""
        return f"{self.url}{self.base_path}"

    async def stop(self) -> None:
        """Stop serving, release hung requests and cancel pushes still retrying."""
        self._stopping.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- delivery outcomes ----------------------------------------------------------------

    def set_outcome(self, prefix: str, outcome: str) -> None:
        """Make sends to destinations under the E.164 digit *prefix* end in *outcome*.

        ``delivered``, ``failed`` or ``expired``: the send is taken and that final report
        is pushed, in the provider's own words; ``none``: taken, and no report ever comes;
        ``refuse``: the provider refuses the send, as it does when its route there is down
        (in its own error answer). ``prefix`` ``""`` covers every destination.
        """
        if outcome not in DELIVERY_OUTCOMES:
            raise ValueError(f"outcome {outcome!r}: expected one of {DELIVERY_OUTCOMES}")
        if prefix and not prefix.isdigit():
            raise ValueError(f'prefix {prefix!r}: expected E.164 digits without "+"')
        self.outcomes[prefix] = outcome

    def outcome_for(self, number: str) -> str:
        """What becomes of a send to *number* (E.164, with or without ``+``)."""
        digits = number.removeprefix("+")
        for end in range(len(digits), -1, -1):
            found = self.outcomes.get(digits[:end])
            if found is not None:
                return found
        return "delivered"

    # -- faults ---------------------------------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        """Apply *fault* to the matching requests from now on."""
        self.faults.append(fault)
        return fault

    def fail_next(self, operation: str = "send", times: int = 1) -> Fault:
        """Answer the next *times* requests of *operation* with :meth:`provider_error`."""
        return self.inject(Fault(operation=operation, times=times, answer=self.provider_error))

    def clear_faults(self) -> None:
        """Answer normally again."""
        self.faults.clear()

    def _take_fault(self, operation: str) -> Fault | None:
        for fault in self.faults:
            if fault.operation in (None, operation):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # Read the body first, so operation_of may look at form fields (fields()).
        form = await request.post() if request.method == "POST" else {}
        request[_FIELDS] = {
            **request.query,
            **{k: v for k, v in form.items() if isinstance(v, str)},
        }
        operation = self.operation_of(request)
        counters = self.counters
        counters.requests[operation] += 1
        counters.in_flight += 1
        counters.max_in_flight = max(counters.max_in_flight, counters.in_flight)
        try:
            fault = self._take_fault(operation)
            if fault is None:
                return await handler(request)
            if fault.latency:
                await asyncio.sleep(fault.latency)
            if fault.drop:
                if fault.after_effect:
                    await handler(request)
                return self._drop(request)
            if fault.hang:
                if fault.after_effect:
                    await handler(request)
                await self._stopping.wait()
                return self._drop(request)
            if fault.status is not None:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return web.Response(status=fault.status, text="emulated failure", headers=headers)
            if fault.body is not None:
                return web.Response(text=fault.body)
            if fault.answer is not None:
                return fault.answer(request)
            return await handler(request)
        finally:
            counters.in_flight -= 1

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response()

    # -- accounts -------------------------------------------------------------------------

    def login(self, params: Mapping[str, str], user_key: str, password_key: str) -> Account | None:
        """The account whose credentials *params* carry, or None."""
        account = self.accounts.get(params.get(user_key, ""))
        if account is None or account.password != params.get(password_key):
            return None
        return account

    # -- pushing callbacks ----------------------------------------------------------------

    def push(
        self,
        url: str,
        params: Mapping[str, str],
        *,
        method: str = "GET",
        retry_on: Callable[[int | None], bool] = lambda status: status != 200,
    ) -> Push:
        """Push a callback in the background, retrying on ``push_schedule``."""
        record = Push(url, method, dict(params))
        self.pushes.append(record)
        task = asyncio.get_running_loop().create_task(self._deliver(record, retry_on))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return record

    async def _deliver(self, record: Push, retry_on: Callable[[int | None], bool]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        delays = [0.0, *self.push_schedule]
        for delay in delays:
            if delay:
                await self.clock.sleep(delay * self.push_scale)
            status: int | None
            try:
                get = record.method == "GET"
                async with self._session.request(
                    record.method,
                    record.url,
                    params=record.params if get else None,
                    data=None if get else record.params,
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as response:
                    status = response.status
                    record.body = await response.text()
            except (aiohttp.ClientError, TimeoutError):
                status = None
            record.answers.append(status)
            if not retry_on(status):
                return
        log.info("%s: gave up pushing to %s after %d tries", self.name, record.url, len(delays))

    async def settle(self) -> None:
        """Wait until every push under way is done (delivered or given up)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
