"""Kannel's ``/cgi-bin/sendsms``, answered by smsrouter: Kannel's clients need a new URL only.

What Kannel's smsbox takes and answers, and where smsrouter differs, is
``docs/kannel-jasmin.md``. In short: ``username``/``user`` and ``password``/``pass`` name
a ``[ingress.kannel.users.NAME]`` account (403 ``Authorization failed for sendsms``
otherwise); ``to`` (numbers apart by spaces), ``from``, ``text`` in ``charset``,
``coding`` 0 or 2, ``smsc`` (a provider's name), ``dlr-mask`` and ``dlr-url``. The message
is journalled and queued, and answered ``202 0: Accepted for delivery``, as Kannel answers
once its bearerbox has it. The ``dlr-url`` is called, its ``%`` escapes filled, for each
event of ``dlr-mask``: 8 when a provider took it, 16 when none did, 1/2/4 as its delivery
reports say delivered, failed, or on its way.
"""

from __future__ import annotations

import time
from typing import Any

import attrs
from aiohttp import web

from router.errors import RouterError, ValidationError
from router.ingress.base import Ingress, IngressCall, IngressUser, find_user, user_problems
from router.ingress.fields import Unreadable, fill_escapes, request_fields, text_of
from router.model import (
    DeliveryReport,
    DeliveryStatus,
    Encoding,
    Message,
    RecipientStatus,
    SendResult,
)
from router.store.admin import IngressNote
from router.text import encoding_of

__all__ = ["KannelConfig", "KannelIngress"]

NUMBER_CHARS = frozenset("0123456789+-")
"""What Kannel takes in a number by default (its ``sendsms-chars``, less the space)."""
UNSUPPORTED = (
    *("udh", "mclass", "mwi", "compress", "validity", "deferred"),
    *("pid", "alt-dcs", "rpi", "priority", "meta-data"),
)
"""Kannel fields smsrouter cannot honour: refused, never dropped unseen."""

DELIVERED, UNDELIVERED, BUFFERED, SMSC_ACK, SMSC_NACK = 1, 2, 4, 8, 16
"""Kannel's delivery report events, its ``dlr-mask`` bits and the ``%d`` escape."""
_REPORT_EVENT = {
    DeliveryStatus.DELIVERED: DELIVERED,
    DeliveryStatus.FAILED: UNDELIVERED,
    DeliveryStatus.EXPIRED: UNDELIVERED,
    DeliveryStatus.REJECTED: UNDELIVERED,
    DeliveryStatus.ACCEPTED: BUFFERED,
    DeliveryStatus.ENROUTE: BUFFERED,
}
_NOT_SENT = frozenset(
    {
        RecipientStatus.FAILED,
        RecipientStatus.REJECTED,
        RecipientStatus.EXPIRED,
        RecipientStatus.CANCELLED,
    }
)
"""Recipients no provider took and none will: Kannel's event 16."""
_HEADERS = {"Pragma": "no-cache", "Cache-Control": "no-cache"}


@attrs.frozen
class KannelConfig:
    """The ``[ingress.kannel]`` table."""

    users: dict[str, IngressUser]
    """Kannel's ``sendsms-user`` accounts, by username."""
    global_sender: str | None = None
    """The sender of a message that names none and whose user has no default (Kannel's
    ``global-sender``); unset, the provider's own default sender is used."""


