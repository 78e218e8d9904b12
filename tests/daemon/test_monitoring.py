"""The shipped Grafana dashboard and Prometheus alert rules, against a running daemon.

Every series they name (and every label value they select on) must be on the daemon's real
``/metrics``; with ``promtool`` installed, the rules pass ``promtool check rules`` and their
unit tests, and the scrape passes ``promtool check metrics``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.daemon.support import DaemonClient
from tests.daemon.test_daemon import config

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "contrib" / "prometheus" / "smsrouter-alerts.yml"
RULE_TESTS = ROOT / "contrib" / "prometheus" / "smsrouter-alerts.test.yml"
DASHBOARD = ROOT / "contrib" / "grafana" / "smsrouter.json"
ALERTS = {
    "SmsrouterProviderDown",
    "SmsrouterBreakerOpen",
    "SmsrouterBalanceLow",
    "SmsrouterFailoverRateHigh",
    "SmsrouterWebhookDeadLetters",
}
"""What the rules must watch, at least."""
PROMETHEUS_OWN = {"up"}
"""Series Prometheus makes itself for each target."""
TARGET_LABELS = {"instance", "job"}
"""Labels Prometheus adds to every scraped series."""

_NAME = re.compile(r"\b((?:smsrouter|process|python)_[a-z0-9_]+|up)\b(\{[^}]*\})?")
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", ())]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return exprs


def selectors(expr: str) -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    """Each series *expr* names, with its label matchers (name, operator, value)."""
    for match in _NAME.finditer(expr):
        yield match.group(1), _MATCHER.findall(match.group(2) or "")


def scraped(text: str) -> dict[str, list[dict[str, str]]]:
    """Each sample name of an exposition, with the label sets it has."""
    samples: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append(dict(s.labels))
    return samples


def problems(exprs: list[str], samples: dict[str, list[dict[str, str]]]) -> list[str]:
    """Series or label values *exprs* select that the scrape does not have."""
    found: list[str] = []
    for expr in exprs:
        for name, matchers in selectors(expr):
            if name in PROMETHEUS_OWN:
                continue
            if name not in samples:
                found.append(f"{name} is not on /metrics")
                continue
            for label, operator, value in matchers:
                if label in TARGET_LABELS or "$" in value or operator not in ("=", "=~"):
                    continue
                values = {labels.get(label) for labels in samples[name]}
                wanted = value.split("|") if operator == "=~" else [value]
                missing = [w for w in wanted if w not in values]
                if missing:
                    found.append(f"{name}: no series with {label} in {missing} (has {values})")
    return found


@pytest.fixture
async def scrape(tmp_path: Path, emulators: dict[str, Any], served_factory: Any) -> str:
    """The daemon's /metrics after a message went out."""
    daemon: DaemonClient = served_factory(config(tmp_path, emulators))
    await daemon.start()  # type: ignore[attr-defined]
    body = {"to": "+61412345678", "text": "hi"}
    status, _ = await daemon.request("POST", "/v1/messages", json=body)
    assert status == 200
    assert daemon.http is not None
    async with daemon.http.get(daemon.url + "/metrics") as answer:
        assert answer.status == 200
        return await answer.text()


def test_the_rules_watch_what_operators_need() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = {rule["alert"]: rule for group in groups for rule in group["rules"]}
    assert set(alerts) >= ALERTS
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"], name
        assert rule["annotations"]["description"], name


def test_the_dashboard_is_grafana_json_with_a_query_per_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    assert panels
    assert all(p["targets"] and p["datasource"]["uid"] for p in panels)
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("balance", "failover", "breaker", "webhook", "delivery", "version"):
        assert topic in titles, topic


async def test_every_series_they_name_is_on_the_daemons_metrics(scrape: str) -> None:
    samples = scraped(scrape)
    exprs = rule_exprs() + dashboard_exprs()
    assert problems(exprs, samples) == []
    named = {name for expr in exprs for name, _ in selectors(expr)}
    # The check sees what it should: a balance by unit, the build, the process.
    assert {"smsrouter_provider_balance", "smsrouter_build_info", "process_cpu_seconds_total"} <= (
        named
    )
    # Both emulated accounts count credits: unknown until the first poll answers.
    units = {labels["unit"] for labels in samples["smsrouter_provider_balance"]}
    assert units
    assert units <= {"unknown", "credits"}
    # And it would catch a name or a label value that is not there.
    assert problems(['smsrouter_nothing_total{outcome="x"}'], samples) == [
        "smsrouter_nothing_total is not on /metrics"
    ]
    assert problems(['smsrouter_attempts_total{outcome=~"accepted|sent"}'], samples) != []


def promtool(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`): not checked")
    return subprocess.run(  # noqa: S603 (promtool, with our own arguments)
        [found, *args],
        input=stdin,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_promtool_checks_the_rules_and_their_unit_tests() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr


async def test_promtool_checks_a_real_scrape(scrape: str) -> None:
    linted = promtool("check", "metrics", stdin=scrape)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert (linted.stdout + linted.stderr).strip() == ""  # no lint warning either
