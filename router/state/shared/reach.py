"""Whether the Redis server of the shared state answers, as ``/healthz`` tells it.

Every command the shared state sends reports here: a failure names the reason (until a
command succeeds again, :meth:`Reach.problem` says it), a success clears it. The reason never
carries the URL's password.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from redis.exceptions import RedisError

log = logging.getLogger("smsrouter")

FAILURES = (RedisError, OSError)
"""What a command to Redis raises when the server cannot be reached or refuses it
(``TimeoutError`` and ``ConnectionError`` are ``OSError`` too)."""


class Reach:
    """The last word on whether Redis answers, for every part of the shared state.

    Args:
        url: the server's URL, whose password is masked in any reason given.
    """

    def __init__(self, url: str) -> None:
        self._password = urlsplit(url).password
        self.problem: str | None = None
        """Why the last command failed; None once one succeeded again."""

    def failed(self, exc: BaseException) -> str:
        """Note that a command failed with *exc*; the reason, also logged when it is new."""
        text = str(exc)
        if self._password:
            text = text.replace(self._password, "***")
        reason = f"the shared state on Redis cannot be reached ({type(exc).__name__}: {text})"
        if self.problem is None:
            log.warning("%s", reason)
        self.problem = reason
        return reason

    def succeeded(self) -> None:
        """Note that a command succeeded: the server answers again."""
        if self.problem is not None:
            log.info("the shared state on Redis answers again")
            self.problem = None
