"""Emulators pointed at a daemon, and the config that points the daemon at them.

``smsrouter emulate`` and ``smsrouter demo`` both start one emulator per provider table of
a config (the example config, package data) whose plugin registered one. Each pushes its
delivery reports and inbound texts to its own provider's callback URLs on the daemon
(``/callbacks/{provider name}/dlr|inbound/{callback secret}``), and the table is pointed at
its emulator: its ``base_url`` where the emulated API lives (a script URL for SMS Broadcast,
a directory for SMS Office), its account, and what it signs its pushes with.
``--write-config FILE`` writes that config, so ``smsrouter serve --config FILE`` runs
against the emulators.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from router.addresses import http_url, split_listen
from router.cli.toml_text import toml_text
from router.config import read_toml
from router.errors import RouterError
from router.plugins import PluginHost
from router.registries import EmulatorRegistry
from router.testing import Emulator

__all__ = [
    "EXAMPLE",
    "Emulated",
    "emulator_class",
    "point_at",
    "read_example",
    "run_emulators",
    "start_emulators",
]

EXAMPLE = resources.files("router.cli") / "config.example.toml"
"""The project's ``config.example.toml``, as package data: it is in every install."""


def read_example() -> dict[str, Any]:
    """The example config, read from the package."""
    with resources.as_file(EXAMPLE) as path:
        return read_toml(path)


def emulator_class(emulators: EmulatorRegistry, type_name: str) -> type[Emulator]:
    """The emulator a plugin registered for provider type *type_name*."""
    cls = emulators.get(type_name)
    if cls is None:
        known = ", ".join(emulators.names())
        raise RouterError(f"no emulator for provider type {type_name!r} (known: {known})")
    return cls


def point_at(
    base: Mapping[str, Any], options: Mapping[str, Mapping[str, str | None]], store: str | None
) -> dict[str, Any]:
    """A copy of *base* with each provider table in *options* pointed at its emulator.

    Args:
        base: a config, as read from its TOML file.
        options: by provider name, the options that point its table at its emulator
            (``Emulator.provider_options()``); None removes the option.
        store: the journal's URL, or None to keep *base*'s.
    """
    config: dict[str, Any] = json.loads(json.dumps(base))
    if store is not None:
        config.setdefault("store", {})["url"] = store
    for name, table in config.get("providers", {}).items():
        for key, value in options.get(name, {}).items():
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
    return config


@attrs.define
class Emulated:
    """Running emulators, by provider name, and the config pointed at them."""

    emulators: dict[str, Emulator]
    config: dict[str, Any]

    async def stop(self) -> None:
        """Stop every emulator."""
        for emulator in self.emulators.values():
            await emulator.stop()


def _tables(
    base: Mapping[str, Any], registry: EmulatorRegistry, only: str | None
) -> dict[str, Any]:
    """The provider tables to emulate: *base*'s with an emulator (of type *only*, if given),
    and a bare table for each other registered emulator type."""
    tables = {
        name: table
        for name, table in base.get("providers", {}).items()
        if registry.get(table.get("plugin", "")) and only in (None, table["plugin"])
    }
    covered = {table["plugin"] for table in tables.values()}
    for type_name in [only] if only else registry.names():
        emulator_class(registry, type_name)
        if type_name not in covered and type_name not in base.get("providers", {}):
            tables[type_name] = {"plugin": type_name}
    return tables


async def start_emulators(
    base: Mapping[str, Any],
    *,
    daemon: str,
    secret: str,
    host: str = "127.0.0.1",
    port: int = 0,
    only: str | None = None,
    store: str | None = None,
) -> Emulated:
    """Start an emulator for each provider table of *base* whose plugin has one.

    Args:
        base: the config to start from.
        daemon: the daemon's base URL (``http://127.0.0.1:8080``): where the pushes go.
        secret: the daemon's callback secret, the last segment of the callback URLs.
        host: where the emulators listen.
        port: the first emulator's port, the next on the next port; 0: any free ports.
        only: a provider type: emulate only the tables of that plugin.
        store: the journal's URL in the config, or None to keep *base*'s.

    The config keeps only the provider tables emulated.
    """
    registry = PluginHost.load().emulators
    tables = _tables(base, registry, only)
    started = Emulated({}, {})
    options = {}
    try:
        for offset, (name, table) in enumerate(tables.items()):
            emulator = emulator_class(registry, table["plugin"])(
                callback_url=f"{daemon}/callbacks/{name}/dlr/{secret}",
                inbound_url=f"{daemon}/callbacks/{name}/inbound/{secret}",
            )
            await emulator.start(host, port + offset if port else 0)
            started.emulators[name] = emulator
            options[name] = emulator.provider_options()
    except BaseException:
        await started.stop()
        raise
    started.config = point_at({**base, "providers": tables}, options, store)
    return started


HEADER = """\
The example config (config.example.toml has every key, with comments), pointed at the
emulators `smsrouter emulate` runs: each provider's base_url, account and push
credentials are its emulator's, and each emulator pushes delivery reports and inbound
texts to its provider's callback URLs on the daemon, at
  {daemon}
It holds while those emulators run. Serve it with: smsrouter serve --config {path}
"""


def write_config(config: Mapping[str, Any], path: Path, daemon: str) -> None:
    """Write *config* to *path* as TOML, at once (a reader never sees half of it)."""
    text = toml_text(config, HEADER.format(daemon=daemon, path=path))
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


async def run_emulators(
    name: str, listen: str, daemon_listen: str, write: str | None, secret: str | None
) -> int:
    """``smsrouter emulate``: run the emulators until Ctrl-C, having said where each is.

    Without *secret* (no ``--callback-secret``, no ``SMSROUTER_CALLBACK_SECRET``), one is
    made up for the callback URLs and written into the config as it is.
    """
    host, port = split_listen(listen)
    daemon_host, daemon_port = split_listen(daemon_listen)
    daemon = http_url(daemon_host, daemon_port)
    base = read_example()
    base["server"] = {**base.get("server", {}), "listen": daemon_listen}
    if secret is None:
        secret = secrets.token_urlsafe(18)
        base["server"]["callback_secret"] = secret
    emulated = await start_emulators(
        base,
        daemon=daemon,
        secret=secret,
        host=host,
        port=port,
        only=None if name == "all" else name,
    )
    try:
        for provider, emulator in emulated.emulators.items():
            account = next(iter(emulator.accounts.values()))
            login = f"account {account.username} / {account.password}"
            print(f"{provider} ({emulator.name}): {emulator.api_url} ({login})", flush=True)
        if write is not None:
            write_config(emulated.config, Path(write), daemon)
            print(f"wrote {write}: smsrouter serve --config {write}", flush=True)
        await asyncio.Event().wait()
    finally:
        await emulated.stop()
    return 0
