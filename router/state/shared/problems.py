"""Why parts of the shared state cannot reach Redis now: what ``/healthz`` says.

Each part that talks to Redis (the budgets, the subscription, the publisher, the breakers'
probe leases, the recent pushes, the balance board) says so when a call fails and when one
succeeds again; :meth:`Problems.summary` is the one line :meth:`RedisState.problem` gives.
One part's success is Redis answering: every reason is cleared, and the subscription, if it
is down, is made again at once rather than at the end of its back-off.
A reason never holds the server's URL (it may carry a password): only the part and the
kind of error with its words.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from urllib.parse import unquote, urlsplit

from router.redact import redact

__all__ = ["Problems", "url_secrets"]

log = logging.getLogger("smsrouter.state")


def url_secrets(url: str) -> tuple[str, ...]:
    """The password (and user name) a Redis URL carries, to be kept out of every reason."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ()
    return tuple(unquote(v) for v in (parts.password, parts.username) if v)


class Problems:
    """The parts of the shared state failing now, each with its reason.

    Args:
        secrets: what no reason may show (the URL's password), masked wherever it appears.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = tuple(secrets)
        self._down: dict[str, str] = {}
        self.on_answer: list[Callable[[], None]] = []
        """Called when a part that failed reaches Redis again (the subscription retries)."""

    def describe(self, exc: BaseException) -> str:
        """*exc* as a reason: its type and its words, with every secret masked."""
        words = redact(str(exc), self.secrets)
        return f"{type(exc).__name__}: {words}" if words else type(exc).__name__

    def __bool__(self) -> bool:
        return bool(self._down)

    def fail(self, part: str, reason: str | BaseException) -> None:
        """*part* cannot reach Redis, for *reason* (logged the first time it says so)."""
        if isinstance(reason, BaseException):
            reason = self.describe(reason)
        reason = redact(reason, self.secrets)
        if part not in self._down:
            log.warning("shared state: %s cannot reach Redis: %s", part, reason)
        self._down[part] = reason

    def ok(self, part: str) -> None:
        """*part* reached Redis: it answers again, for every part (one still failing says so
        at its next call, the subscription is made again at once)."""
        if self._down:
            log.info("shared state: Redis answers again (%s)", part)
            self._down.clear()
            for hook in self.on_answer:
                hook()

    def summary(self) -> str | None:
        """One line naming every failing part and its reason, or None when none fails."""
        if not self._down:
            return None
        parts = "; ".join(f"{part}: {reason}" for part, reason in sorted(self._down.items()))
        return f"the shared state on Redis cannot be reached ({parts})"
