"""The JSON Schemas of the daemon's message bodies, and the helpers every schema is built with.

These are components of its OpenAPI document (:mod:`router.daemon.openapi`), beside the
state it shows (:mod:`router.daemon.state_schemas`). Every list of allowed values is read
off its enum, so the document cannot drift from what the daemon writes; every object and
every field has a description (a test holds every schema added later to it too).
"""

from __future__ import annotations

import enum
from typing import Any

from router.daemon.compliance_schemas import (
    NEW_MESSAGE_TIMING,
    RECIPIENT_TIMING,
    RECORD_TIMING,
)
from router.model import DeliveryStatus, Encoding, ErrorKind, Outcome, RecipientStatus
from router.store import MessageState

Schema = dict[str, Any]


def enum_of(kind: type[enum.StrEnum], *, null: bool = False) -> Schema:
    """The schema of one of *kind*'s values (or null)."""
    values: list[str | None] = [member.value for member in kind]
    return {"enum": [*values, None] if null else values}


def described(description: str, schema: Schema | None = None, **keywords: Any) -> Schema:
    """*schema* (or the *keywords*), described."""
    return {**(schema or {}), **keywords, "description": description}


def ref(name: str) -> Schema:
    """A reference to the component schema *name*."""
    return {"$ref": f"#/components/schemas/{name}"}


def list_of(description: str, items: Schema) -> Schema:
    """An array of *items*, described."""
    return described(description, type="array", items=items)


def object_of(
    description: str,
    properties: dict[str, Schema],
    *,
    null: bool = False,
    required: list[str] | None = None,
) -> Schema:
    """An object of *properties*, every one required unless *required* says which."""
    kind: Any = ["object", "null"] if null else "object"
    needed = list(properties) if required is None else required
    return described(description, type=kind, required=needed, properties=properties)


STRING: Schema = {"type": "string"}
NULLABLE: Schema = {"type": ["string", "null"]}
_SECONDS = {"type": "number"}
AT = described("When, as Unix seconds (the router's clock)", type="number")
_AMOUNT = described(
    'A decimal amount, written as a string so no digit is lost ("0.045")', type=["string", "null"]
)
_TO = described("The recipient, in E.164 (+61412345678)", type="string")
_REF = described(
    "Our reference for this recipient of this message (at most 20 characters): the one "
    "providers echo in their reports",
    type="string",
)
_ID = described("The message id the router gave it", type="string")
_REFERENCE = described("The client's reference, as sent (null when none)", type=["string", "null"])
_ENCODING = described(
    "How the text is encoded: gsm7 (160 a segment) or ucs2 (70)", enum_of(Encoding)
)
_SEGMENTS = described("SMS segments the text takes, per recipient", type="integer")
NEXT = described("The cursor of the next page, for `before`; null on the last page", NULLABLE)

