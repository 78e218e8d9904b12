"""An SMS Broadcast double: the Advanced HTTP API on loopback, quirks included.

It answers sends with one line per recipient (``OK:<614…>:<smsref>``, echoing a number
submitted as ``04…`` in international form, or ``BAD:<number as sent>:Invalid Number``), a
single ``ERROR: …`` line for a request it refuses (wrong credentials, too few credits), all
with HTTP 200, as providers.md section 1 describes. Each SMS part to each recipient costs
one credit. Accepted recipients get a status report pushed by GET to ``callback_url``;
:meth:`SMSBroadcastEmulator.push_inbound` pushes an inbound text to ``inbound_url``.

The texts ``Username or password is incorrect`` and ``Invalid Number`` are the provider's
own; its other error texts are unpublished (providers.md 6), so the ones here are made up
in the same style.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from aiohttp import web

from router import Clock, analyse
from router.testing import Account, Emulator, Handler, Push

_PARAMS = web.RequestKey("smsbroadcast_params", dict[str, str])

AUTH_ERROR = "ERROR: Username or password is incorrect"
CREDIT_ERROR = "ERROR: Not enough credits"
MAX_PARTS = 5
SENDER_LENGTH = 11
REF_LENGTH = 20


def international(number: str) -> str | None:
    """The ``61…`` form the provider reports *number* in, or None when it is not valid.

    providers.md 1.2: ``04xxxxxxxx``, ``614xxxxxxxx`` and ``4xxxxxxxx`` are Australian
    mobiles; other international digit strings are taken as they are (whether the provider
    takes non-AU numbers is unknown).
    """
    if not number.isdigit():
        return None
    if number.startswith("04") and len(number) == 10:
        return "61" + number[1:]
    if number.startswith("4") and len(number) == 9:
        return "61" + number
    if number.startswith("61"):
        # Australian numbers other than mobiles (landlines) cannot take an SMS.
        return number if number.startswith("614") and len(number) == 11 else None
    if number.startswith("0") or not 8 <= len(number) <= 15:
        return None
    return number


def _valid_sender(sender: str) -> bool:
    # providers.md 1.6: at most 11 letters or digits, no spaces or punctuation.
    return len(sender) <= SENDER_LENGTH and sender.isascii() and sender.isalnum()


class SMSBroadcastEmulator(Emulator):
    """SMS Broadcast's ``api-adv.php`` (send and balance) with pushed status reports."""

    name = "smsbroadcast"
    base_path = "/api-adv.php"
    # providers.md 1.4: the provider's retry policy is unknown; this modest one (after 1,
    # 5 and 15 minutes) is inferred, and pushes that are not answered 200 are retried.
    push_schedule = (60.0, 300.0, 900.0)

    def __init__(
        self,
        accounts: Sequence[Account] = (),
        *,
        clock: Clock | None = None,
        callback_url: str | None = None,
        inbound_url: str | None = None,
        push_scale: float = 1.0,
        dlr_status: str = "Delivered",
        max_recipients: int = 1000,
        first_smsref: int = 2942263,
    ) -> None:
        super().__init__(
            accounts,
            clock=clock,
            callback_url=callback_url,
            inbound_url=inbound_url,
            push_scale=push_scale,
        )
        self.dlr_status = dlr_status
        """The status pushed for every accepted recipient (``Delivered``, ``Failed``…)."""
        self.dlr_statuses: dict[str, str] = {}
        """Statuses for particular recipients, by ``61…`` number, over ``dlr_status``."""
        self.max_recipients = max_recipients
        """Recipients one request may carry (providers.md 1.2: a client's cap, 1000)."""
        self._smsrefs = itertools.count(first_smsref)
        self._handling: set[asyncio.Task[Any]] = set()

    # -- serving --------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """The application; form fields are read first so operations can be told apart."""
        app = web.Application(middlewares=[self._read_params, self._middleware])
        self.routes(app)
        return app

    def routes(self, app: web.Application) -> None:
        """``api-adv.php`` by GET or POST (providers.md 1.1), also served at ``/``."""
        app.router.add_route("*", "/api-adv.php", self._api)
        app.router.add_route("*", "/", self._api)

    def operation_of(self, request: web.Request) -> str:
        """``balance`` for ``action=balance``, else ``send``."""
        params = request.get(_PARAMS, {})
        return "balance" if params.get("action", "").strip() == "balance" else "send"

    async def __aenter__(self) -> SMSBroadcastEmulator:
        await self.start()
        return self

    async def stop(self) -> None:
        """Stop serving; requests still under way (a hang fault) are cut off at once."""
        # The base would wait its runner's shutdown timeout for a hung handler.
        for task in list(self._handling):
            task.cancel()
        await super().stop()

    @web.middleware
    async def _read_params(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None  # a request handler always runs in a task
        self._handling.add(task)
        try:
            params = dict(request.query)
            if request.method == "POST":
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
            request[_PARAMS] = params
            return await handler(request)
        finally:
            self._handling.discard(task)

    async def _api(self, request: web.Request) -> web.Response:
        params = request[_PARAMS]
        action = params.get("action", "").strip()
        if action == "balance":
            return _text(self._balance(params))
        if action:
            return _text("ERROR: Invalid action")
        return _text(self._send(params))

    # -- the protocol ---------------------------------------------------------------------

    def _balance(self, params: dict[str, str]) -> str:
        account = self.login(params, "username", "password")
        if account is None:
            return AUTH_ERROR
        return f"OK:{account.balance:f}"

    def _refusal(self, params: dict[str, str], numbers: list[str]) -> str | None:
        """The ERROR line for a request that breaks a rule, counting the violation."""
        rule, answer = None, ""
        message, sender, ref = params.get("message", ""), params.get("from", ""), params.get("ref")
        maxsplit = params.get("maxsplit", "1").strip()
        if not numbers:
            rule, answer = "to", "ERROR: No recipients"
        elif not message:
            rule, answer = "message", "ERROR: No message"
        elif len(numbers) > self.max_recipients:
            rule, answer = "recipients", "ERROR: Too many recipients"
        elif not maxsplit.isdigit() or not 1 <= int(maxsplit) <= MAX_PARTS:
            rule, answer = "maxsplit", "ERROR: Invalid maxsplit"
        elif analyse(message).segments > int(maxsplit):
            rule, answer = "length", "ERROR: Message too long"
        elif sender and not _valid_sender(sender):
            rule, answer = "sender", "ERROR: Invalid Sender ID"
        elif ref is not None and len(ref) > REF_LENGTH:
            rule, answer = "ref", "ERROR: Reference too long"
        if rule is None:
            return None
        self.counters.violations[rule] += 1
        return answer

    def _send(self, params: dict[str, str]) -> str:
        account = self.login(params, "username", "password")
        if account is None:
            return AUTH_ERROR
        numbers = [n.strip() for n in params.get("to", "").split(",") if n.strip()]
        refusal = self._refusal(params, numbers)
        if refusal is not None:
            return refusal
        message = params["message"]
        segments = analyse(message).segments
        valid = [intl for intl in map(international, numbers) if intl is not None]
        if any(self.outcome_for(intl) == "refuse" for intl in valid):
            return "ERROR: No route to destination"  # made up, in the provider's style
        cost = Decimal(segments * len(valid))
        if cost > account.balance:
            return CREDIT_ERROR
        account.balance -= cost
        ref = params.get("ref", "")
        lines = []
        for number in numbers:
            intl = international(number)
            if intl is None:
                lines.append(f"BAD:{number}:Invalid Number")
                continue
            smsref = str(next(self._smsrefs))
            lines.append(f"OK:{intl}:{smsref}")
            self.counters.sent.append(
                {
                    "to": intl,
                    "from": params.get("from", ""),
                    "message": message,
                    "ref": ref,
                    "smsref": smsref,
                    "segments": str(segments),
                    "username": account.username,
                }
            )
            self._report(intl, ref, smsref)
        return "\n".join(lines)

    # -- pushes ---------------------------------------------------------------------------

    def _report(self, to: str, ref: str, smsref: str) -> None:
        if self.callback_url is None:
            return
        # providers.md 1.4: GET with to, ref (when one was given), smsref and status.
        params = {"to": to, "ref": ref, "smsref": smsref}
        if not ref:
            del params["ref"]
        outcome = self.outcome_for(to)
        if outcome == "none":
            return
        status = _WORDS.get(outcome, self.dlr_status)
        params["status"] = self.dlr_statuses.get(to, status)
        self.push(self.callback_url, params)

    def provider_error(self, request: web.Request) -> web.Response:
        """``ERROR:`` with the reason, for the whole request (providers.md 1.2)."""
        return _text("ERROR: Service unavailable")

    def push_reply(
        self, sender: str, recipient: str, text: str, reference: str | None = None
    ) -> Push:
        """An inbound text with the ``ref`` the adapter sends: our message id (providers.md 1.5)."""
        return self.push_inbound(sender, recipient, text, ref=reference)

    def push_inbound(self, from_: str, to: str, message: str, ref: str | None = None) -> Push:
        """Push an inbound text to ``inbound_url`` by GET (providers.md 1.5)."""
        if self.inbound_url is None:
            raise ValueError("the emulator has no inbound_url to push to")
        params = {"to": to.removeprefix("+"), "from": from_.removeprefix("+"), "message": message}
        if ref is not None:
            params["ref"] = ref
        return self.push(self.inbound_url, params)


# providers.md 1.4: the statuses it pushes.
_WORDS = {"failed": "Failed", "expired": "Expired"}


def _text(body: str) -> web.Response:
    # providers.md 1.2: every answer, errors included, is text/plain with HTTP 200.
    return web.Response(text=body)
