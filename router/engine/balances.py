"""The balance tracker: every provider's balance, polled within its budget, never dying.

Each provider that can report a balance is polled on its ``balance_interval`` with
jitter, concurrently across providers, each poll through the provider's budget (so SMSC's
ten balance calls a minute hold however the polls and sends mix). A failed poll backs off
(doubling from MIN_BACKOFF, never longer than the interval) and the loop goes on, whatever
the provider raised. Between polls, each accepted send lowers the cached balance by its
estimated cost (the provider's own word on its balance wins); a no-credit answer sets it to
zero and asks for an early poll, which waits for its turn in the budget first. A balance
older than ``balance_stale_after`` is unknown to the policies (not zero): the engine drops
it from what they see.

In a fleet the tracker is given the fleet's :class:`~router.state.fleet.BalanceBoard`: each
provider is polled by the one instance whose turn it is (renewed at every beat of a third of
the turn while it waits for its next poll); the others read the poller's figure, and the
time it was read, at each beat instead of polling. Every instance's draws and no-credit
answers go to that figure, and an early poll asked for anywhere wakes the poller.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Mapping
from decimal import Decimal

import attrs

from router.clock import Clock, sleep_or_wake
from router.engine.calls import ProviderCalls
from router.engine.metrics import Metrics
from router.engine.providers import ProviderState
from router.errors import ProviderError
from router.model import Balance
from router.plugins import Events
from router.provider import Operation
from router.state.fleet import BalanceBoard

log = logging.getLogger("smsrouter.balances")

MIN_BACKOFF = 5.0
"""Seconds before the first retry of a failed poll; doubles on each failure."""
JITTER = 0.1
"""A successful poll's next one comes after the interval times 1 +- this, at random."""
GRACE = 5.0
"""Seconds a poll may outlast its budget wait and its provider's two timeouts before it is cut."""


