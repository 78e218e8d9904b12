"""The Router's own HTTP client session, with a connection pool sized for its providers.

aiohttp's default connector holds at most 100 connections. A call beyond that waits for a
free one, and before ``router.http`` bounded that wait on its own, the wait ate the call's
timeout: sends that never left the process came out ambiguous. The pool is sized here so
that it is not what holds a provider back; a wait that happens anyway (a burst above what
the config foresees) is bounded by the provider's ``connect_timeout`` and is
``unavailable`` of kind ``budget``, not counted by the breaker.
"""

from __future__ import annotations

import aiohttp

from router.config import Config
from router.http import connection_trace

POOL_FLOOR = 100
"""The fewest connections the pool holds: aiohttp's own default, so it never shrinks."""
UNCAPPED_SHARE = 100
"""Connections set aside for a provider without a concurrency cap, at the least."""


def pool_limit(config: Config) -> int:
    """How many connections the Router's own session may hold at once, for *config*.

    Every call to a provider (send, balance, status) runs inside a slot of that provider's
    budget, so a provider with a concurrency cap never has more calls in flight than the
    cap: its share is the cap. A provider without a cap is bounded only by the load, whose
    configured part is the daemon's send workers (``[server] workers``, each sending one
    message at a time): its share is that many, and at least ``UNCAPPED_SHARE`` (as much
    as aiohttp's default pool gave it when it was the only provider). The pool is the sum
    of the enabled providers' shares, and at least ``POOL_FLOOR``.
    """
    load = max(UNCAPPED_SHARE, config.server.workers)
    shares = [
        settings.limits.concurrency or load
        for settings in config.providers.values()
        if settings.common.enabled
    ]
    return max(POOL_FLOOR, sum(shares))


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
