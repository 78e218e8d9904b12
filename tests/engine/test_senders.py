"""Numeric senders: ASCII digits only, whatever Unicode calls a digit."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.engine import sender_kind
from router.errors import ValidationError
from router.model import SenderKind

NON_ASCII_DIGITS = "".join(
    ch for ch in map(chr, range(128, sys.maxunicode + 1)) if ch.isdigit() or ch.isdecimal()
)


@settings(max_examples=300, deadline=None)
@given(
    digits=st.text(alphabet="0123456789" + NON_ASCII_DIGITS, min_size=1, max_size=15),
    plus=st.booleans(),
)
def test_a_numeric_sender_is_ascii_digits(digits: str, plus: bool) -> None:
    sender = ("+" if plus else "") + digits
    if digits.isascii():
        assert sender_kind(sender) is SenderKind.NUMERIC
        return
    # Not a number: and not letters and digits a provider takes either.
    with pytest.raises(ValidationError) as caught:
        sender_kind(sender)
    assert caught.value.field == "sender"


@pytest.mark.parametrize("sender", ["+²³⁴", "٠١٢٣٤٥", "+۱۲۳۴۵۶۷"])
def test_the_reported_senders_are_refused(sender: str) -> None:
    with pytest.raises(ValidationError):
        sender_kind(sender)
