"""The Router's own HTTP client session, with a connection pool sized for its providers.

aiohttp's default connector holds at most 100 connections. A call beyond that waits for a
free one, and before ``router.http`` bounded that wait on its own, the wait ate the call's
timeout: sends that never left the process came out ambiguous. The pool is sized here so
that it is never what holds a provider back: the sum of the providers' concurrency caps,
or no bound at all when a provider has none (:func:`pool_limit`). A wait that happens
anyway (a session handed in with a smaller pool) is bounded by the provider's
``connect_timeout`` and is ``unavailable`` of kind ``budget``, not counted by the breaker.
"""

from __future__ import annotations

import aiohttp

from router.config import Config
from router.http import connection_trace

POOL_FLOOR = 100
"""The fewest connections a bounded pool holds: aiohttp's own default, so it never shrinks."""
UNBOUNDED = 0
"""aiohttp's ``limit`` for a pool without a bound."""


def pool_limit(config: Config) -> int:
    """How many connections the Router's own session may hold at once, for *config*.

    Every call to a provider (send, balance, status) runs inside a slot of that provider's
    budget, so a provider with a concurrency cap never has more calls in flight than the
    cap: its share is the cap, and the pool is the sum of the enabled providers' caps, at
    least ``POOL_FLOOR``. A provider without a cap is bounded only by the load: the
    daemon's send workers and however many API requests wait for their send (64, 100, a
    thousand). No fixed share can be right for that, and one too small makes sends beyond
    it wait for a connection against their ``connect_timeout`` (and fail as ``budget``)
    although nothing of the provider's limits them; so with any uncapped provider the pool
    is ``UNBOUNDED`` and each send opens or reuses a connection of its own. The bound on
    connections is then the load itself, as it is on sends.
    """
    shares = [
        settings.limits.concurrency
        for settings in config.providers.values()
        if settings.common.enabled
    ]
    if any(share is None for share in shares):
        return UNBOUNDED
    return max(POOL_FLOOR, sum(share or 0 for share in shares))


def own_session(config: Config) -> aiohttp.ClientSession:
    """A session for the Router to own: its pool sized by :func:`pool_limit`.

    No per-host limit: the caps are per provider account, which the budgets enforce, and
    two accounts may share a host (two SMSC logins), so a per-host bound could only be a
    second, coarser copy of the budgets that makes a call wait for a connection its budget
    already let it have. Its trace tells a connect that never completed (the provider's
    fault) from a wait in the pool (ours). Must be called with the event loop running.
    """
    connector = aiohttp.TCPConnector(limit=pool_limit(config), limit_per_host=0)
    return aiohttp.ClientSession(connector=connector, trace_configs=[connection_trace()])