class BalanceTracker:
    """Polls the providers' balances and keeps the balance cached in each one's state.

    Args:
        providers: the providers to track, by configured name (their state and budgets).
        calls: how a provider's balance is read (through its budget, measured).
        metrics: where balances and polls are counted.
        events: the event hooks told of every balance learnt.
        clock: where intervals are measured and slept.
        rng: the source of jitter (tests pass a seeded one).
        board: the fleet's balances, when other instances share them (one polls each).
    """

    def __init__(
        self,
        *,
        providers: Mapping[str, ProviderState],
        calls: ProviderCalls,
        metrics: Metrics,
        events: Events,
        clock: Clock,
        rng: random.Random | None = None,
        board: BalanceBoard | None = None,
    ) -> None:
        self.providers = providers
        self.board = board
        self.polling: set[str] = set()
        """The providers whose turn to poll this instance holds (with a board)."""
        self.calls = calls
        self.metrics = metrics
        self.events = events
        self.clock = clock
        self.rng = rng or random.Random()
        self.failures: dict[str, int] = {}
        """Consecutive failed polls, by provider."""
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def _trackable(self) -> list[ProviderState]:
        return [
            s
            for s in self.providers.values()
            if s.provider.capabilities.balance and s.settings.common.balance_interval > 0
        ]

    @property
    def running(self) -> list[str]:
        """The providers whose polling loop is running."""
        return [name for name, task in self._tasks.items() if not task.done()]

    def start(self) -> None:
        """Start one polling loop per provider that reports a balance (once)."""
        loop = asyncio.get_running_loop()
        if self.board is not None and not self._tasks:
            self.board.on_poll_asked(self._poll_asked)
        for state in self._trackable():
            if state.name in self._tasks:
                continue
            self._wake[state.name] = asyncio.Event()
            self._tasks[state.name] = loop.create_task(
                self._run(state.name), name=f"smsrouter-balance-{state.name}"
            )

    async def stop(self) -> None:
        """Stop every polling loop and wait for them to end."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._wake.clear()
        if self.board is not None:
            for name in sorted(self.polling):
                await self.board.give_up(name)  # another instance polls at once
            self.polling.clear()

    async def refresh(self, name: str) -> Balance:
        """Read *name*'s balance now through its budget; raises what the provider raised.

        A ``Retry-After`` on a failed read defers the provider's budget, as for a send.
        """
        state = self.providers[name]
        common = state.settings.common
        limit = state.settings.limits.wait + common.connect_timeout + common.timeout + GRACE
        try:
            # A balance() that never returns must not hold the budget's slot for ever.
            async with asyncio.timeout(limit):
                read: object = await self.calls.balance(state)
            if not isinstance(read, Balance):
                raise TypeError(f"balance() returned {type(read).__name__}, not a Balance")
        except Exception as exc:
            self.metrics.balance_polls.labels(name, "error").inc()
            if isinstance(exc, ProviderError) and exc.retry_after:
                state.budget.defer(exc.retry_after, Operation.BALANCE)
            raise
        balance = attrs.evolve(read, at=self.clock.time())
        self.metrics.balance_polls.labels(name, "success").inc()
        await self._store(state, balance)
        return balance

    async def poll_once(self, name: str) -> float:
        """One poll of *name*, never raising but for cancellation; the seconds to the next."""
        interval = float(self.providers[name].settings.common.balance_interval)
        try:
            await self.refresh(name)
        except Exception as exc:
            delay = self._failed(name, interval)
            log.warning(
                "provider %r: balance poll failed (%s: %s); next try in %.0fs",
                name,
                type(exc).__name__,
                exc,
                delay,
            )
            return delay
        self.failures[name] = 0
        jitter: float = self.rng.uniform(1 - JITTER, 1 + JITTER)
        return interval * jitter

    def _failed(self, name: str, interval: float) -> float:
        failures = self.failures[name] = self.failures.get(name, 0) + 1
        # The exponent is capped: 2.0 ** 1100 overflows, and the loop must never die.
        return min(interval, MIN_BACKOFF * 2.0 ** min(failures - 1, 32))

    async def _run(self, name: str) -> None:
        budget = self.providers[name].budget
        while True:
            try:
                if not await self._my_turn(name):
                    await self._follow(name)
                    continue
                # An early poll (or one after a Retry-After) waits for the budget to allow
                # it rather than fail: it is our wish, not the provider's failure.
                turn = budget.ready_in(Operation.BALANCE)
                if 0 < turn < math.inf and self.board is not None:
                    await self._sleep_or_wake(name, turn)  # the turn renewed meanwhile
                    continue
                if 0 < turn < math.inf:
                    await self.clock.sleep(turn)
                delay = await self.poll_once(name)
                await self._sleep_or_wake(name, delay)
            except Exception:  # a bug of ours, not the provider's: log it and go on
                log.exception("provider %r: balance loop failed; it goes on", name)
                await self.clock.sleep(MIN_BACKOFF)

    async def _my_turn(self, name: str) -> bool:
        """Whether this instance polls *name* now (always, without a board)."""
        if self.board is None:
            return True
        if await self.board.take_turn(name):
            self.polling.add(name)
            return True
        self.polling.discard(name)
        return False

    async def _follow(self, name: str) -> None:
        """Take the poller's figure for *name*, then wait a beat (or an early poll's wish)."""
        assert self.board is not None
        await self._read_board(name)
        await self._nap(name, self.board.turn / 3)

    async def _read_board(self, name: str) -> None:
        """Take the fleet's figure for *name*: the last poll less every instance's draws."""
        assert self.board is not None
        state = self.providers[name]
        found, mine = await self.board.read(name), state.balance
        if found is None or found == mine or (mine is not None and found.at < mine.at):
            return  # nothing new, or older than what this instance read (not written yet)
        state.balance = found
        polled = mine is None or found.at != mine.at
        self.metrics.set_balance(name, found, messages(state, found), read=polled)

    async def _sleep_or_wake(self, name: str, delay: float) -> None:
        """Wait *delay* for the next poll; with a board, renew the turn at every beat."""
        if self.board is None:
            await self._nap(name, delay)
            return
        end = self.clock.time() + delay
        while (left := end - self.clock.time()) > 0:
            if await self._nap(name, min(left, self.board.turn / 3)):
                return
            if not await self._my_turn(name):
                return  # the turn was lost (Redis was away): another instance polls
            await self._read_board(name)  # the other instances' draws

    async def _nap(self, name: str, delay: float) -> bool:
        """Wait *delay*, or less when a poll is asked for; whether it was asked for."""
        wake = self._wake[name]
        if wake.is_set():  # asked for while the last poll was under way
            wake.clear()
            return True
        try:
            await sleep_or_wake(self.clock, wake, delay)
            return wake.is_set()
        finally:
            wake.clear()

    def poll_soon(self, name: str) -> None:
        """Ask *name*'s loop for a poll now instead of at the end of its interval (and, in a
        fleet, the poller's, wherever it runs)."""
        self._poll_asked(name)
        if self.board is not None and name not in self.polling:
            self.board.ask_poll(name)

    def _poll_asked(self, name: str) -> None:
        wake = self._wake.get(name)
        if wake is not None:
            wake.set()

    def spent(
        self, name: str, segments: int, cost: Decimal | None, balance_after: Decimal | None
    ) -> None:
        """Lower the cached balance after an accepted send (or take the provider's word).

        A balance in credits pays one credit per segment; one in money pays *cost* when it
        is in the provider's currency (else the next poll corrects it). An estimate keeps
        the time of the last read, so it goes stale as that read does.
        """
        state = self.providers[name]
        current = state.balance
        if balance_after is not None:
            unit = current.unit if current is not None else state.settings.common.currency
            self._set(state, Balance(balance_after, unit, self.clock.time()), notify=True)
            return
        if current is None:
            return
        if current.is_credits:
            drawn: Decimal | None = Decimal(segments)
        elif current.unit == state.settings.common.currency:
            drawn = cost
        else:
            drawn = None
        if drawn is None:
            return
        left = current.amount - drawn
        if current.amount >= 0 > left:
            left = Decimal(0)  # an estimate: the provider says what happens past zero
        self._set(state, attrs.evolve(current, amount=left), drawn=drawn)

    def exhausted(self, name: str) -> None:
        """The provider said there is no credit: zero, and poll early (within budget)."""
        state = self.providers[name]
        unit = state.balance.unit if state.balance is not None else state.settings.common.currency
        self._set(state, Balance(Decimal(0), unit, self.clock.time()), notify=True)
        self.poll_soon(name)

    def _set(
        self,
        state: ProviderState,
        balance: Balance,
        *,
        notify: bool = False,
        drawn: Decimal | None = None,
    ) -> None:
        """Set an estimate, or (*notify*) the provider's word; *drawn*: what a send took."""
        state.balance = balance
        self.metrics.set_balance(state.name, balance, messages(state, balance), read=False)
        if self.board is not None and drawn is not None:
            self.board.draw(state.name, drawn, balance.unit)
        elif self.board is not None and notify:
            self.board.post(state.name, balance)
        if notify:
            self.events.soon(self.events.balance_updated(state.name, balance))

    async def _store(self, state: ProviderState, balance: Balance) -> None:
        state.balance = balance
        if self.board is not None:
            self.board.post(state.name, balance)
        self.metrics.set_balance(state.name, balance, messages(state, balance))
        await self.events.balance_updated(state.name, balance)


def messages(state: ProviderState, balance: Balance) -> Decimal | None:
    """How many one-segment messages *balance* pays for, at the worst: what alerts watch.

    A credit pays one segment; money pays the dearest of the provider's prices, when the
    balance is in the currency they are in (else None: the rate between them is the
    policies' business, and a guess would make the alert lie).
    """
    if balance.amount <= 0:
        return Decimal(0)
    if balance.is_credits:
        return balance.amount
    prices = state.settings.common.prices
    dearest = max(prices.values(), default=None)
    if dearest is None or dearest <= 0 or balance.unit != state.settings.common.currency:
        return None
    return balance.amount / dearest
