"""Balances shared by a fleet: one instance polls each provider, the others read its figure.

Each provider's balance is a hash ``PREFIX:balance:NAME``: the amount and unit the poller
last read, the time it read it (``at``), and ``drawn``, what every instance's sends took
since, in millionths of the unit (an integer, so estimates add up exactly). A read gives
the amount less what was drawn: the same figure on every instance, aged as the poll is. A
poll (or the provider's own word after a send) replaces the amount and clears ``drawn``.

The poller holds the lease ``PREFIX:balance-turn:NAME`` (see
:mod:`router.state.shared.leases`) for :attr:`RedisBalanceBoard.turn` seconds and renews
it while it runs; when it stops, or dies and its lease lapses, another instance takes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.model import Balance
from router.state.fleet import BalanceBoard
from router.state.shared.channel import Channel, WeakCallable, as_text
from router.state.shared.leases import RELEASE, TAKE
from router.state.shared.problems import Problems

__all__ = ["MILLIONTHS", "RedisBalanceBoard"]

log = logging.getLogger("smsrouter.balances")

MILLIONTHS = Decimal(1_000_000)
"""What one unit of a balance is drawn in: amounts finer than this are rounded."""

# KEYS: the balance. ARGV: the unit, the millionths drawn.
_DRAW = """
if redis.call('HGET', KEYS[1], 'unit') == ARGV[1] then
  return redis.call('HINCRBY', KEYS[1], 'drawn', ARGV[2])
end
return false
"""


class RedisBalanceBoard(BalanceBoard):
    """The fleet's balances in Redis (see the module docstring).

    Args:
        client: gives the connection pool.
        key: makes a key under the fleet's prefix.
        channel: the fleet's channel: draws are written through it, polls asked on it.
        problems: where a failure to reach Redis is said.
        origin: this instance's id, the owner of its turns.
        turn: seconds a poller's turn lasts unless renewed.
    """

    def __init__(
        self,
        client: Callable[[], aioredis.Redis],
        key: Callable[..., str],
        channel: Channel,
        problems: Problems,
        origin: str,
        turn: float = BalanceBoard.turn,
    ) -> None:
        self.client = client
        self.key = key
        self.channel = channel
        self.problems = problems
        self.origin = origin
        self.turn = turn
        self._asked: list[WeakCallable] = []
        channel.listen("balance-poll", self._poll_asked)

    async def take_turn(self, provider: str) -> bool:
        try:
            left = await self.client().eval(
                TAKE, 1, self.key("balance-turn", provider), self.origin, int(self.turn * 1000)
            )
        except (RedisError, OSError) as exc:
            self.problems.fail("balance turns", exc)
            return False
        self.problems.ok("balance turns")
        return int(left) == -1

    async def give_up(self, provider: str) -> None:
        try:
            await self.client().eval(RELEASE, 1, self.key("balance-turn", provider), self.origin)
        except (RedisError, OSError) as exc:
            log.warning("provider %r: the balance turn was not given up (%s)", provider, exc)
            return
        self.ask_poll(provider)  # wakes the others: one takes the turn now

    def post(self, provider: str, balance: Balance) -> None:
        fields = ["amount", str(balance.amount), "unit", balance.unit, "at", repr(balance.at)]
        key = self.key("balance", provider)
        self.channel.write(lambda client: client.hset(key, items=[*fields, "drawn", "0"]))

    async def read(self, provider: str) -> Balance | None:
        try:
            found = await self.client().hgetall(self.key("balance", provider))
        except (RedisError, OSError) as exc:
            self.problems.fail("balances", exc)
            return None
        self.problems.ok("balances")
        if not found:
            return None
        try:
            return _balance({as_text(k): as_text(v) for k, v in found.items()})
        except (KeyError, ValueError, InvalidOperation) as exc:
            log.warning("provider %r: the fleet's balance is not readable (%s)", provider, exc)
            return None

    def draw(self, provider: str, amount: Decimal, unit: str) -> None:
        drawn = int((amount * MILLIONTHS).to_integral_value(ROUND_HALF_UP))
        if drawn == 0:
            return
        key = self.key("balance", provider)
        self.channel.write(lambda client: client.eval(_DRAW, 1, key, unit, drawn))

    def ask_poll(self, provider: str) -> None:
        self.channel.tell("balance-poll", {"provider": provider})

    def on_poll_asked(self, listener: Callable[[str], None]) -> None:
        self._asked.append(WeakCallable(listener))

    def _poll_asked(self, notice: Mapping[str, Any]) -> None:
        provider = str(notice["provider"])
        for ref in list(self._asked):
            fn = ref()
            if fn is None:
                self._asked.remove(ref)
            else:
                fn(provider)


def _balance(found: dict[str, str]) -> Balance:
    amount = Decimal(found["amount"])
    left = amount - Decimal(found.get("drawn", "0")) / MILLIONTHS
    if amount >= 0 > left:
        left = Decimal(0)  # an estimate: the provider says what happens past zero
    return Balance(left, found["unit"], float(found["at"]))
