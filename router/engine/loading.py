"""What a Router is built from: the plugins a config names (loaded before the config is
validated against them) and its journal."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from router.config import Config
from router.errors import ConfigError
from router.plugins import PluginHost
from router.store import MessageStore, open_store

StoreFor = Callable[[Config], MessageStore]
"""Gives the journal for a validated config: for an owner whose journal outlives Routers."""


def load_plugins(
    config: Config | Mapping[str, Any], extra: Iterable[object], autoload: bool | None
) -> PluginHost:
    """The plugins *config* names (and blocks), with *extra*: before the config is validated,
    since a mapping is validated against them."""
    blocked: Sequence[str] = ()
    named: Sequence[str] = ()
    hook_timeout = 5.0
    if isinstance(config, Config):
        blocked, hook_timeout = config.router.blocked_plugins, config.router.hook_timeout
        named = config.router.plugins
    else:
        raw_router = config.get("router", {})
        if isinstance(raw_router, Mapping):
            blocked = _names(raw_router.get("blocked_plugins"))
            named = _names(raw_router.get("plugins"))
    return PluginHost.load(
        extra=[*_import_plugins(named), *extra],
        blocked=blocked,
        autoload=autoload,
        hook_timeout=hook_timeout,
    )


def _names(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list | tuple) else []


def _import_plugins(names: Sequence[str]) -> list[object]:
    modules: list[object] = []
    for index, name in enumerate(names):
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            raise ConfigError(
                [f"router.plugins[{index}]: cannot import {name!r} ({exc})"]
            ) from None
    return modules


def journal_for(store: MessageStore | StoreFor | None, config: Config) -> MessageStore:
    """The journal *store* gives for *config*, or the one ``[store]`` names."""
    if store is None:
        return open_store(config.store.url or "memory:", config.store.durability)
    return store if isinstance(store, MessageStore) else store(config)
