"""The fleet benchmark's daemons: ``python -m router serve`` on SQLite or on the fleet backends.

:class:`FleetDaemon` is :class:`bench.daemon.DaemonProcess` with the fleet's config: the
run's PostgreSQL journal (``[store] url``), its Redis live state under a prefix of the
configuration's own (``[state]``), and one SMS Broadcast provider at the sink. The daemon
on SQLite is :class:`bench.daemon.DaemonProcess` itself.
"""

from __future__ import annotations

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


class FleetDaemon(DaemonProcess):
    """:class:`bench.daemon.DaemonProcess` with the fleet's journal and live state."""

    def __init__(self, sink: SinkProcess, servers: Servers, prefix: str) -> None:
        super().__init__(sink)
        listen = f"127.0.0.1:{self.port}"
        self.config.write_text(fleet_config(sink, listen, servers, prefix), encoding="utf-8")
