"""Which message ids a task of this Router is sending now: one id, one sending task.

A claim is taken synchronously, in the same step as the check that nobody holds it, so no
other request can slip in at an await between the two; a duplicate waits for its release.
"""

from __future__ import annotations

import asyncio


class Claims:
    """The message ids being sent now, each with the event set when its send ends."""

    def __init__(self) -> None:
        self._held: dict[str, asyncio.Event] = {}

    def holder(self, message_id: str) -> asyncio.Event | None:
        """The event of the send holding *message_id*, or None when none does."""
        return self._held.get(message_id)

    def take(self, message_id: str) -> asyncio.Event | None:
        """Claim *message_id* for the calling task; None if another task holds it."""
        if message_id in self._held:
            return None
        done = self._held[message_id] = asyncio.Event()
        return done

    def release(self, message_id: str, done: asyncio.Event) -> None:
        """Give up a claim :meth:`take` gave, waking whoever waits for it."""
        done.set()
        if self._held.get(message_id) is done:
            del self._held[message_id]

    async def wait_and_take(self, message_id: str) -> asyncio.Event:
        """Claim *message_id* once no other task holds it, waiting for each holder's end."""
        while True:
            under_way = self.holder(message_id)
            if under_way is not None:
                await under_way.wait()
                continue
            done = self.take(message_id)
            if done is not None:
                return done
