"""GSM-7 or UCS-2, and how many segments a text takes, at every boundary."""

from __future__ import annotations

import pytest

from router.model import Encoding
from router.text import GSM7_EXTENSION, TextInfo, analyse, encoding_of

GSM7, UCS2 = Encoding.GSM7, Encoding.UCS2


@pytest.mark.parametrize(
    ("text", "info"),
    [
        ("", TextInfo(GSM7, 0, 1)),
        ("a", TextInfo(GSM7, 1, 1)),
        ("a" * 160, TextInfo(GSM7, 160, 1)),
        ("a" * 161, TextInfo(GSM7, 161, 2)),
        ("a" * 306, TextInfo(GSM7, 306, 2)),
        ("a" * 307, TextInfo(GSM7, 307, 3)),
        ("a" * 459, TextInfo(GSM7, 459, 3)),
        ("a" * 460, TextInfo(GSM7, 460, 4)),
        # The extension table takes two places each.
        ("€" * 80, TextInfo(GSM7, 160, 1)),
        ("€" * 81, TextInfo(GSM7, 162, 2)),
        ("a" * 159 + "[", TextInfo(GSM7, 161, 2)),
        ("a" * 158 + "]", TextInfo(GSM7, 160, 1)),
        ("^{}\\[~]|€\f", TextInfo(GSM7, 20, 1)),
        # The GSM basic table has accented letters and Greek capitals: still GSM-7.
        ("Ça coûte 5£ à Ørsted", TextInfo(UCS2, 20, 1)),
        ("Ça va? 5£ à Ørsted ΔΦΓ", TextInfo(GSM7, 22, 1)),
        # UCS-2: 70 alone, 67 a segment.
        ("я" * 70, TextInfo(UCS2, 70, 1)),
        ("я" * 71, TextInfo(UCS2, 71, 2)),
        ("я" * 134, TextInfo(UCS2, 134, 2)),
        ("я" * 135, TextInfo(UCS2, 135, 3)),
        # One non-GSM character makes the whole text UCS-2.
        ("a" * 69 + "я", TextInfo(UCS2, 70, 1)),
        ("a" * 70 + "я", TextInfo(UCS2, 71, 2)),
        # An emoji is a surrogate pair: two units.
        ("😀", TextInfo(UCS2, 2, 1)),
        ("😀" * 35, TextInfo(UCS2, 70, 1)),
        ("😀" * 36, TextInfo(UCS2, 72, 2)),
        ("a" * 68 + "😀", TextInfo(UCS2, 70, 1)),
        ("a" * 69 + "😀", TextInfo(UCS2, 71, 2)),
    ],
)
def test_analyse(text: str, info: TextInfo) -> None:
    assert analyse(text) == info


@pytest.mark.parametrize(
    ("text", "info"),
    [
        # 152 + the escape pair would straddle the first boundary: it starts segment two.
        ("a" * 152 + "€" + "a" * 152, TextInfo(GSM7, 306, 3)),
        ("a" * 151 + "€" + "a" * 153, TextInfo(GSM7, 306, 2)),
        # 76 pairs fill 152 of a segment's 153 places.
        ("€" * 152, TextInfo(GSM7, 304, 2)),
        ("€" * 153, TextInfo(GSM7, 306, 3)),
        # The same for a surrogate pair at a UCS-2 boundary.
        ("я" * 66 + "😀" + "я" * 66, TextInfo(UCS2, 134, 3)),
        ("я" * 65 + "😀" + "я" * 67, TextInfo(UCS2, 134, 2)),
    ],
)
def test_a_two_place_character_never_straddles_segments(text: str, info: TextInfo) -> None:
    assert analyse(text) == info


def test_encoding_of() -> None:
    assert encoding_of("Hello, world! @£$¥") is GSM7
    assert encoding_of("".join(sorted(GSM7_EXTENSION))) is GSM7
    assert encoding_of("Привет") is UCS2
    assert encoding_of("naïve") is UCS2  # ï is not in GSM 03.38
    assert encoding_of("tab\there") is UCS2
    assert encoding_of("😀") is UCS2
