"""Live state: what a Router knows now about each provider account, beside the journal.

One budget per provider account (concurrency, per-operation rates, Retry-After), one
circuit breaker per provider and one per provider and destination country, and the recent
pushes that must be announced once. The
engine reaches them only through the :class:`LiveState` contract, so a state shared by
several router instances plugs in without touching it; :class:`MemoryState` keeps them
in this process (the default of the library and of a single daemon).
"""

from router.state.base import LiveState, MemoryState
from router.state.countries import CountryBreakers, CountryListener, account_signal
from router.state.health import Breaker, BreakerSettings, BreakerState, StateListener
from router.state.limits import MAX_DEFER, Budget, BudgetListener
from router.state.repeats import Pushes, RecentPushes

__all__ = [
    "MAX_DEFER",
    "Breaker",
    "BreakerSettings",
    "BreakerState",
    "Budget",
    "BudgetListener",
    "CountryBreakers",
    "CountryListener",
    "LiveState",
    "MemoryState",
    "Pushes",
    "RecentPushes",
    "StateListener",
    "account_signal",
]
