"""An SMS Office double: ``sendsms.asp`` and ``balance.asp`` on loopback, quirks included.

It answers a send ``Success:<tracking number>`` or one of the provider's own error texts
(``Error:Invalid [to] parameter``, ``Error: Not enough credits``…, the space after the
colon as inconsistent as in the spec), a balance with a bare number of credits, all with
HTTP 200, as providers.md section 2 describes. Each part of a text costs one credit. The
provider allows one connection at a time: a request that arrives while another is still
being answered is counted in ``counters.violations["concurrent_connections"]`` (and still
answered). Every accepted send gets a delivery report pushed by GET to ``callback_url``,
resent on the provider's schedule (after 1 h, 3 h more, 12 h more) only when the answer is
HTTP 500, a network error or a timeout. The provider pushes no inbound texts (providers.md
2.5), so this double has none to push.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from decimal import Decimal

from aiohttp import web

from router import Clock, analyse
from router.testing import Account, Emulator, Handler

LOGIN_FAILED = "Error: Login Failed"
NO_CREDITS = "Error: Not enough credits"
INVALID_FROM = "Error:Invalid [from] parameter"
INVALID_TO = "Error:Invalid [to] parameter"
INVALID_MESSAGE = "Error:Invalid [message] parameter"
LEADING_ZERO = "Error:Number must start with international prefix, 0 not allowed."
TOO_MANY_PARTS = "Error:Max of 4 parts per message exceeded"
MAX_PARTS = 4
SENDER_LENGTH = 11

STATUS_MESSAGES = {
    100: "Submitted to gateway",
    200: "Delivered to Mobile",
    300: "Delivery Failed",
    400: "Route not available",
}
"""providers.md 2.4: each StatusID with the statusMessage pushed beside it."""


def _resend(status: int | None) -> bool:
    # providers.md 2.4: only an HTTP 500, a network error or a timeout makes them resend;
    # any other answer counts as delivered.
    return status is None or status == 500


def _valid_sender(sender: str) -> bool:
    # providers.md 2.2: alphanumeric, up to 11 characters.
    return 0 < len(sender) <= SENDER_LENGTH and sender.isascii() and sender.isalnum()


class SMSOfficeEmulator(Emulator):
    """SMS Office's HTTP API (send and balance) with pushed delivery reports."""

    name = "smsoffice"
    base_path = "/sms/api"
    # providers.md 2.4: resent after 60 minutes, then 3 hours later, then 12 hours later.
    push_schedule = (3600.0, 10800.0, 43200.0)

    def __init__(
        self,
        accounts: Sequence[Account] = (),
        *,
        clock: Clock | None = None,
        callback_url: str | None = None,
        inbound_url: str | None = None,
        push_scale: float = 1.0,
        dlr_status: int = 200,
        dlr_delay: float = 0.2,
        first_id: int = 480001,
    ) -> None:
        super().__init__(
            accounts,
            clock=clock,
            callback_url=callback_url,
            inbound_url=inbound_url,
            push_scale=push_scale,
        )
        self.dlr_status = dlr_status
        """The StatusID pushed for every accepted send (100, 200, 300 or 400)."""
        self.dlr_statuses: dict[str, int] = {}
        """StatusIDs for particular recipients, by ``27…`` number, over ``dlr_status``."""
        self.dlr_delay = dlr_delay
        """Seconds on the emulator's clock from a send's answer to its report, so the
        router has recorded the send before the report comes (the real one takes longer)."""
        self._ids = itertools.count(first_id)
        self._answering: list[web.Request] = []

    # -- serving --------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """The application, with the one-connection rule watched in front of everything."""
        app = web.Application(middlewares=[self._one_connection, self._middleware])
        self.routes(app)
        return app

    def routes(self, app: web.Application) -> None:
        """``sendsms.asp`` and ``balance.asp`` by GET under ``/sms/api`` (providers.md 2.1)."""
        app.router.add_get("/sms/api/sendsms.asp", self._send)
        app.router.add_get("/sms/api/balance.asp", self._balance)

    def operation_of(self, request: web.Request) -> str:
        """``send`` for ``sendsms.asp``, ``balance`` for ``balance.asp``."""
        script = request.path.rpartition("/")[2].lower()
        return {"sendsms.asp": "send", "balance.asp": "balance"}.get(script, request.path)

    @web.middleware
    async def _one_connection(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # providers.md 2.1: one connection at a time. A request whose client gave up (its
        # connection closed) no longer counts as one in flight.
        if any(_waiting(other) for other in self._answering):
            self.counters.violations["concurrent_connections"] += 1
        self._answering.append(request)
        try:
            return await handler(request)
        finally:
            self._answering.remove(request)

    # -- the protocol ---------------------------------------------------------------------

    async def _balance(self, request: web.Request) -> web.Response:
        account = self.login(request.query, "username", "password")
        if account is None:
            return _text(LOGIN_FAILED)
        # providers.md 2.3: a float with 2 decimal places.
        return _text(f"{account.balance:.2f}")

    def _refusal(self, params: Mapping[str, str]) -> str | None:
        """The error text for a send that breaks a rule, counting the violation."""
        sender, to = params.get("from", ""), params.get("to", "").strip()
        message = params.get("message", "")
        rule, answer = None, ""
        if not _valid_sender(sender):
            rule, answer = "from", INVALID_FROM
        elif to.startswith("0"):
            rule, answer = "international_prefix", LEADING_ZERO
        elif not (to.isascii() and to.isdigit() and 8 <= len(to) <= 15):
            rule, answer = "to", INVALID_TO
        elif not message.strip():
            rule, answer = "message", INVALID_MESSAGE
        elif analyse(message).segments > MAX_PARTS:
            rule, answer = "parts", TOO_MANY_PARTS
        if rule is None:
            return None
        self.counters.violations[rule] += 1
        return answer

    async def _send(self, request: web.Request) -> web.Response:
        params = request.query
        account = self.login(params, "username", "password")
        if account is None:
            return _text(LOGIN_FAILED)
        refusal = self._refusal(params)
        if refusal is not None:
            return _text(refusal)
        to, message = params["to"].strip(), params["message"]
        segments = analyse(message).segments
        if Decimal(segments) > account.balance:
            return _text(NO_CREDITS)
        account.balance -= segments
        message_id = str(next(self._ids))
        self.counters.sent.append(
            {
                "messageid": message_id,
                "to": to,
                "from": params["from"],
                "message": message,
                "segments": str(segments),
                "username": account.username,
            }
        )
        self._report(message_id, to, params["from"])
        return _text(f"Success:{message_id}")

    def provider_error(self, request: web.Request) -> web.Response:
        """An ``Error:`` text with HTTP 200, like every refusal (providers.md 2.2)."""
        return _text("Error: Service unavailable")

    # -- pushes ---------------------------------------------------------------------------

    def _report(self, message_id: str, to: str, sender: str) -> None:
        if self.callback_url is None:
            return
        status = self.dlr_statuses.get(to, self.dlr_status)
        # providers.md 2.4: plain query parameters by GET.
        params = {
            "messageid": message_id,
            "to": to,
            "from": sender,
            "StatusID": str(status),
            "statusMessage": STATUS_MESSAGES.get(status, "Unknown"),
        }
        task = asyncio.get_running_loop().create_task(self._report_later(self.callback_url, params))
        # The base class's settle() and stop() wait for and cancel what is in this set.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _report_later(self, url: str, params: dict[str, str]) -> None:
        if self.dlr_delay:
            await self.clock.sleep(self.dlr_delay)
        self.push(url, params, retry_on=_resend)


def _waiting(request: web.Request) -> bool:
    """Whether *request*'s client is still connected, waiting for its answer."""
    transport = request.transport
    return transport is not None and not transport.is_closing()


def _text(body: str) -> web.Response:
    # providers.md 2.2: every answer, errors included, comes with HTTP 200.
    return web.Response(text=body)
