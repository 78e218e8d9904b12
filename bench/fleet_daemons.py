"""The fleet benchmark's daemons: ``python -m router serve`` on SQLite or on the fleet backends.

:class:`BenchDaemon` is :class:`bench.daemon.DaemonProcess` saying why when a daemon does
not start; :class:`FleetDaemon` writes the fleet's config: the run's PostgreSQL journal
(``[store] url``), its Redis live state under a prefix of the configuration's own
(``[state]``), and one SMS Broadcast provider at the sink.
"""

from __future__ import annotations

import asyncio

import aiohttp

from bench.common import PASSWORD
from bench.daemon import TOKEN, WORKERS, DaemonProcess
from bench.fleet_servers import Servers
from bench.sink import SinkProcess


def fleet_config(sink: SinkProcess, listen: str, servers: Servers, prefix: str) -> str:
    """One fleet daemon's TOML: the shared journal and state, one provider at the sink."""
    return f"""
[router]
default_region = "AU"
policy = ["priority"]

[server]
listen = "{listen}"
api_tokens = ["{TOKEN}"]
workers = {WORKERS}
loop = "uvloop"

[store]
url = "{servers.database}"

[state]
url = "{servers.redis}"
prefix = "{prefix}"

[providers.instant]
plugin = "smsbroadcast"
username = "bench"
password = "{PASSWORD}"
base_url = "{sink.url()}"
prices = {{ "61" = 0.055, "614" = 0.045 }}
"""


class BenchDaemon(DaemonProcess):
    """:class:`bench.daemon.DaemonProcess` that says why, when it does not start."""

    async def start(self) -> None:
        """Start the daemon and wait (20 s at most) until it answers /healthz.

        Raises RuntimeError with the end of the daemon's log when it does not.
        """
        self._process = self._spawn()
        async with aiohttp.ClientSession() as http:
            for _ in range(400):
                if self._process.poll() is not None:
                    break
                try:
                    async with http.get(f"{self.url}/healthz") as answer:
                        if answer.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)
        log = self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
        await self.stop()
        raise RuntimeError(f"the daemon on port {self.port} did not start:\n{log}")


class FleetDaemon(BenchDaemon):
    """:class:`BenchDaemon` with the fleet's journal and live state."""

    def __init__(self, sink: SinkProcess, servers: Servers, prefix: str) -> None:
        super().__init__(sink)
        listen = f"127.0.0.1:{self.port}"
        self.config.write_text(fleet_config(sink, listen, servers, prefix), encoding="utf-8")
