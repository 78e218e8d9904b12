"""docs/fleet.md and the README's fleet section: every TOML snippet is a config smsrouter
accepts, and names the fleet's backends."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from router.config import parse_config
from router.plugins import PluginHost

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    "PGPASSWORD": "pg-secret",
    "SMSROUTER_API_TOKEN": "token-of-the-fleet",
    "SMSROUTER_CALLBACK_SECRET": "callback-secret-of-the-fleet",
}


def snippets(path: Path) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("name", ["docs/fleet.md", "README.md"])
def test_each_fleet_config_snippet_is_accepted(name: str) -> None:
    fleet = [s for s in snippets(ROOT / name) if "postgresql://" in s]
    assert fleet, f"{name} shows no fleet config"
    for text in fleet:
        config = parse_config(tomllib.loads(text), PluginHost.load(autoload=False), env=ENV)
        assert config.store.url is not None
        assert config.store.url.startswith("postgresql://")
        assert config.state.url is not None
        assert config.state.url.startswith("redis://")
