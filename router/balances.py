"""The balance tracker: every provider's balance, polled within its budget, never dying.

Each provider that can report a balance is polled on its ``balance_interval`` with
jitter, concurrently across providers, each poll through the provider's budget (so SMSC's
ten balance calls a minute hold however the polls and sends mix). A failed poll backs off
and the loop goes on. Between polls, each accepted send lowers the cached balance by its
estimated cost; a no-credit answer sets it to zero and asks for an early poll. A balance
older than ``balance_stale_after`` is unknown to the policies (not zero).
"""

from __future__ import annotations

import asyncio
import logging
import random
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

from router.clock import Clock
from router.model import Balance
from router.provider import Operation

if TYPE_CHECKING:
    from router.engine import ProviderState, Router

log = logging.getLogger("smsrouter.balances")

MIN_BACKOFF = 5.0
"""Seconds before the first retry of a failed poll; doubles on each failure."""


class BalanceTracker:
    """Polls balances for a Router and keeps its providers' cached balances."""

    def __init__(self, router: Router, clock: Clock, rng: random.Random | None = None) -> None:
        self.router = router
        self.clock = clock
        self.rng = rng or random.Random()
        self.failures: dict[str, int] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def _trackable(self) -> list[ProviderState]:
        return [
            s
            for s in self.router.providers.values()
            if s.provider.capabilities.balance and s.settings.common.balance_interval > 0
        ]

    def start(self) -> None:
        """Start one polling loop per provider that reports a balance."""
        for state in self._trackable():
            self._wake[state.name] = asyncio.Event()
            self._tasks.append(asyncio.get_running_loop().create_task(self._run(state.name)))

    async def stop(self) -> None:
        """Stop every polling loop."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def refresh(self, name: str) -> Balance:
        """Read *name*'s balance now through its budget; raises the provider's error."""
        router = self.router
        state = router.providers[name]
        try:
            balance: Balance = await router._call(state, Operation.BALANCE, state.provider.balance)
        except Exception:
            router.metrics.balance_polls.labels(name, "error").inc()
            raise
        now = self.clock.time()
        balance = attrs.evolve(balance, at=now)
        router.metrics.balance_polls.labels(name, "success").inc()
        await self._store(state, balance)
        return balance

    async def poll_once(self, name: str) -> float:
        """One poll of *name*, never raising; returns the seconds until the next one."""
        interval = float(self.router.providers[name].settings.common.balance_interval)
        try:
            await self.refresh(name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures = self.failures[name] = self.failures.get(name, 0) + 1
            delay = min(interval, MIN_BACKOFF * 2.0 ** (failures - 1))
            log.warning(
                "provider %r: balance poll failed (%s); next try in %.0fs", name, exc, delay
            )
            return delay
        self.failures[name] = 0
        jitter: float = self.rng.uniform(0.9, 1.1)
        return interval * jitter

    async def _run(self, name: str) -> None:
        while True:
            delay = await self.poll_once(name)
            await self._sleep_or_wake(name, delay)

    async def _sleep_or_wake(self, name: str, delay: float) -> None:
        wake = self._wake[name]
        sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        waker = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
            wake.clear()

    def spent(
        self, name: str, segments: int, cost: Decimal | None, balance_after: Decimal | None
    ) -> None:
        """Lower the cached balance after an accepted send (or take the provider's word)."""
        state = self.router.providers[name]
        current = state.balance
        if balance_after is not None:
            unit = current.unit if current is not None else state.settings.common.currency
            self._set(state, Balance(balance_after, unit, self.clock.time()))
            return
        if current is None:
            return
        drawn = Decimal(segments) if current.is_credits else cost
        if drawn is not None:
            self._set(state, attrs.evolve(current, amount=current.amount - drawn))

    def exhausted(self, name: str) -> None:
        """The provider said there is no credit: zero, and poll early (within budget)."""
        state = self.router.providers[name]
        unit = state.balance.unit if state.balance is not None else state.settings.common.currency
        self._set(state, Balance(Decimal(0), unit, self.clock.time()))
        wake = self._wake.get(name)
        if wake is not None:
            wake.set()

    def _set(self, state: ProviderState, balance: Balance) -> None:
        state.balance = balance
        self.router.metrics.balance.labels(state.name).set(float(balance.amount))

    async def _store(self, state: ProviderState, balance: Balance) -> None:
        state.balance = balance
        self.router.metrics.set_balance(state.name, balance.amount, balance.at)
        await self.router.plugins.notify(
            "smsrouter_balance_updated", provider=state.name, balance=balance
        )
