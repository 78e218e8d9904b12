"""The one exception tree of smsrouter.

::

    RouterError
    ├── ConfigError              the configuration is wrong (every problem at once)
    ├── PluginError              a plugin is broken, missing or registers a duplicate name
    ├── ValidationError          a message is wrong (bad number, empty text, long sender)
    ├── NoRouteError             no provider could take a message; carries each one's reason
    ├── RequestError             the daemon's API refuses a request (no such id, a conflict)
    ├── StoreError               the journal cannot serve now (disk full, I/O error, locked)
    └── ProviderError            a provider call failed; carries the outcome it maps to
        ├── ProviderUnavailableError   nothing was sent (refused, 5xx, 429, budget wait)
        ├── ProviderAmbiguousError     the request may have been sent (timeout, dropped)
        ├── ProviderRejectedError      the provider answered with an error
        └── CallbackError              a pushed callback is not acceptable

Every text here is safe to log: adapters redact secrets before they build an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from router.model import ErrorKind, Outcome, RecipientOutcome


class RouterError(Exception):
    """The base of every error smsrouter raises on purpose."""


class ConfigError(RouterError):
    """The configuration is wrong.

    *problems* holds one ``path: message`` line per problem, all of them at once.
    """

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("\n".join(self.problems))


class PluginError(RouterError):
    """A plugin could not be loaded, or registered something invalid or duplicate."""


class ValidationError(RouterError):
    """A message is wrong; *field* names the part of it that is wrong."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class RequestError(RouterError):
    """The daemon's API refuses a request: answered with *status* and an error body.

    *code* is the body's machine-readable ``code`` (``not_found``), *message* its text and
    *field* the part of the request at fault, if one is.
    """

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        super().__init__(message if field is None else f"{field}: {message}")


JOURNAL_RETRY_AFTER = 5.0
"""Seconds a caller refused by a failing journal is asked to wait before trying again."""


class StoreError(RouterError):
    """The journal cannot do what was asked now: its disk is full, failing, or locked.

    *journal* names the journal (``SQLiteStore('journal.db')``), *reason* is the backend's
    own text (``database or disk is full``), and *retry_after* the seconds a caller should
    wait before asking again. What was asked was not done; the journal's own retries
    (a write about a message already sent is kept and retried) do not raise it.
    """

    def __init__(
        self, journal: str, reason: str, *, retry_after: float = JOURNAL_RETRY_AFTER
    ) -> None:
        self.journal = journal
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(f"{journal}: {reason}")


class NoRouteError(RouterError):
    """No provider could take a message.

    *reasons* maps every provider considered to why it did not take the message;
    *result* is the :class:`~router.model.SendResult` with every attempt, when any was made.
    """

    def __init__(self, reasons: Mapping[str, str], result: object | None = None) -> None:
        self.reasons = dict(reasons)
        self.result = result
        lines = [f"{name}: {why}" for name, why in self.reasons.items()] or ["no providers"]
        super().__init__("no provider could take the message\n  " + "\n  ".join(lines))


class ProviderError(RouterError):
    """A call to a provider failed.

    *outcome* is the row of the outcome taxonomy it maps to, *kind* says what kind of
    provider-side error it is (auth, credit, throttled, ...), and *retry_after* is the
    number of seconds the provider asked us to wait, when it said.
    """

    default_outcome = Outcome.PROVIDER_ERROR

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        outcome: Outcome | None = None,
        kind: ErrorKind | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.provider = provider
        self.outcome = outcome or self.default_outcome
        self.kind: ErrorKind = kind or ErrorKind.OTHER
        self.retry_after = retry_after
        super().__init__(f"{provider}: {message}" if provider else message)

    def outcome_for(
        self, number: str, *, provider_message_id: str | None = None
    ) -> RecipientOutcome:
        """What this error, raised for a whole call, means for the recipient *number*.

        The error's outcome, kind and Retry-After, with its text as the reason; an adapter
        that knows the message's id at the provider (one an ambiguous send may have been
        given) passes it as *provider_message_id*.
        """
        return RecipientOutcome(
            number,
            self.outcome,
            provider_message_id=provider_message_id,
            reason=str(self),
            kind=self.kind,
            retry_after=self.retry_after,
        )


class ProviderUnavailableError(ProviderError):
    """Nothing was sent: connection refused, DNS, HTTP 5xx or 429, budget wait timed out."""

    default_outcome = Outcome.UNAVAILABLE


class ProviderAmbiguousError(ProviderError):
    """The request may have reached the provider: read timeout, connection lost, odd body."""

    default_outcome = Outcome.AMBIGUOUS


class ProviderRejectedError(ProviderError):
    """The provider answered with an error (``Error:``, ``ERROR``, an error code)."""


class CallbackError(ProviderError):
    """A pushed delivery report or inbound message cannot be accepted (bad auth, bad shape)."""
