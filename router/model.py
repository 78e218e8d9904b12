"""The value types that flow through smsrouter: frozen, typed, comparable.

A :class:`Message` comes in; the engine normalises it into :class:`Recipient` values and
hands each provider a :class:`Batch`; the provider answers one :class:`RecipientOutcome`
per recipient; the engine records each try as an :class:`Attempt` and returns a
:class:`SendResult`. Delivery reports and inbound messages come back as
:class:`DeliveryReport` and :class:`InboundMessage`.
"""

from __future__ import annotations

import datetime
import enum
import math
import secrets
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs

from router.push import CallbackKind as CallbackKind
from router.push import CallbackRequest as CallbackRequest
from router.push import CallbackResponse as CallbackResponse

MAX_RECIPIENTS = 1000
"""The most recipients one message may have; per-recipient references stay 20 characters."""


class Outcome(enum.StrEnum):
    """What one attempt to hand one recipient to one provider came to."""

    ACCEPTED = "accepted"
    """The provider took it."""
    REJECTED_RECIPIENT = "rejected_recipient"
    """This number is wrong or blocked: no provider will do better."""
    REJECTED_MESSAGE = "rejected_message"
    """The content is refused: no provider will do better."""
    PROVIDER_ERROR = "provider_error"
    """The provider answered with an error about its own side: fail over."""
    UNAVAILABLE = "unavailable"
    """Nothing was sent: fail over."""
    AMBIGUOUS = "ambiguous"
    """The request may have been sent: resolve before sending again."""

    @property
    def is_rejection(self) -> bool:
        """Whether the message or number itself is wrong, so failing over cannot help."""
        return self in (Outcome.REJECTED_RECIPIENT, Outcome.REJECTED_MESSAGE)


class ErrorKind(enum.StrEnum):
    """Why a provider answered with an error, where the engine acts on the reason."""

    AUTH = "auth"
    """Login failed: the breaker opens for long."""
    CREDIT = "credit"
    """No credit: the cached balance drops to zero."""
    THROTTLED = "throttled"
    """Too many calls: back off."""
    INVALID_REQUEST = "invalid_request"
    """Our request was malformed: a bug worth logging loudly."""
    BUDGET = "budget"
    """Our own capacity had no room in time (a slot in the provider's budget, a connection
    from the HTTP pool): nothing was sent, the provider is not to blame (no breaker count)."""
    OTHER = "other"


class DeliveryStatus(enum.StrEnum):
    """The normalised delivery status of one recipient of one message."""

    ACCEPTED = "accepted"
    ENROUTE = "enroute"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    REJECTED = "rejected"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        """Whether no later report may change this status."""
        return self in _FINAL_STATUSES


_FINAL_STATUSES = frozenset({"delivered", "failed", "expired", "rejected"})  # StrEnum values


class RecipientStatus(enum.StrEnum):
    """Where one recipient of a sent message ended."""

    ACCEPTED = "accepted"
    """A provider took it."""
    REJECTED = "rejected"
    """The number or the text was refused; sending elsewhere would not help."""
    FAILED = "failed"
    """Every provider tried failed, or none could take it."""
    AMBIGUOUS = "ambiguous"
    """A provider may have taken it; it was not sent again."""
    SCHEDULED = "scheduled"
    """Held in the journal until its time (``send_at``, or the end of quiet hours)."""
    EXPIRED = "expired"
    """Its ``expires_at`` passed before it was sent: it never will be."""
    CANCELLED = "cancelled"
    """Cancelled before it was sent."""


class Encoding(enum.StrEnum):
    """The alphabet a text is sent in."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"


class SenderKind(enum.StrEnum):
    """What the sender ID of a message is."""

    NONE = "none"
    """No sender: the provider's shared number."""
    NUMERIC = "numeric"
    ALPHANUMERIC = "alphanumeric"


class EventType(enum.StrEnum):
    """What happened: the kinds of webhook event a ``[[webhooks]]`` entry may ask for."""

    DELIVERY_REPORT = "delivery_report"
    INBOUND_MESSAGE = "inbound_message"
    MESSAGE_FAILED = "message_failed"
    """A recipient of a message ended failed or rejected: no provider took it."""
    PROVIDER_STATE = "provider_state"
    """A provider's circuit breaker moved."""


