"""The Lua scripts of the shared budget: each admission, release and renewal is one script.

A script runs alone on the Redis server, so what it reads and what it writes are one step
for the whole fleet, and it reads the time from the server (``TIME``), never from an
instance: instances whose clocks disagree still count on one clock. Times are milliseconds
on that clock.

The keys of one provider account (see :mod:`router.state.shared.budget`):

- ``leases``: a sorted set of the calls holding a concurrency slot, each scored by when its
  lease expires. An expired lease is no longer counted: that is how the slot of an instance
  that died comes back.
- ``hold`` and ``hold:<operation>``: until when a ``Retry-After`` holds every call, or the
  calls of one operation; the key expires then.
- ``queue`` and ``queue:alive``: the calls waiting for a slot, by when they began to wait,
  and until when each is still asking (a waiter of an instance that died drops out).
- ``rate:<operation>:flight``: the calls a rate counts that are in flight, scored by when
  their lease expires; ``rate:<operation>:ended``: those that ended, scored by their end.
  A call in flight whose lease expired (its instance died) counts as ended at that expiry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError


class Script:
    """One Lua script, run by its digest (loaded on the server the first time it is missing)."""

    def __init__(self, text: str) -> None:
        self.text = text
        # The name Redis knows it by.
        self.sha = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()

    async def run(self, client: aioredis.Redis, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """The script's answer on *client*'s server."""
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self.text, len(keys), *keys, *args)


TAKEN, HELD, RATE, FULL = 1, 2, 3, 4
"""What :data:`TAKE` answers first: the slot is taken, or why not."""

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
"""

TAKE = Script(
    _NOW
    + """
-- KEYS: leases, hold, hold:<operation>, rate:<operation>:flight, rate:<operation>:ended,
--       queue, queue:alive
-- ARGV: token, cap (0: none), calls (0: no rate), per, lease, queue ttl
local token, cap, calls = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local per, lease, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local queue, alive = KEYS[6], KEYS[7]

local all = tonumber(redis.call('GET', KEYS[2]) or '0') - now
local held = math.max(0, all, tonumber(redis.call('GET', KEYS[3]) or '0') - now)
all = math.max(0, all)

local rate = 0
if calls > 0 then
  local flight, ended = KEYS[4], KEYS[5]
  local expired = redis.call('ZRANGEBYSCORE', flight, '-inf', now, 'WITHSCORES')
  for i = 1, #expired, 2 do
    redis.call('ZADD', ended, expired[i + 1], expired[i])
  end
  redis.call('ZREMRANGEBYSCORE', flight, '-inf', now)
  redis.call('ZREMRANGEBYSCORE', ended, '-inf', now - per)
  if redis.call('ZCARD', flight) + redis.call('ZCARD', ended) >= calls then
    local oldest = redis.call('ZRANGE', ended, 0, 0, 'WITHSCORES')
    if #oldest == 0 then
      rate = -1  -- every call of the window is in flight: at least per after one ends
    else
      rate = tonumber(oldest[2]) + per - now
    end
  end
end
if rate == -1 or held > 0 or rate > 0 then
  -- Held back by a rate or a Retry-After: out of the line for a slot meanwhile.
  redis.call('ZREM', queue, token)
  redis.call('HDEL', alive, token)
end
if rate == -1 then
  return {RATE, -1, 0, math.ceil(held), math.ceil(all)}
end
if held > 0 or rate > 0 then
  local why = RATE
  if held >= rate then why = HELD end
  return {why, math.ceil(math.max(held, rate)), 0, math.ceil(held), math.ceil(all)}
end

if cap > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  for _, other in ipairs(redis.call('ZRANGE', queue, 0, -1)) do
    if tonumber(redis.call('HGET', alive, other) or '0') <= now then
      redis.call('ZREM', queue, other)  -- a waiter that stopped asking (its instance died)
      redis.call('HDEL', alive, other)
    end
  end
  local holders = redis.call('ZCARD', KEYS[1])
  local ahead = redis.call('ZRANK', queue, token) or redis.call('ZCARD', queue)
  if holders + ahead >= cap then
    redis.call('ZADD', queue, 'NX', now, token)
    redis.call('HSET', alive, token, now + ttl)
    redis.call('PEXPIRE', queue, math.ceil(2 * ttl))
    redis.call('PEXPIRE', alive, math.ceil(2 * ttl))
    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    local delay = 0
    if #first > 0 then delay = math.ceil(tonumber(first[2]) - now) end
    return {FULL, delay, holders, ahead, 0}
  end
  redis.call('ZREM', queue, token)
  redis.call('HDEL', alive, token)
  redis.call('ZADD', KEYS[1], now + lease, token)
  redis.call('PEXPIRE', KEYS[1], math.ceil(2 * lease))
end
if calls > 0 then
  redis.call('ZADD', KEYS[4], now + lease, token)
  redis.call('PEXPIRE', KEYS[4], math.ceil(2 * (lease + per)))
end
return {TAKEN, 0, 0, 0, 0}
""".replace("TAKEN", str(TAKEN))
    .replace("HELD", str(HELD))
    .replace("RATE", str(RATE))
    .replace("FULL", str(FULL))
)
"""Admit one call, or say why not: ``{what, delay, holders, held, held_all}``.

*what* is one of :data:`TAKEN`, :data:`HELD` (a ``Retry-After``), :data:`RATE` or
:data:`FULL` (every concurrency slot is leased, or the free ones go to calls waiting
before this one). *delay* is the milliseconds until a call may start (-1: the rate's
window is all in flight, so at least its ``per`` after one ends), or for :data:`FULL`
until the first lease expires (0: none is held; a release may come sooner); *held* and
*held_all* the milliseconds left of the holds of this operation and of every call. For
:data:`FULL`, the third and fourth are the calls holding a slot and those waiting before.

A call refused a slot takes its place in the fleet's line (``queue``, by when it first
waited) and keeps it while it asks again within the queue ttl; free slots go to the first
in line. A call held back by a rate or a ``Retry-After`` leaves the line.
"""

