"""What the ingress tests share: a config with the ingresses on, and a client's DLR receiver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

PASSWORD = "kannel-secret-pw"
"""The Kannel and Jasmin users' password in the test config (never to be seen in logs)."""

CONFIG = """
[router]
default_region = "AU"
policy = ["prefix", "priority"]

[server]
api_tokens = ["${{SMSROUTER_API_TOKEN}}"]
callback_secret = "${{SMSROUTER_CALLBACK_SECRET}}"
shutdown_timeout = "10s"

[store]
url = "sqlite:///{db}"

[providers.broadcast]
plugin = "smsbroadcast"
username = "demo"
password = "demo-password"
base_url = "{broadcast}/api-adv.php"
prefixes = ["61"]
priority = 1
timeout = "5s"

[providers.office]
plugin = "smsoffice"
username = "demo"
password = "demo-password"
sender = "Demo"
base_url = "{office}/sms/api"
priority = 2
timeout = "5s"
{ingress}
"""

INGRESS = f"""
[ingress.kannel.users.shop]
password = "{PASSWORD}"
token = "${{SMSROUTER_API_TOKEN}}"

[ingress.jasmin.users.shop]
password = "{PASSWORD}"
token = "${{SMSROUTER_API_TOKEN}}"
"""


def config(tmp_path: Path, emulators: dict[str, Any], ingress: str = INGRESS) -> str:
    """The test config pointed at the emulators, with *ingress* tables."""
    return CONFIG.format(
        db=tmp_path / "journal.db",
        broadcast=emulators["broadcast"].url,
        office=emulators["office"].url,
        ingress=ingress,
    )


class Receiver:
    """A client's DLR URL on loopback: records every call, answers *answer*."""

    def __init__(self, answer: str = "OK") -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []
        app = web.Application()
        app.router.add_route("*", "/dlr", self._dlr)
        self.server = TestServer(app, host="127.0.0.1")

    async def _dlr(self, request: web.Request) -> web.Response:
        form = dict(await request.post()) if request.method == "POST" else {}
        self.calls.append(
            {
                "method": request.method,
                "query": dict(request.query),
                "raw_query": request.rel_url.raw_query_string,
                "form": form,
            }
        )
        return web.Response(text=self.answer)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/dlr"))

    def where(self, **want: str) -> list[dict[str, Any]]:
        """The calls whose query or form has every field of *want*."""
        return [
            c
            for c in self.calls
            if all({**c["query"], **c["form"]}.get(k) == v for k, v in want.items())
        ]
