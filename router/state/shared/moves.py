"""A shared breaker's move as the fleet keeps it: its state, in one hash, under a version.

:data:`PUBLISH` writes a move into the hash ``PREFIX:breakers`` (one field per breaker, see
:func:`field`) and announces it on the fleet's channel in one step, under the next version
of one counter, so every instance hears the moves in the order of their versions.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from router.state.health import BreakerState

__all__ = ["PUBLISH", "Snapshot", "field"]

# KEYS: version counter, states hash. ARGV: field, state JSON, channel.
PUBLISH = """
local version = redis.call('INCR', KEYS[1])
local body = version .. ' ' .. ARGV[2]
redis.call('HSET', KEYS[2], ARGV[1], body)
redis.call('PUBLISH', ARGV[3], 'breaker ' .. body)
return version
"""


@attrs.frozen
class Snapshot:
    """What the fleet shares of a breaker: its state (closed or open) and its timings."""

    state: BreakerState
    cooldown: float
    open_until: float
    held_until: float
    held_reason: str

    def dump(self, provider: str, country: str | None, origin: str) -> str:
        """The JSON published, naming the breaker and the instance that moved it."""
        names = {"p": provider, "c": country, "o": origin, "s": self.state.value}
        times = {"cd": self.cooldown, "ou": self.open_until, "hu": self.held_until}
        return json.dumps({**names, **times, "hr": self.held_reason})

    @classmethod
    def load(cls, data: dict[str, Any]) -> Snapshot:
        """The snapshot in a published JSON object."""
        state = BreakerState(data["s"])
        if state is BreakerState.HALF_OPEN:
            raise ValueError("a half-open state is never published")
        return cls(state, float(data["cd"]), float(data["ou"]), float(data["hu"]), str(data["hr"]))


def field(provider: str, country: str | None) -> str:
    """The breaker's field in the states hash."""
    return json.dumps([provider, country])
