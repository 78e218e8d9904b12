"""How a journal writer lives through a failing disk: errors mapped, sent messages' writes kept.

A full disk, an I/O error or a lock held too long is the journal failing, not the request:
:func:`journal_error` turns SQLite's error for it into a :class:`~router.errors.StoreError`
(a constraint broken or bad SQL is a bug in the write and stays what SQLite raised).

A write about a message that may already be at a provider (an attempt starting or ending,
the result) must not fail its caller: the message went out, and an error would make the
client send it again. The writer keeps such a write in the :class:`Backlog` instead and
tells its caller it is done; the backlog retries its writes in order, with a growing but
bounded delay, and at once after any other write commits (the disk has room again), and
lands them all before the writer closes. While a message has writes kept, reading it is
refused (the journal would answer with an old state); while the backlog is at its bound,
so is a new message. The backlog says once when the journal starts failing and once when it
works again, not once per write.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter
from typing import Generic, TypeVar

from router.errors import StoreError

log = logging.getLogger("smsrouter.store")

RETRY_FIRST = 0.1
"""Seconds before the first retry of kept writes; each failed retry doubles it."""
RETRY_MAX = 5.0
"""The longest wait between two retries of kept writes, in seconds."""
MAX_KEPT = 10_000
"""Kept writes beyond which a new message is refused, so the backlog stays bounded."""

_REQUEST_ERRORS = (
    sqlite3.IntegrityError,
    sqlite3.ProgrammingError,
    sqlite3.InterfaceError,
    sqlite3.DataError,
    sqlite3.NotSupportedError,
)
"""SQLite errors about the write itself (a bug), not about the journal's health."""


def journal_error(exc: BaseException, journal: str) -> BaseException:
    """What a caller of *journal* gets for *exc*: a StoreError when the journal failed."""
    if isinstance(exc, sqlite3.Error) and not isinstance(exc, _REQUEST_ERRORS):
        error = StoreError(journal, str(exc))
        error.__cause__ = exc
        return error
    return exc


J = TypeVar("J")


class Backlog(Generic[J]):
    """The writes kept while the journal fails, oldest first, and whether it is failing.

    Used by the writer thread; :meth:`holds` and :meth:`check_room` are asked from the
    event loop, so every access takes a lock.

    Args:
        journal: the journal's name, for errors and log lines.

    Attributes:
        retry_first: seconds before the first retry (tests shorten it).
        retry_max: the longest wait between retries.
        limit: kept writes beyond which a new message is refused.
    """

    def __init__(self, journal: str) -> None:
        self.journal = journal
        self.retry_first = RETRY_FIRST
        self.retry_max = RETRY_MAX
        self.limit = MAX_KEPT
        self.failing = False
        """Whether the journal's last write failed (said once per change in the log)."""
        self._jobs: list[tuple[str, J]] = []
        self._keys: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._delay = RETRY_FIRST
        self._retry_at = 0.0
        self._landed = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)

    def holds(self, key: str) -> bool:
        """Whether writes about *key* (a message id) are kept, waiting to land."""
        with self._lock:
            return key in self._keys

    def check_room(self) -> None:
        """Refuse new work while the backlog is at its bound.

        Raises:
            StoreError: the backlog holds :attr:`limit` writes or more.
        """
        kept = len(self)
        if kept >= self.limit:
            raise StoreError(self.journal, f"{kept} writes are waiting for the journal")

    def keep(self, key: str, job: J) -> None:
        """Keep *job*, a write about *key*, behind those kept before it."""
        with self._lock:
            self._jobs.append((key, job))
            self._keys[key] += 1

    def take(self) -> list[J]:
        """Every kept write, oldest first, for a retry (those that fail again are kept again)."""
        with self._lock:
            jobs = [job for _, job in self._jobs]
            self._jobs.clear()
            self._keys.clear()
        return jobs

    def wait(self) -> float | None:
        """Seconds until the kept writes are due for a retry; None when none are kept."""
        with self._lock:
            if not self._jobs:
                return None
            return max(0.0, self._retry_at - time.monotonic())

    def due(self) -> bool:
        """Whether kept writes are due for a retry now."""
        return self.wait() == 0.0

    def failed(self, error: StoreError) -> None:
        """The journal failed a write: put the next retry off, and say so if it is news."""
        with self._lock:
            if not self.failing:
                self._delay = self.retry_first
            self._retry_at = time.monotonic() + self._delay
            self._delay = min(self._delay * 2, self.retry_max)
            news, self.failing = not self.failing, True
        if news:
            log.warning(
                "%s: the journal is failing (%s); what it cannot commit is refused, and the "
                "writes of messages already sent are kept and retried",
                self.journal,
                error.reason,
            )

    def landed(self) -> None:
        """A kept write was committed at last."""
        self._landed += 1

    def lost(self, key: str, error: BaseException) -> None:
        """A kept write failed for a reason no retry mends: it is given up."""
        log.error("%s: a kept write about %s failed and is given up: %s", self.journal, key, error)

    def wrote(self) -> None:
        """A transaction that wrote was committed: retry kept writes now, or say recovered."""
        with self._lock:
            self._delay = self.retry_first
            if self._jobs:
                self._retry_at = 0.0
                return
            news, self.failing = self.failing, False
            landed, self._landed = self._landed, 0
        if news:
            log.warning("%s: the journal works again (%d kept writes landed)", self.journal, landed)

    def abandon(self) -> None:
        """The writer closes with writes still kept: drop them, saying how many are lost."""
        kept = len(self.take())
        if kept:
            log.error(
                "%s: closing with %d kept writes the journal could not take: they are lost",
                self.journal,
                kept,
            )
