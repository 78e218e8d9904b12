"""Recent pushes shared by a fleet: a push that reaches two instances is announced once.

A push's key (see :class:`~router.state.repeats.Pushes`) is hashed (SHA-256 of its
``repr``) and set in Redis with ``SET NX`` for :data:`~router.state.repeats.MAX_AGE`
seconds on the server's clock, the window of the in-process record: the instance whose set
went through is the one that counts and announces it. When Redis cannot be reached, this
instance's own record answers (a push then reaching two instances may be announced twice;
the journal still takes it once) and :class:`~router.state.shared.problems.Problems` says
why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.state.repeats import MAX_AGE, Pushes, RecentPushes
from router.state.shared.problems import Problems

__all__ = ["RedisPushes", "push_digest"]


def push_digest(key: Hashable) -> str:
    """*key*'s digest: the same in every process for the same push."""
    return hashlib.sha256(repr(key).encode("utf-8", "surrogatepass")).hexdigest()


class RedisPushes(Pushes):
    """The recent pushes of the whole fleet, in Redis.

    Args:
        client: gives the connection pool.
        key: makes a key under the fleet's prefix.
        problems: where a failure to reach Redis is said.
        local: this instance's own record, asked while Redis is away.
        max_age: seconds a push is remembered.
    """

    def __init__(
        self,
        client: Callable[[], aioredis.Redis],
        key: Callable[..., str],
        problems: Problems,
        local: RecentPushes,
        max_age: float = MAX_AGE,
    ) -> None:
        self.client = client
        self.key = key
        self.problems = problems
        self.local = local
        self.max_age = max_age

    async def first_time(self, key: Hashable) -> bool:
        try:
            new = await self.client().set(
                self.key("push", push_digest(key)), b"1", nx=True, px=int(self.max_age * 1000)
            )
        except (RedisError, OSError) as exc:
            self.problems.fail("recent pushes", exc)
            return self.local.remember(key)
        self.problems.ok("recent pushes")
        if new:
            self.local.remember(key)  # so that it answers alike while Redis is away
        return bool(new)
