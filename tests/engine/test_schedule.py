"""The scheduler's loop while the journal fails: held messages stay held, no traceback."""

from __future__ import annotations

import asyncio
import logging
import types
from collections.abc import Callable
from typing import Any, cast

import pytest

from router.engine.schedule import RETRY_AFTER, Scheduler
from router.errors import StoreError
from router.store import MessageState, MessageStore
from router.testing import FakeClock


class HeldJournal:
    """The three reads the scheduler makes, of one held message due at *due*."""

    def __init__(self, due: float) -> None:
        self.due = due
        self.failing = True
        self.reads = 0

    def _read(self) -> None:
        self.reads += 1
        if self.failing:
            raise StoreError("HeldJournal", "database or disk is full")

    async def held_due(self, now: float, limit: int = 64) -> list[str]:
        self._read()
        return ["m-1"] if self.due <= now else []

    async def next_held(self) -> float | None:
        self._read()
        return self.due

    async def get(self, message_id: str) -> Any:
        self._read()
        return types.SimpleNamespace(state=MessageState.HELD)


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until *condition* holds; fail, rather than hang, if it never does."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the scheduler never got there")


def sleeps_again(clock: FakeClock) -> Callable[[], bool]:
    """Whether *clock* has been slept on since now."""
    count = len(clock.slept)
    return lambda: len(clock.slept) > count


async def test_a_failing_journal_is_retried_quietly_and_the_held_message_goes_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(autojump=False)
    journal = HeldJournal(due=clock.time())
    sent: list[object] = []

    async def dispatch(record: object) -> None:
        sent.append(record)

    scheduler = Scheduler(cast(MessageStore, journal), clock, dispatch)
    caplog.set_level(logging.DEBUG, logger="smsrouter.schedule")
    scheduler.start()
    try:
        for _ in range(3):  # three rounds against a failing journal, each ending in a sleep
            await until(sleeps_again(clock))
            assert clock.slept[-1] == RETRY_AFTER
            clock.advance(RETRY_AFTER)
        assert journal.reads >= 3
        assert sent == []
        journal.failing = False
        for _ in range(3):  # the next round sends it
            if sent:
                break
            sleeps = sleeps_again(clock)
            await until(lambda: sleeps() or bool(sent))  # noqa: B023 (awaited at once)
            clock.advance(RETRY_AFTER)
    finally:
        await scheduler.stop()
    assert len(sent) == 1
    # The store says once that it is failing; the scheduler adds nothing each round.
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]
