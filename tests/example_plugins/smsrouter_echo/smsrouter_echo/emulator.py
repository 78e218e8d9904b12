"""A double of the Echo SMS API on loopback, for tests and demos without an account.

It speaks the protocol of README.md: sends draw one credit per recipient from the
account, ``ERROR no credit`` when they run out, a delivery report pushed to
``callback_url`` for each recipient taken (retried after 10 s, 1 min and 5 min, times
``push_scale``), and inbound messages pushed on demand with :meth:`push_inbound`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from aiohttp import web

from router import Clock
from router.testing import Account, Emulator, Push

MAX_RECIPIENTS = 100


class EchoEmulator(Emulator):
    """Echo SMS on loopback: point ``base_url`` at ``emulator.api_url``."""

    name = "echo"  # the type_name of the provider it doubles
    base_path = "/v1"  # where the API lives: api_url = url + base_path
    push_schedule = (10.0, 60.0, 300.0)  # seconds before each retry of a failed push

    def __init__(
        self,
        accounts: Sequence[Account] = (),
        *,
        clock: Clock | None = None,
        callback_url: str | None = None,
        inbound_url: str | None = None,
        push_scale: float = 1.0,
        report_status: str = "DELIVRD",
    ) -> None:
        super().__init__(
            accounts,
            clock=clock,
            callback_url=callback_url,
            inbound_url=inbound_url,
            push_scale=push_scale,
        )
        self.report_status = report_status
        """The status every pushed delivery report carries."""
        self._ids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        """``POST /v1/send`` and ``POST /v1/balance``."""
        app.router.add_post("/v1/send", self._send)
        app.router.add_post("/v1/balance", self._balance)

    def operation_of(self, request: web.Request) -> str:
        """``send`` or ``balance``, from the path."""
        return request.path.rsplit("/", 1)[-1]

    async def _send(self, request: web.Request) -> web.Response:
        form = self.fields(request)
        account = self.login(form, "user", "password")
        if account is None:
            return web.Response(text="ERROR login failed")
        numbers = [n for n in form.get("to", "").split(",") if n]
        refs = form.get("ref", "").split(",")
        text = form.get("text", "")
        if not numbers or not text:
            return web.Response(text="ERROR bad request: to and text are required")
        if len(numbers) > MAX_RECIPIENTS:
            self.counters.violations["max_recipients"] += 1
            return web.Response(text=f"ERROR bad request: at most {MAX_RECIPIENTS} recipients")
        if account.balance < len(numbers):
            return web.Response(text="ERROR no credit")
        lines = []
        for index, digits in enumerate(numbers):
            if not digits.isdigit() or not 8 <= len(digits) <= 15:
                lines.append(f"BAD {digits} invalid number")
                continue
            ref = refs[index] if index < len(refs) else ""
            message_id = f"echo-{next(self._ids)}"
            account.balance -= 1
            # Every SMS taken goes into counters.sent, where tests read what was sent.
            self.counters.sent.append(
                {
                    "to": digits,
                    "text": text,
                    "from": form.get("from", ""),
                    "ref": ref,
                    "id": message_id,
                }
            )
            lines.append(f"OK {digits} {message_id}")
            if self.callback_url:
                report = {"id": message_id, "ref": ref, "to": digits, "status": self.report_status}
                self.push(self.callback_url, report)
        return web.Response(text="\n".join(lines))

    async def _balance(self, request: web.Request) -> web.Response:
        account = self.login(self.fields(request), "user", "password")
        if account is None:
            return web.Response(text="ERROR login failed")
        return web.Response(text=f"BALANCE {account.balance}")

    def provider_error(self, request: web.Request) -> web.Response:
        """Echo's error line, for the whole request."""
        return web.Response(text="ERROR service unavailable")

    def push_reply(
        self, sender: str, recipient: str, text: str, reference: str | None = None
    ) -> Push:
        """An inbound text; Echo carries no reference with it."""
        return self.push_inbound(sender, text, to=recipient)

    def push_inbound(self, sender: str, text: str, *, to: str = "61400000000") -> Push:
        """Push a text from *sender* (international digits) to ``inbound_url``."""
        if self.inbound_url is None:
            raise RuntimeError("the emulator has no inbound_url to push to")
        params = {"id": f"in-{next(self._ids)}", "from": sender, "to": to, "text": text}
        return self.push(self.inbound_url, params)
