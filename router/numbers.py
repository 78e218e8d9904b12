"""Phone numbers: parse any written form into E.164, and format for a provider.

Parsing is phonenumbers' (libphonenumber's metadata); a number written in national form
(``0412 345 678``) is read in the router's ``default_region``.
"""

from __future__ import annotations

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

    Args:
        number: the number as the user wrote it: ``+61 412 345 678``, ``0412345678``.
        default_region: the ISO country whose national form is assumed without ``+``.
        field: the name of the input field, for the error.
    """
    if not isinstance(number, str):
        raise ValidationError(field, f"expected a phone number string, got {number!r}")
    written = number.strip()
    if not written:
        raise ValidationError(field, "a phone number is empty")
    if any(ch.isalpha() for ch in written):
        # phonenumbers reads "0412 FLOWER" as keypad digits and "x12" as an extension:
        # neither can take an SMS, and neither may be turned silently into another number.
        raise ValidationError(field, f"{number!r} is not a phone number (it has letters)")
    try:
        parsed = phonenumbers.parse(written, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(field, f"{number!r} is not a phone number ({exc._msg})") from None
    if parsed.extension or not phonenumbers.is_valid_number(parsed):
        raise ValidationError(field, f"{number!r} is not a valid phone number")
    return ParsedNumber(
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        region=phonenumbers.region_code_for_number(parsed),
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
