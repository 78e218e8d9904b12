"""The message journal: every message, attempt, delivery report and inbound message.

:class:`MessageStore` is the contract the engine writes through; a memory store is the
library's default and SQLite the daemon's. A shared backend for several router instances
fits the same contract without touching the engine. :func:`open_store` picks one from a
``[store] url``.
"""

from __future__ import annotations

from router.errors import ConfigError
from router.store.base import (
    CallRecord,
    HoldRecord,
    InboundRecord,
    MessageRecord,
    MessageState,
    MessageStore,
    OptOut,
    RecentCalls,
    RecipientRecord,
    ReportMatch,
)
from router.store.deliveries import (
    DeliveryFigures,
    DeliverySample,
    QualityState,
    QualityWeight,
)
from router.store.memory import MemoryStore
from router.store.sqlite import Durability, SQLiteStore

__all__ = [
    "CallRecord",
    "DeliveryFigures",
    "DeliverySample",
    "Durability",
    "HoldRecord",
    "InboundRecord",
    "MemoryStore",
    "MessageRecord",
    "MessageState",
    "MessageStore",
    "OptOut",
    "QualityState",
    "QualityWeight",
    "RecentCalls",
    "RecipientRecord",
    "ReportMatch",
    "SQLiteStore",
    "open_store",
]


def open_store(url: str, durability: Durability = "power") -> MessageStore:
    """The store a ``[store] url`` names: ``memory:`` or ``sqlite:///path/to/file.db``.

    ``sqlite:///journal.db`` is relative to the working directory and
    ``sqlite:////var/lib/smsrouter/journal.db`` absolute. *durability* is what a SQLite
    commit survives (``[store] durability``: ``power`` or ``process``).
    """
    if url == "memory:":
        return MemoryStore()
    if url.startswith("sqlite:///"):
        return SQLiteStore(url.removeprefix("sqlite:///"), durability=durability)
    raise ConfigError([f"store.url: unknown store {url!r} (memory: or sqlite:///path)"])
