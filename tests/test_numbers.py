"""Phone numbers: national and international forms to E.164, countries, provider forms."""

from __future__ import annotations

import pytest

from router.errors import ValidationError
from router.numbers import ParsedNumber, international_digits, is_region, national, parse, to_e164


@pytest.mark.parametrize(
    ("written", "region", "e164", "country", "code"),
    [
        # Australia: mobile and landline, national and international, spaced and not.
        ("0412 345 678", "AU", "+61412345678", "AU", 61),
        ("0412345678", "AU", "+61412345678", "AU", 61),
        ("+61 412 345 678", "AU", "+61412345678", "AU", 61),
        ("+61412345678", None, "+61412345678", "AU", 61),
        ("0011 61 412 345 678", "AU", "+61412345678", "AU", 61),
        ("(02) 9876 5432", "AU", "+61298765432", "AU", 61),
        (" 0412 345 678 ", "AU", "+61412345678", "AU", 61),
        # South Africa.
        ("082 123 4567", "ZA", "+27821234567", "ZA", 27),
        ("+27 82 123 4567", None, "+27821234567", "ZA", 27),
        ("00 27 82 123 4567", "ZA", "+27821234567", "ZA", 27),
        # Russia: the national trunk prefix is 8, the international prefix 810.
        ("8 912 345-67-89", "RU", "+79123456789", "RU", 7),
        ("+7 912 345-67-89", None, "+79123456789", "RU", 7),
        ("+7 (495) 123-45-67", None, "+74951234567", "RU", 7),
        # An international number is read as such whatever the default region.
        ("+27821234567", "AU", "+27821234567", "ZA", 27),
        ("+79123456789", "ZA", "+79123456789", "RU", 7),
        ("810 61 412 345 678", "RU", "+61412345678", "AU", 61),
    ],
)
def test_parse_gives_e164_and_country(
    written: str, region: str | None, e164: str, country: str, code: int
) -> None:
    assert parse(written, region) == ParsedNumber(e164=e164, region=country, country_code=code)


def test_the_same_national_digits_mean_another_number_in_another_region() -> None:
    assert parse("0412 345 678", "AU").e164 == "+61412345678"
    assert parse("0412 345 678", "ZA").e164 == "+27412345678"


@pytest.mark.parametrize(
    ("written", "region", "message"),
    [
        (
            "0412 345 678",
            None,
            "'0412 345 678' is not a phone number (Missing or invalid default region.)",
        ),
        ("12", "AU", "'12' is not a valid phone number"),
        ("+61 412 345 67", "AU", "'+61 412 345 67' is not a valid phone number"),
        ("+61 412 345 678 9", "AU", "'+61 412 345 678 9' is not a valid phone number"),
        ("", "AU", "a phone number is empty"),
        ("   ", "AU", "a phone number is empty"),
        ("hello", "AU", "'hello' is not a phone number (it has letters)"),
        # Keypad letters and extensions are not turned silently into another number.
        ("0412 FLOWER", "AU", "'0412 FLOWER' is not a phone number (it has letters)"),
        (
            "+61412345678 ext. 5",
            "AU",
            "'+61412345678 ext. 5' is not a phone number (it has letters)",
        ),
        ("+61412345678#12", "AU", "'+61412345678#12' is not a valid phone number"),
        ("8 912 345-67-8", "RU", "'8 912 345-67-8' is not a valid phone number"),
        ("082 123 45678", "ZA", "'082 123 45678' is not a valid phone number"),
    ],
)
def test_invalid_numbers_name_the_field(written: str, region: str | None, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse(written, region)
    assert raised.value.field == "to"
    assert raised.value.message == message
    assert str(raised.value) == f"to: {message}"


def test_the_field_name_is_the_callers() -> None:
    with pytest.raises(ValidationError) as raised:
        parse("12", "AU", field="to[2]")
    assert raised.value.field == "to[2]"
    assert str(raised.value) == "to[2]: '12' is not a valid phone number"


def test_a_non_string_is_refused() -> None:
    with pytest.raises(ValidationError) as raised:
        parse(61412345678, "AU")  # type: ignore[arg-type]
    assert str(raised.value) == "to: expected a phone number string, got 61412345678"


@pytest.mark.parametrize(
    ("e164", "digits", "national_form"),
    [
        ("+61412345678", "61412345678", "0412345678"),
        ("+61298765432", "61298765432", "0298765432"),
        ("+27821234567", "27821234567", "0821234567"),
        ("+79123456789", "79123456789", "89123456789"),
    ],
)
def test_provider_forms(e164: str, digits: str, national_form: str) -> None:
    assert international_digits(e164) == digits
    assert national(e164) == national_form


@pytest.mark.parametrize(
    ("reported", "region", "e164"),
    [
        ("61412345678", "AU", "+61412345678"),
        ("+61412345678", "AU", "+61412345678"),
        ("0412345678", "AU", "+61412345678"),
        ("0412345678", None, None),
        ("27821234567", "AU", "+27821234567"),
        ("89123456789", "RU", "+79123456789"),
        ("abc", "AU", None),
        ("", "AU", None),
    ],
)
def test_to_e164_reads_what_providers_echo(
    reported: str, region: str | None, e164: str | None
) -> None:
    assert to_e164(reported, region) == e164


@pytest.mark.parametrize(
    ("code", "known"),
    [("AU", True), ("ZA", True), ("RU", True), ("au", False), ("XX", False), ("", False)],
)
def test_is_region(code: str, known: bool) -> None:
    assert is_region(code) is known
