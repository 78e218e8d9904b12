"""The systemd unit in contrib/: systemd accepts it, it is hardened, and it runs our daemon.

``systemd-analyze verify`` checks every directive and that ExecStart's program exists, so
the test points ExecStart at this environment's ``smsrouter``; ``systemd-analyze security
--offline`` rates its sandbox. Where systemd-analyze is not installed those two checks are
skipped with the reason printed; the others run everywhere.
"""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from router.cli import build_parser
from router.config import ServerSettings

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "contrib" / "systemd" / "smsrouter.service"
INSTALLED = "/usr/local/bin/smsrouter"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "DynamicUser": "yes",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "SystemCallFilter": "@system-service",
    "MemoryDenyWriteExecute": "yes",
}


def service() -> dict[str, list[str]]:
    """The [Service] section: every directive's values, in order."""
    values: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        print("systemd-analyze is not installed: the unit is not verified by systemd")
        pytest.skip("systemd-analyze is not installed")
    return found


def runnable_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this environment's smsrouter (verify wants one)."""
    ours = Path(sys.executable).parent / "smsrouter"
    assert ours.exists(), "the smsrouter console script of this environment"
    copy = tmp_path / "smsrouter.service"
    copy.write_text(UNIT.read_text(encoding="utf-8").replace(INSTALLED, str(ours)), "utf-8")
    return copy


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    done = subprocess.run(  # noqa: S603
        [analyze(), "verify", str(runnable_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Unknown or misspelt directives are only warnings: any line about the unit fails.
    assert done.returncode == 0, done.stderr
    assert "smsrouter.service" not in done.stderr + done.stdout, done.stderr


def test_systemd_rates_the_sandbox_ok(tmp_path: Path) -> None:
    done = subprocess.run(  # noqa: S603
        [analyze(), "security", "--offline=yes", str(runnable_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    verdict = done.stdout.strip().splitlines()[-1]
    exposure = float(verdict.split(":")[1].split()[0])
    assert exposure <= 2.0, verdict  # systemd: "OK" up to 2.0, "MEDIUM" above


def test_the_unit_is_hardened() -> None:
    values = service()
    for key, wanted in HARDENING.items():
        assert wanted in values.get(key, []), f"{key}={wanted} missing"
    assert values["SystemCallFilter"][-1].startswith("~@privileged")
    assert values["AmbientCapabilities"] == [""]


def test_the_unit_runs_serve_reloads_on_hup_and_lets_sends_drain() -> None:
    values = service()
    (start,) = values["ExecStart"]
    program, *args = shlex.split(start)
    assert program == INSTALLED
    parsed = build_parser().parse_args(args)
    assert parsed.command == "serve"
    assert Path(parsed.config).parent == Path("/etc/smsrouter")
    assert values["ExecReload"] == ["/bin/kill -HUP $MAINPID"]  # SIGHUP reloads the config
    assert values["KillSignal"] == ["SIGTERM"]  # SIGTERM drains
    stop = values["TimeoutStopSec"][0]
    assert stop.endswith("s")
    assert float(stop[:-1]) > ServerSettings().shutdown_timeout
    assert values["WorkingDirectory"] == ["/var/lib/smsrouter"]  # where the journal lives
    assert values["StateDirectory"] == ["smsrouter"]


def test_the_unit_parses_as_an_ini_file_with_the_three_sections() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    assert parser.sections() == ["Unit", "Service", "Install"]
    assert parser["Install"]["WantedBy"] == "multi-user.target"
