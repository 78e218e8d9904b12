"""The public API of ``router``: what ``__all__`` promises, the hook marker, the version."""

from __future__ import annotations
import __future__

import importlib.metadata
import inspect
import re
import tomllib
import types
from pathlib import Path

import pluggy
import pytest

import router
from router.plugins import PluginHost
from router.registries import ProviderRegistry
from router.testing import FakeProvider

ROOT = Path(__file__).resolve().parent.parent
IMPORT = re.compile(r"^\s*(?:from|import)\s+(router(?:\.\w+)*)", re.MULTILINE)


def public_names() -> list[str]:
    """What ``router`` defines for its users: no submodules, no imports it uses itself."""
    names = {"__version__"}
    for name, value in vars(router).items():
        if name.startswith("_") or isinstance(value, types.ModuleType | __future__._Feature):
            continue
        names.add(name)
    return sorted(names)


def test_all_is_sorted() -> None:
    assert router.__all__ == sorted(router.__all__)


def test_all_is_every_public_name() -> None:
    assert sorted(router.__all__) == public_names()


def test_every_name_in_all_is_there_and_documented() -> None:
    for name in router.__all__:
        value = getattr(router, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"router.{name} has no docstring"
    assert router.Router is importlib.import_module("router.engine").Router


def test_the_built_in_plugins_and_the_guide_import_only_the_public_api() -> None:
    # A plugin author can write what the built-ins and the guide do with `router` and
    # `router.testing` alone; everything else may move between releases.
    allowed = {"router", "router.testing"}
    sources = {p: p.read_text() for p in (ROOT / "plugins").rglob("*.py")}
    sources |= {p: p.read_text() for p in (ROOT / "policies").rglob("*.py")}
    sources |= {p: p.read_text() for p in (ROOT / "tests" / "example_plugins").rglob("*.py")}
    sources[ROOT / "docs" / "plugins.md"] = (ROOT / "docs" / "plugins.md").read_text()
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for path, source in sources.items()
        for match in IMPORT.finditer(source)
        if match.group(1) not in allowed
    ]
    assert found == []


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'router' has no attribute 'Routr'"):
        router.Routr  # type: ignore[attr-defined]  # noqa: B018


def test_hookimpl_is_smsrouter_marker() -> None:
    from router import hookimpl

    class Plugin:
        @hookimpl
        def smsrouter_register_providers(self, registry: ProviderRegistry) -> None:
            registry.add(FakeProvider)

    host = PluginHost.load(extra=[Plugin()], autoload=False)

    assert isinstance(hookimpl, pluggy.HookimplMarker)
    assert hookimpl.project_name == "smsrouter"
    assert host.providers.get("fake") is FakeProvider


def test_version_is_the_distribution_version() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

    assert router.__version__ == importlib.metadata.version("smsrouter") == declared
