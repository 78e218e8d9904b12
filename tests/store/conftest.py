"""The store every contract test runs against: one of each kind, open and empty."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from router.store import MessageStore, open_store


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.servers)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The ``[store] url`` of an empty store of each kind (PostgreSQL: a database of the
    test's own, asked for only here, so the other kinds run without a server)."""
    if request.param == "memory":
        return "memory:"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[MessageStore]:
    """An open, empty store of each kind."""
    made = open_store(store_url)
    await made.open()
    yield made
    await made.close()
