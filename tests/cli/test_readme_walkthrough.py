"""The README's command-line section, run as written, in an empty folder.

Every command line of its ``sh`` blocks runs in bash with this environment's ``smsrouter``
first on the PATH, in order: ``export`` lines set the environment of the rest, a line ending
in ``&`` runs in the background (ready once it says so: ``wrote`` the config, or
``listening on``), every other line must exit 0. The only change is the daemon's port: a free
one instead of 8080 (the section names it wherever it is used, and nothing may listen on it
here). The sample outputs the section shows are checked against the real ones.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.daemon.support import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
PORT = "127.0.0.1:8080"


def section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("### The command line\n", 1)[1].split("\n### ", 1)[0]


def blocks(text: str, kind: str) -> list[str]:
    """The fenced blocks of *text* opened with ``` + *kind*."""
    parts = text.split("```")
    return [
        parts[i].removeprefix(kind).lstrip("\n")
        for i in range(1, len(parts), 2)
        if parts[i].split("\n", 1)[0] == kind
    ]


def command_lines(text: str) -> list[str]:
    """The command lines of the section's ``sh`` blocks, continuation lines joined."""
    lines = []
    for block in blocks(text, "sh"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(line.strip())
    return lines


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def spawn(line: str, env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    with open(out, "wb") as sink:
        return subprocess.Popen(  # noqa: S603 - the README's own command
            ["bash", "-c", f"exec {line}"],  # noqa: S607
            env=env,
            cwd=out.parent,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def ready(process: subprocess.Popen[bytes], out: Path) -> str:
    for _ in range(600):
        text = read(out)
        if any(line.startswith("wrote ") or "listening on" in line for line in text.splitlines()):
            return text
        assert process.poll() is None, text
        await asyncio.sleep(0.05)
    raise AssertionError(f"never ready:\n{read(out)}")


def run(line: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(  # noqa: S603 - the README's own command
        ["bash", "-c", line],  # noqa: S607
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
    return done.stdout


def route_rows(output: str) -> list[list[str]]:
    """The rank, provider and cost of each candidate of the first recipient of a route."""
    table = output.split("\n\n")[1].splitlines()[3:]
    return [row.split()[:3] for row in table if row[:1].isdigit()]


async def test_the_command_line_section_runs_as_written(tmp_path: Path) -> None:
    if not os.access("/bin/bash", os.X_OK):
        pytest.skip("the walk-through is a bash session, and there is no bash")
    text = section()
    port = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSROUTER_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    env["SMSROUTER_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the built-ins only, as on a fresh install
    background: list[subprocess.Popen[bytes]] = []
    outputs: dict[str, str] = {}
    lines = command_lines(text)
    emulate = [line for line in lines if line.startswith("smsrouter emulate")]
    assert all(f"--daemon-listen {PORT}" in line for line in emulate)  # the port replaced
    assert any(line.startswith("smsrouter emulate all --write-config") for line in lines)
    try:
        for n, line in enumerate(lines):
            line = line.replace(PORT, port)
            words = shlex.split(line, comments=True)
            if words[0] == "export":
                env.update(dict(word.split("=", 1) for word in words[1:]))
            elif words[-1] == "&":
                out = tmp_path / f"background{n}.out"
                process = spawn(shlex.join(words[:-1]), env, out)
                background.append(process)
                outputs[" ".join(words[1:3])] = await ready(process, out)
            else:
                outputs[" ".join(words[1:3])] = await asyncio.to_thread(run, line, env, tmp_path)
    finally:
        for process in reversed(background):  # the daemon first, then the emulators
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(background):
            await asyncio.to_thread(process.wait, 30)

    assert background[-1].returncode == 0  # the daemon drained and stopped cleanly
    shown = blocks(text, "")
    start = next(b for b in shown if "listening on" in b).splitlines()[-1]
    logged = next(x for x in outputs["serve --config"].splitlines() if "listening on" in x)
    assert logged.split(" INFO ")[1] == start.split(" INFO ")[1].replace(PORT, port)
    sample = next(b for b in shown if b.startswith("gsm7"))
    assert route_rows(outputs["route --server"]) == route_rows(sample)
    assert outputs["route --server"].splitlines()[3] == sample.splitlines()[3]  # the header
    assert " accepted  broadcast " in outputs["send --server"]
    assert "central" in outputs["balance --server"]
    assert "smsc (smsc)" in outputs["emulate all"]
