"""``smsrouter check-config``: it refuses what ``serve`` would, with the path and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.cli import main

PROVIDER = """
[providers.broadcast]
plugin = "smsbroadcast"
username = "demo"
password = "demo-password"
"""


def check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "smsrouter.toml"
    path.write_text(text)
    status = main(["check-config", str(path)])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_a_config_without_api_tokens_cannot_be_served_so_it_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, said = check(tmp_path, PROVIDER, capsys)
    assert status == 1
    assert "server.api_tokens: at least one token is needed to serve the API" in said
    assert "Traceback" not in said


def test_a_config_serve_would_take_is_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, said = check(tmp_path, '[server]\napi_tokens = ["a-long-token"]\n' + PROVIDER, capsys)
    assert status == 0
    assert said.endswith("OK (1 providers, policy priority)\n")
