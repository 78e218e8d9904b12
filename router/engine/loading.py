"""What a Router is built on before its parts: the plugins its config names (loaded before
the config is validated) and its journal."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from router.clock import Clock
from router.config import Config
from router.engine.prepare import Prepared
from router.errors import ConfigError
from router.model import RecipientResult
from router.plugins import PluginHost
from router.policy import PolicyChain
from router.state import LiveState
from router.state.settings import open_state
from router.store import MessageRecord, MessageStore, open_store

__all__ = [
    "Settled",
    "journal_message",
    "load_plugins",
    "open_journal",
    "policy_chain",
]

Settled = Mapping[str, RecipientResult]
"""Recipients compliance settles instead of sending, by reference."""


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


StoreFor = Callable[[Config], MessageStore]
"""Gives the journal for a validated config: for an owner whose journal outlives Routers."""
StateFor = Callable[[Config], LiveState]
"""Gives the live state for a validated config, as :data:`StoreFor` the journal."""


def open_live_state(state: LiveState | StateFor | None, config: Config, clock: Clock) -> LiveState:
    """The live state a Router is handed (or a function gives it), else the config's."""
    if state is None:
        return open_state(config, clock)
    return state if isinstance(state, LiveState) else state(config)


def open_journal(store: MessageStore | StoreFor | None, config: Config) -> MessageStore:
    """The journal a Router is handed (or a function gives it), else the config's."""
    if store is None:
        return open_store(
            config.store.url or "memory:", config.store.durability, lease=config.store.lease
        )
    return store if isinstance(store, MessageStore) else store(config)


async def journal_message(
    store: MessageStore, prepared: Prepared, now: float, started: str | None = None
) -> tuple[MessageRecord, bool]:
    """Journal a checked message (with its first attempt started on *started*, when set)."""
    text = prepared.text
    if started is not None:
        return await store.add_started(
            prepared.message, prepared.recipients, text.encoding, text.segments, now, started
        )
    return await store.add(prepared.message, prepared.recipients, text.encoding, text.segments, now)


def policy_chain(plugins: PluginHost, config: Config) -> PolicyChain:
    """The configured policies, built from their tables, in chain order."""
    return PolicyChain(
        [
            plugins.policies.get(name)(config.policies[name])  # type: ignore[misc]
            for name in config.router.policy
        ]
    )
