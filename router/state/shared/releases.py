"""Slots given back anywhere in the fleet, heard at once: one Redis subscription per state.

The release script publishes on the provider's channel (``budget:<provider>:released``)
when a slot comes free; :class:`Releases` listens on every provider's channel of the
prefix with one connection and wakes the budgets of this instance that wait for a slot.
It is only a shortcut: a waiter still asks again within its poll interval, so a message
lost while the subscription is down costs time, never a slot. :attr:`Releases.live` says
whether the subscription is up, and waiters poll more often while it is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from router.state.shared.reach import FAILURES

if TYPE_CHECKING:
    from router.state.shared import RedisState

log = logging.getLogger("smsrouter")

RETRY = 1.0
"""Seconds between attempts to subscribe again after the subscription failed."""
STOP = 1.0
"""Seconds :meth:`Releases.close` waits for the listening task to end."""


class Releases:
    """Calls *wake* of a provider's budget whenever any instance gives a slot of it back."""

    def __init__(self, state: RedisState) -> None:
        self.state = state
        self.live = False
        """Whether the subscription is up (a release anywhere wakes waiters here at once)."""
        self._head = state.key("budget", "")
        self._tail = ":released"
        self._wakes: dict[str, list[Callable[[], None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def channel(self, provider: str) -> str:
        """Where releases of *provider*'s slots are published."""
        return f"{self._head}{provider}{self._tail}"

    def watch(self, provider: str, wake: Callable[[], None]) -> None:
        """Have *wake* called on every release of *provider*'s slots; subscribes if need be."""
        wakes = self._wakes.setdefault(provider, [])
        if wake not in wakes:
            wakes.append(wake)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._listen(), name="smsrouter-budget-releases"
            )

    async def close(self) -> None:
        """Stop listening (before the state's client is closed)."""
        task, self._task = self._task, None
        if task is None:
            return
        # A message ends the listening task: redis-py's pub/sub read may swallow a cancel.
        self._stopping = True
        with contextlib.suppress(*FAILURES):
            await self.state.client.publish(self.channel(""), "")
        done, _ = await asyncio.wait([task], timeout=STOP)
        if not done:
            task.cancel()
        self.live = False

    async def _listen(self) -> None:
        pattern = _glob_escape(self._head) + "*" + _glob_escape(self._tail)
        failing = False
        while True:
            pubsub = self.state.client.pubsub()
            try:
                await pubsub.psubscribe(pattern)
                self.live, failing = True, False
                while not self._stopping:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                    if message is not None:
                        self._heard(message.get("channel"))
            except FAILURES as exc:
                self.live = False
                if not failing:
                    log.warning(
                        "cannot hear the fleet's budget releases (%s); waiters poll instead",
                        type(exc).__name__,
                    )
                failing = True
            finally:
                self.live = False
                with contextlib.suppress(*FAILURES):
                    await pubsub.aclose()
            if self._stopping:
                return
            await asyncio.sleep(RETRY)

    def _heard(self, channel: object) -> None:
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        if name.startswith(self._head) and name.endswith(self._tail):
            for wake in self._wakes.get(name[len(self._head) : len(name) - len(self._tail)], ()):
                wake()


def _glob_escape(text: str) -> str:
    """*text* matched literally in a Redis pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
