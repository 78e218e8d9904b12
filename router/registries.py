"""The registries plugins fill: provider types, routing policies and emulators, by name.

A registration hook (``smsrouter_register_providers`` and its siblings) gets one and calls
``registry.add(cls)``; the registry checks the class at once, so a plugin that adds the
wrong thing, or a name another plugin added, stops the Router from starting with a
PluginError that names the plugin.
"""

from __future__ import annotations

import contextlib
import typing
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from router.errors import PluginError
from router.ingress.base import Ingress
from router.policy import Policy
from router.provider import Provider

if TYPE_CHECKING:
    from router.testing.emulator import Emulator  # noqa: F401 (named in a string below)

__all__ = ["EmulatorRegistry", "IngressRegistry", "PolicyRegistry", "ProviderRegistry", "Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Names to classes of one kind, remembering which plugin registered each."""

    kind: str
    name_attribute: str

    def __init__(self) -> None:
        self._classes: dict[str, type[T]] = {}
        self._owners: dict[str, str] = {}
        self._current = "?"

    def _refusal(self, cls: object) -> str | None:
        """Why *cls* is not a class of this registry's kind, or None when it is."""
        raise NotImplementedError

    def add(self, cls: object) -> None:
        """Register *cls* under its name; a name registered twice is a PluginError.

        Whatever a plugin passes is checked here, at start, whatever its annotations say.
        """
        why = self._refusal(cls)
        if why is not None or not isinstance(cls, type):
            raise PluginError(f"plugin {self._current!r}: {why}")
        name = getattr(cls, self.name_attribute, None)
        if not isinstance(name, str) or not name:
            raise PluginError(
                f"plugin {self._current!r}: {cls.__name__} has no {self.name_attribute}"
            )
        if name in self._classes:
            raise PluginError(
                f"{self.kind} {name!r} is registered twice: by plugin {self._owners[name]!r} "
                f"and by plugin {self._current!r}"
            )
        self._classes[name] = typing.cast(type[T], cls)
        self._owners[name] = self._current

    @contextlib.contextmanager
    def adding_for(self, plugin: str) -> Iterator[None]:
        """Name *plugin* as the one adding classes until the block ends (for errors)."""
        self._current = plugin
        try:
            yield
        finally:
            self._current = "?"

    def get(self, name: str) -> type[T] | None:
        """The class registered as *name*, if any."""
        return self._classes.get(name)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._classes)

    def by_plugin(self, plugin: str) -> list[str]:
        """The names *plugin* registered."""
        return sorted(n for n, owner in self._owners.items() if owner == plugin)


def _configured(cls: object, base: type[Any]) -> str | None:
    """Why *cls* is not a subclass of *base* with an attrs ``Config``, or None."""
    if not (isinstance(cls, type) and issubclass(cls, base)):
        return f"{cls!r} is not a {base.__name__}"
    config = getattr(cls, "Config", None)
    if not (isinstance(config, type) and attrs.has(config)):
        return f"{cls.__name__}.Config must be an attrs class"
    return None


class ProviderRegistry(Registry[Provider[Any]]):
    """Where plugins add provider types, by their ``type_name``."""

    kind = "provider type"
    name_attribute = "type_name"

    def _refusal(self, cls: object) -> str | None:
        return _configured(cls, Provider)


class PolicyRegistry(Registry[Policy]):
    """Where plugins add routing policy types, by their ``name``."""

    kind = "policy"
    name_attribute = "name"

    def _refusal(self, cls: object) -> str | None:
        return _configured(cls, Policy)


class EmulatorRegistry(Registry["Emulator"]):
    """Where plugins add provider emulators, by the ``name`` of the provider type each doubles."""

    kind = "emulator"
    name_attribute = "name"

    def _refusal(self, cls: object) -> str | None:
        # By its shape: the Emulator base lives in the test kit, which imports this module.
        if not (isinstance(cls, type) and callable(getattr(cls, "start", None))):
            return f"{cls!r} is not an Emulator"
        if getattr(cls, "name", None) == "emulator":
            return f"{cls.__name__} has no name"
        return None


RESERVED_PATHS = ("/v1/", "/callbacks/", "/metrics", "/healthz")
"""Where the daemon's own routes live: no ingress may answer there."""


class IngressRegistry(Registry[Ingress]):
    """Where plugins add ingresses (drop-in APIs of other gateways), by their ``name``.

    Two ingresses may not claim one path, nor a path of the daemon's own.
    """

    kind = "ingress"
    name_attribute = "name"

    def _refusal(self, cls: object) -> str | None:
        why = _configured(cls, Ingress)
        if why is not None:
            return why
        paths = getattr(cls, "paths", ())
        if not paths or not all(isinstance(p, str) and p.startswith("/") for p in paths):
            return f"{getattr(cls, '__name__', cls)}.paths must be paths like '/send'"
        for path in paths:
            if path.startswith(RESERVED_PATHS):
                return f"{getattr(cls, '__name__', cls)} may not answer {path}: the daemon does"
            owner = self.claimed().get(path)
            if owner is not None:
                return f"{getattr(cls, '__name__', cls)} claims {path}, as ingress {owner!r} does"
        return None

    def claimed(self) -> dict[str, str]:
        """Every path an ingress answers, with the ingress's name."""
        return {path: name for name in self.names() for path in self._classes[name].paths}
