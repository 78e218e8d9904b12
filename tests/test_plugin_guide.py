"""docs/plugins.md runs as written.

Every Python snippet of the guide is one of two kinds, and each is checked:

* a whole file, its first line a comment naming it (``# test_emulator.py``): the files are
  written into a fresh folder beside a copy of the example plugin, as a plugin author's
  repository would hold them, with the guide's ``pyproject.toml`` (its pytest-asyncio
  set-up included), and pytest runs them there in a process of its own;
* an excerpt of the example plugin (tests/example_plugins), found in its source as written
  (a line ``...`` stands for lines left out; an excerpt may be indented differently, and
  blank lines count as one, since ruff formats the guide's snippets as it formats code).

Every TOML snippet is a config smsrouter accepts with the example plugins loaded, or the
example's ``pyproject.toml`` itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from router.config import parse_config
from router.plugins import PluginHost
from tests.example_plugins import plain_ingress, price_cap
from tests.example_plugins.smsrouter_echo import smsrouter_echo

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"
EXAMPLES = ROOT / "tests" / "example_plugins"
PACKAGE = EXAMPLES / "smsrouter_echo"
SOURCES = [
    *sorted((PACKAGE / "smsrouter_echo").glob("*.py")),
    EXAMPLES / "price_cap.py",
    EXAMPLES / "plain_ingress.py",
]

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_FILE = re.compile(r"# ([\w/.-]+\.(?:py|toml))$")


def snippets(language: str) -> list[str]:
    return [code for lang, code in _FENCE.findall(GUIDE.read_text()) if lang == language]


def file_name(snippet: str) -> str | None:
    found = _FILE.fullmatch(snippet.splitlines()[0])
    return found.group(1) if found else None


def _lines(text: str) -> list[str]:
    """*text*'s lines, right-stripped, runs of blank lines as one (the formatter spaces a
    method shown alone as if it were a function)."""
    lines: list[str] = []
    for line in text.splitlines():
        if line.strip() or (lines and lines[-1]):
            lines.append(line.rstrip())
    return lines


def _chunks(snippet: str) -> list[list[str]]:
    """The runs of lines between ``...`` lines, without blank lines at their ends."""
    chunks: list[list[str]] = [[]]
    for line in _lines(snippet):
        if line.strip() == "...":
            chunks.append([])
        else:
            chunks[-1].append(line.rstrip())
    trimmed = []
    for chunk in chunks:
        while chunk and not chunk[0]:
            chunk.pop(0)
        while chunk and not chunk[-1]:
            chunk.pop()
        if chunk:
            trimmed.append(chunk)
    return trimmed


def _match_at(lines: list[str], start: int, chunk: list[str]) -> bool:
    first = chunk[0]
    shift = len(lines[start]) - len(lines[start].lstrip()) - (len(first) - len(first.lstrip()))
    if shift < 0 or start + len(chunk) > len(lines):
        return False
    return all(
        (not want and not have.strip()) or have == " " * shift + want
        for want, have in zip(chunk, lines[start : start + len(chunk)], strict=False)
    )


def excerpt_of(snippet: str, source: str) -> bool:
    """Whether *snippet* is in *source* as written, ``...`` lines standing for any lines."""
    lines = _lines(source)
    position = 0
    for chunk in _chunks(snippet):
        head = chunk[0].strip()
        starts = [i for i in range(position, len(lines)) if lines[i].strip() == head]
        at = next((i for i in starts if _match_at(lines, i, chunk)), None)
        if at is None:
            return False
        position = at + len(chunk)
    return True


def test_the_excerpt_matcher_sees_a_changed_line() -> None:
    source = "class A:\n    def f(self):\n        x = 1\n        return x\n"
    assert excerpt_of("def f(self):\n    ...\n    return x\n", source)
    assert not excerpt_of("def f(self):\n    return y\n", source)
    assert not excerpt_of("return x\n...\nx = 1\n", source)  # in order


def test_every_excerpt_is_in_the_example_as_written() -> None:
    sources = {path.name: path.read_text() for path in SOURCES}
    missing = []
    for snippet in snippets("python"):
        if file_name(snippet) is None and not any(excerpt_of(snippet, s) for s in sources.values()):
            missing.append(snippet.splitlines()[0])
    assert missing == [], "snippets not found in tests/example_plugins (first lines shown)"


def within(part: object, whole: object) -> bool:
    """Whether every key of *part* is in *whole* with the same value (tables recursively)."""
    if isinstance(part, dict) and isinstance(whole, dict):
        return all(k in whole and within(v, whole[k]) for k, v in part.items())
    return part == whole


def test_every_config_snippet_is_accepted() -> None:
    host = PluginHost.load(extra=[smsrouter_echo, price_cap, plain_ingress], autoload=False)
    pyproject = tomllib.loads((PACKAGE / "pyproject.toml").read_text())
    configs = 0
    for snippet in snippets("toml"):
        data = tomllib.loads(snippet)
        if file_name(snippet) == "pyproject.toml" or "tool" in data or "project" in data:
            assert within(data, pyproject), snippet  # a part of the plugin's pyproject.toml
            continue
        names = re.findall(r"\$\{(\w+)\}", snippet)
        parse_config(data, host, dict.fromkeys(names, "a-secret-for-the-guide"))
        configs += 1
    assert configs >= 3


def test_the_guides_pyproject_is_the_examples() -> None:
    (shown,) = [s for s in snippets("toml") if file_name(s) == "pyproject.toml"]
    assert tomllib.loads(shown) == tomllib.loads((PACKAGE / "pyproject.toml").read_text())
    assert tomllib.loads(shown)["tool"]["pytest"]["ini_options"]["asyncio_mode"] == "auto"


def test_the_guides_files_run_with_pytest(tmp_path: Path) -> None:
    files = {}
    for snippet in snippets("python") + snippets("toml"):
        name = file_name(snippet)
        if name is not None:
            assert name not in files, f"{name} is shown twice"
            files[name] = snippet
    tests = [name for name in files if Path(name).name.startswith("test_")]
    assert len(tests) >= 4, tests
    shutil.copytree(PACKAGE / "smsrouter_echo", tmp_path / "smsrouter_echo")
    shutil.copy(EXAMPLES / "price_cap.py", tmp_path / "price_cap.py")
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    done = subprocess.run(  # noqa: S603 - this interpreter's pytest, on the guide's files
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed is not None, done.stdout
    written = sum(len(re.findall(r"^async def test_|^def test_", files[n], re.M)) for n in tests)
    assert int(passed.group(1)) == written, done.stdout
    assert "skipped" not in done.stdout
    assert "warning" not in done.stdout.lower(), done.stdout[-2000:]
