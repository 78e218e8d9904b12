"""Phone numbers: parse any written form into E.164, and format for a provider.

Parsing is phonenumbers' (libphonenumber's metadata); a number written in national form
(``0412 345 678``) is read in the router's ``default_region``.
"""

from __future__ import annotations

import functools

import attrs
import phonenumbers

from router.errors import ValidationError


@attrs.frozen
class ParsedNumber:
    """A valid number in E.164 with its country."""

    e164: str
    region: str | None
    country_code: int


def parse(number: str, default_region: str | None, *, field: str = "to") -> ParsedNumber:
    """Parse *number* into E.164, or raise :class:`ValidationError` naming *field*.

    A number seen recently is not parsed again: the last :data:`CACHED` distinct valid
    inputs (per default region) are remembered with their answer. An invalid one is
    parsed each time, so the error always names the field it came in.

    Args:
        number: the number as the user wrote it: ``+61 412 345 678``, ``0412345678``.
        default_region: the ISO country whose national form is assumed without ``+``.
        field: the name of the input field, for the error.
    """
    if not isinstance(number, str):
        raise ValidationError(field, f"expected a phone number string, got {number!r}")
    try:
        return _parse_valid(number, default_region)
    except _Invalid as why:
        raise ValidationError(field, str(why)) from None


CACHED = 8192
"""How many distinct valid inputs :func:`parse` remembers (least recently used go first)."""


class _Invalid(Exception):
    """Why an input is not a phone number (raised, never cached)."""


@functools.lru_cache(maxsize=CACHED)
def _parse_valid(number: str, default_region: str | None) -> ParsedNumber:
    written = number.strip()
    if not written:
        raise _Invalid("a phone number is empty")
    if any(ch.isalpha() for ch in written):
        # phonenumbers reads "0412 FLOWER" as keypad digits and "x12" as an extension:
        # neither can take an SMS, and neither may be turned silently into another number.
        raise _Invalid(f"{number!r} is not a phone number (it has letters)")
    try:
        parsed = phonenumbers.parse(written, default_region)
    except phonenumbers.NumberParseException as exc:
        raise _Invalid(f"{number!r} is not a phone number ({exc._msg})") from None
    # is_valid_number() is region_code_for_number() then is_valid_number_for_region():
    # done here by hand, the region found once serves both the check and the answer.
    region = phonenumbers.region_code_for_number(parsed)
    valid = region is not None and phonenumbers.is_valid_number_for_region(parsed, region)
    if parsed.extension or not valid:
        raise _Invalid(f"{number!r} is not a valid phone number")
    return ParsedNumber(
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        region=region,
        country_code=parsed.country_code or 0,
    )


def is_region(code: str) -> bool:
    """Whether *code* is an ISO 3166 country code phonenumbers has numbering plans for."""
    return code in phonenumbers.SUPPORTED_REGIONS


def international_digits(e164: str) -> str:
    """The number without ``+``: ``61412345678``, the form most providers want."""
    return e164.removeprefix("+")


def national(e164: str) -> str:
    """The number in its national form without spaces: ``0412345678``."""
    parsed = phonenumbers.parse(e164, None)
    formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(ch for ch in formatted if ch.isdigit())


def to_e164(number: str, default_region: str | None = None) -> str | None:
    """Best effort E.164 of a number a provider reported, or None when it is not one.

    Providers echo numbers as ``614…``, ``04…`` or ``+614…``: digits without a ``+`` are
    tried as international first, then in *default_region*'s national form.
    """
    written = number.strip()
    candidates = [written] if written.startswith("+") else [f"+{written}", written]
    for candidate in candidates:
        try:
            parsed = phonenumbers.parse(candidate, default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return None
