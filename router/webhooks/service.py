"""The webhook service: the event journal, what fills it, and the worker that posts from it.

The daemon registers a :class:`~router.webhooks.plugin.WebhookPlugin` with each Router it
builds; its event hooks hand events to :meth:`WebhookService.enqueue`, which journals them,
which is all the work done on the way of a send or a provider's push. The worker posts them
in the background with its own aiohttp session: a bounded number of posts per receiver,
each with a timeout; on failure it retries (:func:`retry_at`) with doubling backoff and
jitter until the receiver's ``max_age``, then keeps a dead letter that
``POST /v1/events/{id}/retry`` re-queues. What a post carries is :mod:`router.webhooks.events`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import aiohttp
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from router.clock import Clock, sleep_or_wake
from router.config import Config, WebhookSettings
from router.engine.metrics import Metrics
from router.errors import StoreError
from router.model import DeliveryReport, EventType, InboundMessage
from router.store import MessageStore
from router.webhooks.events import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    Event,
    event_body,
    inbound_event,
    report_event,
    sign,
)
from router.webhooks.journal import Delivery, DeliveryState, EventJournal
from router.webhooks.retries import (
    CALLBACK_WEBHOOK,
    REMOVED,
    callback_hook,
    for_message,
    retry_at,
)
from router.webhooks.sqlite import open_event_journal

__all__ = [
    "CALLBACK_WEBHOOK",
    "IDLE",
    "MAX_IN_FLIGHT",
    "OUTCOMES",
    "RETENTION",
    "STOP_GRACE",
    "WebhookService",
    "retry_at",
]

log = logging.getLogger("smsrouter.webhooks")

OUTCOMES = ("delivered", "retried", "dead")
"""Each post ends delivered, failed with a retry to come (retried), or failed for good (dead)."""
MAX_IN_FLIGHT = 256
"""Posts under way at once, over every receiver."""
IDLE = 60.0
"""Seconds the worker sleeps with nothing due; a new event wakes it at once."""
RETENTION = 7 * 86400.0
"""Seconds a delivered event stays listed before it is pruned."""
STOP_GRACE = 2.0
"""Seconds posts under way may take to finish at shutdown; the rest are posted after restart."""


class _Outcomes(Collector):
    """``smsrouter_webhook_events_total{outcome}``, from counts that outlive a config reload."""

    def __init__(self, counts: Mapping[str, int]) -> None:
        self.counts = counts

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "smsrouter_webhook_events",
            "Posts of webhook events: delivered, retried (failed, to be tried again) or dead",
            labels=["outcome"],
        )
        for outcome in OUTCOMES:
            family.add_metric([outcome], self.counts[outcome])
        yield family


class WebhookService:
    """The daemon's webhooks: the event journal, the hooks that fill it, the posting worker.

    Args:
        store: the message journal, which events are read with (and beside which the
            event journal is kept, by default).
        clock: where time comes from.
        journal: the event journal; by default the one beside the message journal.
        session: an aiohttp session to post with instead of the service's own.
        rng: the jitter's randomness (tests pass a seeded one).
    """

    def __init__(
        self,
        store: MessageStore,
        clock: Clock,
        *,
        journal: EventJournal | None = None,
        session: aiohttp.ClientSession | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.webhooks: tuple[WebhookSettings, ...] = ()
        """The webhooks in force, which posts go to: see :meth:`configure`."""
        self.callbacks: WebhookSettings | None = None
        """How a message's own ``callback_url`` is posted to, when it is configured."""
        self.journal = journal
        self.counts = dict.fromkeys(OUTCOMES, 0)
        """Posts by outcome, as the metric shows them."""
        self._collector = _Outcomes(self.counts)
        self._shown_on: weakref.WeakSet[CollectorRegistry] = weakref.WeakSet()
        """The registries the collector is registered with (one per Router watched)."""
        self._session = session
        self._own_session = session is None
        self._rng = rng or random.Random()
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._prune_at = 0.0

    # -- life cycle -----------------------------------------------------------------------

    async def start(self, *, worker: bool = True) -> None:
        """Open the journal and start posting what is due (pending events from before too)."""
        if self.journal is None:
            self.journal = open_event_journal(self.store)
        await self.journal.open()
        await self.journal.listen(self._wake.set)  # another instance gave deliveries up
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": "smsrouter-webhooks"})
        if worker and self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the worker; posts under way get ``STOP_GRACE``, then stay pending."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=STOP_GRACE)
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
        if self.journal is not None:
            await self.journal.close()

    def configure(self, config: Config) -> None:
        """Post to *config*'s webhooks (and messages' callback URLs) from now on."""
        self.webhooks, self.callbacks = config.webhooks, callback_hook(config)

    def watch(self, metrics: Metrics) -> None:
        """Show the outcome counter on *metrics*' registry (each Router a reload builds).

        The counts are the service's and outlive each Router; each Router's registry gets
        the one collector once, however often it is watched.
        """
        if metrics.registry in self._shown_on:
            return
        metrics.registry.register(self._collector)
        self._shown_on.add(metrics.registry)

    # -- journalling ----------------------------------------------------------------------

    def _hooks(self) -> dict[str, WebhookSettings]:
        found = {hook.name: hook for hook in self.webhooks}
        if self.callbacks is not None:
            found[CALLBACK_WEBHOOK] = self.callbacks
        return found

    def wants(self, kind: EventType) -> bool:
        """Whether any webhook in force wants events of *kind*."""
        return any(kind in hook.events for hook in self.webhooks)

    def _journal(self) -> EventJournal:
        if self.journal is None:
            raise RuntimeError("the webhook service is not started")
        return self.journal

    async def deliveries(self, event_id: str, *, webhook: str | None = None) -> list[Delivery]:
        """Every delivery of one event (to *webhook* only, if given), oldest first."""
        found = await self._journal().deliveries(event_id)
        return [d for d in found if webhook in (None, d.webhook)]

    async def list(
        self,
        *,
        state: DeliveryState | None = None,
        type: EventType | None = None,
        webhook: str | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> list[Delivery]:
        """Journalled deliveries, newest first (see :meth:`EventJournal.list`)."""
        return await self._journal().list(
            state=state, type=type, webhook=webhook, limit=limit, before=before
        )

    async def enqueue(
        self,
        *events: Event,
        webhooks: Sequence[WebhookSettings] | None = None,
        also: Sequence[str] = (),
    ) -> None:
        """Journal each event for the webhooks that want it (and *also*), wake the worker.

        *webhooks* are those of the Router the event came from; by default, those in force.
        """
        now = self.clock.time()
        for event in events:
            hooks = self.webhooks if webhooks is None else webhooks
            names = [h.name for h in hooks if event.type in h.events] + list(also)
            if names and await self._journal().add(event, names, now):
                self._wake.set()

    async def on_report(
        self,
        report: DeliveryReport,
        message_id: str | None,
        ref: str | None,
        *,
        webhooks: Sequence[WebhookSettings] | None = None,
    ) -> None:
        """Journal a delivery report matched to *message_id*'s recipient *ref* (or to none),
        with the message's client reference."""
        record = None if message_id is None else await self.store.get(message_id)
        event = report_event(report, message_id, ref, record, self.clock.time())
        own = record is not None and record.callback_url is not None
        await self.enqueue(event, webhooks=webhooks, also=[CALLBACK_WEBHOOK] if own else [])

    async def on_inbound(
        self, message: InboundMessage, *, webhooks: Sequence[WebhookSettings] | None = None
    ) -> None:
        """Journal an inbound message, with the message it answers when we know it."""
        replied = message.in_reply_to
        answers = None if replied is None else await self.store.get(replied)
        await self.enqueue(inbound_event(message, answers, self.clock.time()), webhooks=webhooks)

    async def requeue(self, event_id: str, *, webhook: str | None = None) -> int:
        """Make an event's dead letters pending again, due now; how many were."""
        count = await self._journal().requeue(event_id, self.clock.time(), webhook=webhook)
        if count:
            self._wake.set()
        return count

    # -- posting --------------------------------------------------------------------------

    async def deliver_due(self) -> None:
        """Post everything due now and wait for the posts (tests move a fake clock between)."""
        while True:
            await self._start_due(self.clock.time())
            if not self._tasks:
                return
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _run(self) -> None:
        """The worker: start what is due, then sleep until the next is due or a wake-up."""
        while True:
            self._wake.clear()
            now = self.clock.time()
            try:
                await self._start_due(now)
                if now >= self._prune_at:
                    self._prune_at = now + IDLE
                    await self._journal().prune(now - RETENTION)
                next_at = await self._journal().next_due(after=now)
                delay = IDLE if next_at is None else min(IDLE, max(0.0, next_at - now))
            except StoreError as exc:  # the journal logs its failing once: no line each round
                delay = exc.retry_after
            except Exception:
                log.exception("the webhook worker failed; trying again in a second")
                delay = 1.0
            await self._sleep_or_wake(delay)

    async def _sleep_or_wake(self, delay: float) -> None:
        await sleep_or_wake(self.clock, self._wake, delay)

    async def _start_due(self, now: float) -> None:
        """Start a post for each due delivery, within each receiver's concurrency."""
        hooks = self._hooks()

        def limit(name: str) -> int:
            return hooks.get(name, REMOVED).concurrency

        while len(self._tasks) < MAX_IN_FLIGHT:
            busy = Counter(name for _, name in self._tasks)
            full = {name for name, count in busy.items() if count >= limit(name)}
            rows = await self._journal().due(now, limit=64 + len(self._tasks), skip=full)
            started = 0
            for row in rows:
                if row.key in self._tasks or busy[row.webhook] >= limit(row.webhook):
                    continue
                if len(self._tasks) >= MAX_IN_FLIGHT:
                    break
                busy[row.webhook] += 1
                task = asyncio.get_running_loop().create_task(self._attempt(row, hooks))
                self._tasks[row.key] = task
                task.add_done_callback(lambda _, key=row.key: self._done(key))  # type: ignore[misc]
                started += 1
            if not started:
                return

    def _done(self, key: tuple[str, str]) -> None:
        self._tasks.pop(key, None)
        self._wake.set()  # a receiver's slot is free

    async def _attempt(self, row: Delivery, hooks: Mapping[str, WebhookSettings]) -> None:
        """Post one delivery and journal how it went."""
        hook = hooks.get(row.webhook)
        status: int | None = None
        error: str | None = None
        if row.webhook == CALLBACK_WEBHOOK:
            hook, error = await for_message(hook, row.event, self.store)
        elif hook is None:
            error = f"no webhook named {row.webhook!r} is configured"
        if hook is not None:
            try:
                status, error = await self._post(hook, row.event)
            except Exception as exc:  # a failure no receiver should cost us the worker for
                log.exception("webhook %r: posting event %s failed", row.webhook, row.event.id)
                error = type(exc).__name__
        now = self.clock.time()
        try:
            if error is None:
                await self._journal().delivered(row.event.id, row.webhook, now, status or 200)
                self.counts["delivered"] += 1
                return
            retry = retry_at(row.attempts + 1, row.queued_at, now, hook, self._rng)
            await self._journal().failed(
                row.event.id, row.webhook, now, status=status, error=error, retry_at=retry
            )
        except Exception:
            log.exception("webhook %r: event %s could not be journalled", row.webhook, row.event.id)
            return
        if retry is None:
            self.counts["dead"] += 1
            log.warning(
                "webhook %r: event %s is a dead letter after %d posts (%s)",
                row.webhook,
                row.event.id,
                row.attempts + 1,
                error,
            )
        else:
            self.counts["retried"] += 1
            # Said once per event: a receiver that is down would fill the log otherwise.
            level = logging.INFO if row.attempts == 0 else logging.DEBUG
            log.log(
                level,
                "webhook %r: event %s failed (%s); retrying",
                row.webhook,
                row.event.id,
                error,
            )

    async def _post(self, hook: WebhookSettings, event: Event) -> tuple[int | None, str | None]:
        """(HTTP status, why it failed or None) of one signed post."""
        assert self._session is not None, "the webhook service is not started"
        body = event_body(event)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(hook.secret.reveal(), int(self.clock.time()), body),
            EVENT_ID_HEADER: event.id,
            EVENT_TYPE_HEADER: event.type.value,
        }
        # Errors are described without the URL: its query may hold the receiver's token.
        try:
            async with self._session.post(
                hook.url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=hook.timeout),
                allow_redirects=False,
            ) as answer:
                status = answer.status
        except TimeoutError:
            return None, f"no answer within {hook.timeout:g}s"
        except aiohttp.ClientConnectorError as exc:
            return None, f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})"
        except aiohttp.ClientError as exc:
            return None, type(exc).__name__
        return status, None if 200 <= status < 300 else f"HTTP {status}"
