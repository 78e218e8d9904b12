"""Secrets that never leave: a wrapper that hides its value, and text redaction.

Provider passwords and API tokens are held as :class:`Secret`; its ``repr`` and ``str``
show ``***``. Adapters that must put a secret on the wire (SMS Office and SMSC carry it in
the query string) pass every error text through :func:`redact` before raising or logging.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import quote, quote_plus

import attrs
from yarl import URL

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


_LOWER_HEX = re.compile(r"%[0-9A-F]{2}")


def encodings(value: str) -> frozenset[str]:
    """The forms *value* takes on the wire and in answers that echo it.

    Plain; percent-encoded (``quote``, with and without ``/`` kept; ``quote_plus``, as a
    form body has it; yarl's query form, ``+`` for space and ``:/?@`` kept); HTML-escaped;
    JSON-escaped (``\\/`` too); as Python's ``repr`` of a str or bytes writes it (aiohttp
    quotes a bad request line so); and each of these HTML-escaped or JSON-escaped again.
    """
    query = URL.build(query={"v": value}).raw_query_string.removeprefix("v=")
    wire = {value, quote(value, safe=""), quote(value), quote_plus(value, safe=""), query}
    wire |= {quote_plus(value), quote(value, safe="/:@?")}
    for shown in (repr(value)[1:-1], repr(value.encode())[2:-1]):
        # repr escapes the quote it did not choose when a longer text holds both kinds.
        wire |= {shown, shown.replace("'", "\\'"), shown.replace('"', '\\"')}
    forms = set(wire)
    for form in wire:
        as_json = json.dumps(form)[1:-1]
        forms |= {html.escape(form), html.escape(form, quote=False), as_json}
        forms |= {json.dumps(form, ensure_ascii=False)[1:-1], as_json.replace("/", "\\/")}
    # A provider may write the escapes in lower case: %2b for %2B.
    forms |= {_LOWER_HEX.sub(lambda m: m.group().lower(), f) for f in forms}
    return frozenset(f for f in forms if f)


@lru_cache(maxsize=256)
def _pattern(values: frozenset[str]) -> re.Pattern[str]:
    forms = {form for value in values for form in encodings(value)}
    # Longest first, in one pass: masking one form never breaks a longer one apart.
    alternatives = sorted(forms, key=lambda f: (-len(f), f))
    return re.compile("|".join(map(re.escape, alternatives)))


def redact(text: str, secrets: Iterable[Secret | str]) -> str:
    """*text* with every secret, in every encoding :func:`encodings` names, replaced by ``***``.

    Percent escapes match in either case (``%2b`` is ``%2B``). Cut a text after redacting
    it, never before: a cut through a secret would leave its prefix unmasked.
    """
    values = frozenset(s.reveal() if isinstance(s, Secret) else s for s in secrets) - {""}
    if not values or not text:
        return text
    return _pattern(values).sub(MASK, text)
