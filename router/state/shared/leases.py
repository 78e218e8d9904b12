"""Leases on the Redis server's clock: one owner at a time, lapsing unless renewed.

A half-open breaker's probe turn and a provider's balance-polling turn are leases: a key
holding its owner's id with an expiry in milliseconds. :data:`TAKE` takes a free lease or
renews one its owner holds, in one step; :data:`RELEASE` ends it, only for its owner.
"""

from __future__ import annotations

__all__ = ["RELEASE", "TAKE"]

TAKE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return -1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return -1
end
return redis.call('PTTL', KEYS[1])
"""
"""KEYS: the lease. ARGV: the owner, the milliseconds. -1: the owner holds it now; else the
milliseconds another owner's lease has left (-2 when it lapsed meanwhile)."""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
"""KEYS: the lease. ARGV: the owner. 1: ended; 0: not the owner's (lapsed or another's)."""
