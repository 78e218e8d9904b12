"""The Router: the composition root of the engine, and its life cycle and entry points.

::

    async with Router.from_file("smsrouter.toml") as router:
        result = await router.send(Message(to="+61412345678", text="Hello"))

The Router builds its parts and hands each what it needs, nothing more: the provider
states (:mod:`router.engine.providers`) with their budgets and breakers from the live
state, the :class:`~router.engine.calls.ProviderCalls` every adapter call goes through,
the :class:`~router.engine.decide.Decider` that asks the policies, the
:class:`~router.engine.send.SendLoop`, the :class:`~router.engine.callbacks.Callbacks`
for the way back, the :class:`~router.engine.balances.BalanceTracker`, and the
:class:`~router.engine.budgets.BudgetJournal` that keeps the budgets' recent calls in the
journal across restarts. A message is checked (:mod:`router.engine.prepare`), journalled,
routed and sent, once per message id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from router.clock import Clock, SystemClock
from router.config import Config, parse_config, read_toml
from router.engine.balances import BalanceTracker
from router.engine.budgets import BudgetJournal
from router.engine.callbacks import Callbacks
from router.engine.calls import ProviderCalls
from router.engine.claims import Claims
from router.engine.decide import Decider, RoutePlan
from router.engine.loading import StoreFor, journal_for, load_plugins
from router.engine.metrics import Metrics
from router.engine.pool import own_session
from router.engine.prepare import Prepared, prepare
from router.engine.providers import ProviderState, build_adapter
from router.engine.send import SendLoop
from router.errors import NoRouteError
from router.model import (
    Balance,
    CallbackKind,
    CallbackRequest,
    CallbackResult,
    Message,
    SendResult,
)
from router.policy import PolicyChain, prefix_lengths
from router.provider import Provider
from router.state import BreakerState, LiveState, MemoryState
from router.store import MessageRecord, MessageState, MessageStore

log = logging.getLogger("smsrouter")


class Router:
    """The routing core: one per application, used as an async context manager.

    Args:
        config: a validated :class:`~router.config.Config`, or a mapping shaped like the
            TOML file (validated here against the loaded plugins).
        plugins: extra plugin objects (modules or instances) to register.
        clock: where time comes from (tests inject a fake one).
        store: the journal, or a function giving it for the validated config; either way
            the Router neither opens nor closes it. Unset, the Router opens and closes one
            at ``[store] url`` (in memory by default).
        state: where budgets, breakers and recent pushes live; this process by default.
        session: an aiohttp session to use, as it is, instead of the Router's own (whose
            pool is sized for the providers: :func:`~router.engine.pool.pool_limit`).
        env: environment for ``${NAME}`` secrets; the process environment by default.
        autoload: load installed plugins' entry points (default: unless the environment
            says ``SMSROUTER_DISABLE_PLUGIN_AUTOLOAD``).
    """

    def __init__(
        self,
        config: Config | Mapping[str, Any],
        *,
        plugins: Iterable[object] = (),
        clock: Clock | None = None,
        store: MessageStore | StoreFor | None = None,
        state: LiveState | None = None,
        session: aiohttp.ClientSession | None = None,
        env: Mapping[str, str] | None = None,
        autoload: bool | None = None,
    ) -> None:
        # Long but flat: the composition root builds each part once and hands it its parts.
        self.plugins = load_plugins(config, plugins, autoload)
        self.config = (
            config if isinstance(config, Config) else parse_config(config, self.plugins, env)
        )
        # A mapping config is validated only now: its hook_timeout applies from here.
        self.plugins.hook_timeout = self.config.router.hook_timeout
        self.events = self.plugins.events
        self.clock = clock = clock or SystemClock()
        self.owns_store = store is None
        """Whether the Router opens and closes its store (False when it was handed one)."""
        self.store = store = journal_for(store, self.config)
        self.state = state or MemoryState(self.clock)
        self.metrics = Metrics(self.config.providers)
        self._own_session = session is None
        self._session = session
        self._states: dict[str, ProviderState] = {}
        states, metrics, events, clock = self._states, self.metrics, self.events, clock
        calls = ProviderCalls(metrics, clock)
        self.balances = BalanceTracker(
            providers=states, calls=calls, metrics=metrics, events=events, clock=clock
        )
        """Polls the providers' balances and keeps them in each provider's state."""
        self.callbacks = Callbacks(
            providers=states,
            store=store,
            metrics=metrics,
            events=events,
            pushes=self.state.pushes(),
            clock=clock,
        )
        """The way back: provider pushes into the journal and the event hooks."""
        self.decider = Decider(states, self._policy_chain(), self.config.router, clock)
        """Asks the policy chain where each recipient goes (``route()`` explains it)."""
        self._loop = SendLoop(
            settings=self.config.router,
            providers=states,
            store=store,
            calls=calls,
            balances=self.balances,
            callbacks=self.callbacks,
            metrics=metrics,
            events=events,
            clock=clock,
        )
        self.budget_journal = BudgetJournal(store, clock)
        self._accepted: dict[str, Prepared] = {}
        """Messages :meth:`accept` journalled and nothing has sent yet, as checked then."""
        self._sending = Claims()
        """Messages being sent now, by id: a duplicate waits for the first one's result."""
        self._started = False

    def _policy_chain(self) -> PolicyChain:
        policies = self.plugins.policies
        return PolicyChain(
            [
                policies.get(name)(self.config.policies[name])  # type: ignore[misc]
                for name in self.config.router.policy
            ]
        )

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> Router:
        """A Router for the TOML config at *path*."""
        return cls(read_toml(path), **kwargs)

    async def __aenter__(self) -> Router:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start(self, *, track_balances: bool = True) -> None:
        """Build the providers, open the journal and start the balance tracker.

        Each budget first counts the recent calls the journal remembers (a process before
        this one made them), so the first balance poll waits its turn.
        """
        if self._started:
            return
        if self._session is None:
            self._session = own_session(self.config)  # a session handed in is used as it is
        if self.owns_store:
            await self.store.open()
        for index, (name, settings) in enumerate(self.config.providers.items()):
            if settings.common.enabled:
                self._states[name] = self._provider_state(index, name, self._session)
        await self.budget_journal.attach({n: s.budget for n, s in self._states.items()})
        self._started = True
        if track_balances:
            self.balances.start()

    def _provider_state(
        self, index: int, name: str, session: aiohttp.ClientSession
    ) -> ProviderState:
        settings = self.config.providers[name]
        cls = self.plugins.providers.get(settings.common.plugin)
        assert cls is not None  # parse_config checked it
        provider = build_adapter(cls, settings, session, self.config.router.default_region)
        breaker = self.state.breaker(name, self._breaker_moved)
        self.metrics.watch_breaker(name, lambda: breaker.state)
        return ProviderState(
            settings,
            provider,
            self.state.budget(name, settings.limits),
            breaker,
            index,
            price_lengths=prefix_lengths(settings.common.prices),
        )

    async def aclose(self) -> None:
        """Stop the tracker, wait for event hooks, close adapters, journal and session."""
        await self.balances.stop()
        await self.events.drain()
        await self.budget_journal.close()
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

    def prepare(self, message: Message) -> Prepared:
        """Check *message* without sending it: ValidationError names what is wrong."""
        return prepare(message, providers=self._states, region=self.config.router.default_region)

    async def send(self, message: Message) -> SendResult:
        """Send *message*; the result has every recipient's status and attempts.

        A ``reference`` seen before returns the first send's result (``duplicate=True``).

        Raises:
            ValidationError: the message is wrong (the field is named).
            NoRouteError: no recipient was accepted or rejected: every provider was
                excluded or failed. It carries each provider's reason and the result.
        """
        prepared = self.prepare(message)
        # The id is claimed before the journal is awaited, in the same step as the check, so
        # no other request (a duplicate, a worker resuming it) can start sending it meanwhile.
        done = self._sending.take(message.id)
        if done is None:
            record, created = await self._journal(prepared)
            return await self._duplicate(record)
        started: str | None = None
        try:
            routes = self.decider.routes(prepared)
            # One call makes the first attempt: journalled with the message in one write.
            started = self._loop.first_call(prepared, routes)
            record, created = await self._journal(prepared, started)
        except BaseException:
            self._abandon(started)
            self._sending.release(message.id, done)
            raise
        if not created:
            self._abandon(started)
            self._sending.release(message.id, done)
            return await self._duplicate(record)
        try:
            return await self._loop.deliver(prepared, routes, started=started)
        finally:
            self._sending.release(message.id, done)

    def _abandon(self, started: str | None) -> None:
        """Give back the breaker :meth:`SendLoop.first_call` took for a call not made."""
        if started is not None:
            self._states[started].breaker.abandon()

    async def _duplicate(self, record: MessageRecord) -> SendResult:
        """The first send with *record*'s reference: its result, never sent twice."""
        try:
            result = await self.resume(record)
        except NoRouteError as exc:
            if not isinstance(exc.result, SendResult):
                raise
            result = exc.result
        return attrs.evolve(result, duplicate=True)

    async def accept(self, message: Message) -> tuple[MessageRecord, bool]:
        """Validate and journal *message* without sending it (the daemon's ``wait: false``).

        Returns the journal record and True, or the first record with this reference and
        False. Send it later with :meth:`send_accepted` (or :meth:`resume`).
        """
        prepared = self.prepare(message)
        record, created = await self._journal(prepared)
        if created:
            self._accepted[record.id] = prepared
        return record, created

    async def send_accepted(self, message_id: str) -> SendResult | None:
        """Send a message :meth:`accept` journalled, as it was checked then; None if unknown.

        The message is neither checked nor read from the journal again: this Router
        accepted it and nothing has touched it since. None when this Router holds no such
        message untouched (another Router accepted it, or :meth:`resume` or a duplicate
        took it over): then :meth:`resume` its journal record.

        Raises:
            NoRouteError: as :meth:`send`.
        """
        prepared = self._accepted.pop(message_id, None)
        if prepared is None:
            return None
        done = self._sending.take(message_id)
        if done is None:  # not reachable while _accepted holds it, but never send twice
            return None
        try:
            return await self._loop.deliver(prepared, self.decider.routes(prepared))
        finally:
            self._sending.release(message_id, done)

    async def resume(self, record: MessageRecord) -> SendResult:
        """Send a journalled message whose recipients have no final status yet.

        A recipient caught in flight by a crash is resolved by a status query where its
        provider has one, else by ``on_ambiguous``; a never-attempted one is sent. A message
        being sent already in this Router is waited for, and a finished one is not sent
        again: its journalled result is returned.
        """
        self._accepted.pop(record.id, None)  # sent from its journal record from now on
        while True:
            under_way = self._sending.holder(record.id)
            if under_way is not None:
                await under_way.wait()
                continue
            latest = await self.store.get(record.id) or record
            if latest.state is MessageState.DONE:
                return latest.result()
            # No await between the read above and the claim; None: claimed meanwhile.
            done = self._sending.take(record.id)
            if done is not None:
                break
        try:
            prepared = self.prepare(latest.message())
            return await self._loop.deliver(prepared, self.decider.routes(prepared), latest)
        finally:
            self._sending.release(record.id, done)

    def route(self, message: Message) -> RoutePlan:
        """Explain, without sending, where each recipient would go and why.

        Raises:
            ValidationError: the message is wrong (the field is named).
        """
        return self.decider.plan(self.prepare(message))

    async def handle_callback(
        self, provider: str, kind: CallbackKind, request: CallbackRequest
    ) -> CallbackResult:
        """Parse a provider's push, journal what it holds, and return the answer it expects.

        Raises:
            KeyError: no such provider is configured.
            CallbackError: the provider's adapter refused the push.
        """
        return await self.callbacks.handle(provider, kind, request)

    async def balance(self, provider: str) -> Balance:
        """Read a provider's balance now, through its budget, and remember it."""
        return await self.balances.refresh(provider)

    async def _journal(
        self, prepared: Prepared, started: str | None = None
    ) -> tuple[MessageRecord, bool]:
        text, now = prepared.text, self.clock.time()
        if started is not None:
            return await self.store.add_started(
                prepared.message, prepared.recipients, text.encoding, text.segments, now, started
            )
        return await self.store.add(
            prepared.message, prepared.recipients, text.encoding, text.segments, now
        )

    def _breaker_moved(self, name: str, old: BreakerState, new: BreakerState) -> None:
        self.metrics.set_breaker(name, new)
        log.info("provider %r: circuit breaker %s -> %s", name, old, new)
        self.events.soon(self.events.provider_state_changed(name, old.value, new.value))
