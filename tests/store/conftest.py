"""The store every contract test runs against: one of each kind, open and empty."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from router.store import MemoryStore, MessageStore, SQLiteStore


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MessageStore]:
    """An open, empty store of each kind."""
    made: MessageStore = (
        MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "journal.db")
    )
    await made.open()
    yield made
    await made.close()
