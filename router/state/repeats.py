"""Pushes a provider sent again: seen recently, so counted and announced once.

Providers push a delivery report or an inbound message again when our answer did not
reach them (a timeout, a restart). The journal already takes each once; this bounded,
in-memory record of recent pushes keeps metrics and event hooks from counting them twice.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

RECENT = 50_000
"""How many pushes are remembered; a repeat of an older one is announced again."""


class RecentPushes:
    """The most recent pushes, oldest forgotten first."""

    def __init__(self, size: int = RECENT) -> None:
        self.size = size
        self._seen: OrderedDict[Hashable, None] = OrderedDict()

    def first_time(self, key: Hashable) -> bool:
        """Whether *key* is new; remembers it either way."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True
