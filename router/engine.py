"""The Router: validate a message, route each recipient, send, fail over, journal, report.

::

    async with Router.from_file("smsrouter.toml") as router:
        result = await router.send(Message(to="+61412345678", text="Hello"))

For each recipient the policy chain gives providers in failover order. Recipients going to
the same provider are batched up to its declared batch size; each batch passes the
provider's breaker and budget, then the adapter's outcome decides: accepted or rejected
stop, provider_error and unavailable fail over, ambiguous is resolved by a status query
where the provider has one, else by ``on_ambiguous``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from router import text as texts
from router.balances import BalanceTracker
from router.clock import Clock, SystemClock
from router.config import Config, ProviderSettings, parse_config, read_toml
from router.early import EarlyReports
from router.errors import (
    ConfigError,
    NoRouteError,
    PluginError,
    ProviderError,
    ValidationError,
)
from router.health import Breaker, BreakerState
from router.limits import Budget
from router.metrics import Metrics
from router.model import (
    MAX_RECIPIENTS,
    Attempt,
    Balance,
    Batch,
    CallbackKind,
    CallbackRequest,
    CallbackResult,
    DeliveryReport,
    DeliveryStatus,
    ErrorKind,
    Message,
    Outcome,
    Recipient,
    RecipientOutcome,
    RecipientResult,
    RecipientStatus,
    Route,
    SenderKind,
    SendResult,
    StatusQuery,
)
from router.numbers import parse
from router.plugins import PluginHost
from router.policy import PolicyChain, ProviderView, RoutingContext, prefix_lengths
from router.provider import Operation, Provider, ProviderContext
from router.store import MessageRecord, MessageStore, open_store
from router.store.base import MessageState

log = logging.getLogger("smsrouter")

_STATUS_OF_OUTCOME = {
    Outcome.ACCEPTED: RecipientStatus.ACCEPTED,
    Outcome.REJECTED_RECIPIENT: RecipientStatus.REJECTED,
    Outcome.REJECTED_MESSAGE: RecipientStatus.REJECTED,
    Outcome.AMBIGUOUS: RecipientStatus.AMBIGUOUS,
}
_TAKEN = frozenset(
    {
        DeliveryStatus.ACCEPTED,
        DeliveryStatus.ENROUTE,
        DeliveryStatus.DELIVERED,
        # Failed or expired still means the provider took it: sending it elsewhere
        # now would be a second send, not a retry of a lost one.
        DeliveryStatus.FAILED,
        DeliveryStatus.EXPIRED,
    }
)


@attrs.define
class ProviderState:
    """One configured provider and everything live about it."""

    settings: ProviderSettings
    provider: Provider[Any]
    budget: Budget
    breaker: Breaker
    index: int
    balance: Balance | None = None
    price_lengths: tuple[int, ...] = ()
    """The lengths of its price prefixes, longest first, computed once."""
    view: tuple[tuple[object, ...], ProviderView] | None = None
    """The last view the policies saw, with the live state it showed."""

    @property
    def name(self) -> str:
        """The configured name."""
        return self.settings.name


@attrs.frozen
class RoutePlan:
    """What :meth:`Router.route` explains: how the text is sent and each recipient's route."""

    message_id: str
    encoding: str
    segments: int
    routes: tuple[Route, ...]


@attrs.define
class _Progress:
    """One recipient's way through its candidates."""

    recipient: Recipient
    candidates: tuple[str, ...]
    reasons: dict[str, str]
    position: int = 0
    attempts: list[Attempt] = attrs.Factory(list)
    result: RecipientResult | None = None


