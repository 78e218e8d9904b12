"""Whether the Redis server of the shared state answers, as ``/healthz`` tells it.

Every command the shared state sends reports here: a failure names the reason (until a
command succeeds again, :meth:`Reach.problem` says it), a success clears it. The reason never
carries the URL's password.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from redis.exceptions import RedisError

from router.state.shared.problems import Problems

log = logging.getLogger("smsrouter")

FAILURES = (RedisError, OSError)
"""What a command to Redis raises when the server cannot be reached or refuses it
(``TimeoutError`` and ``ConnectionError`` are ``OSError`` too)."""


class Reach:
    """The last word on whether Redis answers, for every part of the shared state.

    Args:
        url: the server's URL, whose password is masked in any reason given.
        problems: where the state's other parts say why they fail too: told of each failure
            and success here, as the budgets' (one part's success clears every reason).
    """

    def __init__(self, url: str, problems: Problems | None = None) -> None:
        self.problems = problems
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
        if self.problems is not None:
            self.problems.fail("budgets", exc)
        return reason

    def succeeded(self) -> None:
        """Note that a command succeeded: the server answers again."""
        if self.problems is not None:
            self.problems.ok("budgets")
        if self.problem is not None:
            log.info("the shared state on Redis answers again")
            self.problem = None
