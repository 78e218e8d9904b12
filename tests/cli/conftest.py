"""Fixtures for the bulk tests: the daemon tests' emulators and daemons, and bulk runs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

from tests.cli.support import BulkRun
from tests.daemon.conftest import daemon_env, daemon_factory, emulators, served_factory

__all__ = ["bulk", "daemon_env", "daemon_factory", "emulators", "served_factory"]


@pytest.fixture
async def bulk(
    tmp_path: Path, daemon_env: dict[str, str]
) -> AsyncIterator[Callable[[Sequence[str]], BulkRun]]:
    """Start ``smsrouter send`` with these arguments; every run is ended with the test."""
    runs: list[BulkRun] = []

    def start(args: Sequence[str]) -> BulkRun:
        n = len(runs)
        stdout, stderr = tmp_path / f"bulk{n}.out", tmp_path / f"bulk{n}.err"
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            process = subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "router", "send", *args],
                env=daemon_env,
                stdout=out,
                stderr=err,
            )
        run = BulkRun(process, stdout, stderr)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.process.poll() is None:
            run.process.kill()
            await run.wait(5)
