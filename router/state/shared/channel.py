"""The fleet's channel: one pub/sub connection per instance, and its writes, in order.

Every move of a shared breaker, every operator's word on a provider, every opt-out is
published on one Redis channel (``PREFIX:fleet``) as ``TOPIC BODY``; each instance
subscribes to it once (:meth:`Channel.start`, from ``RedisState.open``) and hands what it
hears to the listeners of that topic. A notice carries the instance that told it, so an
instance does not hear its own.

Writes (a breaker's state and its announcement, a notice) go out through one queue, in the
order made, never waiting the caller: the engine's breakers are synchronous. A write that
fails is tried again after a back-off until it goes through, so nothing told is lost while
Redis is away, up to :data:`MAX_QUEUED` writes (then the oldest are dropped, and logged).

The subscription reconnects with a back-off when its connection fails; each time it is back
the ``on_connect`` hooks run (the breakers reload their states) and every listener's
resync (what was missed is read again from the journal). While it is down,
:class:`~router.state.shared.problems.Problems` says why.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import json
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.state.fleet import Listener, Notices, Resync
from router.state.shared.problems import Problems

__all__ = ["MAX_QUEUED", "Channel", "WeakCallable", "Write", "as_text"]

log = logging.getLogger("smsrouter.state")

Write = Callable[[aioredis.Redis], Awaitable[object]]
"""One write to Redis, made by the queue when its turn comes."""
Handler = Callable[[str], None]
"""Hears the body of a message on one topic, from any instance."""

MAX_QUEUED = 10_000
"""Writes waiting for Redis at most; beyond, the oldest are dropped."""
MIN_BACKOFF = 0.05
MAX_BACKOFF = 5.0
"""Seconds between tries to reach Redis again: doubling from the first to the second."""
IDLE_PING = 5.0
"""Seconds without a message after which the subscription pings, to find a dead server."""


def as_text(value: bytes | str) -> str:
    """What Redis answered (bytes), as text."""
    return value.decode() if isinstance(value, bytes) else value


class WeakCallable:
    """A callable held weakly when it is a bound method (it dies with its object)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._ref: Callable[[], Callable[..., Any] | None]
        if inspect.ismethod(fn):
            self._ref = weakref.WeakMethod(fn)
        else:
            self._ref = lambda: fn

    def __call__(self) -> Callable[..., Any] | None:
        return self._ref()


