"""The Router: validate a message, route each recipient, send, fail over, journal, report.

::

    async with Router.from_file("smsrouter.toml") as router:
        result = await router.send(Message(to="+61412345678", text="Hello"))

For each recipient the policy chain gives providers in failover order. Recipients going to
the same provider are batched up to its declared batch size; each batch passes the
provider's breaker and budget, then the adapter's outcome decides: accepted or rejected
stop, provider_error and unavailable fail over, ambiguous is resolved by a status query
where the provider has one, else by ``on_ambiguous``.

This module keeps the Router's life cycle, its entry points and the way back (callbacks,
breaker events); validation and routing live in :mod:`router.routing`, the send loop in
:mod:`router.delivery`, the per-provider state in :mod:`router.state`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from router.balances import BalanceTracker
from router.clock import Clock, SystemClock
from router.config import Config, parse_config, read_toml
from router.delivery import SendLoop
from router.early import EarlyReports
from router.errors import ConfigError, NoRouteError, PluginError
from router.health import Breaker, BreakerState
from router.limits import Budget
from router.metrics import Metrics
from router.model import (
    Balance,
    CallbackKind,
    CallbackRequest,
    CallbackResult,
    DeliveryReport,
    Message,
    SendResult,
)
from router.plugins import PluginHost
from router.policy import PolicyChain, prefix_lengths
from router.provider import Provider, ProviderContext
from router.repeats import RecentPushes
from router.routing import Routing, sender_kind
from router.state import ProviderState, RoutePlan
from router.store import MessageRecord, MessageStore, open_store
from router.store.base import MessageState

__all__ = ["ProviderState", "RoutePlan", "Router", "sender_kind"]

log = logging.getLogger("smsrouter")


class Router(Routing, SendLoop):
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
        self._pushes = RecentPushes()
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
            if not self._pushes.first_time(report):
                await self.store.apply_report(report, now)  # idempotent; not counted again
                continue
            self.metrics.delivery_reports.labels(provider, report.status.value).inc()
            await self._apply_report(report, now, hold=True)
        for inbound in result.inbound:
            answered = await self.store.add_inbound(inbound, now)
            key = (
                (provider, inbound.provider_message_id) if inbound.provider_message_id else inbound
            )
            if not self._pushes.first_time(key):
                continue
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
