"""The Router: the composition root of the engine, and its life cycle and entry points
(``async with Router.from_file("smsrouter.toml") as router: await router.send(...)``).

The Router builds its parts and hands each what it needs, nothing more: the provider
states (:mod:`router.engine.providers`) with their budgets and breakers from the live
state, the :class:`~router.engine.calls.ProviderCalls` every adapter call goes through,
the :class:`~router.engine.decide.Decider` that asks the policies, the
:class:`~router.engine.send.SendLoop`, the :class:`~router.engine.callbacks.Callbacks`
for the way back, the :class:`~router.engine.balances.BalanceTracker`, and the
:class:`~router.engine.budgets.BudgetJournal` that keeps the budgets' recent calls in the
journal across restarts. A message is checked (:mod:`router.engine.prepare`), admitted
(:mod:`router.compliance`: opted out, expired, held for the
:class:`~router.engine.schedule.Scheduler`), routed, journalled and sent, once per id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from router.clock import Clock, SystemClock
from router.compliance import Compliance
from router.config import Config, parse_config, read_toml
from router.engine import loading
from router.engine.admin import ProviderAdmin
from router.engine.balances import BalanceTracker
from router.engine.budgets import BudgetJournal
from router.engine.callbacks import Callbacks
from router.engine.calls import ProviderCalls
from router.engine.claims import Claims
from router.engine.decide import Decider, RoutePlan
from router.engine.learning import Learning
from router.engine.loading import Settled, journal_message, load_plugins, policy_chain
from router.engine.metrics import Metrics
from router.engine.pool import own_session
from router.engine.prepare import Prepared, prepare
from router.engine.providers import ProviderState, provider_states
from router.engine.schedule import Scheduler
from router.engine.send import SendLoop
from router.errors import NoRouteError
from router.model import (
    Balance,
    CallbackKind,
    CallbackRequest,
    CallbackResult,
    Message,
    RecipientStatus,
    SendResult,
)
from router.policy import Route
from router.provider import Provider
from router.state import BreakerState, LiveState
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
        state: where budgets, breakers and recent pushes live, or a function giving it for
            the validated config; opened and closed by its owner. Unset, the Router opens
            and closes the one ``[state] url`` names (this process's by default).
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
        store: MessageStore | loading.StoreFor | None = None,
        state: LiveState | loading.StateFor | None = None,
        session: aiohttp.ClientSession | None = None,
        env: Mapping[str, str] | None = None,
        autoload: bool | None = None,
    ) -> None:
        # The composition root: every part is built here, in order, handed what it uses.
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
        self.store = store = loading.open_journal(store, self.config)
        self.owns_state = state is None  # then opened and closed with the Router, like the store
        self.state = loading.open_live_state(state, self.config, clock)
        self.metrics = Metrics(self.config.providers)
        self._own_session, self._session = session is None, session
        self._states: dict[str, ProviderState] = {}
        states, metrics, events, clock = self._states, self.metrics, self.events, clock
        calls = ProviderCalls(metrics, clock)
        self.learning = Learning(self.config, states, store, metrics, clock)
        self.quality = self.learning.quality
        self.balances = BalanceTracker(
            providers=states, calls=calls, metrics=metrics, events=events, clock=clock,
            board=self.state.balance_board(),
        )  # fmt: skip
        """Polls the providers' balances and keeps them in each provider's state."""
        self.compliance = Compliance(self.config, store, clock, self.send)
        self.compliance.optouts.share(self.state.notices())  # a fleet's opt-outs are one list
        """Opt-outs, quiet hours, send and expiry times: who of a message goes now."""
        self.scheduler = Scheduler(store, clock, self.resume)
        self.on_hold: Callable[[], None] = self.scheduler.wake
        """Called when a message is held or cancelled: wakes the scheduler in charge."""
        self.callbacks = Callbacks(
            providers=states,
            store=store,
            metrics=metrics,
            events=events,
            pushes=self.state.pushes(),
            clock=clock,
            inbound_rules=self.compliance.inbound,
        )
        """The way back: provider pushes into the journal and the event hooks."""
        chain = policy_chain(self.plugins, self.config)
        self.decider = Decider(states, chain, self.config.router, clock)
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
        self.redelivery = self.learning.wire(self._loop, self.decider, self.prepare, self.callbacks)
        self.budget_journal = BudgetJournal(store, clock)
        self.admin = ProviderAdmin(states, store, metrics, clock, self.state.notices())
        self._accepted: dict[str, Prepared] = {}  # accept()ed, unsent, as checked then
        self._sending = Claims()
        """Messages being sent now, by id: a duplicate waits for the first one's result."""
        self._started = False

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> Router:
        """A Router for the TOML config at *path*."""
        return cls(read_toml(path), **kwargs)

    async def __aenter__(self) -> Router:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start(self, *, track_balances: bool = True, schedule: bool = True) -> None:
        """Build the providers, open the journal, start the balance tracker and (with
        *schedule*) the scheduler of held messages.

        Each budget first counts the recent calls the journal remembers (a process before
        this one made them), so the first balance poll waits its turn.
        """
        if self._started:
            return
        self._loop.coalescer.closing = False  # started again after an aclose: it gathers
        if self._session is None:
            self._session = own_session(self.config)  # a session handed in is used as it is
        if self.owns_store:
            await self.store.open()
        if self.owns_state:
            await self.state.open()
        self._states.update(
            provider_states(
                self.config, self.plugins, self._session, self.state,
                self._breaker_moved, self.metrics.watch_breaker,
            )
        )  # fmt: skip
        await self.budget_journal.attach({n: s.budget for n, s in self._states.items()})
        await self.admin.restore()
        await self.compliance.start()
        await self.learning.start(self.decider.chain, balances=track_balances)
        self._started = True
        if track_balances:
            self.balances.start()
        if schedule:
            self.scheduler.start()

    async def aclose(self) -> None:
        """Make the calls gathered, stop the tracker, wait for hooks, close the rest."""
        await self._loop.coalescer.aclose()
        await self.balances.stop()
        await self.scheduler.stop()
        await self.compliance.stop()
        await self.learning.stop()
        await self.callbacks.stop()
        await self.events.drain()
        await self.budget_journal.close()
        for state in self._states.values():
            try:
                await state.provider.aclose()
            except Exception:
                log.exception("provider %r failed to close", state.name)
        if self.owns_store:
            await self.store.close()
        if self.owns_state:
            await self.state.close()
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
        prepared = prepare(
            message, providers=self._states, region=self.config.router.default_region
        )
        self.compliance.check(message)
        return prepared

    async def send(self, message: Message, *, coalesce: bool = False) -> SendResult:
        """Send *message*; the result has every recipient's status and attempts.

        A ``reference`` seen before returns the first send's result (``duplicate=True``).
        With *coalesce*, it is journalled first and sent as a queued message is, its calls
        shared with others of its text (``coalesce_window``): a campaign sent one by one.

        Raises:
            ValidationError: the message is wrong (the field is named).
            NoRouteError: no recipient was accepted or rejected: every provider was
                excluded or failed. It carries each provider's reason and the result.
        """
        if coalesce:
            record, created = await self.accept(message)
            if not created:
                return await self._duplicate(record)
            return await self.send_accepted(record.id) or await self.resume(record)
        prepared = self.prepare(message)
        # The id is claimed before the journal is awaited, in the same step as the check, so
        # no other request (a duplicate, a worker resuming it) can start sending it meanwhile.
        done = self._sending.take(message.id)
        if done is None:
            record, created = await journal_message(self.store, prepared, self.clock.time())
            return await self._duplicate(record)
        try:
            settled = self._admit(prepared)
            routes = self.decider.routes(prepared)
            record, created, started = await self._loop.journal_new(prepared, routes, settled)
        except BaseException:
            self._sending.release(message.id, done)
            raise
        if not created:
            self._sending.release(message.id, done)
            return await self._duplicate(record)
        try:
            return await self._deliver(prepared, settled=settled, routes=routes, started=started)
        finally:
            self._sending.release(message.id, done)

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
        """Validate and journal *message* without sending it (the daemon's ``wait: false``):
        the record and True, or the first with its reference and False. Send it later with
        :meth:`send_accepted` (or :meth:`resume`)."""
        prepared = self.prepare(message)
        record, created = await journal_message(self.store, prepared, self.clock.time())
        if created:
            self._accepted[record.id] = prepared
        return record, created

    async def send_accepted(self, message_id: str) -> SendResult | None:
        """Send what :meth:`accept` journalled, as checked then, its calls shared with others
        of its text (``coalesce_window``); None when this Router holds it no more
        (:meth:`resume` its record then). Raises as :meth:`send`."""
        prepared = self._accepted.pop(message_id, None)
        done = None if prepared is None else self._sending.take(message_id)
        if prepared is None or done is None:  # taken while _accepted held it: unreachable
            return None
        try:
            return await self._deliver(prepared, queued=True)
        finally:
            self._sending.release(message_id, done)

    async def resume(self, record: MessageRecord) -> SendResult:
        """Send a journalled message whose recipients have no final status yet.

        A recipient caught in flight by a crash is resolved by a status query where its
        provider has one, else by ``on_ambiguous``; a never-attempted one is sent. A message
        being sent already in this Router is waited for, and a finished one is not sent
        again: its journalled result is returned. Where instances share the journal, one
        whose lease another instance holds is waited for the same way.
        """
        self._accepted.pop(record.id, None)  # sent from its journal record from now on
        done = await self._sending.wait_and_take(record.id)  # after a send under way here
        try:
            # Held here, leased to this instance in a shared journal: none else sends it.
            await self.store.hold(record.id)
            latest = await self.store.get(record.id) or record
            if latest.state is MessageState.DONE:
                return latest.result()
            prepared = self.prepare(latest.message())
            return await self._deliver(prepared, latest, queued=True)
        finally:
            self._sending.release(record.id, done)

    def _admit(self, prepared: Prepared, record: MessageRecord | None = None) -> Settled:
        """The recipients compliance settles instead of sending (opted out, expired, held)."""
        return self.compliance.admit(
            prepared.message, prepared.recipients, prepared.text.segments, record
        )

    async def _deliver(
        self,
        prepared: Prepared,
        record: MessageRecord | None = None,
        *,
        settled: Settled | None = None,
        routes: list[Route] | None = None,
        started: str | None = None,
        queued: bool = False,
    ) -> SendResult:
        # Admitted first: opted out, expired and held recipients are settled, not sent.
        settled = self._admit(prepared, record) if settled is None else settled
        routes = self.decider.routes(prepared) if routes is None else routes
        result = await self._loop.deliver(
            prepared, routes, record, settled=settled, started=started, queued=queued
        )
        if any(r.status is RecipientStatus.SCHEDULED for r in result.recipients):
            self.on_hold()
        return result

    async def cancel(self, message_id: str) -> MessageRecord | None:
        """Cancel what of a message is not yet sent (once a send under way has ended); its
        record after, or None if unknown."""
        done = await self._sending.wait_and_take(message_id)
        try:
            record = await self.store.cancel(message_id, self.clock.time())
        finally:
            self._sending.release(message_id, done)
        self.on_hold()
        return record

    def route(self, message: Message) -> RoutePlan:
        """Explain, without sending, where each recipient would go and why (and which
        would be refused or held instead). Raises ValidationError naming a wrong field."""
        prepared = self.prepare(message)
        return self.decider.plan(prepared, self._admit(prepared))

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

    def _breaker_moved(self, name: str, old: BreakerState, new: BreakerState) -> None:
        self.metrics.set_breaker(name, new)
        log.info("provider %r: circuit breaker %s -> %s", name, old, new)
        self.events.soon(self.events.provider_state_changed(name, old.value, new.value))