_ERROR = object_of(
    "An error: what went wrong, in which field",
    {
        "error": object_of(
            "The error itself",
            {
                "code": described(
                    "A stable code: invalid, unauthorized, not_found, no_route, ...", STRING
                ),
                "message": described("What is wrong, in words", STRING),
                "field": described(
                    "The request field at fault (to[1], providers[0]), or null", NULLABLE
                ),
                "reasons": described(
                    "With no_route: why each provider could not take it, by provider",
                    type="object",
                    additionalProperties=STRING,
                ),
            },
            required=["code", "message", "field"],
        ),
        "result": described("With no_route after attempts: the send's result", ref("SendResult")),
    },
    required=["error"],
)
_ATTEMPT = object_of(
    "One try of one recipient on one provider",
    {
        "provider": described("The provider tried, by configured name", STRING),
        "outcome": described("What the provider's answer meant", enum_of(Outcome)),
        "reason": described(
            "The provider's words, or why it was not sent (empty when accepted)", STRING
        ),
        "provider_message_id": described("The provider's id for it, when it gave one", NULLABLE),
        "kind": described("For a provider_error: which kind", enum_of(ErrorKind, null=True)),
        "at": AT,
    },
)
_ATTEMPTS = list_of("Every attempt, in order", ref("Attempt"))
_STATUS = enum_of(RecipientStatus)
_RECIPIENT = object_of(
    "Where one recipient of a sent message ended",
    {
        "to": _TO,
        "ref": _REF,
        "status": described("Its status: final, or scheduled (held until scheduled_at)", _STATUS),
        "provider": described("The provider that took it (or refused it last), or null", NULLABLE),
        "provider_message_id": described("That provider's id for it, when it gave one", NULLABLE),
        "cost": described(
            "Its estimated cost in the base currency, when accepted and priced", _AMOUNT
        ),
        "attempts": _ATTEMPTS,
        **RECIPIENT_TIMING,
    },
)
_RESULT = object_of(
    "A sent message: each recipient's status, provider and attempts",
    {
        "id": _ID,
        "reference": _REFERENCE,
        "ok": described("Whether every recipient was accepted", type="boolean"),
        "duplicate": described(
            "Whether the reference was seen before: this is the first send's result, "
            "nothing was sent again",
            type="boolean",
        ),
        "encoding": _ENCODING,
        "segments": _SEGMENTS,
        "recipients": list_of("Each recipient, in the order sent", ref("Recipient")),
    },
)
_DELIVERY = object_of(
    "The latest delivery report, or null when none came",
    {
        "status": described("What the report says, normalised", enum_of(DeliveryStatus)),
        "raw_status": described("The provider's own word for it", NULLABLE),
        "at": described(
            "When it was reported (Unix seconds), when the provider says", type=["number", "null"]
        ),
    },
    null=True,
)
_RECORD_RECIPIENT = object_of(
    "One recipient of a journalled message",
    {
        "to": _TO,
        "ref": _REF,
        "status": described(
            "Its final status; null while it is being sent", enum_of(RecipientStatus, null=True)
        ),
        "provider": described("The provider that took it (or refused it last), or null", NULLABLE),
        "provider_message_id": described("That provider's id for it, when it gave one", NULLABLE),
        "cost": described(
            "Its estimated cost in the base currency, when accepted and priced", _AMOUNT
        ),
        "attempts": _ATTEMPTS,
        **RECIPIENT_TIMING,
        "delivery": _DELIVERY,
        "redelivered_from": described(
            "The provider whose failed or expired report had it sent once more, or null",
            NULLABLE,
        ),
        "redelivery_reason": described("That report, in words, or null", NULLABLE),
    },
)
_RECORD = object_of(
    "A message as the journal holds it: its text, state and every recipient's story",
    {
        "id": _ID,
        "reference": _REFERENCE,
        "state": described(
            "Where it is: queued, sending, held (a recipient is scheduled) or done",
            enum_of(MessageState),
        ),
        "text": described("The text, as sent", STRING),
        "sender": described("The sender ID, or null for the provider's default", NULLABLE),
        "encoding": _ENCODING,
        "segments": _SEGMENTS,
        "created_at": described("When it was accepted (Unix seconds)", _SECONDS),
        **RECORD_TIMING,
        "recipients": list_of("Each recipient, in the order given", _RECORD_RECIPIENT),
    },
)
_NONEMPTY = {"type": "string", "minLength": 1}
_NAMES = {"oneOf": [_NONEMPTY, {"type": "array", "minItems": 1, "items": _NONEMPTY}]}
_NEW_MESSAGE = described(
    "A message to send (or, for POST /v1/route, to explain)",
    type="object",
    required=["to", "text"],
    additionalProperties=False,
    properties={
        "to": described(
            "One number or a list: E.164 (+61412345678), or national forms in the router's "
            "default region; each at most once",
            _NAMES,
        ),
        # Not blank: some character that is not white space.
        "text": described(
            "The text; GSM-7 where it fits, else UCS-2 (which not every provider takes)",
            type="string",
            minLength=1,
            pattern="\\S",
        ),
        "sender": described(
            "The sender ID: up to 11 letters and digits, or a number of up to 15 digits; "
            "left out for each provider's default",
            _NONEMPTY,
        ),
        "reference": described(
            "Your reference: a message sent again with the same one is not sent twice (the "
            "first result comes back, duplicate true)",
            _NONEMPTY,
        ),
        "providers": described(
            "Only these configured providers may take it, by name (one or a list): the "
            "policies still order them and may still exclude one; left out, every configured "
            "provider may",
            _NAMES,
        ),
        "wait": described(
            "true: answer with the result once sent; false: journal it, answer 202 with its "
            "id, send it in the background",
            type="boolean",
            default=True,
        ),
        "coalesce": described(
            "With wait true: the message may wait up to [router] coalesce_window for others "
            "of its text and sender, to share a provider request with them (a campaign sent "
            "one by one, as smsrouter send --csv does); a queued message always may",
            type="boolean",
            default=False,
        ),
        **NEW_MESSAGE_TIMING,
    },
)
_QUEUED = object_of(
    "A message journalled to be sent in the background",
    {
        "id": _ID,
        "reference": _REFERENCE,
        "duplicate": described(
            "Whether the reference was seen before (nothing was queued)", type="boolean"
        ),
    },
)
_CANDIDATE = object_of(
    "A provider that would be tried, in failover order",
    {
        "provider": described("The provider, by configured name", STRING),
        "cost": described(
            "The message's cost to this recipient there, in its currency, when priced", _AMOUNT
        ),
        "keys": described(
            "Each ordering policy's key for it, as that policy words it",
            type="object",
            additionalProperties=STRING,
        ),
    },
)
_EXCLUDED = object_of(
    "A provider that would not be tried, and why",
    {
        "provider": described("The provider, by configured name", STRING),
        "policy": described("The policy (or always-on filter) that excluded it", STRING),
        "reason": described("Why, in words", STRING),
    },
)
_ROUTE = object_of(
    "What would be chosen for each recipient, and why, without sending",
    {
        "id": described("The id the message would have", STRING),
        "encoding": _ENCODING,
        "segments": _SEGMENTS,
        "routes": list_of(
            "One per recipient",
            object_of(
                "One recipient's route",
                {
                    "to": _TO,
                    "candidates": list_of("The providers to try, in order", _CANDIDATE),
                    "excluded": list_of("The providers left out", _EXCLUDED),
                    "settled": object_of(
                        "What would be done instead of sending it now, or null: it is sent now",
                        {
                            "status": described(
                                "rejected (opted out), expired, or scheduled (held)", _STATUS
                            ),
                            "reason": described("Why, in words (empty when held)", STRING),
                            "scheduled_at": described(
                                "Held until then (Unix seconds), or null", type=["number", "null"]
                            ),
                        },
                        null=True,
                    ),
                },
            ),
        ),
    },
)

MESSAGE_SCHEMAS: dict[str, Any] = {
    "Error": _ERROR,
    "Attempt": _ATTEMPT,
    "Recipient": _RECIPIENT,
    "SendResult": _RESULT,
    "MessageRecord": _RECORD,
    "NewMessage": _NEW_MESSAGE,
    "Queued": _QUEUED,
    "Route": _ROUTE,
}
"""Each message body's schema by its name in ``#/components/schemas``."""