def _answer(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/html", headers=_HEADERS)


class _Refused(Exception):
    def __init__(self, status: int, text: str) -> None:
        self.answer = _answer(status, text)


def _number(fields: dict[str, bytes], name: str, low: int, high: int, field_name: str) -> int:
    raw = text_of(fields, name)
    if raw is None or raw == "":
        return -1
    try:
        value = int(raw)
    except ValueError:
        raise _Refused(400, f"{field_name} field misformed, rejected") from None
    if not low <= value <= high:
        raise _Refused(400, f"{field_name} field misformed, rejected")
    return value


class KannelIngress(Ingress):
    """Kannel's ``sendsms`` HTTP interface."""

    name = "kannel"
    Config = KannelConfig
    config: KannelConfig
    paths = ("/cgi-bin/sendsms",)

    @classmethod
    def config_problems(cls, config: Any, api_tokens: Any, providers: Any) -> list[str]:
        return user_problems(config.users, api_tokens, providers)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET|POST /cgi-bin/sendsms``: journal and queue the message, as Kannel answers."""
        try:
            return await self._send(request)
        except _Refused as refused:
            return refused.answer
        except Unreadable as exc:
            return _answer(400, f"{exc}, rejected")

    async def _send(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        if request.method == "POST" and request.content_type == "text/plain":
            fields = {**_kannel_headers(request), "text": await request.read(), **fields}
        username = text_of(fields, "username") or text_of(fields, "user")
        password = text_of(fields, "password") or text_of(fields, "pass")
        found = find_user(self.config.users, username, password)
        if found is None or not self.context.token_in_force(found[1].token):
            self.context.log.warning("sendsms refused: authorization failed for %r", username)
            raise _Refused(403, "Authorization failed for sendsms")
        name, user = found
        to = text_of(fields, "to")
        if to is None:
            raise _Refused(400, "Missing receiver number, rejected")
        numbers = to.split()
        if not numbers:
            raise _Refused(400, "Empty receiver number not allowed, rejected")
        if any(not set(n) <= NUMBER_CHARS for n in numbers):
            raise _Refused(400, "Number(s) has/have been denied by white- and/or black-lists.")
        for unsupported in UNSUPPORTED:
            if fields.get(unsupported):
                raise _Refused(400, f"{unsupported} is not supported by this gateway, rejected")
        message, note = self._message(fields, name, user, numbers)
        try:
            if note["dlr-url"] and int(note["dlr-mask"]) > 0:
                await self.context.keep_note(message.id, note)
            await self.context.accept(message)
        except ValidationError as exc:
            raise _Refused(400, f"{exc.field}: {exc.message}, rejected") from None
        except RouterError as exc:
            self.context.log.warning("sendsms could not be taken now: %s", exc)
            raise _Refused(503, "Temporal failure, try again later.") from None
        return _answer(202, "0: Accepted for delivery")

    def _message(
        self, fields: dict[str, bytes], name: str, user: IngressUser, numbers: list[str]
    ) -> tuple[Message, dict[str, str]]:
        coding = _number(fields, "coding", -1, 2, "Coding")
        if coding == 1:
            raise _Refused(400, "8-bit (binary) messages are not supported, rejected")
        mask = _number(fields, "dlr-mask", -1, 31, "DLR-Mask")
        dlr_url = text_of(fields, "dlr-url") or text_of(fields, "dlrurl") or ""
        if dlr_url and not dlr_url.lower().startswith(("http://", "https://")):
            raise _Refused(400, "DLR-URL field misformed, rejected")
        charset = text_of(fields, "charset") or ("UTF-16BE" if coding == 2 else "UTF-8")
        try:
            text = fields.get("text", b"").decode(charset)
        except (LookupError, UnicodeDecodeError):
            raise _Refused(400, "Charset or body misformed, rejected") from None
        sender = (
            user.forced_sender
            or text_of(fields, "from")
            or user.default_sender
            or self.config.global_sender
        )
        smsc = text_of(fields, "smsc")
        providers = user.providers
        if smsc:
            if smsc not in self.context.providers or (providers and smsc not in providers):
                raise _Refused(403, "Not routable. Do not try again.")
            providers = (smsc,)
        message = Message(to=tuple(numbers), text=text, sender=sender, providers=providers)
        note = {
            "user": name,
            "dlr-url": dlr_url,
            "dlr-mask": str(max(mask, 0)),
            "from": sender or "",
            "coding": "2" if coding == 2 or encoding_of(text) is Encoding.UCS2 else "0",
            "account": text_of(fields, "account") or "",
            "binfo": text_of(fields, "binfo") or "",
            **{f"to.{n}": number for n, number in enumerate(numbers)},
        }
        return message, note

    async def message_routed(self, note: IngressNote, result: SendResult) -> None:
        """Events 8 (a provider took it) and 16 (none did), per recipient, as masked."""
        for n, recipient in enumerate(result.recipients):
            if recipient.status is RecipientStatus.ACCEPTED:
                their_id = recipient.provider_message_id
                self._report(note, SMSC_ACK, n, "ACK/", recipient.provider, None, their_id)
            elif recipient.status in _NOT_SENT:
                last = recipient.attempts[-1].reason if recipient.attempts else "no route"
                self._report(note, SMSC_NACK, n, f"NACK/{last}", recipient.provider, None)

    async def delivery_report(self, note: IngressNote, report: DeliveryReport, ref: str) -> None:
        """Events 1, 2 and 4, as the provider's report says, as masked."""
        event = _REPORT_EVENT.get(report.status)
        index = ref.rpartition("-")[2]
        if event is not None and index.isdigit():
            said, at, their_id = report.raw_status, report.at, report.provider_message_id
            self._report(note, event, int(index), said, report.provider, at, their_id)

    def _report(
        self,
        note: IngressNote,
        event: int,
        index: int,
        reply: str,
        provider: str | None,
        at: float | None,
        provider_id: str | None = None,
    ) -> None:
        fields = note.fields
        if not int(fields.get("dlr-mask", "0")) & event or not fields.get("dlr-url"):
            return
        when = self.context.clock.time() if at is None else at
        receiver = fields.get(f"to.{index}", "")
        sender = fields.get("from", "")
        values = {
            "d": str(event),
            "A": reply,
            "p": receiver,  # in a report, Kannel's sender is the message's receiver
            "P": sender,
            "q": _plus(receiver),
            "Q": _plus(sender),
            "t": time.strftime("%Y-%m-%d %H:%M", time.gmtime(when)),
            "T": str(int(when)),
            "i": provider or "",
            "I": note.message_id,
            "F": provider_id or "",
            "n": fields.get("user", ""),
            "c": fields.get("coding", "0"),
            "o": fields.get("account", ""),
            "B": fields.get("binfo", ""),
        }
        self.context.call_back(IngressCall("GET", fill_escapes(fields["dlr-url"], values)))


def _plus(number: str) -> str:
    return "+" + number[2:] if number.startswith("00") else number


def _kannel_headers(request: web.Request) -> dict[str, bytes]:
    """A ``text/plain`` POST's fields, from its ``X-Kannel-*`` headers (Kannel's POST form)."""
    names = {
        "x-kannel-username": "username",
        "x-kannel-password": "password",
        "x-kannel-to": "to",
        "x-kannel-from": "from",
        "x-kannel-coding": "coding",
        "x-kannel-dlr-mask": "dlr-mask",
        "x-kannel-dlr-url": "dlr-url",
        "x-kannel-smsc": "smsc",
        "x-kannel-account": "account",
    }
    found = {}
    for header, value in request.headers.items():
        name = names.get(header.lower())
        if name is not None:
            found[name] = value.encode("utf-8")
    charset = request.charset
    if charset:
        found["charset"] = charset.encode()
    return found
