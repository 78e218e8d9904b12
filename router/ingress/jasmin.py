"""Jasmin's HTTP API, ``/send`` and ``/balance``, answered by smsrouter.

What Jasmin takes and answers, and where smsrouter differs, is ``docs/kannel-jasmin.md``.
``/send`` checks its arguments as Jasmin does (an unknown one, a bad value, a missing one:
400 ``Error "..."``), then the account (403 ``Error "Authentication failure for
username:NAME"``), journals and queues the message and answers ``Success "<id>"``. With
``dlr=yes`` (or a ``dlr-url``) the URL is called, by ``dlr-method`` (POST by default), at
``dlr-level`` 1 when a provider took it or none did and 2 when its delivery report comes
(3: both); the client answers ``ACK/Jasmin`` or is called again. ``/balance`` answers
``{"balance": "ND", "sms_count": "ND"}``: Jasmin's word for an account without a quota.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import attrs
from aiohttp import web

from router.errors import RouterError, ValidationError
from router.ingress.base import Ingress, IngressCall, IngressUser, find_user, user_problems
from router.ingress.fields import Unreadable, request_fields
from router.model import DeliveryReport, DeliveryStatus, Message, RecipientStatus, SendResult
from router.store.admin import IngressNote

__all__ = ["JasminConfig", "JasminIngress"]

_SEND_FIELDS: dict[str, re.Pattern[str] | None] = {
    "to": re.compile(r"^\+?\d+$"),
    "from": None,
    "coding": re.compile(r"^(0|1|2|3|4|5|6|7|8|9|10|13|14)$"),
    "username": re.compile(r"^.{1,16}$"),
    "password": None,  # never quoted back, whatever its length
    "priority": re.compile(r"^[0-3]$"),
    "sdt": None,
    "validity-period": re.compile(r"^\d+$"),
    "dlr": re.compile(r"^(yes|no)$"),
    "dlr-url": re.compile(r"^(http|https)\://.*$"),
    "dlr-level": re.compile(r"^[1-3]$"),
    "dlr-method": re.compile(r"^(get|post)$", re.IGNORECASE),
    "tags": re.compile(r"^([-a-zA-Z0-9,])*$"),
    "content": None,
    "hex-content": None,
    "custom_tlvs": None,
}
_MANDATORY = ("to", "username", "password")
_UNSUPPORTED = ("priority", "sdt", "validity-period", "tags", "custom_tlvs")
"""Jasmin arguments smsrouter cannot honour: refused, never dropped unseen."""
_STATUS = {
    DeliveryStatus.DELIVERED: "DELIVRD",
    DeliveryStatus.FAILED: "UNDELIV",
    DeliveryStatus.EXPIRED: "EXPIRED",
    DeliveryStatus.REJECTED: "REJECTD",
    DeliveryStatus.ACCEPTED: "ACCEPTD",
    DeliveryStatus.ENROUTE: "ENROUTE",
    DeliveryStatus.UNKNOWN: "UNKNOWN",
}
_ACK = "ACK/Jasmin"
_NOT_SENT = frozenset(
    {
        RecipientStatus.FAILED,
        RecipientStatus.REJECTED,
        RecipientStatus.EXPIRED,
        RecipientStatus.CANCELLED,
    }
)
"""Recipients no provider took and none will: a level 1 failure."""


@attrs.frozen
class JasminConfig:
    """The ``[ingress.jasmin]`` table."""

    users: dict[str, IngressUser]
    """Jasmin's HTTP API users, by username."""


class _Refused(Exception):
    def __init__(self, status: int, text: str) -> None:
        self.status, self.text = status, text


def _acked(status: int, body: str) -> bool:
    return status == 200 and body.strip().startswith(_ACK)


