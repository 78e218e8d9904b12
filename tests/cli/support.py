"""For the command tests: a bulk run and ``serve`` in a subprocess, configs, CSV files."""

from __future__ import annotations

import asyncio
import csv
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from tests.daemon.support import DaemonProcess, free_port


@attrs.define
class BulkRun:
    """``smsrouter send --csv`` in a subprocess, its output in files."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    async def wait(self, timeout: float = 20.0) -> int:
        """Wait for the process to exit; its exit code."""
        return await asyncio.wait_for(asyncio.to_thread(self.process.wait), timeout)

    @property
    def out(self) -> str:
        """What it printed on stdout (the summary)."""
        return self.stdout.read_text(encoding="utf-8")

    @property
    def err(self) -> str:
        """What it printed on stderr (progress and rows not sent)."""
        return self.stderr.read_text(encoding="utf-8")


def config_text(tmp_path: Path, emulators: dict[str, Any], store: str = "journal.db") -> str:
    """A config routing Australian numbers to SMS Broadcast and the rest to SMS Office."""
    return f"""
[router]
default_region = "AU"
policy = ["prefix", "priority"]
on_ambiguous = "stop"
base_currency = "AUD"

[server]
api_tokens = ["${{SMSROUTER_API_TOKEN}}"]
callback_secret = "${{SMSROUTER_CALLBACK_SECRET}}"
shutdown_timeout = "10s"

[store]
url = "sqlite:///{tmp_path / store}"

[providers.broadcast]
plugin = "smsbroadcast"
username = "demo"
password = "demo-password"
base_url = "{emulators["broadcast"].url}/api-adv.php"
prefixes = ["61"]
priority = 1
prices = {{ "61" = 0.05 }}
timeout = "5s"

[providers.office]
plugin = "smsoffice"
username = "demo"
password = "demo-password"
sender = "Demo"
base_url = "{emulators["office"].url}/sms/api"
prefixes = ["27"]
priority = 2
prices = {{ "27" = 0.25 }}
timeout = "5s"
"""


def write_csv(
    path: Path, rows: Sequence[Sequence[str]], header: Sequence[str] = ("to", "text")
) -> Path:
    """A bulk file with *header* and *rows*."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


class LoggedDaemon(DaemonProcess):
    """``smsrouter serve`` with *options*, run in *cwd*, its output in its own file *log*.

    Without *port*, any free one; the config's relative paths are taken from *cwd*.
    """

    def __init__(
        self,
        config: Path,
        env: dict[str, str],
        log: Path,
        *options: str,
        port: int | None = None,
        cwd: Path | None = None,
    ) -> None:
        super().__init__(config, port or free_port(), env, log)
        self.options = options
        self.cwd = cwd or log.parent

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "router", "serve", *self.options]
        command += ["--config", str(self.config), "--listen", f"127.0.0.1:{self.port}"]
        with open(self.log, "ab") as out:
            return subprocess.Popen(  # noqa: S603 - our own CLI
                command, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=self.cwd
            )

    async def finish(self) -> str:
        """SIGTERM, wait for the exit, and the log."""
        self.signal(signal.SIGTERM)
        assert await self.wait() == 0, self.log.read_text()
        if self.http is not None:
            await self.http.close()
        return self.log.read_text(encoding="utf-8")
