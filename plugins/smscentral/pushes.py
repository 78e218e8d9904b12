"""SMS Central's pushes: delivery reports (one per SMS part) and inbound messages.

A push carries the account's ``USER_NAME`` and ``PASSWORD`` as its only authentication
(providers.md 4.5). :meth:`SMSCentralProvider.parse_callback` hands the form to
:func:`read_push`, with the :class:`~plugins.smscentral.parts.PartTracker` that combines the
part reports of one message into one status.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from plugins.smscentral.codes import PUSH_STATUSES
from plugins.smscentral.parts import PartTracker, parse_udh
from router import (
    CallbackError,
    CallbackKind,
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    Secret,
    to_e164,
)


def read_push(
    provider: str,
    kind: CallbackKind,
    params: Mapping[str, str],
    *,
    parts: PartTracker,
    username: str | None,
    password: Secret | None,
) -> DeliveryReport | InboundMessage:
    """The delivery report or inbound message of a push's form, once its credentials pass.

    *provider* names the instance; *parts* keeps the part reports of multi-part messages;
    *username* and *password*, when set, are what the push must carry.

    Raises:
        CallbackError: the credentials do not match, or the push lacks its key fields.
    """
    check_credentials(provider, params, username, password)
    if kind is CallbackKind.INBOUND:
        return _inbound(provider, params)
    return _report(provider, params, parts)


def check_credentials(
    provider: str, params: Mapping[str, str], username: str | None, password: Secret | None
) -> None:
    """Refuse a push whose ``USER_NAME`` or ``PASSWORD`` is not the one configured.

    Raises:
        CallbackError: a configured credential is missing from the push or differs.
    """
    # providers.md 4.5: USER_NAME/PASSWORD are a push's only authentication.
    expected = (
        ("USER_NAME", username),
        ("PASSWORD", None if password is None else password.reveal()),
    )
    good = True
    for key, value in expected:
        if value is not None:
            given = params.get(key, "").encode()
            good = hmac.compare_digest(given, value.encode()) and good
    if not good:
        raise CallbackError(
            "push credentials (USER_NAME, PASSWORD) do not match", provider=provider
        )


def _report(provider: str, params: Mapping[str, str], parts: PartTracker) -> DeliveryReport:
    raw = params.get("STATUS", "").strip()
    reference = params.get("REFERENCE", "").strip() or None
    number = params.get("RECIPIENT", "").strip()
    if not raw or not (reference or params.get("ID")):
        raise CallbackError("a delivery report needs STATUS and REFERENCE or ID", provider=provider)
    status = PUSH_STATUSES.get(raw.upper(), DeliveryStatus.UNKNOWN)
    part = None
    udh = parse_udh(params.get("UDH", ""))
    if udh is not None and udh[1] > 1:
        concat, total, number_of_part = udh
        # providers.md 4.5: one report per part; the message's status combines them.
        key = (reference or f"recipient:{number}", concat, total)
        status = parts.record(key, number_of_part, total, status)
        part = (number_of_part, total)
    result = params.get("RESULT", "").strip()
    return DeliveryReport(
        provider=provider,
        status=status,
        raw_status=raw,
        provider_message_id=reference or params.get("ID"),
        ref=reference,
        recipient=to_e164(number) if number else None,
        error_code=result if result not in ("", "0") else None,
        description=params.get("STATUSDESCRIPTION", "").strip(),
        part=part,
    )


def _inbound(provider: str, params: Mapping[str, str]) -> InboundMessage:
    # providers.md 4.6: field names from one public client; REFERENCE is the outbound one.
    sender = params.get("ORIGINATOR", "").strip()
    ours = params.get("RECIPIENT", "").strip()
    if not sender:
        raise CallbackError("an inbound message needs ORIGINATOR", provider=provider)
    return InboundMessage(
        provider=provider,
        sender=to_e164(sender) or sender,
        recipient=(to_e164(ours) or ours) if ours else "",
        text=params.get("MESSAGE_TEXT", ""),
        in_reply_to=params.get("REFERENCE", "").strip() or None,
    )
