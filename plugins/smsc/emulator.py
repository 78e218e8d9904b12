"""SMSC / SMS Centre emulator: ``send.php``, ``status.php`` and ``balance.php`` on loopback.

It speaks providers.md section 3, quirks included: errors are HTTP 200 bodies with an
``error_code``; ``fmt=3`` JSON values come as numbers or as strings (``string_values``);
``fmt=0`` answers in text. It enforces SMSC's anti-flood rules the way SMSC does, with
error 9 and a count in ``counters.violations``: an identical send (same phones and text)
within 60 s (``duplicate_send``), more than 5 identical cost quotes a minute
(``cost_rate``), an 11th balance call within 60 s (``balance_rate``), and 15 or more
requests at once (``concurrency``); time is the injected clock's. Sends draw the balance
by cost per part; status pushes are form POSTs signed with md5 when a secret is set.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import itertools
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
from aiohttp import web

from router import Clock, analyse
from router.testing import Account, Emulator, Push

MAX_CONCURRENT = 15
"""Requests at once under one login that draw error 9 (providers.md 3.3)."""

DUPLICATE_WINDOW = 60.0
"""Seconds in which an identical send draws error 9 (providers.md 3.7)."""

BALANCE_CALLS = 10
"""Balance calls allowed in any 60 s (providers.md 3.5)."""

COST_CALLS = 5
"""Identical cost quotes allowed in any 60 s (providers.md 3.2)."""

_PHONE = re.compile(r"\+?\d{10,15}")

_ERRORS = {
    1: "parameters error",
    2: "authorise error",
    3: "no money",
    4: "IP address is temporarily blocked",
    6: "message is denied",
    7: "invalid number",
    8: "can't deliver to this number",
    9: "duplicate request, wait a minute",
}
_OUTCOME_STATUS = {"failed": 20, "expired": 3, "none": None}  # providers.md 3.4 statuses


@attrs.define
class SentMessage:
    """One (id, phone) the emulator took, and where it stands."""

    id: int
    phone: str
    text: str
    status: int = -1
    err: int = 0
    changed: float = 0.0


class SMSCEmulator(Emulator):
    """SMSC's double. See the module docstring for what it enforces.

    Args:
        string_values: answer every JSON value as a string (``{"id": "12"}``), as some
            SMSC answers do, instead of numbers.
        price_per_part: what one SMS part to one number costs, in ``currency``.
        currency: the accounts' currency, named by ``balance.php`` with ``cur=1``.
        callback_secret: signs status pushes with md5 of ``id:phone:status:secret``.
        api_keys: ``apikey`` values, each naming the account it logs in to.
        undeliverable: numbers (digits) a send refuses with error 8 for that number.
        delivery_status: the status a taken message moves to at once, pushed to
            ``callback_url``; None leaves it queued (-1) until :meth:`set_status`.
        dlr_delay: seconds (on the clock) before that status is pushed.
    """

    name = "smsc"
    base_path = "/sys"
    credential_options = ("login", "psw")
    # providers.md 3.6: SMSC's retry policy for pushes is unknown; a modest one is assumed.
    push_schedule = (60.0, 300.0, 1800.0)

    def __init__(
        self,
        accounts: Sequence[Account] = (),
        *,
        clock: Clock | None = None,
        callback_url: str | None = None,
        inbound_url: str | None = None,
        push_scale: float = 1.0,
        string_values: bool = False,
        price_per_part: Decimal = Decimal("1.50"),
        currency: str = "RUB",
        callback_secret: str | None = None,
        api_keys: Mapping[str, str] | None = None,
        undeliverable: Iterable[str] = (),
        delivery_status: int | None = 1,
        dlr_delay: float = 0.2,
    ) -> None:
        super().__init__(
            accounts,
            clock=clock,
            callback_url=callback_url,
            inbound_url=inbound_url,
            push_scale=push_scale,
        )
        self.string_values = string_values
        self.price_per_part = price_per_part
        self.currency = currency
        self.callback_secret = callback_secret
        self.api_keys = dict(api_keys or {})
        self.undeliverable = set(undeliverable)
        self.delivery_status = delivery_status
        self.dlr_delay = dlr_delay
        self.messages: dict[tuple[int, str], SentMessage] = {}
        """Every (id, phone) taken, as status.php reports it."""
        self.hold: asyncio.Event | None = None
        """When set to an Event, every admitted request waits for it: tests hold calls open."""
        self._last_send: dict[tuple[str, tuple[str, ...], str], float] = {}
        self._calls: dict[tuple[str, ...], collections.deque[float]] = {}
        self._auto_ids = itertools.count(1)
        self._inbound_ids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        """``/sys/send.php``, ``/sys/status.php`` and ``/sys/balance.php``, GET or POST."""
        app.router.add_route("*", "/sys/send.php", self._send)
        app.router.add_route("*", "/sys/status.php", self._status)
        app.router.add_route("*", "/sys/balance.php", self._balance)

    def operation_of(self, request: web.Request) -> str:
        """``send``, ``status`` or ``balance`` by the script name."""
        script = request.path.rsplit("/", 1)[-1].removesuffix(".php")
        return script if script in ("send", "status", "balance") else request.path

    # -- what tests drive -----------------------------------------------------------------

    def set_status(
        self, message_id: int, phone: str, status: int, err: int = 0, *, delay: float = 0.0
    ) -> None:
        """Move a taken message to *status* (SMSC's code) and push it *delay* s later."""
        message = self.messages[(message_id, _digits(phone))]
        message.status, message.err, message.changed = status, err, self.clock.time()
        if self.callback_url is None:
            return
        task = asyncio.get_running_loop().create_task(self._push_status(message, delay))
        # The base class's settle() and stop() wait for and cancel what is in this set.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def push_reply(
        self, sender: str, recipient: str, text: str, reference: str | None = None
    ) -> Push:
        """SMSC's inbound form POST (no reference) to ``inbound_url``, else ``callback_url``."""
        url = self.inbound_url or self.callback_url
        if url is None:
            raise RuntimeError("no inbound_url or callback_url to push to")
        params = {"id": str(next(self._inbound_ids)), "phone": sender, "mes": text}
        return self.push(url, {**params, "to": recipient}, method="POST")

    def provider_error(self, request: web.Request) -> web.Response:
        """Error 4 (IP blocked for a while) in the format asked for (providers.md 3.2)."""
        fields = self.fields(request)
        return self._error(fields.get("fmt", "0"), 4, fields.get("id"))

    # -- the protocol ---------------------------------------------------------------------

    def _sent(
        self, message_id: int, phone: str, text: str, sender: str, account: Account, parts: int
    ) -> None:
        now = self.clock.time()
        message = SentMessage(message_id, _digits(phone), text, changed=now)
        self.messages[(message_id, message.phone)] = message
        sent = {"id": str(message_id), "phone": message.phone, "mes": text, "sender": sender}
        self.counters.sent.append({**sent, "login": account.username, "parts": str(parts)})
        status = _OUTCOME_STATUS.get(self.outcome_for(message.phone), self.delivery_status)
        if status is not None:
            # A report pushed at once could reach the router before our answer does.
            self.set_status(message_id, phone, status, delay=self.dlr_delay)

    async def _send(self, request: web.Request) -> web.Response:
        params = self.fields(request)
        fmt, given = params.get("fmt", "0"), params.get("id")
        refused, account = await self._admit(params)
        if refused is not None:
            return self._error(fmt, refused, given)
        assert account is not None
        phones = [p.strip() for p in re.split(r"[,;]", params.get("phones", "")) if p.strip()]
        text = params.get("mes")
        message_id = _int(given) if given else next(self._auto_ids)
        if not phones or not text or message_id is None or not 1 <= message_id <= 2**31 - 1:
            return self._error(fmt, 1, given)
        if len(text) > 1000:
            return self._error(fmt, 1, given)
        if any(self.outcome_for(_digits(p)) == "refuse" for p in phones):
            return web.Response(status=503, text="Service Unavailable")  # its route is down
        bad = {p: 7 if not _PHONE.fullmatch(p) else 8 for p in phones if not self._deliverable(p)}
        good = [p for p in phones if p not in bad]
        if not good:
            return self._error(fmt, min(bad.values()), given)
        parts = analyse(text).segments
        total = self.price_per_part * parts * len(good)
        key = (account.username, tuple(sorted(_digits(p) for p in phones)), text)
        now = self.clock.time()
        if params.get("cost") == "1":
            if self._over_rate(("cost", account.username, *key[1], text), COST_CALLS, now):
                self.counters.violations["cost_rate"] += 1
                return self._error(fmt, 9, given)
            return self._answer(fmt, {"cost": total, "cnt": parts * len(good)}, f"{total:.2f}")
        last = self._last_send.get(key)
        if last is not None and now - last < DUPLICATE_WINDOW:
            self.counters.violations["duplicate_send"] += 1
            return self._error(fmt, 9, given)
        if account.balance < total:
            return self._error(fmt, 3, given)
        account.balance -= total
        self._last_send[key] = now
        for phone in good:
            self._sent(message_id, phone, text, params.get("sender", ""), account, parts)
        each = self.price_per_part * parts
        payload: dict[str, Any] = {"id": message_id, "cnt": parts * len(good)}
        if params.get("cost") in ("2", "3"):
            payload["cost"] = total
        if params.get("cost") == "3":
            payload["balance"] = account.balance
        if params.get("op") == "1":
            payload["phones"] = [
                {"phone": _digits(p), "mccmnc": "25001", "cost": each, "status": -1}
                if p in good
                else {"phone": _digits(p), "mccmnc": "0", "cost": 0, "error": bad[p]}
                for p in phones
            ]
        text_answer = f"OK - {parts * len(good)} SMS, ID - {message_id}"
        if "cost" in payload:
            text_answer += f", COST - {total:.2f}"
        if "balance" in payload:
            text_answer += f", BALANCE - {account.balance:.2f}"
        return self._answer(fmt, payload, text_answer)

    async def _status(self, request: web.Request) -> web.Response:
        params = self.fields(request)
        fmt = params.get("fmt", "0")
        refused, _ = await self._admit(params)
        if refused is not None:
            return self._error(fmt, refused, None)
        raw_ids, raw_phones = params.get("id", ""), params.get("phone", "")
        ids = [_int(i) for i in raw_ids.split(",") if i.strip()]
        phones = [p.strip() for p in raw_phones.split(",") if p.strip()]
        if not ids or len(ids) != len(phones) or None in ids:
            return self._error(fmt, 1, None)
        items: list[dict[str, Any]] = []
        for message_id, phone in zip(ids, phones, strict=True):
            assert message_id is not None
            message = self.messages.get((message_id, _digits(phone)))
            status = -3 if message is None else message.status
            changed = self.clock.time() if message is None else message.changed
            items.append(
                {
                    "id": message_id,
                    "phone": _digits(phone),
                    "status": status,
                    "err": 0 if message is None else message.err,
                    "last_date": _date(changed),
                    "last_timestamp": int(changed),
                }
            )
        # providers.md 3.4: a list (or a trailing comma) gets the list form of the answer.
        listed = "," in raw_ids
        lines = "\n".join(f"{i['status']},{i['last_timestamp']},{i['err']}" for i in items)
        return self._answer(fmt, items if listed else items[0], lines)

    async def _balance(self, request: web.Request) -> web.Response:
        params = self.fields(request)
        fmt = params.get("fmt", "0")
        refused, account = await self._admit(params)
        if refused is not None:
            return self._error(fmt, refused, None)
        assert account is not None
        if self._over_rate(("balance", account.username), BALANCE_CALLS, self.clock.time()):
            self.counters.violations["balance_rate"] += 1
            return self._error(fmt, 9, None)
        payload: dict[str, Any] = {"balance": account.balance}
        text = f"{account.balance:.2f}"
        if params.get("cur") == "1":
            payload["currency"] = self.currency
            text += f", {self.currency}"
        return self._answer(fmt, payload, text)

    # -- rules ----------------------------------------------------------------------------

    async def _admit(self, params: Mapping[str, str]) -> tuple[int | None, Account | None]:
        """(error code, None) for a refused request, else (None, the account)."""
        # The base counts this request in flight before the handler runs.
        if self.counters.in_flight >= MAX_CONCURRENT:
            self.counters.violations["concurrency"] += 1
            return 9, None
        if self.hold is not None:
            await self.hold.wait()
        account = self._account(params)
        return (2, None) if account is None else (None, account)

    def _account(self, params: Mapping[str, str]) -> Account | None:
        if "apikey" in params:
            return self.accounts.get(self.api_keys.get(params["apikey"], ""))
        account = self.accounts.get(params.get("login", ""))
        if account is None:
            return None
        psw = params.get("psw", "")
        # providers.md 3.1: psw may be the password or the lower-case md5 of it.
        digest = hashlib.md5(account.password.encode(), usedforsecurity=False).hexdigest()
        return account if psw in (account.password, digest) else None

    def _deliverable(self, phone: str) -> bool:
        return bool(_PHONE.fullmatch(phone)) and _digits(phone) not in self.undeliverable

    def _over_rate(self, key: tuple[str, ...], calls: int, now: float) -> bool:
        """Count a call under *key*; True when it is over *calls* in the last 60 s."""
        window = self._calls.setdefault(key, collections.deque())
        while window and now - window[0] >= 60.0:
            window.popleft()
        window.append(now)
        return len(window) > calls

    async def _push_status(self, message: SentMessage, delay: float) -> None:
        if delay:
            await self.clock.sleep(delay)
        if self.callback_url is None:
            return
        params = {
            "id": str(message.id),
            "phone": message.phone,
            "status": str(message.status),
            "err": str(message.err),
            "time": _date(message.changed),
            "ts": str(int(message.changed)),
        }
        if self.callback_secret is not None:
            basis = f"{params['id']}:{params['phone']}:{params['status']}:{self.callback_secret}"
            params["md5"] = hashlib.md5(basis.encode(), usedforsecurity=False).hexdigest()
        self.push(self.callback_url, params, method="POST")

    # -- answers --------------------------------------------------------------------------

    def _answer(self, fmt: str, payload: object, text: str) -> web.Response:
        if fmt == "3":
            return web.Response(
                text=_dumps(payload, self.string_values), content_type="application/json"
            )
        return web.Response(text=text)

    def _error(self, fmt: str, code: int, given_id: str | None) -> web.Response:
        # providers.md 3.2: errors are HTTP 200, with the id when the request named one.
        description = _ERRORS[code]
        payload: dict[str, Any] = {"error": description, "error_code": code}
        text = f"ERROR = {code} ({description})"
        if given_id:
            payload["id"] = _int(given_id) or given_id
            text += f", ID - {given_id}"
        return self._answer(fmt, payload, text)


def _digits(phone: str) -> str:
    return phone.strip().removeprefix("+")


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(value.strip())
    except ValueError:
        return None


def _date(when: float) -> str:
    return time.strftime("%d.%m.%Y %H:%M:%S", time.gmtime(when))


def _dumps(payload: object, as_strings: bool) -> str:
    def value(item: object) -> object:
        if isinstance(item, dict):
            return {k: value(v) for k, v in item.items()}
        if isinstance(item, list):
            return [value(v) for v in item]
        if isinstance(item, Decimal):
            money = f"{item:.2f}"
            return money if as_strings else float(money)
        if isinstance(item, int) and as_strings:
            return str(item)
        return item

    return json.dumps(value(payload), ensure_ascii=False)
