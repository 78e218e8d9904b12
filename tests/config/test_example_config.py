"""config.example.toml explains every key a provider table shares, once, and what each
built-in's ``base_url`` is: a script, or the folder of its scripts."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from router.config import parse_config, read_toml
from router.config.settings import ProviderCommon
from router.errors import ConfigError
from router.plugins import PluginHost

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.toml"
GUIDE = ROOT / "docs" / "plugins.md"
SHARED = [a.name for a in attrs.fields(ProviderCommon)]
BASE_URL = {
    "smsbroadcast": "script",
    "smscentral": "URL itself",
    "smsoffice": "folder",
    "smsc": "folder",
}
"""What each built-in's base_url is, as the comment above it must say."""


def shared_block(text: str) -> str:
    start = text.index("every provider table may have these shared keys")
    return text[start : text.index("[providers.", start)]


def test_every_shared_key_is_explained_once() -> None:
    block = shared_block(EXAMPLE.read_text())
    explained = re.findall(r"^#   (\w+) {2,}\S", block, re.MULTILINE)
    assert sorted(explained) == sorted(SHARED)
    assert len(explained) == len(set(explained))


def test_the_plugin_guide_names_every_shared_key() -> None:
    guide = GUIDE.read_text()
    start = guide.index("holds the keys every")
    listed = set(re.findall(r"`(\w+)`", guide[start : guide.index("```toml", start)]))
    assert set(SHARED) - {"plugin"} <= listed


def test_each_base_url_says_whether_it_is_a_script_or_a_folder() -> None:
    text = EXAMPLE.read_text()
    for table in re.split(r"^\[providers\.", text, flags=re.MULTILINE)[1:]:
        plugin = re.search(r'^plugin = "(\w+)"', table, re.MULTILINE)
        assert plugin is not None
        lines = table[: table.index("\nbase_url = ")].splitlines()
        comment: list[str] = []
        while lines and lines[-1].startswith("#"):
            comment.insert(0, lines.pop())
        assert BASE_URL[plugin.group(1)] in " ".join(comment), (plugin.group(1), comment)


def test_the_example_is_a_valid_config() -> None:
    data = read_toml(EXAMPLE)
    names = set(re.findall(r"\$\{(\w+)\}", EXAMPLE.read_text()))
    env = dict.fromkeys(names, "an-example-secret-value")
    config = parse_config(data, PluginHost.load(autoload=False), env)
    assert set(config.providers) == {"broadcast", "central", "office", "smsc"}


OFFICE = {"plugin": "smsoffice", "username": "u", "password": "pw-secret", "sender": "Demo"}
SMSC = {"plugin": "smsc", "login": "u", "psw": "pw-secret"}


@pytest.mark.parametrize(
    ("table", "script", "holds"),
    [
        (OFFICE, "http://www.smsoffice.co.za/sms/api/sendsms.asp", "sendsms.asp and balance.asp"),
        (SMSC, "https://smsc.ru/sys/send.php?", "send.php, status.php and balance.php"),
    ],
)
def test_a_script_where_a_folder_belongs_is_refused(
    table: dict[str, str], script: str, holds: str
) -> None:
    config = {"providers": {"p": {**table, "base_url": script}}}
    with pytest.raises(ConfigError) as refused:
        parse_config(config, PluginHost.load(autoload=False))
    assert list(refused.value.problems) == [
        f"providers.p.base_url: the folder holding {holds}, not a script; got {script!r}"
    ]
