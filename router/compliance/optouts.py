"""The opt-out list: one for every provider, kept in the journal, read from memory.

The journal holds the list (:meth:`~router.store.MessageStore.opt_out`); each Router reads
it once at start and keeps it in memory beside the journal, so checking a recipient costs
no journal read on the way of a send. Every change goes through :class:`OptOutList`, which
writes the journal first, then its memory.
"""

from __future__ import annotations

from router.clock import Clock
from router.store import MessageStore, OptOut

__all__ = ["OptOutList"]


class OptOutList:
    """The numbers no provider may send to, in the journal and in memory.

    Args:
        store: the journal that keeps the list.
        clock: the time an entry is stamped with.
    """

    def __init__(self, store: MessageStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._numbers: set[str] = set()

    async def load(self) -> None:
        """Read the list from the journal (at start, and when another process changed it)."""
        self._numbers = {entry.number for entry in await self.store.optouts()}

    def __contains__(self, number: str) -> bool:
        return number in self._numbers

    def __len__(self) -> int:
        return len(self._numbers)

    async def add(self, number: str, *, provider: str | None = None, source: str = "api") -> bool:
        """Put E.164 *number* on the list; False when it was on it already."""
        entry = OptOut(number, self.clock.time(), provider, source)
        added = await self.store.opt_out(entry)
        self._numbers.add(number)
        return added

    async def remove(self, number: str) -> bool:
        """Take E.164 *number* off the list; False when it was not on it."""
        removed = await self.store.opt_in(number)
        self._numbers.discard(number)
        return removed

    async def entries(self, number: str | None = None) -> list[OptOut]:
        """The list as the journal has it (or *number*'s entry), oldest first."""
        return await self.store.optouts(number=number)
