"""SMSC's code tables, and the lenient readers of the values its answers carry.

The tables map a send's ``error_code`` to an outcome, a message status to a normalised
status, and a delivery ``err`` to words for people. The readers take a value in any form
SMSC sends it (a JSON number or a numeric string, providers.md 3.1) and answer None for
what they cannot read, rather than raise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from router import DeliveryStatus, ErrorKind, Outcome

TEST_MODE_ERR = 200
"""The ``err`` of a virtual send in test mode: nothing reached a handset (providers.md 3.4)."""

SEND_ERRORS: Mapping[int, tuple[Outcome, ErrorKind | None]] = {
    1: (Outcome.PROVIDER_ERROR, ErrorKind.INVALID_REQUEST),
    2: (Outcome.PROVIDER_ERROR, ErrorKind.AUTH),
    3: (Outcome.PROVIDER_ERROR, ErrorKind.CREDIT),
    4: (Outcome.PROVIDER_ERROR, ErrorKind.THROTTLED),
    5: (Outcome.PROVIDER_ERROR, ErrorKind.INVALID_REQUEST),
    6: (Outcome.REJECTED_MESSAGE, None),
    7: (Outcome.REJECTED_RECIPIENT, None),
    8: (Outcome.REJECTED_RECIPIENT, None),
    # providers.md 3.3: 9 on a send means an identical one went through within the minute.
    9: (Outcome.AMBIGUOUS, ErrorKind.THROTTLED),
}
"""``error_code`` of a send answer -> outcome (providers.md 3.3 and section 8)."""

NOT_FOUND = -3
"""The status of a message SMSC does not know (providers.md 3.4)."""

_STATUSES: Mapping[int, DeliveryStatus] = {
    NOT_FOUND: DeliveryStatus.UNKNOWN,
    -2: DeliveryStatus.FAILED,
    -1: DeliveryStatus.ACCEPTED,
    0: DeliveryStatus.ENROUTE,
    1: DeliveryStatus.DELIVERED,
    2: DeliveryStatus.DELIVERED,
    3: DeliveryStatus.EXPIRED,
    4: DeliveryStatus.DELIVERED,
    20: DeliveryStatus.FAILED,
    22: DeliveryStatus.REJECTED,
    23: DeliveryStatus.REJECTED,
    24: DeliveryStatus.REJECTED,
    25: DeliveryStatus.FAILED,
}
"""SMSC message status -> normalised status (providers.md 3.4)."""

_ERR_TEXT: Mapping[int, str] = {
    1: "subscriber does not exist",
    6: "subscriber offline",
    11: "cannot receive SMS",
    12: "handset error",
    13: "subscriber blocked",
    21: "no SMS support",
    200: "virtual send (test mode)",
    220: "queue overflow",
    240: "busy",
    241: "sound conversion error",
    242: "answering machine",
    243: "no contract",
    244: "mailings forbidden",
    245: "status not received",
    246: "time restriction",
    247: "message limit exceeded",
    248: "no route",
    249: "invalid number format",
    250: "number forbidden by settings",
    251: "per-number limit exceeded",
    252: "number forbidden",
    253: "spam filter",
    254: "unregistered sender ID",
    255: "rejected by operator",
}
"""Delivery error detail ``err`` (providers.md 3.4), for people reading reports."""


def read_json(text: str) -> Any:
    """A JSON answer with its numbers as Decimal, or None when it is not JSON."""
    try:
        # Money as Decimal from the start: "4.48" and 4.48 read alike.
        return json.loads(text, parse_float=Decimal)
    except ValueError:
        return None


def read_int(value: object) -> int | None:
    """An integer from a JSON number or a numeric string (providers.md 3.1: either comes)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal | float):
        try:
            return int(value) if value == int(value) else None
        except (OverflowError, ValueError):  # Infinity and NaN are JSON constants too
            return None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def read_decimal(value: object) -> Decimal | None:
    """A finite Decimal from a JSON number or a numeric string, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def has_error(value: object) -> bool:
    """Whether a per-number ``error`` says the number failed: anything but empty or 0."""
    if value is None:
        return False
    code = read_int(value)
    return code != 0 if code is not None else bool(str(value).strip())


def read_currency(value: object) -> str | None:
    """An ISO currency code from a balance answer's ``currency``, else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    code = value.strip().upper()
    # RUR is the rouble's pre-1998 code, still common in Russian systems.
    return "RUB" if code == "RUR" else code


def not_found(status: object) -> bool:
    """Whether a status answer says SMSC knows no such message: status -3 (providers.md 3.4).

    -3 is "message not found": not yet visible, or never sent. Only once the send's
    timeout has passed does it mean the send never arrived.
    """
    return read_int(status) == NOT_FOUND


def normalise_status(status: object, err: object) -> tuple[DeliveryStatus, str, str | None, str]:
    """(status, raw status, error code, description) of an SMSC status and its ``err``."""
    code, err_code = read_int(status), read_int(err)
    normalised = (
        DeliveryStatus.UNKNOWN if code is None else _STATUSES.get(code, DeliveryStatus.UNKNOWN)
    )
    if err_code == TEST_MODE_ERR and normalised is DeliveryStatus.DELIVERED:
        # providers.md 3.4: a test-mode send reports a delivery that never happened.
        normalised = DeliveryStatus.FAILED
    raw = "" if status is None else str(status).strip()
    if not err_code:
        return normalised, raw, None, ""
    return normalised, raw, str(err_code), _ERR_TEXT.get(err_code, "")