class Channel(Notices):
    """One instance's end of the fleet's channel.

    Args:
        client: gives the connection pool (open while the channel runs).
        channel: the Redis channel's name.
        origin: this instance's id, carried by its notices.
        problems: where a failure to reach Redis is said.
    """

    def __init__(
        self,
        client: Callable[[], aioredis.Redis],
        *,
        channel: str,
        origin: str,
        problems: Problems,
    ) -> None:
        self._client = client
        self.channel = channel
        self.origin = origin
        self.problems = problems
        self.connects = 0
        """How many times the subscription was made (1 after the first)."""
        self.dropped = 0
        """Writes dropped because too many waited for Redis."""
        self._handlers: dict[str, Handler] = {}
        self._listeners: dict[str, list[tuple[WeakCallable, WeakCallable | None]]] = {}
        self._on_connect: list[Callable[[], Awaitable[None]]] = []
        self._queue: collections.deque[Write] = collections.deque()
        self._queued = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._subscribed = asyncio.Event()
        self._answered = asyncio.Event()
        problems.on_answer.append(self._answered.set)
        self._tasks: list[asyncio.Task[None]] = []
        self._rereads: set[asyncio.Task[None]] = set()

    # -- what the parts of the shared state use ---------------------------------------------

    def handle(self, topic: str, handler: Handler) -> None:
        """Have *handler* hear every message on *topic* (the shared breakers' moves)."""
        self._handlers[topic] = handler

    def on_connect(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run *hook* each time the subscription is made, before any message is heard."""
        self._on_connect.append(hook)

    def write(self, write: Write) -> None:
        """Queue *write*; made in order, tried again until Redis takes it."""
        if len(self._queue) >= MAX_QUEUED:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("shared state: %d writes dropped while Redis was away", self.dropped)
        self._queue.append(write)
        self._idle.clear()
        self._queued.set()

    async def flush(self) -> None:
        """Wait until every queued write is made."""
        await self._idle.wait()

    # -- Notices ----------------------------------------------------------------------------

    def tell(self, topic: str, notice: Mapping[str, Any]) -> None:
        body = json.dumps({"from": self.origin, "notice": dict(notice)})
        message = f"{topic} {body}"
        self.write(lambda client: client.publish(self.channel, message))

    def listen(self, topic: str, listener: Listener, resync: Resync | None = None) -> None:
        entry = (WeakCallable(listener), None if resync is None else WeakCallable(resync))
        self._listeners.setdefault(topic, []).append(entry)

    # -- life cycle -------------------------------------------------------------------------

    async def start(self, wait: float = 5.0) -> None:
        """Start the subscription and the writer; wait up to *wait* seconds to subscribe."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._subscribe(), name="smsrouter-state-subscription"),
            loop.create_task(self._write_all(), name="smsrouter-state-writer"),
        ]
        try:
            async with asyncio.timeout(wait):
                await self._subscribed.wait()
        except TimeoutError:
            log.warning("shared state: not subscribed after %.0fs; still trying", wait)

    async def stop(self, wait: float = 2.0) -> None:
        """Make what is queued (for up to *wait* seconds), then stop both tasks."""
        if self._queue and self._tasks:
            try:
                async with asyncio.timeout(wait):
                    await self.flush()
            except TimeoutError:
                log.warning("shared state: %d writes not made at close", len(self._queue))
        tasks = [*self._tasks, *self._rereads]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []

    # -- the two tasks ----------------------------------------------------------------------

    async def _write_all(self) -> None:
        backoff = MIN_BACKOFF
        while True:
            if not self._queue:
                self._idle.set()
                self._queued.clear()
                await self._queued.wait()
                continue
            try:
                await self._queue[0](self._client())
            except (RedisError, OSError) as exc:
                self.problems.fail("writes", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            except Exception:
                log.exception("shared state: a write failed; it is dropped")
            self.problems.ok("writes")
            backoff = MIN_BACKOFF
            if self._queue:
                self._queue.popleft()

    async def _subscribe(self) -> None:
        backoff = MIN_BACKOFF
        while True:
            pubsub = self._client().pubsub()
            try:
                await pubsub.subscribe(self.channel)
                await self._confirmed(pubsub)
                for hook in self._on_connect:
                    await hook()
                self.connects += 1
                if self.connects > 1:
                    self._resync()
                self.problems.ok("subscription")
                self._subscribed.set()
                backoff = MIN_BACKOFF
                await self._hear(pubsub)
            except (RedisError, OSError) as exc:
                self.problems.fail("subscription", exc)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            await self._back_off(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _back_off(self, seconds: float) -> None:
        """Wait *seconds* before subscribing again, or less when another part reached Redis."""
        self._answered.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._answered.wait()

    async def _confirmed(self, pubsub: aioredis.client.PubSub) -> None:
        """Wait for the server to confirm the subscription: messages reach us from then."""
        async with asyncio.timeout(IDLE_PING):
            while True:
                message = await pubsub.get_message(timeout=IDLE_PING)
                if message is not None and message["type"] == "subscribe":
                    return

    async def _hear(self, pubsub: aioredis.client.PubSub) -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=IDLE_PING)
            if message is None:
                await pubsub.ping()  # a dead server shows as an error here
                continue
            if message["type"] != "message":
                continue
            topic, _, body = as_text(message["data"]).partition(" ")
            try:
                self._dispatch(topic, body)
            except Exception:
                log.exception("shared state: a %r message was not applied", topic)

    def _dispatch(self, topic: str, body: str) -> None:
        handler = self._handlers.get(topic)
        if handler is not None:
            handler(body)
            return
        listeners = self._listeners.get(topic)
        if not listeners:
            return
        told = json.loads(body)
        if told.get("from") == self.origin:
            return
        for listener, _ in list(listeners):
            fn = listener()
            if fn is None:
                listeners.remove((listener, _))
            else:
                fn(told["notice"])

    def _resync(self) -> None:
        loop = asyncio.get_running_loop()
        for entries in self._listeners.values():
            for _, resync in entries:
                fn = None if resync is None else resync()
                if fn is None:
                    continue
                result = fn()
                if inspect.isawaitable(result):
                    task = loop.create_task(_logged(result))
                    self._rereads.add(task)
                    task.add_done_callback(self._rereads.discard)


async def _logged(result: Awaitable[object]) -> None:
    try:
        await result
    except Exception:
        log.exception("shared state: rereading what was missed failed")
