"""Secrets that never leave: a wrapper that hides its value, and text redaction.

Provider passwords and API tokens are held as :class:`Secret`; its ``repr`` and ``str``
show ``***``. Adapters that must put a secret on the wire (SMS Office and SMSC carry it in
the query string) pass every error text through :func:`redact` before raising or logging.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, quote_plus

import attrs

MASK = "***"


@attrs.frozen(repr=False)
class Secret:
    """A secret string: ``reveal()`` gives it, nothing else shows it."""

    _value: str = attrs.field(alias="value")

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)


def redact(text: str, secrets: Iterable[Secret | str]) -> str:
    """*text* with every secret, plain or URL-encoded, replaced by ``***``."""
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if not value:
            continue
        for form in {value, quote(value, safe=""), quote_plus(value, safe=""), quote(value)}:
            text = text.replace(form, MASK)
    return text
