"""What SMS Central's answers mean: status words, error codes and the words after them.

Its error codes are not documented (providers.md 6), so an error's kind is read from its
text; an error about a number rejects the recipient it quotes, and the others of the
request fail over.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from router import DeliveryStatus, ErrorKind, Outcome, Recipient, RecipientOutcome

# providers.md 4.4: the documented <status> is SMPP-style; the rest of the table is a guess.
QUERY_STATUSES: Mapping[str, DeliveryStatus] = {
    "DELIVRD": DeliveryStatus.DELIVERED,
    "DELIVERD": DeliveryStatus.DELIVERED,
    "ENROUTE": DeliveryStatus.ENROUTE,
    "ACCEPTD": DeliveryStatus.ENROUTE,
    "BUFFRED": DeliveryStatus.ENROUTE,
    "EXPIRED": DeliveryStatus.EXPIRED,
    "UNDELIV": DeliveryStatus.FAILED,
    "FAILED": DeliveryStatus.FAILED,
    "DELETED": DeliveryStatus.FAILED,
    "REJECTD": DeliveryStatus.REJECTED,
}
# providers.md 4.5: pushed reports spell it DELIVERD; accept the SMPP DELIVRD too.
PUSH_STATUSES: Mapping[str, DeliveryStatus] = {
    "DELIVERD": DeliveryStatus.DELIVERED,
    "DELIVRD": DeliveryStatus.DELIVERED,
    "BUFFRED": DeliveryStatus.ENROUTE,
    "FAILED": DeliveryStatus.FAILED,
}

# providers.md 4.2: errors are "<numeric code> <text>" (a newline may stand for the space).
CODED_ANSWER = re.compile(r"^(\d+)(?:[\s:.\-]+(.*))?$", re.DOTALL)
# The code list is unknown (providers.md 6), so the kind is read from the text.
_AUTH = re.compile(r"user\s*_?name|password|log\s*in|auth|credential", re.IGNORECASE)
_CREDIT = re.compile(r"credit|balance|fund", re.IGNORECASE)
_THROTTLED = re.compile(r"too many|rate limit|throttl", re.IGNORECASE)
_SENDER = re.compile(r"originator|sender", re.IGNORECASE)
RECIPIENT_WORDS = re.compile(r"recipient|number|mobile|destination|msisdn", re.IGNORECASE)
_MALFORMED = re.compile(r"missing|required|parameter|action|json", re.IGNORECASE)
_NUMBERS = re.compile(r"\+?\d{6,}")


def error_kind(text: str) -> ErrorKind | None:
    """The kind of an error text SMS Central sent, or None when the text says no more."""
    if _AUTH.search(text):
        return ErrorKind.AUTH
    if _CREDIT.search(text):
        return ErrorKind.CREDIT
    if _THROTTLED.search(text):
        return ErrorKind.THROTTLED
    if _SENDER.search(text):
        return ErrorKind.OTHER
    if RECIPIENT_WORDS.search(text):
        return None
    if _MALFORMED.search(text):
        return ErrorKind.INVALID_REQUEST
    return None


# Which of several messages with one REFERENCE speaks for it: the most taken.
STATUS_RANK: Mapping[DeliveryStatus, int] = {
    DeliveryStatus.UNKNOWN: 0,
    DeliveryStatus.FAILED: 1,
    DeliveryStatus.EXPIRED: 1,
    DeliveryStatus.REJECTED: 1,
    DeliveryStatus.ACCEPTED: 2,
    DeliveryStatus.ENROUTE: 3,
    DeliveryStatus.DELIVERED: 4,
}


def recipient_refused(
    recipients: Sequence[Recipient], words: str, reason: str
) -> list[RecipientOutcome]:
    """Outcomes for an error about a number: rejected for the number it quotes.

    With one recipient, that is the one. With several, the others share the refused
    request and fail over; when no number is quoted, none can be blamed, so all fail over.
    """
    quoted = {n.removeprefix("+") for n in _NUMBERS.findall(words)}
    named = {r.e164 for r in recipients if r.digits in quoted}
    if not named and len(recipients) == 1:
        named = {recipients[0].e164}
    if not named:
        return same_outcome(recipients, Outcome.PROVIDER_ERROR, reason, ErrorKind.OTHER)
    others = f"refused with another recipient: {reason}"
    return [
        RecipientOutcome(r.e164, Outcome.REJECTED_RECIPIENT, reason=reason)
        if r.e164 in named
        else RecipientOutcome(r.e164, Outcome.PROVIDER_ERROR, reason=others, kind=ErrorKind.OTHER)
        for r in recipients
    ]


def same_outcome(
    recipients: Sequence[Recipient], outcome: Outcome, reason: str, kind: ErrorKind | None = None
) -> list[RecipientOutcome]:
    """One *outcome* for every recipient: the request failed or succeeded as a whole."""
    return [RecipientOutcome(r.e164, outcome, reason=reason, kind=kind) for r in recipients]
