"""Where a command runs: through a daemon's HTTP API (``--server``), or in this process.

``route``, ``send``, ``balance`` and ``providers`` ask a :class:`Target`: a
:class:`DaemonTarget` calls the running daemon, a :class:`LocalTarget` builds a Router from
a config file. Both answer in the API's JSON shapes (:mod:`router.daemon.json` writes them
for both), so :mod:`router.cli.show` shows either the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from router.config import read_toml
from router.daemon.json import no_route_json, provider_json, result_json, route_json
from router.engine import Router
from router.errors import NoRouteError, RouterError
from router.logs import hide_in_aiohttp_logs, secrets_of
from router.model import Message, RecipientStatus
from router.plugins import PluginHost, PluginInfo

__all__ = ["DaemonTarget", "LocalTarget", "Target", "message_body"]


class Target(Protocol):
    """What a command asks, wherever it runs."""

    async def route(self, message: Message) -> dict[str, Any]:
        """The routing explanation (``POST /v1/route``'s answer)."""

    async def send(self, message: Message) -> dict[str, Any]:
        """Send and wait: the result, or the no-route error body (with any result)."""

    async def balances(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """Each provider's balance (all with a balance query when *names* is empty): rows
        of ``name``, ``amount``, ``unit``, ``age_seconds`` and ``error``."""

    async def providers(self) -> dict[str, Any]:
        """``plugins`` (as ``GET /v1/plugins``) and ``providers`` (as ``/v1/providers``,
        or the configured ones; None when neither a config nor a daemon was given)."""


def message_body(message: Message) -> dict[str, Any]:
    """*message* as the API's request body."""
    body: dict[str, Any] = {"to": list(message.to), "text": message.text}
    if message.sender is not None:
        body["sender"] = message.sender
    if message.reference is not None:
        body["reference"] = message.reference
    for name in ("send_at", "expires_at", "callback_url"):
        if getattr(message, name) is not None:
            body[name] = getattr(message, name)
    if message.urgent:
        body["urgent"] = True
    return body


class DaemonTarget:
    """A running daemon at *url*, called with the API token *token*."""

    def __init__(self, url: str, token: str, *, timeout: float = 300.0) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _call(
        self, method: str, path: str, body: object = None, expect: Sequence[int] = (200,)
    ) -> dict[str, Any]:
        where = f"{self.url}{path}"
        try:
            async with (
                aiohttp.ClientSession(headers=self._headers, timeout=self._timeout) as http,
                http.request(method, where, json=body) as answer,
            ):
                status = answer.status
                try:
                    data = await answer.json(content_type=None)
                except ValueError:
                    data = None
        except aiohttp.InvalidURL:
            raise RouterError(f"--server {self.url}: not an http:// or https:// URL") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            why = str(exc) or type(exc).__name__
            raise RouterError(f"cannot reach the daemon at {self.url}: {why}") from None
        if status == 401:
            raise RouterError(f"{self.url}: the daemon refused the API token (HTTP 401)")
        if not isinstance(data, dict):
            raise RouterError(f"{where}: HTTP {status} without a JSON object: is it smsrouter?")
        if status not in expect:
            error: dict[str, Any] = data["error"] if isinstance(data.get("error"), dict) else {}
            message = error.get("message", "no error message")
            field = error.get("field")
            raise RouterError(
                f"{field}: {message}" if field else f"{where}: HTTP {status}: {message}"
            )
        return data

    async def route(self, message: Message) -> dict[str, Any]:
        """``POST /v1/route``."""
        return await self._call("POST", "/v1/route", message_body(message))

    async def send(self, message: Message) -> dict[str, Any]:
        """``POST /v1/messages``, waiting for the result; 422 is the no-route body."""
        return await self._call("POST", "/v1/messages", message_body(message), (200, 422))

    async def balances(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """The balances the daemon holds (it polls them every ``balance_interval``)."""
        known = {p["name"]: p for p in (await self._call("GET", "/v1/providers"))["providers"]}
        for name in names:
            if name not in known:
                raise RouterError(f"no provider named {name!r} at {self.url}")
        rows: list[dict[str, Any]] = []
        for name in names or list(known):
            balance = known[name].get("balance")
            if balance is None:
                rows.append({"name": name, "error": "not known to the daemon"})
            else:
                rows.append({"name": name, **balance, "error": None})
        return rows

    async def providers(self) -> dict[str, Any]:
        """``GET /v1/plugins`` and ``GET /v1/providers``."""
        plugins = (await self._call("GET", "/v1/plugins"))["plugins"]
        providers = (await self._call("GET", "/v1/providers"))["providers"]
        return {"plugins": plugins, "providers": providers}


class LocalTarget:
    """A Router of this process, built from the config file at *path* (or only the
    installed plugins, for ``providers`` without a config)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = path

    def _router(self, **store: str) -> Router:
        assert self.path is not None, "a command that needs a config was given none"
        data = read_toml(self.path)
        if store:  # a command that sends nothing journals nothing
            data["store"] = {**data.get("store", {}), **store}
        router = Router(data)
        hide_in_aiohttp_logs(secrets_of(router.config))  # and in every line this process logs
        return router

    async def route(self, message: Message) -> dict[str, Any]:
        """The explanation, from a Router started without reading balances."""
        router = self._router(url="memory:")
        await router.start(track_balances=False)
        try:
            return route_json(router.route(message))
        finally:
            await router.aclose()

    async def send(self, message: Message) -> dict[str, Any]:
        """Send, journalled in the config's ``[store]``."""
        async with self._router() as router:
            try:
                result = await router.send(message)
            except NoRouteError as exc:
                return no_route_json(exc)
            held = [r.recipient for r in result.recipients if r.status is RecipientStatus.SCHEDULED]
            if held and router.config.store.url in (None, "memory:"):
                raise RouterError(
                    f"{', '.join(held)}: held for later, but [store] url is memory: and that "
                    "journal ends with this process; name a journal file to hold messages"
                )
            return result_json(result)

    async def balances(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """Each balance, read from its provider now."""
        async with self._router() as router:
            for name in names:
                if name not in router.providers:
                    raise RouterError(f"no provider named {name!r} in {self.path}")
            names = names or [
                n for n, s in router.providers.items() if s.provider.capabilities.balance
            ]
            rows: list[dict[str, Any]] = []
            for name in names:
                try:
                    balance = await router.balance(name)
                except Exception as exc:
                    rows.append({"name": name, "error": str(exc) or type(exc).__name__})
                    continue
                age = max(0.0, router.clock.time() - balance.at)
                rows.append(
                    {
                        "name": name,
                        "amount": f"{balance.amount:f}",
                        "unit": balance.unit,
                        "age_seconds": round(age, 3),
                        "error": None,
                    }
                )
            return rows

    async def providers(self) -> dict[str, Any]:
        """The plugins a Router would load, and the config's providers, not started."""
        if self.path is None:
            infos = PluginHost.load().describe()
            return {"plugins": [_plugin_json(i) for i in infos], "providers": None}
        router = self._router(url="memory:")
        await router.start(track_balances=False)
        try:
            now = router.clock.time()
            providers = [provider_json(s, now, router.quality) for s in router.providers.values()]
            disabled = [
                {"name": name, "plugin": s.common.plugin, "breaker": "disabled"}
                for name, s in router.config.providers.items()
                if not s.common.enabled
            ]
            plugins = [_plugin_json(i) for i in router.plugins.describe()]
            return {"plugins": plugins, "providers": providers + disabled}
        finally:
            await router.aclose()


def _plugin_json(info: PluginInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "version": info.version,
        "providers": list(info.providers),
        "policies": list(info.policies),
    }