def new_message_id() -> str:
    """A fresh message id: 16 lowercase hex characters."""
    return secrets.token_hex(8)


def _to_recipients(value: str | Iterable[str]) -> tuple[str, ...]:
    # A single string is one recipient; anything else must be an iterable of strings.
    return (value,) if isinstance(value, str) else tuple(value)


_optional_str = attrs.validators.optional(attrs.validators.instance_of(str))
_strings: Any = attrs.validators.deep_iterable(attrs.validators.instance_of(str))


def _to_time(value: object) -> float | None:
    # An aware datetime is a moment; a naive one's zone cannot be guessed: refused.
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        value = value.timestamp()
    if value is None or (type(value) in (int, float) and 0 <= value < math.inf):  # type: ignore[operator]
        return value  # type: ignore[return-value]
    raise ValueError(f"expected Unix seconds or an aware datetime, got {value!r}")


def _to_names(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    # One name is one provider, not its letters.
    return None if value is None else _to_recipients(value)


@attrs.frozen
class Message:
    """One text to one or more recipients, as a user hands it to the router.

    Numbers may be in E.164 (``+61412345678``) or in the national form of the router's
    ``default_region``. Nothing here is altered; the engine validates it before sending.
    """

    to: tuple[str, ...] = attrs.field(converter=_to_recipients, validator=_strings)
    text: str = attrs.field(validator=attrs.validators.instance_of(str))
    sender: str | None = attrs.field(default=None, validator=_optional_str)
    reference: str | None = attrs.field(default=None, validator=_optional_str)
    """The client's own reference: a message seen with it before is not sent again."""
    providers: tuple[str, ...] | None = attrs.field(
        default=None, converter=_to_names, validator=attrs.validators.optional(_strings)
    )
    """Restrict routing to these configured providers, in no particular order."""
    id: str = attrs.field(
        factory=new_message_id, validator=attrs.validators.matches_re(r"[0-9A-Za-z]{1,16}")
    )
    """Ours, 16 hex characters unless given: with ``-`` and the recipient's index it is
    the per-recipient reference, which providers keep to 20 characters."""
    send_at: float | None = attrs.field(default=None, converter=_to_time)
    """When to send it (Unix seconds or an aware datetime); held in the journal till then."""
    expires_at: float | None = attrs.field(default=None, converter=_to_time)
    """When it is no longer worth sending: not sent by then, it ends ``expired``."""
    urgent: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    """Sent even in the recipient's quiet hours."""
    callback_url: str | None = attrs.field(default=None, validator=_optional_str)
    """Where this message's delivery reports are posted, signed as webhooks are."""


@attrs.frozen
class Recipient:
    """One destination number, normalised."""

    e164: str
    """The number in E.164, with the leading ``+``."""
    region: str | None
    """ISO 3166 country code of the number (``AU``), when it has one."""
    country_code: int
    """The international calling code (61)."""
    ref: str
    """Our reference for this recipient of this message (:func:`recipient_ref`)."""

    @property
    def digits(self) -> str:
        """The number without ``+``: the international form most providers want."""
        return self.e164[1:]

    @property
    def country(self) -> str:
        """What delivery statistics and country breakers go by: the ISO country (``AU``),
        or ``+`` and the calling code for a number of none (``+882``)."""
        return self.region if self.region not in (None, "001") else f"+{self.country_code}"


def recipient_ref(message_id: str, index: int) -> str:
    """Our reference of recipient *index* (from 0) of message *message_id*: ``"<id>-<n>"``.

    Adapters hand it to a provider that keeps a client reference, and a delivery report
    carrying it back is matched by :func:`message_of_ref`.
    """
    return f"{message_id}-{index}"


def message_of_ref(ref: str) -> str | None:
    """The message id in a reference made by :func:`recipient_ref`, or None when *ref* is
    not of that form."""
    head, dash, tail = ref.rpartition("-")
    return head if dash and head and tail.isdigit() else None


@attrs.frozen
class Batch:
    """One message to some of its recipients, as handed to one provider in one call."""

    message_id: str
    """The id the call goes by: its own, or a coalesced call's first message's."""
    text: str
    sender: str | None
    sender_kind: SenderKind
    encoding: Encoding
    segments: int
    """Segments of the text for one recipient."""
    recipients: tuple[Recipient, ...]
    attempt: int = 1
    """Which attempt of this message on this provider this is (1 on the first)."""


@attrs.frozen
class RecipientOutcome:
    """What a provider said about one recipient of one :class:`Batch`."""

    recipient: str
    """The E.164 number this is about."""
    outcome: Outcome
    provider_message_id: str | None = None
    reason: str = ""
    """The provider's own words, free of secrets."""
    kind: ErrorKind | None = None
    retry_after: float | None = None
    cost: Decimal | None = None
    """What the provider charged, in its balance unit, when it said."""
    balance: Decimal | None = None
    """The provider's balance after this send, when it said."""


@attrs.frozen
class Attempt:
    """One try of one recipient on one provider."""

    provider: str
    outcome: Outcome
    reason: str = ""
    provider_message_id: str | None = None
    kind: ErrorKind | None = None
    at: float = 0.0
    """When the attempt ended, as a Unix timestamp from the router's clock."""


@attrs.frozen
class RecipientResult:
    """Where one recipient of a message ended, with every attempt it took."""

    recipient: str
    ref: str
    status: RecipientStatus
    provider: str | None
    provider_message_id: str | None
    attempts: tuple[Attempt, ...]
    segments: int = 1
    cost: Decimal | None = None
    """The estimated cost in the router's base currency, for an accepted recipient."""
    reason: str = ""
    """Why it was not sent, when no provider was asked (``opted out``, ``expired``)."""
    scheduled_at: float | None = None
    """When a ``scheduled`` recipient is to be sent."""


@attrs.frozen
class SendResult:
    """The result of sending one :class:`Message`."""

    message_id: str
    reference: str | None
    recipients: tuple[RecipientResult, ...]
    encoding: Encoding
    segments: int
    duplicate: bool = False
    """True when the reference was seen before and this is the first send's result."""

    @property
    def ok(self) -> bool:
        """Whether every recipient was accepted by some provider."""
        return all(r.status is RecipientStatus.ACCEPTED for r in self.recipients)

    def __getitem__(self, recipient: str) -> RecipientResult:
        """The result for one recipient, by its E.164 number."""
        for result in self.recipients:
            if result.recipient == recipient:
                return result
        raise KeyError(recipient)


@attrs.frozen
class DeliveryReport:
    """A provider's word on what became of one recipient of a message it took."""

    provider: str
    status: DeliveryStatus
    raw_status: str
    """The provider's own status value, for people reading logs."""
    provider_message_id: str | None = None
    ref: str | None = None
    """Our per-recipient reference, or our message id, when the provider echoes one."""
    recipient: str | None = None
    """The E.164 number, when the provider says it."""
    error_code: str | None = None
    description: str = ""
    at: float | None = None
    part: tuple[int, int] | None = None
    """(part number, parts) when the provider reports each part of a long text apart."""
    not_found: bool = attrs.field(default=False, eq=False)
    """The provider knows no such message (SMSC's -3, SMS Central listing none): past the
    attempt's timeout it never arrived (DESIGN 6). Not compared: why ``status`` is unknown."""


@attrs.frozen
class InboundMessage:
    """A text someone sent to one of our numbers."""

    provider: str
    sender: str
    """The number it came from, in E.164 where it could be parsed."""
    recipient: str
    """Our number it was sent to."""
    text: str
    provider_message_id: str | None = None
    in_reply_to: str | None = None
    """Our reference of the outbound message this answers, when the provider says."""
    at: float | None = None


@attrs.frozen
class Balance:
    """A provider account's balance."""

    amount: Decimal
    unit: str
    """``credits`` or an ISO 4217 currency code."""
    at: float = 0.0
    """When it was read, as a Unix timestamp from the router's clock."""

    @property
    def is_credits(self) -> bool:
        """Whether the balance counts message credits rather than money."""
        return self.unit == "credits"


@attrs.frozen
class StatusQuery:
    """What a provider needs to look up the status of one recipient of one message; *via*
    is the message id its call went by (:attr:`Batch.message_id`) when not its own."""

    provider_message_id: str | None
    ref: str
    recipient: str
    via: str | None = None


@attrs.frozen
class CallbackResult:
    """What a provider's push held, and what to answer it."""

    response: CallbackResponse
    reports: tuple[DeliveryReport, ...] = ()
    inbound: tuple[InboundMessage, ...] = ()
