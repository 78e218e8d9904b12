"""``smsrouter demo``: the four emulators and the daemon on loopback, and a mixed batch.

The example config (``config.example.toml``, shipped in this package) is pointed at the
emulators (:mod:`router.cli.emulate`), the daemon starts on ``--listen``, and a batch goes
through its HTTP API: Australian numbers (the provider they are routed to first answers
with its own error, so failover shows), a South African number, a long Cyrillic text to
Russia, and a message with a bad number. The emulators push delivery reports back to the
daemon's callback URLs, and an inbound reply arrives. Every provider-specific part (where
an API lives, its account options, its error answer, its inbound push) comes from the
emulator each plugin registers. A summary shows what happened; then the daemon keeps
serving (API and ``/metrics``) until Ctrl-C, or with ``--once`` exits 0 when every step
worked.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from router.cli.bulk_report import table
from router.cli.emulate import Emulated, point_at, read_example, start_emulators
from router.config import read_toml
from router.daemon import Daemon, listen_on, make_app, split_listen
from router.plugins import PluginHost
from router.testing import Emulator

__all__ = ["ENV", "SECRET", "TOKEN", "Demo", "demo_config", "read_example", "run_demo"]

TOKEN = "demo-api-token"  # noqa: S105 - the demo's own loopback daemon
SECRET = "demo-callback-secret"  # noqa: S105 - likewise

ENV = {"SMSROUTER_API_TOKEN": TOKEN, "SMSROUTER_CALLBACK_SECRET": SECRET}
"""The daemon's own secrets the example config reads from the environment. A provider's
account comes from its emulator instead (:meth:`~router.testing.Emulator.provider_options`)."""

BATCH: list[dict[str, Any]] = [
    {
        "to": ["0412 345 678", "+61 423 456 789"],
        "text": "Your table for two is booked for 7pm tonight.",
        "reference": "demo-au-1",
    },
    {"to": "+27 82 123 4567", "text": "Your parcel is out for delivery.", "reference": "demo-za-1"},
    {
        "to": "+7 912 345-67-89",
        "text": "Здравствуйте! Ваш заказ принят и будет доставлен завтра с 10:00 до 14:00. "
        "Спасибо, что выбрали нас — хорошего дня!",
        "reference": "demo-ru-1",
    },
    {"to": "+61 4", "text": "This one has a bad number.", "reference": "demo-bad-1"},
]


def demo_config(
    base: Mapping[str, Any], options: Mapping[str, Mapping[str, str | None]], store: str
) -> dict[str, Any]:
    """*base* with each provider pointed at its plugin's emulator.

    Args:
        base: a config, as read from its TOML file.
        options: by plugin name, the options that point a provider table at that plugin's
            emulator (``Emulator.provider_options()``); None removes the option.
        store: the journal's URL.
    """
    by_provider = {
        name: options[table["plugin"]]
        for name, table in base.get("providers", {}).items()
        if table.get("plugin") in options
    }
    return point_at(base, by_provider, store)


class Demo:
    """The running demo: emulators, daemon, and the HTTP client that drives it."""

    def __init__(self, listen: str, config: str | None) -> None:
        # Bound now: the emulators need the daemon's callback URL (its port, when --listen
        # asks for any) before the daemon starts, and a taken address is said before anything.
        change = "pass another --listen HOST:PORT (127.0.0.1:0 takes any free port)"
        self.sockets: list[socket.socket] = listen_on(listen, change)
        self.host = split_listen(listen)[0]
        self.port: int = self.sockets[0].getsockname()[1]
        self.config_path = Path(config) if config else None
        """The config to start from; None for the example config."""
        self.emulated: Emulated | None = None
        self.emulators: dict[str, Emulator] = {}
        """The running emulators by provider name, in the config's order."""
        self.inbound_emulators: list[Emulator] = []
        """The emulators whose providers push inbound texts."""
        self.first_choice: str | None = None
        """The provider the batch's first message is routed to first."""
        self.runner: web.AppRunner | None = None
        self.base = ""
        self.steps: list[tuple[str, bool, str]] = []
        self.results: list[dict[str, Any]] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="smsrouter-demo-")

    def step(self, what: str, ok: bool, detail: str = "") -> None:
        """Record one step of the demo and show it."""
        self.steps.append((what, ok, detail))
        mark = "ok " if ok else "FAIL"
        print(f"[{mark}] {what}" + (f": {detail}" if detail else ""), flush=True)

    async def start(self) -> None:
        """Start the emulators, then the daemon pointed at them."""
        plugins = PluginHost.load()
        base = read_toml(self.config_path) if self.config_path else read_example()
        self.base = f"http://{self.host}:{self.port}"
        store = f"sqlite:///{Path(self._tmp.name) / 'journal.db'}"
        self.emulated = await start_emulators(
            base, daemon=self.base, secret=SECRET, host=self.host, store=store
        )
        self.emulators = self.emulated.emulators
        for emulator in self.emulators.values():
            provider = plugins.providers.get(emulator.name)
            if provider is not None and provider.capabilities.push_inbound:
                self.inbound_emulators.append(emulator)
        daemon = Daemon(config_data=self.emulated.config, env=ENV)
        self.runner = web.AppRunner(make_app(daemon), access_log=None)
        await self.runner.setup()
        for sock in self.sockets:
            await web.SockSite(self.runner, sock).start()
        self.step("emulators and daemon started", True, f"daemon at {self.base}")

    async def stop(self) -> None:
        """Stop the daemon, then the emulators."""
        if self.runner is not None:
            await self.runner.cleanup()
        for sock in self.sockets:
            sock.close()
        if self.emulated is not None:
            await self.emulated.stop()
        self._tmp.cleanup()

    async def explain(self, http: aiohttp.ClientSession) -> None:
        """What the policy chain decides for each destination of the batch, and why."""
        headers = {"Authorization": f"Bearer {TOKEN}"}
        rows: list[tuple[str, object, str, str]] = []
        for body in BATCH[:3]:
            ask = {"to": body["to"], "text": body["text"]}
            async with http.post(f"{self.base}/v1/route", json=ask, headers=headers) as answer:
                plan = await answer.json()
            for route in plan["routes"][:1]:
                if body is BATCH[0] and route["candidates"]:
                    self.first_choice = route["candidates"][0]["provider"]
                for rank, c in enumerate(route["candidates"], 1):
                    keys = "; ".join(f"{k}: {v}" for k, v in c["keys"].items())
                    rows.append((route["to"], rank, c["provider"], keys))
                for e in route["excluded"]:
                    rows.append((route["to"], "-", e["provider"], f"{e['policy']}: {e['reason']}"))
        print()
        print(table(rows, ["to", "#", "provider", "why (policy keys, or why excluded)"]))
        print()
        self.step("routing explained", bool(rows), "POST /v1/route")

    async def run_batch(self, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
        """Send the batch; the first message's first choice answers with its own error once,
        so failover shows."""
        headers = {"Authorization": f"Bearer {TOKEN}"}
        failing = self.emulators.get(self.first_choice or "")
        if failing is not None:
            failing.fail_next("send")
        results = []
        for body in BATCH:
            async with http.post(f"{self.base}/v1/messages", json=body, headers=headers) as answer:
                payload = await answer.json()
            if answer.status == 400:
                error = payload["error"]
                self.step(
                    f"{body['reference']}: refused with 400",
                    True,
                    f"{error['field']}: {error['message']}",
                )
                continue
            ok = answer.status == 200 and payload.get("ok") is True
            self.step(f"{body['reference']}: sent", ok, f"HTTP {answer.status}")
            results.append(payload)
        self.results = results
        return results

    async def wait_for_reports(
        self, http: aiohttp.ClientSession, results: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Poll the API until every recipient has a delivery report (10 s at most)."""
        headers = {"Authorization": f"Bearer {TOKEN}"}
        records: list[dict[str, Any]] = []
        for _ in range(100):
            records = []
            for result in results:
                async with http.get(
                    f"{self.base}/v1/messages/{result['id']}", headers=headers
                ) as answer:
                    records.append(await answer.json())
            if all(r["delivery"] for rec in records for r in rec["recipients"]):
                break
            await asyncio.sleep(0.1)
        reported = sum(1 for rec in records for r in rec["recipients"] if r["delivery"])
        total = sum(len(rec["recipients"]) for rec in records)
        self.step("delivery reports came back", reported == total, f"{reported} of {total}")
        return records

    def summary(self, records: list[dict[str, Any]]) -> None:
        """The decisions, failovers and delivery reports, as a table."""
        rows = []
        for record in records:
            for r in record["recipients"]:
                path = " -> ".join(f"{a['provider']} ({a['outcome']})" for a in r["attempts"])
                delivery = r["delivery"]["status"] if r["delivery"] else "-"
                rows.append(
                    (
                        record["reference"],
                        r["to"],
                        record["encoding"],
                        record["segments"],
                        path,
                        delivery,
                    )
                )
        print()
        print(table(rows, ["reference", "to", "text", "parts", "attempts", "delivery"]))
        failovers = sum(1 for rec in records for r in rec["recipients"] if len(r["attempts"]) > 1)
        self.step("failover on an ERROR answer", failovers >= 1, f"{failovers} recipient(s)")

    async def inbound(self, http: aiohttp.ClientSession) -> None:
        """An inbound reply, pushed by the first provider that pushes them, reaches the daemon."""
        if not self.inbound_emulators:
            return
        emulator = self.inbound_emulators[0]
        replied_to = self.results[0]["id"] if self.results else None
        push = emulator.push_reply("61412345678", "61400000000", "YES", reference=replied_to)
        await emulator.settle()
        self.step("inbound reply received", push.answers[-1:] == [200], f"answers {push.answers}")

    async def metrics(self, http: aiohttp.ClientSession) -> None:
        """A few lines of the Prometheus exposition."""
        async with http.get(f"{self.base}/metrics") as answer:
            text = await answer.text()
        wanted = (
            "smsrouter_messages_total",
            "smsrouter_failovers_total",
            "smsrouter_delivery_reports_total",
        )
        lines = [
            line
            for line in text.splitlines()
            if line.startswith(wanted) and not line.endswith(" 0.0")
        ]
        print("\n" + "\n".join(lines) + "\n")
        self.step("metrics served", answer.status == 200 and bool(lines), f"{self.base}/metrics")


async def run_demo(
    listen: str = "127.0.0.1:8080", once: bool = False, config: str | None = None
) -> int:
    """Run the demo; returns 0 when every step worked."""
    demo = Demo(listen, config)
    try:
        await demo.start()
        async with aiohttp.ClientSession() as http:
            await demo.explain(http)
            results = await demo.run_batch(http)
            records = await demo.wait_for_reports(http, results)
            demo.summary(records)
            await demo.inbound(http)
            await demo.metrics(http)
        ok = all(step[1] for step in demo.steps)
        if once:
            return 0 if ok else 1
        print(f"The daemon keeps serving at {demo.base} (token {TOKEN}); Ctrl-C to stop.")
        print(f"  curl -H 'Authorization: Bearer {TOKEN}' {demo.base}/v1/providers")
        await asyncio.Event().wait()
        return 0
    finally:
        await demo.stop()