RELEASE = Script(
    _NOW
    + """
-- KEYS: leases, rate:<operation>:flight, rate:<operation>:ended, queue, queue:alive
-- ARGV: token, per, lease, taken (1: the call was admitted; 0: it may not have been),
--       the channel of releases
local token, per, lease, taken = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local freed = redis.call('ZREM', KEYS[1], token) + redis.call('ZREM', KEYS[4], token)
redis.call('HDEL', KEYS[5], token)
if freed > 0 then
  redis.call('PUBLISH', ARGV[5], '')  -- a slot, or a place ahead in the line, is free
end
local flying = redis.call('ZREM', KEYS[2], token)
if per > 0 and (taken == '1' or flying == 1 or redis.call('ZSCORE', KEYS[3], token)) then
  redis.call('ZADD', KEYS[3], now, token)
  redis.call('PEXPIRE', KEYS[3], math.ceil(2 * (lease + per)))
end
return flying
"""
)
"""End one call: its lease is given back and a rate counts it as ended now (the server's
now, which is no earlier than when the provider answered). A call that gave up waiting
leaves the line, and one cut short while its admission was under way is ended as if taken
when it was. A slot or a place in the line given back is published on the channel."""

RENEW = Script(
    _NOW
    + """
-- KEYS: leases, rate:<operation>:flight
-- ARGV: token, lease, per
local token, lease, per = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local kept = 0
if redis.call('ZSCORE', KEYS[1], token) then
  redis.call('ZADD', KEYS[1], now + lease, token)
  redis.call('PEXPIRE', KEYS[1], math.ceil(2 * lease))
  kept = kept + 1
end
if redis.call('ZSCORE', KEYS[2], token) then
  redis.call('ZADD', KEYS[2], now + lease, token)
  redis.call('PEXPIRE', KEYS[2], math.ceil(2 * (lease + per)))
  kept = kept + 2
end
return kept
"""
)
"""Extend the lease of a call still under way; says which it still held (1: its slot,
2: its place in a rate, 3: both)."""

DEFER = Script(
    _NOW
    + """
-- KEYS: hold or hold:<operation>; ARGV: milliseconds
local untilv = now + tonumber(ARGV[1])
if untilv > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%.3f', untilv), 'PX', math.ceil(untilv - now))
end
return 1
"""
)
"""Hold calls back for a ``Retry-After``; never shortens a hold already in force."""
