"""What the instances of a fleet tell each other, beside the budgets and breakers they share.

Two contracts, implemented by a shared live state (:mod:`router.state.shared`) and absent
from this process's (:meth:`~router.state.LiveState.notices` and
:meth:`~router.state.LiveState.balance_board` give None there, and the engine works alone):

* :class:`Notices`: an operator's word on a provider, an opt-out, an early balance poll
  asked for: told by one instance, heard by every other one, in the order told;
* :class:`BalanceBoard`: each provider's balance, polled by one instance at a time (the one
  whose turn it is) and read by the others, lowered by every instance's sends.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from router.model import Balance

__all__ = ["BalanceBoard", "Listener", "Notices", "Resync"]

Listener = Callable[[Mapping[str, Any]], None]
"""Hears a notice another instance told: its JSON object."""
Resync = Callable[[], Any]
"""Called after notices may have been missed (the connection was lost): reread what the
journal holds. It may return an awaitable, which is awaited."""


class Notices(abc.ABC):
    """Notices between the instances of a fleet, by topic (``admin``, ``optout``)."""

    @abc.abstractmethod
    def tell(self, topic: str, notice: Mapping[str, Any]) -> None:
        """Tell every other instance *notice* (a JSON object), in order; never waits.

        A notice that cannot be told now is told when the connection is back.
        """

    @abc.abstractmethod
    def listen(self, topic: str, listener: Listener, resync: Resync | None = None) -> None:
        """Have *listener* hear the notices on *topic* other instances tell.

        *resync* is called whenever notices may have been missed. Both are held weakly when
        they are bound methods: they stop with the object they belong to.
        """


class BalanceBoard(abc.ABC):
    """Each provider's balance as the fleet knows it: one poller per provider at a time.

    The poller holds a turn that lasts :attr:`turn` seconds unless renewed: it renews it
    while it lives, and another instance takes it when it lapses.
    """

    turn: float = 15.0
    """Seconds a poller's turn lasts unless renewed."""

    @abc.abstractmethod
    async def take_turn(self, provider: str) -> bool:
        """Whether this instance polls *provider* now: its turn is renewed, or a free one
        taken. False when the board cannot be reached (no instance should poll blind)."""

    @abc.abstractmethod
    async def give_up(self, provider: str) -> None:
        """End this instance's turn at *provider* (it stops), so another takes it at once."""

    @abc.abstractmethod
    def post(self, provider: str, balance: Balance) -> None:
        """*balance* was just read (or the provider said it after a send): the fleet's from
        now on, what was drawn before forgotten. Never waits; written in order with draws."""

    @abc.abstractmethod
    async def read(self, provider: str) -> Balance | None:
        """The balance last posted less what was drawn since, at the time it was read."""

    @abc.abstractmethod
    def draw(self, provider: str, amount: Decimal, unit: str) -> None:
        """Lower the posted balance by *amount* of *unit* (a send's estimate); never waits.

        Nothing is drawn from a balance in another unit: the next poll corrects it.
        """

    @abc.abstractmethod
    def ask_poll(self, provider: str) -> None:
        """Ask *provider*'s poller, wherever it runs, for an early poll; never waits."""

    @abc.abstractmethod
    def on_poll_asked(self, listener: Callable[[str], None]) -> None:
        """Have *listener* hear the provider of every early poll asked for (held weakly when
        a bound method)."""
