"""SMSC's pushes: status reports and inbound texts, and the signature of a status push.

SMSC posts both kinds to one handler URL, so a push is told apart by its fields: an
inbound text carries ``mes`` and ``to``, a status report ``id``, ``phone`` and ``status``
(providers.md 3.6). :meth:`SMSCProvider.parse_callback` hands the form to :func:`read_push`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from plugins.smsc.codes import normalise_status, read_int
from router import (
    CallbackError,
    CallbackKind,
    DeliveryReport,
    InboundMessage,
    Secret,
    read_time,
    to_e164,
)


def read_push(
    provider: str,
    kind: CallbackKind,
    params: Mapping[str, str],
    *,
    region: str | None,
    secret: Secret | None,
) -> DeliveryReport | InboundMessage:
    """The status report or inbound text a push's form holds, whichever URL it came to.

    *provider* names the instance, *region* reads national numbers and *secret* checks a
    status push's signature (None: pushes are unsigned).

    Raises:
        CallbackError: the push has neither shape, or its signature does not match.
    """
    # providers.md 3.6: SMSC pushes both to one handler URL; inbound carries mes and to.
    if "mes" in params and "to" in params:
        return _inbound(provider, params, region)
    if not all(params.get(key) for key in ("id", "phone", "status")):
        raise CallbackError(
            f"{kind} push without id, phone and status: {sorted(params)}", provider=provider
        )
    if secret is not None:
        check_signature(provider, params, secret)
    phone, message_id = params["phone"], read_int(params["id"])
    status, raw, error_code, description = normalise_status(params["status"], params.get("err"))
    return DeliveryReport(
        provider=provider,
        status=status,
        raw_status=raw,
        provider_message_id=params["id"].strip() if message_id is None else str(message_id),
        recipient=to_e164(phone, region),
        error_code=error_code,
        description=description,
        at=read_time(params.get("ts")),
    )


def _inbound(provider: str, params: Mapping[str, str], region: str | None) -> InboundMessage:
    # providers.md 3.6: no signature scheme is known for inbound pushes; the daemon's
    # secret callback path is what guards them.
    sender, to = params.get("phone", ""), params.get("to", "")
    if not sender.strip():
        raise CallbackError("inbound push without the sender's phone", provider=provider)
    return InboundMessage(
        provider=provider,
        sender=to_e164(sender, region) or sender,
        recipient=to_e164(to, region) or to,
        text=params.get("mes", ""),
        provider_message_id=params.get("id") or None,
        at=read_time(params.get("ts")),
    )


def check_signature(provider: str, params: Mapping[str, str], secret: Secret) -> None:
    """Refuse a status push whose md5 or sha1 signature is missing or does not match.

    Raises:
        CallbackError: the push carries no signature, or one that does not match.
    """
    # providers.md 3.6: md5 and/or sha1 of "<id>:<phone>:<status>:<secret>".
    basis = f"{params['id']}:{params['phone']}:{params['status']}:{secret.reveal()}".encode()
    given = [
        (hashlib.new(algorithm, basis, usedforsecurity=False).hexdigest(), params[algorithm])
        for algorithm in ("md5", "sha1")
        if params.get(algorithm)
    ]
    if not given:
        raise CallbackError("status push is not signed", provider=provider)
    for expected, signature in given:
        if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
            raise CallbackError("status push signature does not match", provider=provider)
