"""The engine: the Router and the parts it is composed of.

:class:`Router` is the composition root; the parts it wires are each a class with
explicit dependencies, testable alone: :mod:`~router.engine.prepare` (checking a
message), :mod:`~router.engine.decide` (asking the policies), :mod:`~router.engine.send`
(the send loop), :mod:`~router.engine.calls` (every adapter call),
:mod:`~router.engine.callbacks` (the way back), :mod:`~router.engine.balances`,
:mod:`~router.engine.budgets` (the budgets across restarts) and :mod:`~router.engine.metrics`.
"""

from router.engine.decide import RoutePlan
from router.engine.prepare import Prepared, sender_kind
from router.engine.providers import ProviderState
from router.engine.router import Router

__all__ = ["Prepared", "ProviderState", "RoutePlan", "Router", "sender_kind"]
