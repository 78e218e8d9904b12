"""The message journal: every message, attempt, delivery report and inbound message.

:class:`MessageStore` is the contract the engine writes through; a memory store is the
library's default and SQLite the daemon's. A shared backend for several router instances
fits the same contract without touching the engine.
"""

from __future__ import annotations

from router.store.base import (
    InboundRecord,
    MessageRecord,
    MessageState,
    MessageStore,
    RecipientRecord,
    open_store,
)
from router.store.memory import MemoryStore
from router.store.sqlite import SQLiteStore

__all__ = [
    "InboundRecord",
    "MemoryStore",
    "MessageRecord",
    "MessageState",
    "MessageStore",
    "RecipientRecord",
    "SQLiteStore",
    "open_store",
]
