"""GSM-7 or UCS-2, and how many SMS segments a text takes.

A GSM-7 text fits 160 characters in one SMS, 153 per segment when split; characters of
the extension table (``^{}\\[~]|€`` and form feed) take two places. Anything outside the
GSM 03.38 alphabet makes the whole text UCS-2: 70 in one SMS, 67 per segment, where a
character outside the Basic Multilingual Plane takes two places (a UTF-16 surrogate pair).
A two-place character is never split between segments, so a long text may need one more.
"""

from __future__ import annotations

import functools

import attrs

from router.model import Encoding

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The GSM 03.38 basic character set."""

GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
"""Characters reached through the escape: each takes two septets."""

_GSM7_SINGLE, _GSM7_MULTI = 160, 153
_UCS2_SINGLE, _UCS2_MULTI = 70, 67


@attrs.frozen
class TextInfo:
    """How a text will be sent."""

    encoding: Encoding
    units: int
    """Its length in septets (GSM-7) or UTF-16 code units (UCS-2)."""
    segments: int


def encoding_of(text: str) -> Encoding:
    """GSM-7 when every character is in the GSM 03.38 alphabet, else UCS-2."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        return Encoding.GSM7
    return Encoding.UCS2


@functools.lru_cache(maxsize=1024)
def analyse(text: str) -> TextInfo:
    """The encoding, length in units and segment count of *text*.

    The last 1,024 texts are remembered: a campaign's messages share one.
    """
    encoding = encoding_of(text)
    if encoding is Encoding.GSM7:
        widths = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        single, multi = _GSM7_SINGLE, _GSM7_MULTI
    else:
        widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        single, multi = _UCS2_SINGLE, _UCS2_MULTI
    units = sum(widths)
    return TextInfo(encoding, units, 1 if units <= single else _packed(widths, multi))


def _packed(widths: list[int], size: int) -> int:
    # An escape and its character, or the two halves of a surrogate pair, never straddle
    # two segments: one that does not fit whole moves to the next, leaving a place unused.
    segments, used = 1, 0
    for width in widths:
        if used + width > size:
            segments, used = segments + 1, 0
        used += width
    return segments
