"""An SMS Central double on loopback: form POSTs, ``0`` or ``<code> <text>``, XML, GET pushes.

It speaks the protocol of providers.md section 4: one POST endpoint (served at ``/`` and
``/api/v3.2``) whose ``ACTION`` picks send, balance or status; HTTP 200 for every answer,
errors included; one delivery report pushed per SMS part, with its UDH, retried up to 10
times at +5, +10, ... +45 minutes until the answer is HTTP 200 with body ``0``.

The real error codes are unknown (providers.md 6), so the codes below are this emulator's
own; only their ``<code> <text>`` shape is SMS Central's.
"""

from __future__ import annotations

import itertools
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
from aiohttp import web

from router import Clock, analyse
from router.testing import Account, Emulator, Push

# Emulator-only codes: SMS Central's own list is not public (providers.md 6).
BAD_LOGIN = "511 Username or Password incorrect"
NO_CREDIT = "512 Insufficient credit"
BAD_RECIPIENT = "513 Invalid recipient number"
BAD_REQUEST = "514 Missing or invalid parameter"
TOO_MANY = "515 Too many messages in one request"
TOO_LONG = "516 Message too long"
UNAVAILABLE = "517 Service temporarily unavailable"

MAX_MESSAGES = 100
MAX_STATUS_REFERENCES = 100
MAX_STATUS_RECIPIENTS = 10
MAX_REFERENCE = 100
SHARED_NUMBER = "61400000000"
"""The number a message comes from when it names no ``ORIGINATOR``."""


@attrs.define
class SentMessage:
    """One SMS the emulator took, as its status query reports it."""

    id: str
    reference: str
    recipient: str
    originator: str
    text: str
    parts: int
    datestamp: str
    status: str = "DELIVRD"
    description: str = "0004: Delivered to mobile service"


