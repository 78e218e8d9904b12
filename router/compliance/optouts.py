"""The opt-out list: one for every provider, kept in the journal, read from memory.

The journal holds the list (:meth:`~router.store.MessageStore.opt_out`); each Router reads
it once at start and keeps it in memory beside the journal, so checking a recipient costs
no journal read on the way of a send. Every change goes through :class:`OptOutList`, which
writes the journal first, then its memory.

In a fleet (:meth:`OptOutList.share`), each change is told to the other instances too
(topic ``optout``): they put the number in their memory, or take it out, at once, without
writing the journal again; after a lost connection each reads the list from the journal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.clock import Clock
from router.state.fleet import Notices
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
        self.notices: Notices | None = None

    def share(self, notices: Notices | None) -> None:
        """Tell every change to the other instances of a fleet, and hear theirs."""
        if notices is not None and self.notices is None:
            self.notices = notices
            notices.listen("optout", self._heard, self.load)

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
        if self.notices is not None:
            self.notices.tell("optout", {"number": number, "listed": True})
        return added

    async def remove(self, number: str) -> bool:
        """Take E.164 *number* off the list; False when it was not on it."""
        removed = await self.store.opt_in(number)
        self._numbers.discard(number)
        if self.notices is not None:
            self.notices.tell("optout", {"number": number, "listed": False})
        return removed

    async def entries(self, number: str | None = None) -> list[OptOut]:
        """The list as the journal has it (or *number*'s entry), oldest first."""
        return await self.store.optouts(number=number)

    def _heard(self, notice: Mapping[str, Any]) -> None:
        """Another instance changed the list (and journalled it): change this one's memory."""
        number = str(notice["number"])
        if notice["listed"]:
            self._numbers.add(number)
        else:
            self._numbers.discard(number)
