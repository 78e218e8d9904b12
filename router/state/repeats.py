"""Pushes a provider sent again: seen recently, so counted and announced once.

Providers push a delivery report or an inbound message again when our answer did not
reach them (a timeout, a restart). The journal already takes each once; this bounded,
in-memory record of recent pushes keeps metrics and event hooks from counting them twice.
It is bounded by count, by the total size of what it holds, and by age: a push is
remembered for as long as the journal takes an inbound text pushed again as a repeat.

:class:`Pushes` is the contract the engine asks (a coroutine, since a fleet asks its shared
state: :mod:`router.state.shared.pushes`); :class:`RecentPushes` keeps them in this process.
"""

from __future__ import annotations

import abc
from collections import OrderedDict
from collections.abc import Hashable

from router.clock import Clock, SystemClock
from router.store.base import INBOUND_REPEAT_WINDOW

RECENT = 50_000
"""How many pushes are remembered; a repeat of an older one is announced again."""
MAX_BYTES = 16 * 1024 * 1024
"""About how many bytes of pushes are remembered at most (see :func:`held_size`)."""
MAX_AGE = INBOUND_REPEAT_WINDOW
"""Seconds a push is remembered since it was first seen."""


def held_size(value: object) -> int:
    """About how many bytes *value* (a push, or a key made of pushes' fields) holds.

    The text of its fields, with a fixed overhead per value: what a push can make large.
    """
    if isinstance(value, str | bytes):
        return 16 + len(value)
    if isinstance(value, tuple):
        return 16 + sum(held_size(v) for v in value)
    fields = getattr(type(value), "__attrs_attrs__", None)
    if fields is not None:
        return 16 + sum(held_size(getattr(value, f.name)) for f in fields)
    return 16


class Pushes(abc.ABC):
    """The pushes seen recently, so that each is counted and announced once."""

    @abc.abstractmethod
    async def first_time(self, key: Hashable) -> bool:
        """Whether *key* is new (or was first seen longer than :data:`MAX_AGE` ago).

        *key* is a push (an attrs value) or a tuple of its fields: its ``repr`` is the same
        wherever it is made, so a shared record can compare it across processes.
        """


class RecentPushes(Pushes):
    """The most recent pushes, oldest forgotten first (beyond a count, a size or an age)."""

    def __init__(
        self,
        size: int = RECENT,
        *,
        max_bytes: int = MAX_BYTES,
        max_age: float = MAX_AGE,
        clock: Clock | None = None,
    ) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.clock = clock or SystemClock()
        self._seen: OrderedDict[Hashable, tuple[float, int]] = OrderedDict()
        self.held_bytes = 0
        """About how many bytes the remembered pushes hold."""

    def __len__(self) -> int:
        return len(self._seen)

    async def first_time(self, key: Hashable) -> bool:
        """Whether *key* is new (or was first seen longer than the age bound ago)."""
        return self.remember(key)

    def remember(self, key: Hashable) -> bool:
        """:meth:`first_time`, at once: whether *key* is new, remembering it."""
        now = self.clock.time()
        self._forget(now, 0)
        if key in self._seen:
            return False
        size = held_size(key)
        if size > self.max_bytes:
            return True  # too large to remember: announced, and the journal takes it once
        self._forget(now, size)
        self._seen[key] = (now, size)
        self.held_bytes += size
        return True

    def _forget(self, now: float, adding: int) -> None:
        """Forget the oldest pushes: past the age, or to make room for *adding* bytes."""
        while self._seen:
            first_seen, size = next(iter(self._seen.values()))
            full = len(self._seen) + (adding > 0) > self.size
            fits = not full and self.held_bytes + adding <= self.max_bytes
            if fits and now - first_seen <= self.max_age:
                return
            self._seen.popitem(last=False)
            self.held_bytes -= size