class SMSCentralEmulator(Emulator):
    """SMS Central on loopback, with switches a test can turn.

    Args:
        callback_username: the ``USER_NAME`` sent with every push (None: left out).
        callback_password: the ``PASSWORD`` sent with every push (None: left out).
        price_per_part: dollars drawn from the balance per SMS part per recipient.
        max_parts: the longest message taken, in parts (6 is an assumption).
        status_action: the ``ACTION`` that asks for a status (unknown: providers.md 4.4).
    """

    name = "smscentral"
    base_path = "/api/v3.2"
    # providers.md 4.5: up to 10 tries, the gaps growing by 5 minutes up to 45.
    push_schedule = tuple(300.0 * n for n in range(1, 10))

    def __init__(
        self,
        accounts: Sequence[Account] = (),
        *,
        clock: Clock | None = None,
        callback_url: str | None = None,
        inbound_url: str | None = None,
        push_scale: float = 1.0,
        callback_username: str | None = None,
        callback_password: str | None = None,
        price_per_part: Decimal = Decimal("0.05"),
        max_parts: int = 6,
        status_action: str = "status",
    ) -> None:
        super().__init__(
            accounts,
            clock=clock,
            callback_url=callback_url,
            inbound_url=inbound_url,
            push_scale=push_scale,
        )
        self.callback_username = callback_username
        self.callback_password = callback_password
        self.price_per_part = price_per_part
        self.max_parts = max_parts
        self.status_action = status_action
        self.messages: list[SentMessage] = []
        """Every SMS taken, oldest first: what status queries read."""
        self.invalid_recipients: set[str] = set()
        """Numbers (international digits) refused with ``513``."""
        self.dlr_status = "DELIVERD"
        """The ``STATUS`` pushed for every part, unless ``part_statuses`` says otherwise."""
        self.part_statuses: dict[str, list[str]] = {}
        """Per recipient (international digits): the ``STATUS`` of part 1, 2, ... pushed."""
        self._ids = itertools.count(1)
        self._concat = itertools.count(0x8A)

    # -- serving --------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        """One POST endpoint, at the root and at the real API path."""
        app.router.add_post("/", self._api)
        app.router.add_post("/api/v3.2", self._api)

    def operation_of(self, request: web.Request) -> str:
        """``send``, ``balance``, ``status`` by the form's ``ACTION``; ``other`` otherwise."""
        action = self.fields(request).get("ACTION", "")
        known = {"send": "send", "balance": "balance", self.status_action: "status"}
        return known.get(action, "other")

    async def _api(self, request: web.Request) -> web.Response:
        form = self.fields(request)
        account = self.login(form, "USERNAME", "PASSWORD")
        operation = self.operation_of(request)
        if operation == "balance":
            return self._balance(account)
        if account is None:
            return web.Response(text=BAD_LOGIN)
        if operation == "send":
            return web.Response(text=self._send(account, form))
        if operation == "status":
            return self._status(form)
        return web.Response(text=f"{BAD_REQUEST}: ACTION")

    # -- operations -----------------------------------------------------------------------

    def _send(self, account: Account, form: Mapping[str, str]) -> str:
        messages = self._messages(form)
        if isinstance(messages, str):
            return messages
        for message in messages:
            if len(message["REFERENCE"]) > MAX_REFERENCE:
                self.counters.violations["reference_length"] += 1
                return f"{BAD_REQUEST}: REFERENCE over {MAX_REFERENCE} characters"
            number = message["RECIPIENT"]
            if not number.isdigit() or not 8 <= len(number) <= 15:
                return f"{BAD_RECIPIENT} {number}"
            if number in self.invalid_recipients:
                return f"{BAD_RECIPIENT} {number}"
        parts = [analyse(m["MESSAGE_TEXT"]).segments for m in messages]
        if max(parts) > self.max_parts:
            self.counters.violations["max_parts"] += 1
            return TOO_LONG
        cost = self.price_per_part * sum(parts)
        if account.balance < cost:
            return NO_CREDIT
        account.balance -= cost
        originator = form.get("ORIGINATOR") or SHARED_NUMBER
        for message, count in zip(messages, parts, strict=True):
            taken = SentMessage(
                id=f"{next(self._ids):08d}",
                reference=message["REFERENCE"],
                recipient=message["RECIPIENT"],
                originator=originator,
                text=message["MESSAGE_TEXT"],
                parts=count,
                datestamp=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.clock.time())),
            )
            self.messages.append(taken)
            self.counters.sent.append(
                {
                    "ID": taken.id,
                    "ORIGINATOR": originator,
                    "RECIPIENT": taken.recipient,
                    "MESSAGE_TEXT": taken.text,
                    "REFERENCE": taken.reference,
                }
            )
            self._report(taken)
        return "0"

    def _messages(self, form: Mapping[str, str]) -> list[dict[str, str]] | str:
        """The messages of a send, or the error answer."""
        text = form.get("MESSAGE_TEXT", "")
        if "RECIPIENTMESSAGES" not in form:
            if not form.get("RECIPIENT") or not text:
                return f"{BAD_REQUEST}: RECIPIENT and MESSAGE_TEXT are required"
            return [
                {
                    "RECIPIENT": form["RECIPIENT"],
                    "MESSAGE_TEXT": text,
                    "REFERENCE": form.get("REFERENCE", ""),
                }
            ]
        try:
            items: Any = json.loads(form["RECIPIENTMESSAGES"])
        except ValueError:
            return f"{BAD_REQUEST}: RECIPIENTMESSAGES is not JSON"
        if not isinstance(items, list) or not items:
            return f"{BAD_REQUEST}: RECIPIENTMESSAGES must be a list of messages"
        if len(items) > MAX_MESSAGES:
            self.counters.violations["recipientmessages_max_100"] += 1
            return TOO_MANY
        messages = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("RECIPIENT"), str):
                return f"{BAD_REQUEST}: each message needs a RECIPIENT"
            body = item.get("MESSAGE_TEXT", text)
            if not isinstance(body, str) or not body:
                return f"{BAD_REQUEST}: each message needs a MESSAGE_TEXT"
            reference = item.get("REFERENCE", "")
            messages.append(
                {
                    "RECIPIENT": item["RECIPIENT"],
                    "MESSAGE_TEXT": body,
                    "REFERENCE": reference if isinstance(reference, str) else "",
                }
            )
        return messages

    def _balance(self, account: Account | None) -> web.Response:
        if account is None:
            code, _, words = BAD_LOGIN.partition(" ")
            error = ET.Element("error")
            ET.SubElement(error, "errorcode").text = code
            ET.SubElement(error, "errormessage").text = words
            return _xml(error)
        balance = ET.Element("balance")
        balance.text = f"{account.balance:.2f}"
        return _xml(balance)

    def _status(self, form: Mapping[str, str]) -> web.Response:
        if form.get("REFERENCE"):
            references = form["REFERENCE"].split(",")
            if len(references) > MAX_STATUS_REFERENCES:
                self.counters.violations["status_max_100_references"] += 1
                return web.Response(text=f"{BAD_REQUEST}: at most 100 REFERENCE values")
            wanted = set(references)
            found = [m for m in self.messages if m.reference in wanted]
        elif form.get("RECIPIENT"):
            numbers = form["RECIPIENT"].split(",")
            if len(numbers) > MAX_STATUS_RECIPIENTS:
                self.counters.violations["status_max_10_recipients"] += 1
                return web.Response(text=f"{BAD_REQUEST}: at most 10 RECIPIENT values")
            found = []
            for number in numbers:
                found.extend([m for m in self.messages if m.recipient == number][-10:])
        else:
            return web.Response(text=f"{BAD_REQUEST}: RECIPIENT or REFERENCE is required")
        root = ET.Element("messages")
        for message in found:
            element = ET.SubElement(root, "message")
            for tag, value in (
                ("reference", message.reference),
                ("datestamp", message.datestamp),
                ("recipient", message.recipient),
                ("status", message.status),
                ("statusdescription", message.description),
            ):
                ET.SubElement(element, tag).text = value
        return _xml(root)

    def provider_error(self, request: web.Request) -> web.Response:
        """A coded error line with HTTP 200 (providers.md 4.2)."""
        return web.Response(text=UNAVAILABLE)

    def set_status(self, reference: str, status: str, description: str = "") -> None:
        """What status queries say of every message sent with *reference*."""
        matching = [m for m in self.messages if m.reference == reference]
        if not matching:
            raise KeyError(reference)
        for message in matching:
            message.status, message.description = status, description

    # -- pushes ---------------------------------------------------------------------------

    def _report(self, message: SentMessage) -> None:
        """Push one delivery report per part of *message* to ``callback_url``."""
        if not self.callback_url:
            return
        statuses = self.part_statuses.get(message.recipient, [])
        concat = next(self._concat) % 256
        for part in range(1, message.parts + 1):
            status = statuses[part - 1] if part <= len(statuses) else self.dlr_status
            params = {
                **self._credentials(),
                "ORIGINATOR": message.originator,
                "RECIPIENT": message.recipient,
                "PROVIDER": "telstra",
                "MESSAGE_TEXT": message.text,
                "ID": message.id,
                "REFERENCE": message.reference,
                "RESULT": "0",
                "STATUS": status,
                "STATUSDESCRIPTION": "" if status != "FAILED" else "Emulated failure",
            }
            if message.parts > 1:
                params["UDH"] = f"050003{concat:02X}{message.parts:02X}{part:02X}"
            self._push(self.callback_url, params)

    def push_inbound(
        self, originator: str, recipient: str, text: str, reference: str | None = None
    ) -> Push:
        """Push a reply from *originator* to our *recipient* number to ``inbound_url``."""
        if not self.inbound_url:
            raise ValueError("the emulator has no inbound_url to push to")
        params = {
            **self._credentials(),
            "ORIGINATOR": originator,
            "RECIPIENT": recipient,
            "PROVIDER": "optus",
            "CAMPAIGN": "",
            "MESSAGE_TEXT": text,
        }
        if reference is not None:
            params["REFERENCE"] = reference
        return self._push(self.inbound_url, params)

    def push_reply(
        self, sender: str, recipient: str, text: str, reference: str | None = None
    ) -> Push:
        """An inbound reply, with the push credentials and the ``REFERENCE`` (4.5)."""
        return self.push_inbound(sender, recipient, text, reference)

    def provider_options(self) -> dict[str, str | None]:
        """The account, and the credentials this emulator sends with its pushes."""
        return {
            **super().provider_options(),
            "callback_username": self.callback_username,
            "callback_password": self.callback_password,
        }

    def _credentials(self) -> dict[str, str]:
        credentials = {}
        if self.callback_username is not None:
            credentials["USER_NAME"] = self.callback_username
        if self.callback_password is not None:
            credentials["PASSWORD"] = self.callback_password
        return credentials

    def _push(self, url: str, params: Mapping[str, str]) -> Push:
        # providers.md 4.5: only HTTP 200 with body "0" counts as received. The base's
        # retry test sees the status alone; the body is on the record by then.
        sent: list[Push] = []

        def retry(status: int | None) -> bool:
            return status != 200 or (sent[0].body or "").strip() != "0"

        sent.append(self.push(url, params, retry_on=retry))
        return sent[0]


def _xml(element: ET.Element) -> web.Response:
    return web.Response(text=ET.tostring(element, encoding="unicode"), content_type="text/xml")
