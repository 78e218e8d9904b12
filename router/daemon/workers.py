"""The daemon's send workers: journalled messages sent in the background, and every send
under way counted, so a shutdown waits for them.

A message the API took with ``"wait": false`` (or an ingress took) is queued here by id; a
bounded pool of workers sends each through the Router in force (a reload swaps it). From
a journal of this daemon's own, the messages a crash left unfinished are queued at start.
From a journal other instances share, the workers take up what no instance holds, as
leases expire or instances give work up, while they have room; at shutdown, what is still
queued is given up to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

from router.config import Config
from router.engine import Router
from router.errors import NoRouteError, StoreError
from router.store import MessageState, MessageStore

log = logging.getLogger("smsrouter.server")


class SendWorkers:
    """The queue of journalled messages to send, its workers, and the count of sends under way.

    Args:
        store: the daemon's journal.
        router: gives the Router in force.
    """

    def __init__(self, store: MessageStore, router: Callable[[], Router]) -> None:
        self.store = store
        self._router = router
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.busy = 0
        """Sends under way (API requests and workers)."""
        self._idle = asyncio.Event()
        self._idle.set()
        self.stopping = False

    def put(self, message_id: str) -> None:
        """Queue a journalled message to be sent."""
        self.queue.put_nowait(message_id)

    async def start(self, config: Config) -> None:
        """Start ``[server] workers`` workers and queue the unfinished work this daemon has."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._work()) for _ in range(config.server.workers)]
        if self.store.shared:
            self._tasks.append(loop.create_task(self._claim(config)))
            return
        for record in await self.store.unfinished():
            if record.state is not MessageState.HELD:  # held ones are the scheduler's
                self.put(record.id)
        if not self.queue.empty():
            log.info("resuming %d unfinished messages from the journal", self.queue.qsize())

    async def stop(self, timeout: float) -> None:
        """Let the sends under way finish (for *timeout* seconds at most), then stop the
        workers; in a shared journal, give up the queued messages not started."""
        self.stopping = True
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            log.warning("%d sends still under way at shutdown; the journal resumes them", self.busy)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.store.shared and not self.queue.empty():
            unsent = [self.queue.get_nowait() for _ in range(self.queue.qsize())]
            with contextlib.suppress(StoreError):  # else their leases run out
                await self.store.release(unsent)

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """Count a send under way, so shutdown can wait for it."""
        self.busy += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.busy -= 1
            if not self.busy:
                self._idle.set()

    async def _work(self) -> None:
        while not self.stopping:
            message_id = await self.queue.get()
            with self.sending():
                router = self._router()
                try:
                    if await router.send_accepted(message_id) is None:  # not read back
                        record = await self.store.get(message_id)
                        if record is not None and record.state is not MessageState.DONE:
                            await router.resume(record)
                except NoRouteError:
                    pass  # journalled as failed, with every reason
                except StoreError as exc:  # the journal said it is failing (once): try later
                    self._retry_later(message_id, exc.retry_after)
                except Exception:
                    log.exception("sending journalled message %s failed", message_id)

    def _retry_later(self, message_id: str, delay: float) -> None:
        """Queue a journalled message again after *delay*, as the journal could not serve it."""

        def again() -> None:
            if not self.stopping:
                self.put(message_id)

        asyncio.get_running_loop().call_later(delay, again)

    async def _claim(self, config: Config) -> None:
        """Take up the shared journal's work that no instance holds while workers have room:
        at once when another instance gives work up, else every third of a lease."""
        workers, idle = config.server.workers, config.store.lease / 3
        while not self.stopping:
            try:
                room = workers - self.busy - self.queue.qsize()
                claimed = await self.store.claim(room) if room > 0 else []
                for record in claimed:
                    self.put(record.id)
                if claimed:
                    log.info("took up %d messages no instance holds", len(claimed))
                else:
                    await self.store.wait_for_work(idle)
            except StoreError as exc:
                await asyncio.sleep(exc.retry_after)