class JasminIngress(Ingress):
    """Jasmin's HTTP API: ``/send`` and ``/balance``."""

    name = "jasmin"
    Config = JasminConfig
    config: JasminConfig
    paths = ("/send", "/balance")

    @classmethod
    def config_problems(cls, config: Any, api_tokens: Any, providers: Any) -> list[str]:
        return user_problems(config.users, api_tokens, providers)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET|POST /send`` and ``/balance``, answered as Jasmin answers them."""
        balance = request.path == "/balance"
        try:
            fields = await _fields(request)
            if balance:
                self._user(fields, ("username", "password"))
                body = json.dumps({"balance": "ND", "sms_count": "ND"})
                return web.Response(text=body, content_type="application/json")
            return web.Response(text=f'Success "{await self._send(fields)}"')
        except (_Refused, Unreadable) as exc:
            status, text = (exc.status, exc.text) if isinstance(exc, _Refused) else (400, str(exc))
            if balance:
                return web.Response(
                    status=status, text=json.dumps(text), content_type="application/json"
                )
            return web.Response(status=status, text=f'Error "{text}"')

    def _user(self, fields: dict[str, str], known: tuple[str, ...]) -> tuple[str, IngressUser]:
        """Jasmin's argument checks, then the account."""
        if not fields:
            raise _Refused(
                400, "Mandatory arguments not found, please refer to the HTTPAPI specifications."
            )
        for name in fields:
            if name not in known:
                raise _Refused(400, f"Argument [{name}] is unknown.")
        for name in known:
            pattern = _SEND_FIELDS.get(name)
            if name in fields and pattern is not None and not pattern.match(fields[name]):
                raise _Refused(400, f"Argument [{name}] has an invalid value: [{fields[name]}].")
            if name not in fields and name in _MANDATORY:
                raise _Refused(400, f"Mandatory argument [{name}] is not found.")
        found = find_user(self.config.users, fields["username"], fields["password"])
        if found is None or not self.context.token_in_force(found[1].token):
            self.context.log.warning(
                "jasmin refused: authentication failed for %r", fields["username"]
            )
            raise _Refused(403, f"Authentication failure for username:{fields['username']}")
        return found

    async def _send(self, fields: dict[str, str]) -> str:
        if "dlr-url" in fields or "dlr-level" in fields:
            fields.setdefault("dlr", "yes")
        name, user = self._user(fields, tuple(_SEND_FIELDS))
        if ("content" in fields) == ("hex-content" in fields):
            if "content" in fields:
                raise _Refused(400, "content and hex-content cannot be used both in same request.")
            raise _Refused(400, "content or hex-content not present.")
        for unsupported in _UNSUPPORTED:
            if unsupported in fields:
                raise _Refused(400, f"Argument [{unsupported}] is not supported by this gateway.")
        message = Message(
            to=(fields["to"],),
            text=_content(fields),
            sender=user.forced_sender or fields.get("from") or user.default_sender,
            providers=user.providers,
        )
        note = {
            "user": name,
            "dlr-url": fields.get("dlr-url", "") if fields.get("dlr") == "yes" else "",
            "dlr-level": fields.get("dlr-level", "1"),
            "dlr-method": fields.get("dlr-method", "POST").upper(),
        }
        try:
            if note["dlr-url"]:
                await self.context.keep_note(message.id, note)
            await self.context.accept(message)
        except ValidationError as exc:
            raise _Refused(400, f"{exc.field}: {exc.message}") from None
        except RouterError as exc:
            self.context.log.warning("jasmin send could not be taken now: %s", exc)
            raise _Refused(503, "Cannot take the message now, try again later") from None
        return message.id

    async def message_routed(self, note: IngressNote, result: SendResult) -> None:
        """Level 1 (the provider's answer), when the client asked for level 1 or 3."""
        if note.fields.get("dlr-level") not in ("1", "3"):
            return
        for recipient in result.recipients:
            if recipient.status is RecipientStatus.ACCEPTED:
                said = "ESME_ROK"
            elif recipient.status in _NOT_SENT:
                said = "ESME_RSUBMITFAIL"
            else:
                continue
            level1 = {"id": note.message_id, "message_status": said, "level": "1"}
            self._call(note, {**level1, "connector": recipient.provider or ""})

    async def delivery_report(self, note: IngressNote, report: DeliveryReport, ref: str) -> None:
        """Level 2 (the handset's report), when the client asked for level 2 or 3."""
        if note.fields.get("dlr-level") not in ("2", "3"):
            return
        done = self.context.clock.time() if report.at is None else report.at
        delivered = report.status is DeliveryStatus.DELIVERED
        self._call(
            note,
            {
                "id": note.message_id,
                "id_smsc": report.provider_message_id or "",
                "message_status": _STATUS[report.status],
                "level": "2",
                "connector": report.provider,
                "subdate": _smpp_time(note.at),
                "donedate": _smpp_time(done),
                "sub": "001",
                "dlvrd": "001" if delivered else "000",
                "err": report.error_code or "000",
                "text": "",
            },
        )

    def _call(self, note: IngressNote, fields: dict[str, str]) -> None:
        method = note.fields.get("dlr-method", "POST")
        self.context.call_back(IngressCall(method, note.fields["dlr-url"], fields, _acked))


def _smpp_time(at: float) -> str:
    """A time as an SMPP receipt writes it: ``YYMMDDhhmm``, UTC."""
    return time.strftime("%y%m%d%H%M", time.gmtime(at))


async def _fields(request: web.Request) -> dict[str, str]:
    """The request's arguments: the query, a form body, or a JSON object body."""
    raw = await request_fields(request)
    if request.method == "POST" and request.content_type == "application/json":
        try:
            body = json.loads(await request.read())
        except ValueError:
            raise _Refused(400, "the JSON body cannot be read") from None
        if not isinstance(body, dict):
            raise _Refused(400, "the JSON body is not an object")
        for key, value in body.items():
            raw.setdefault(str(key), str(value).encode("utf-8"))
    fields = {}
    for key, value in raw.items():
        if key == "content":
            fields[key] = value.decode("latin-1")  # decoded by coding in _content
            continue
        try:
            fields[key] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise _Refused(400, f"Argument [{key}] has an invalid value.") from None
    return fields


def _content(fields: dict[str, str]) -> str:
    """The text: ``content`` in UTF-8 (coding 0) or UTF-16BE (coding 8), or ``hex-content``."""
    coding = fields.get("coding", "0")
    if coding not in ("0", "8"):
        raise _Refused(400, f"Argument [coding] {coding} is not supported by this gateway.")
    if "hex-content" in fields:
        try:
            data = bytes.fromhex(fields["hex-content"])
        except ValueError:
            raise _Refused(400, f"Invalid hex-content data: '{fields['hex-content']}'") from None
    else:
        data = fields["content"].encode("latin-1")
    try:
        return data.decode("utf-16-be" if coding == "8" else "utf-8")
    except UnicodeDecodeError:
        which = "hex-content" if "hex-content" in fields else "content"
        raise _Refused(400, f"Argument [{which}] is not valid for coding {coding}.") from None