def sender_kind(sender: str | None) -> SenderKind:
    """What kind of sender ID *sender* is, or ValidationError naming ``sender``."""
    if sender is None:
        return SenderKind.NONE
    if not sender:
        raise ValidationError("sender", "is empty (leave it out for the provider's default)")
    digits = sender.removeprefix("+")
    if digits.isdigit():
        if len(digits) > 15:
            raise ValidationError("sender", f"a numeric sender has at most 15 digits: {sender!r}")
        return SenderKind.NUMERIC
    if len(sender) > 11:
        raise ValidationError(
            "sender", f"an alphanumeric sender has at most 11 characters: {sender!r}"
        )
    if not all(ch.isascii() and ch.isalnum() for ch in sender):
        # No provider here takes spaces or punctuation (providers.md 1.6, 2.2, 4.2).
        raise ValidationError("sender", f"only letters and digits are allowed: {sender!r}")
    return SenderKind.ALPHANUMERIC


class Router:
    """The routing core: one per application, used as an async context manager.

    Args:
        config: a validated :class:`~router.config.Config`, or a mapping shaped like the
            TOML file (validated here against the loaded plugins).
        plugins: extra plugin objects (modules or instances) to register.
        clock: where time comes from (tests inject a fake one).
        store: the journal; a :class:`~router.store.MemoryStore` by default.
        session: an aiohttp session to use instead of the Router's own.
        env: environment for ``${NAME}`` secrets; the process environment by default.
    """

    def __init__(
        self,
        config: Config | Mapping[str, Any],
        *,
        plugins: Iterable[object] = (),
        clock: Clock | None = None,
        store: MessageStore | None = None,
        session: aiohttp.ClientSession | None = None,
        env: Mapping[str, str] | None = None,
        autoload: bool | None = None,
    ) -> None:
        blocked: Sequence[str] = ()
        named: Sequence[str] = ()
        hook_timeout = 5.0
        if isinstance(config, Config):
            blocked, hook_timeout = config.router.blocked_plugins, config.router.hook_timeout
            named = config.router.plugins
        else:
            # Plugins must load before the config is validated against them.
            raw_router = config.get("router", {})
            if isinstance(raw_router, Mapping):
                blocked = _names(raw_router.get("blocked_plugins"))
                named = _names(raw_router.get("plugins"))
        self.plugins = PluginHost.load(
            extra=[*_import_plugins(named), *plugins],
            blocked=blocked,
            autoload=autoload,
            hook_timeout=hook_timeout,
        )
        self.config = (
            config if isinstance(config, Config) else parse_config(config, self.plugins, env)
        )
        # A mapping config is validated only now: its hook_timeout applies from here.
        self.plugins.hook_timeout = self.config.router.hook_timeout
        self.clock = clock or SystemClock()
        self.owns_store = store is None
        """Whether the Router opens and closes its store (False when it was handed one)."""
        self.store: MessageStore = store or open_store(self.config.store.url or "memory:")
        self.metrics = Metrics(self.config.providers)
        self._own_session = session is None
        self._session = session
        self._states: dict[str, ProviderState] = {}
        self._chain = PolicyChain(
            [
                self.plugins.policies.get(name)(self.config.policies[name])  # type: ignore[misc]
                for name in self.config.router.policy
            ]
        )
        self.balances = BalanceTracker(self, self.clock)
        self._background: set[asyncio.Task[Any]] = set()
        self._early = EarlyReports()
        self._sending: dict[str, asyncio.Event] = {}
        """Messages being sent now, by id: a duplicate waits for the first one's result."""
        self._started = False

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> Router:
        """A Router for the TOML config at *path*."""
        return cls(read_toml(path), **kwargs)

    # -- life cycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Router:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start(self, *, track_balances: bool = True) -> None:
        """Build the providers, open the journal and start the balance tracker."""
        if self._started:
            return
        if self._session is None:
            self._session = aiohttp.ClientSession()
        if self.owns_store:
            await self.store.open()
        router_settings = self.config.router
        for index, (name, settings) in enumerate(self.config.providers.items()):
            if not settings.common.enabled:
                continue
            cls = self.plugins.providers.get(settings.common.plugin)
            assert cls is not None  # parse_config checked it
            context = ProviderContext(
                name=name,
                session=self._session,
                logger=logging.getLogger(f"smsrouter.provider.{name}"),
                default_region=router_settings.default_region,
                timeout=settings.common.timeout,
            )
            try:
                provider = cls(settings.options, context)
            except Exception as exc:
                raise PluginError(
                    f"provider {name!r} ({cls.type_name}) failed to start: {exc}"
                ) from exc
            breaker = Breaker(name, clock=self.clock, on_change=self._breaker_moved)
            self.metrics.watch_breaker(name, functools.partial(_state_of, breaker))
            budget = Budget(name, settings.limits, self.clock)
            self._states[name] = ProviderState(
                settings,
                provider,
                budget,
                breaker,
                index,
                price_lengths=prefix_lengths(settings.common.prices),
            )
        self._started = True
        if track_balances:
            self.balances.start()

    async def aclose(self) -> None:
        """Stop the tracker, wait for event hooks, close adapters, journal and session."""
        await self.balances.stop()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for state in self._states.values():
            try:
                await state.provider.aclose()
            except Exception:
                log.exception("provider %r failed to close", state.name)
        if self.owns_store:
            await self.store.close()
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
        self._started = False

    @property
    def providers(self) -> Mapping[str, ProviderState]:
        """Every enabled provider's live state, by configured name."""
        return self._states

    def provider(self, name: str) -> Provider[Any]:
        """The adapter instance of a configured provider."""
        return self._states[name].provider

    # -- validation and routing -----------------------------------------------------------

    def _prepare(
        self, message: Message
    ) -> tuple[tuple[Recipient, ...], texts.TextInfo, SenderKind]:
        if not message.text.strip():
            raise ValidationError("text", "is empty")
        if not message.to:
            raise ValidationError("to", "no recipients")
        if len(message.to) > MAX_RECIPIENTS:
            raise ValidationError(
                "to", f"{len(message.to)} recipients, at most {MAX_RECIPIENTS} in one message"
            )
        kind = sender_kind(message.sender)
        if message.reference is not None and not message.reference.strip():
            raise ValidationError("reference", "expected a non-empty string")
        if message.providers is not None and not message.providers:
            raise ValidationError("providers", "is empty (leave it out to use every provider)")
        for index, name in enumerate(message.providers or ()):
            if name not in self._states:
                known = ", ".join(self._states) or "none"
                raise ValidationError(
                    f"providers[{index}]", f"unknown provider {name!r} (configured: {known})"
                )
        region = self.config.router.default_region
        recipients: list[Recipient] = []
        seen: dict[str, int] = {}
        for index, number in enumerate(message.to):
            field = f"to[{index}]" if len(message.to) > 1 else "to"
            parsed = parse(number, region, field=field)
            if parsed.e164 in seen:
                raise ValidationError(
                    field, f"{parsed.e164} is also to[{seen[parsed.e164]}]: send it once"
                )
            seen[parsed.e164] = index
            recipients.append(
                Recipient(parsed.e164, parsed.region, parsed.country_code, f"{message.id}-{index}")
            )
        return tuple(recipients), texts.analyse(message.text), kind

    def _views(self, only: Sequence[str] | None) -> list[ProviderView]:
        now = self.clock.time()
        stale_after = self.config.router.balance_stale_after
        views = []
        for state in self._states.values():
            if only is not None and state.name not in only:
                continue
            balance = state.balance
            if balance is not None and now - balance.at > stale_after:
                balance = None
            breaker = state.breaker
            live = (balance, breaker.state, breaker.accepting, state.budget.in_flight)
            cached = state.view
            if cached is None or cached[0] != live:
                # A view is rebuilt only when the live state it shows has moved.
                cached = state.view = (live, self._view(state, *live))
            views.append(cached[1])
        return views

    @staticmethod
    def _view(
        state: ProviderState,
        balance: Balance | None,
        breaker: BreakerState,
        accepting: bool,
        in_flight: int,
    ) -> ProviderView:
        common = state.settings.common
        return ProviderView(
            name=state.name,
            index=state.index,
            capabilities=state.provider.capabilities,
            prefixes=common.prefixes,
            prices=common.prices,
            currency=common.currency,
            priority=common.priority,
            balance=balance,
            breaker=breaker.value,
            accepting=accepting,
            in_flight=in_flight,
            price_lengths=state.price_lengths,
        )

    def _context(
        self, recipient: Recipient, info: texts.TextInfo, kind: SenderKind, message: Message
    ) -> RoutingContext:
        settings = self.config.router
        return RoutingContext(
            recipient=recipient,
            encoding=info.encoding,
            segments=info.segments,
            sender_kind=kind,
            sender_length=len(message.sender or ""),
            recipient_count=len(message.to),
            base_currency=settings.base_currency,
            currencies=settings.currencies,
        )

    def _routes(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        info: texts.TextInfo,
        kind: SenderKind,
    ) -> list[Route]:
        views = self._views(message.providers)
        routes = []
        for recipient in recipients:
            ctx = self._context(recipient, info, kind, message)
            candidates, excluded = self._chain.decide(ctx, views)
            routes.append(Route(recipient.e164, candidates, excluded))
        return routes

    def route(self, message: Message) -> RoutePlan:
        """Explain, without sending, where each recipient would go and why.

        Raises:
            ValidationError: the message is wrong (the field is named).
        """
        recipients, info, kind = self._prepare(message)
        return RoutePlan(
            message.id,
            info.encoding.value,
            info.segments,
            tuple(self._routes(message, recipients, info, kind)),
        )

    # -- sending --------------------------------------------------------------------------

    async def send(self, message: Message) -> SendResult:
        """Send *message*; the result has every recipient's status and attempts.

        A ``reference`` seen before returns the first send's result (``duplicate=True``).

        Raises:
            ValidationError: the message is wrong (the field is named).
            NoRouteError: no recipient was accepted or rejected: every provider was
                excluded or failed. It carries each provider's reason and the result.
        """
        recipients, info, kind = self._prepare(message)
        record, created = await self.store.add(
            message, recipients, info.encoding, info.segments, self.clock.time()
        )
        if not created:
            # The first send with this reference: its result, finishing it if it was only
            # journalled (queued, or cut short by a restart), never sending anything twice.
            try:
                result = await self.resume(record)
            except NoRouteError as exc:
                if not isinstance(exc.result, SendResult):
                    raise
                result = exc.result
            return attrs.evolve(result, duplicate=True)
        async with self._exclusive(message.id):
            return await self._deliver(message, recipients, info, kind)

    @contextlib.asynccontextmanager
    async def _exclusive(self, message_id: str) -> AsyncIterator[None]:
        done = self._sending[message_id] = asyncio.Event()
        try:
            yield
        finally:
            done.set()
            del self._sending[message_id]

    async def accept(self, message: Message) -> tuple[MessageRecord, bool]:
        """Validate and journal *message* without sending it (the daemon's ``wait: false``).

        Returns the journal record and True, or the first record with this reference and
        False. Send it later with :meth:`resume`.
        """
        recipients, info, _ = self._prepare(message)
        return await self.store.add(
            message, recipients, info.encoding, info.segments, self.clock.time()
        )

    async def resume(self, record: MessageRecord) -> SendResult:
        """Send a journalled message whose recipients have no final status yet.

        A recipient caught in flight by a crash is resolved by a status query where its
        provider has one, else by ``on_ambiguous``; a never-attempted one is sent. A message
        being sent already in this Router is waited for, and a finished one is not sent
        again: its journalled result is returned.
        """
        under_way = self._sending.get(record.id)
        if under_way is not None:
            await under_way.wait()
        latest = await self.store.get(record.id) or record
        if latest.state is MessageState.DONE:
            return latest.result()
        message = latest.message()
        recipients, info, kind = self._prepare(message)
        async with self._exclusive(message.id):
            return await self._deliver(message, recipients, info, kind, latest)

    async def _deliver(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        info: texts.TextInfo,
        kind: SenderKind,
        record: MessageRecord | None = None,
    ) -> SendResult:
        routes = self._routes(message, recipients, info, kind)
        progress = []
        for recipient, route in zip(recipients, routes, strict=True):
            reasons = {e.provider: f"{e.policy}: {e.reason}" for e in route.excluded}
            progress.append(_Progress(recipient, route.providers, reasons))
        if record is not None:
            await self._recover(record, progress)
        pending = [p for p in progress if p.result is None]
        while pending:
            await self._round(message, info, kind, pending)
            pending = [p for p in progress if p.result is None]
        result = SendResult(
            message_id=message.id,
            reference=message.reference,
            recipients=tuple(p.result for p in progress if p.result is not None),
            encoding=info.encoding,
            segments=info.segments,
        )
        await self.store.finish(result)
        self._count(result)
        await self.plugins.notify("smsrouter_message_routed", message=message, result=result)
        if {r.status for r in result.recipients} == {RecipientStatus.FAILED}:
            why: dict[str, str] = {}
            for p in progress:
                why.update(p.reasons)
            raise NoRouteError(why, result)
        return result

    async def _recover(self, record: MessageRecord, progress: list[_Progress]) -> None:
        by_ref = {r.ref: r for r in record.recipients}
        for item in progress:
            previous = by_ref.get(item.recipient.ref)
            if previous is None:
                continue
            item.attempts.extend(previous.attempts)
            last = previous.attempts[-1] if previous.attempts else None
            if previous.in_flight is None and last is not None and self._settled_by(item, last):
                continue
            tried = {a.provider for a in previous.attempts}
            if previous.in_flight is not None:
                tried.add(previous.in_flight)
                state = self._states.get(previous.in_flight)
                attempt = Attempt(
                    previous.in_flight,
                    Outcome.AMBIGUOUS,
                    "interrupted mid-attempt",
                    at=self.clock.time(),
                )
                item.attempts.append(attempt)
                await self.store.attempt_ended(record.id, item.recipient.ref, attempt)
                if state is not None and await self._settle_ambiguous(state, item, None, record.id):
                    continue
                if self._settled_by(item, attempt):
                    continue
            item.candidates = tuple(c for c in item.candidates if c not in tried)

    def _settled_by(self, item: _Progress, last: Attempt) -> bool:
        """Finish a recovered recipient whose last journalled attempt was final."""
        if last.outcome is Outcome.ACCEPTED:
            self._finish(item, RecipientStatus.ACCEPTED, last.provider, last.provider_message_id)
        elif last.outcome.is_rejection:
            self._finish(item, RecipientStatus.REJECTED, last.provider)
        elif last.outcome is Outcome.AMBIGUOUS and self.config.router.on_ambiguous == "stop":
            self._finish(item, RecipientStatus.AMBIGUOUS, last.provider, last.provider_message_id)
        else:
            return False
        return True

    def _finish(
        self,
        item: _Progress,
        status: RecipientStatus,
        provider: str | None = None,
        provider_message_id: str | None = None,
        cost: Decimal | None = None,
        segments: int = 1,
    ) -> None:
        item.result = RecipientResult(
            recipient=item.recipient.e164,
            ref=item.recipient.ref,
            status=status,
            provider=provider,
            provider_message_id=provider_message_id,
            attempts=tuple(item.attempts),
            segments=segments,
            cost=cost,
        )

    async def _round(
        self, message: Message, info: texts.TextInfo, kind: SenderKind, pending: list[_Progress]
    ) -> None:
        """One attempt for every pending recipient: batched per provider, concurrently."""
        groups: dict[str, list[_Progress]] = {}
        for item in pending:
            if (
                item.position >= len(item.candidates)
                or len(item.attempts) >= self.config.router.max_attempts
            ):
                self._finish(item, RecipientStatus.FAILED, segments=info.segments)
                continue
            groups.setdefault(item.candidates[item.position], []).append(item)
        calls = []
        for name, items in groups.items():
            size = max(1, self._states[name].provider.capabilities.max_recipients)
            for start in range(0, len(items), size):
                calls.append(self._attempt(message, info, kind, name, items[start : start + size]))
        if len(calls) == 1:
            await calls[0]  # the common case: a task and a gather would only cost time
        else:
            await asyncio.gather(*calls)

    async def _attempt(
        self,
        message: Message,
        info: texts.TextInfo,
        kind: SenderKind,
        name: str,
        items: list[_Progress],
    ) -> None:
        state = self._states[name]
        if not state.breaker.acquire():
            for item in items:
                item.reasons[name] = f"circuit breaker {state.breaker.state}"
                item.position += 1
            return
        batch = Batch(
            message_id=message.id,
            text=message.text,
            sender=message.sender,
            sender_kind=kind,
            encoding=info.encoding,
            segments=info.segments,
            recipients=tuple(i.recipient for i in items),
            attempt=1 + sum(1 for a in items[0].attempts if a.provider == name),
        )
        try:
            await self.store.attempt_started(message.id, name, [i.recipient.ref for i in items])
            outcomes = await self._call_send(state, batch)
        except BaseException:
            state.breaker.abandon()  # the probe, if this was one, must not be lost
            raise
        if all(o.kind is ErrorKind.BUDGET for o in outcomes.values()):
            state.breaker.abandon()  # our own budget said no: the provider is not to blame
        else:
            state.breaker.record(*_breaker_signal(outcomes.values()))
        for item in items:
            outcome = outcomes[item.recipient.e164]
            attempt = Attempt(
                provider=name,
                outcome=outcome.outcome,
                reason=outcome.reason,
                provider_message_id=outcome.provider_message_id,
                kind=outcome.kind,
                at=self.clock.time(),
            )
            item.attempts.append(attempt)
            await self.store.attempt_ended(message.id, item.recipient.ref, attempt)
            if len(self._early):
                keys = (attempt.provider_message_id, item.recipient.ref, message.id)
                for report in self._early.take(name, keys, self.clock.time()):
                    await self._apply_report(report, self.clock.time(), hold=False)
            self.metrics.series(self.metrics.attempts, name, outcome.outcome.value).inc()
            await self._settle(state, item, outcome, info, message.id)

    async def _call_send(self, state: ProviderState, batch: Batch) -> dict[str, RecipientOutcome]:
        numbers = [r.e164 for r in batch.recipients]
        try:
            answered = await self._call(state, Operation.SEND, state.provider.send, batch)
        except ProviderError as exc:
            answered = [_outcome_of(n, exc) for n in numbers]
        except Exception as exc:  # an adapter bug: it may have sent, so never resend blindly
            log.exception("provider %r failed in send", state.name)
            reason = f"adapter failed: {type(exc).__name__}"
            answered = [RecipientOutcome(n, Outcome.AMBIGUOUS, reason=reason) for n in numbers]
        given = {
            o.recipient: o
            for o in (answered if isinstance(answered, list | tuple) else ())
            if isinstance(o, RecipientOutcome)
        }
        outcomes = {}
        for number in numbers:
            outcome = outcomes[number] = given.get(number) or RecipientOutcome(
                number, Outcome.AMBIGUOUS, reason="the adapter gave no outcome for it"
            )
            if outcome.retry_after:
                state.budget.defer(outcome.retry_after)
        return outcomes

    async def _call(
        self, state: ProviderState, operation: Operation, method: Any, *args: Any
    ) -> Any:
        """Call an adapter method through the provider's budget, measured."""
        metrics, name = self.metrics, state.name
        budget = state.budget
        waits, timeouts = budget.waits, budget.timeouts
        in_flight = metrics.series(metrics.in_flight, name)
        try:
            async with budget.slot(operation):
                in_flight.inc()
                started = self.clock.time()
                try:
                    return await method(*args)
                finally:
                    in_flight.dec()
                    elapsed = max(0.0, self.clock.time() - started)
                    duration = metrics.series(metrics.request_duration, name, operation.value)
                    duration.observe(elapsed)
        finally:
            if budget.waits > waits:
                metrics.limiter_waits.labels(name).inc()
            if budget.timeouts > timeouts:
                metrics.limiter_timeouts.labels(name).inc()

    async def _settle(
        self,
        state: ProviderState,
        item: _Progress,
        outcome: RecipientOutcome,
        info: texts.TextInfo,
        message_id: str,
    ) -> None:
        """Decide what one recipient's outcome means: stop, fail over, or resolve."""
        name = state.name
        if outcome.outcome is Outcome.ACCEPTED:
            cost = self._accepted(state, item.recipient, info, outcome)
            self._finish(
                item,
                RecipientStatus.ACCEPTED,
                name,
                outcome.provider_message_id,
                cost,
                info.segments,
            )
            return
        if outcome.outcome.is_rejection:
            self._finish(item, RecipientStatus.REJECTED, name, segments=info.segments)
            return
        item.reasons[name] = f"{outcome.outcome}: {outcome.reason}".rstrip(": ")
        if outcome.kind is ErrorKind.CREDIT:
            self.balances.exhausted(name)
        if outcome.outcome is Outcome.AMBIGUOUS:
            if await self._settle_ambiguous(
                state, item, outcome.provider_message_id, message_id, info.segments
            ):
                return
            if self.config.router.on_ambiguous == "stop":
                self._finish(
                    item,
                    RecipientStatus.AMBIGUOUS,
                    name,
                    outcome.provider_message_id,
                    segments=info.segments,
                )
                return
        self.metrics.failovers.labels(name, outcome.outcome.value).inc()
        item.position += 1

    async def _settle_ambiguous(
        self,
        state: ProviderState,
        item: _Progress,
        provider_message_id: str | None,
        message_id: str,
        segments: int = 1,
    ) -> bool:
        """Ask the provider what became of an ambiguous send; True when that settled it."""
        if not state.provider.capabilities.status_query:
            return False
        query = StatusQuery(provider_message_id, item.recipient.ref, item.recipient.e164)
        try:
            reports = await self._call(
                state, Operation.STATUS, state.provider.query_status, [query]
            )
        except Exception as exc:
            log.warning("provider %r: status query failed: %s", state.name, exc)
            return False
        for report in reports:
            if report.status in _TAKEN:
                self._finish(
                    item,
                    RecipientStatus.ACCEPTED,
                    state.name,
                    report.provider_message_id or provider_message_id,
                    segments=segments,
                )
                return True
            if report.status is DeliveryStatus.REJECTED:
                self._finish(item, RecipientStatus.REJECTED, state.name, segments=segments)
                return True
        return False

    def _accepted(
        self,
        state: ProviderState,
        recipient: Recipient,
        info: texts.TextInfo,
        outcome: RecipientOutcome,
    ) -> Decimal | None:
        """Count an accepted recipient, draw down the balance; its cost in base currency."""
        name, common = state.name, state.settings.common
        self.metrics.series(self.metrics.segments, name).inc(info.segments)
        price = None
        for end in range(len(recipient.digits), 0, -1):
            price = common.prices.get(recipient.digits[:end])
            if price is not None:
                break
        cost_native = (
            outcome.cost
            if outcome.cost is not None
            else (None if price is None else price * info.segments)
        )
        self.balances.spent(name, info.segments, cost_native, outcome.balance)
        if cost_native is None:
            return None
        settings = self.config.router
        rate = (
            Decimal(1)
            if common.currency == settings.base_currency
            else settings.currencies.get(common.currency)
        )
        if rate is None:
            return None
        cost = cost_native * rate
        self.metrics.series(self.metrics.cost, name).inc(float(cost))
        return cost

    def _count(self, result: SendResult) -> None:
        statuses = [r.status for r in result.recipients]
        for status in statuses:
            self.metrics.series(self.metrics.recipients, status.value).inc()
        accepted = sum(1 for s in statuses if s is RecipientStatus.ACCEPTED)
        overall = "accepted" if accepted == len(statuses) else "partial" if accepted else "failed"
        self.metrics.series(self.metrics.messages, overall).inc()

    # -- the way back: callbacks, balances, breaker events --------------------------------

    async def handle_callback(
        self, provider: str, kind: CallbackKind, request: CallbackRequest
    ) -> CallbackResult:
        """Parse a provider's push, journal what it holds, and return the answer it expects.

        Raises:
            KeyError: no such provider is configured.
            CallbackError: the provider's adapter refused the push.
        """
        state = self._states[provider]
        result = state.provider.parse_callback(kind, request)
        now = self.clock.time()
        for report in result.reports:
            self.metrics.delivery_reports.labels(provider, report.status.value).inc()
            await self._apply_report(report, now, hold=True)
        for inbound in result.inbound:
            answered = await self.store.add_inbound(inbound, now)
            if answered is not None and inbound.in_reply_to != answered:
                inbound = attrs.evolve(inbound, in_reply_to=answered)
            self.metrics.inbound.labels(provider).inc()
            await self.plugins.notify("smsrouter_inbound_message", message=inbound)
        return result

    async def _apply_report(self, report: DeliveryReport, now: float, *, hold: bool) -> None:
        matched = await self.store.apply_report(report, now)
        if matched is None and hold and self._early.hold(report, now):
            return  # its attempt may still be being journalled: applied when it is
        if matched is None:
            log.info(
                "provider %r: delivery report for an unknown message (%s)",
                report.provider,
                report.provider_message_id or report.ref,
            )
        await self.plugins.notify(
            "smsrouter_delivery_report",
            report=report,
            message_id=None if matched is None else matched[0],
        )

    async def balance(self, provider: str) -> Balance:
        """Read a provider's balance now, through its budget, and remember it."""
        return await self.balances.refresh(provider)

    def _breaker_moved(self, name: str, old: BreakerState, new: BreakerState) -> None:
        self.metrics.set_breaker(name, new)
        log.info("provider %r: circuit breaker %s -> %s", name, old, new)
        self._spawn(
            self.plugins.notify(
                "smsrouter_provider_state_changed", provider=name, old=old.value, new=new.value
            )
        )

    def _spawn(self, coroutine: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coroutine)
        except RuntimeError:
            coroutine.close()
            return
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _state_of(breaker: Breaker) -> BreakerState:
    return breaker.state


def _names(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list | tuple) else []


def _import_plugins(names: Sequence[str]) -> list[object]:
    modules: list[object] = []
    for index, name in enumerate(names):
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            raise ConfigError(
                [f"router.plugins[{index}]: cannot import {name!r} ({exc})"]
            ) from None
    return modules


def _outcome_of(number: str, exc: ProviderError) -> RecipientOutcome:
    return RecipientOutcome(
        number, exc.outcome, reason=str(exc), kind=exc.kind, retry_after=exc.retry_after
    )


def _breaker_signal(outcomes: Iterable[RecipientOutcome]) -> tuple[Outcome, ErrorKind | None]:
    """One outcome for the breaker from a batch: any answer is the provider working."""
    seen = list(outcomes)
    if any(o.kind is ErrorKind.AUTH for o in seen):
        return Outcome.PROVIDER_ERROR, ErrorKind.AUTH
    for outcome in seen:
        if outcome.outcome not in (Outcome.UNAVAILABLE, Outcome.AMBIGUOUS):
            return outcome.outcome, None
    return (seen[0].outcome if seen else Outcome.UNAVAILABLE), None
