"""The README tells the truth: its embedding example is the tested one, its commands exist."""

from __future__ import annotations

import argparse
from pathlib import Path

from router.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


def test_the_embedding_example_is_the_tested_one() -> None:
    tested = (ROOT / "tests" / "test_readme_example.py").read_text(encoding="utf-8")
    block = tested.split("# README example: begin\n")[1].split("# README example: end")[0]
    assert block.strip() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_setup_is_two_make_targets() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "make demo" in readme
    assert "make test" in readme
    assert "\ndemo:" in makefile
    assert "\ntest:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_command_the_readme_shows_exists() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = {line.split()[1] for line in readme.splitlines() if line.startswith("smsrouter ")}
    assert commands
    choices = next(
        action.choices
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    assert commands <= set(choices)
