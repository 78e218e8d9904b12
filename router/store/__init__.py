"""The message journal: every message, attempt, delivery report and inbound message.

:class:`MessageStore` is the contract the engine writes through; a memory store is the
library's default and SQLite the daemon's; PostgreSQL (:mod:`router.store.postgres`) is
shared by the instances of a fleet, behind the same contract. :func:`open_store` picks one from a
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


def open_store(
    url: str, durability: Durability = "power", *, lease: float = 30.0, owner: str | None = None
) -> MessageStore:
    """The store a ``[store] url`` names: ``memory:``, ``sqlite:///path/to/file.db`` or
    ``postgresql://user:password@host:port/database`` (``postgres://`` too).

    ``sqlite:///journal.db`` is relative to the working directory and
    ``sqlite:////var/lib/smsrouter/journal.db`` absolute. *durability* is what a SQLite
    commit survives (``[store] durability``: ``power`` or ``process``). On PostgreSQL,
    *lease* is how long this instance's lease on a message lasts unrenewed (``[store]
    lease``) and *owner* its name in the leases (by default its host, process id and a
    random part).

    Raises:
        ConfigError: an unknown kind of store, or PostgreSQL without the fleet extra.
    """
    if url == "memory:":
        return MemoryStore()
    if url.startswith("sqlite:///"):
        return SQLiteStore(url.removeprefix("sqlite:///"), durability=durability)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from router.store.postgres import PostgresStore  # the fleet extra: asyncpg
        except ImportError as exc:
            raise ConfigError(
                [
                    "store.url: a PostgreSQL journal needs the fleet extra"
                    f" (pip install 'smsrouter[fleet]'): {exc}"
                ]
            ) from None
        return PostgresStore(url, lease=lease, owner=owner)
    shown = url.split("://", 1)[0] + "://..." if "://" in url else url
    raise ConfigError(
        [f"store.url: unknown store {shown!r} (memory:, sqlite:///path or postgresql://...)"]
    )
