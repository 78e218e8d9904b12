"""The benchmarks' quick mode runs, so the scripts never rot; no assertion is on speed.

The benchmarks run once, as ``make bench`` runs them (``python -m bench``, here with
``--quick``), in a process of their own, since they start processes of their own (the
sink, the daemon); each test then reads one benchmark's result. The figures must be well
formed: every row as wide as the table, every number finite, every ratio the quotient it
claims to be.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import bench.campaign
import bench.daemon
import bench.limits
import bench.memory
from bench.common import Bar, Result, markdown, percentile

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("library", "daemon", "decision", "memory", "limits", "campaign")


def run_quick(out: Path) -> dict[str, dict[str, Any]]:
    """Run every benchmark's quick mode in one process; each result, by name."""
    done = subprocess.run(  # noqa: S603 - our own module, by our own interpreter
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("### ") == len(NAMES)
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["quick"] is True
    assert {"cores", "cpu", "python", "aiohttp"} <= set(report["machine"])
    results = {result["name"]: dict(result) for result in report["results"]}
    assert list(results) == list(NAMES)
    return results


# Per session, not per module: pytest sets a module fixture up again after other modules' tests.
@pytest.fixture(scope="session")
def quick_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every benchmark's quick result, from one ``python -m bench --quick`` run."""
    return run_quick(tmp_path_factory.mktemp("bench") / "figures.json")


def check_well_formed(result: dict[str, Any]) -> None:
    """Rows as wide as the columns, finite figures, bars with their verdict."""
    width = len(result["columns"])
    assert width >= 2
    assert result["rows"]
    assert all(len(row) == width for row in result["rows"])
    assert result["figures"]
    for key, value in result["figures"].items():
        assert isinstance(value, int | float), key
        assert math.isfinite(value), key
    for bar in result["bars"]:
        assert math.isfinite(bar["value"])
        expected = (
            bar["value"] >= bar["limit"]
            if bar["higher_is_better"]
            else bar["value"] <= bar["limit"]
        )
        assert bar["met"] is expected
    assert result["seconds"] > 0


@pytest.mark.parametrize("name", NAMES)
def test_quick_mode_runs_and_writes_well_formed_figures(
    name: str, quick_results: dict[str, dict[str, Any]]
) -> None:
    result = quick_results[name]
    check_well_formed(result)
    figures = result["figures"]
    if name == "library":
        for key in ("instant_c1", "instant_c16", "instant_c64", "slow_c1", "slow_c16", "slow_c64"):
            assert figures[f"{key}_raw"] > 0
            assert figures[f"{key}_router"] > 0
            ratio = figures[f"{key}_router"] / figures[f"{key}_raw"]
            assert figures[f"{key}_ratio"] == pytest.approx(ratio)
        assert len(result["rows"]) == 6
        assert len(result["bars"]) == 2
    elif name == "daemon":
        for variant in bench.daemon.VARIANTS:
            key = variant.key
            for arm, raw in (("waiting", "raw"), ("queued", "raw"), ("waiting_slow", "raw_slow")):
                ratio = figures[f"{key}_{arm}"] / figures[f"{key}_{raw}"]
                assert figures[f"{key}_{arm}_ratio"] == pytest.approx(ratio)
                assert figures[f"{key}_{arm}_daemon_cpu_us"] >= 0  # /proc ticks: 0 in quick mode
        assert len(result["rows"]) == len(bench.daemon.VARIANTS) * len(bench.daemon.ARMS)
        assert min(v for k, v in figures.items() if not k.endswith("_cpu_us")) > 0
    elif name == "decision":
        assert 0 < figures["route_median_us"] <= figures["route_p99_us"]
        assert 0 < figures["chain_median_us"] <= figures["chain_p99_us"]
    elif name == "memory":
        assert figures["messages"] == bench.memory.QUICK[-1]
        assert figures["rss_end_kib"] > 0
        assert figures["rss_warm_kib"] > 0
        assert [row[1] for row in result["rows"]] == [0, *bench.memory.QUICK]
    elif name == "campaign":
        assert figures["lists_ratio"] == pytest.approx(figures["lists_rate"] / figures["raw"])
        # Not a speed: how many provider requests the recipients took.
        lists = bench.campaign.QUICK_RECIPIENTS / bench.campaign.QUICK_LIST  # or fewer, shared
        assert 1 <= figures["lists_requests"] <= lists
        # Single messages coalesce as the daemon's workers meet them: some calls, never more.
        assert 1 <= figures["singles_requests"] <= bench.campaign.QUICK_RECIPIENTS
        assert 1 <= figures["tuned_requests"] <= bench.campaign.QUICK_RECIPIENTS
    else:
        # Not a speed: the budget must keep every provider's rules, under load too.
        assert figures["violations"] == 0
        assert figures["messages"] == bench.limits.QUICK
        assert figures["accepted"] == bench.limits.QUICK
        assert figures["balance_reads"] + figures["balance_refused"] == 20


def test_a_bar_is_met_from_the_right_side() -> None:
    assert Bar("ratio", 0.85, 0.86).met
    assert not Bar("ratio", 0.85, 0.84).met
    assert Bar("median", 20, 19.5, higher_is_better=False).met
    assert not Bar("median", 20, 20.5, higher_is_better=False).met
    assert not Bar("ratio", 0.85, math.nan).met


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0
    assert math.isnan(percentile([], 0.5))


def test_markdown_shows_every_row_and_the_verdict() -> None:
    result = Result(
        name="x",
        title="A title",
        columns=("what", "msg/s"),
        rows=(("raw", 1234), ("router", 0.5)),
        bars=(Bar("ratio", 0.85, 0.5),),
        notes=("a note",),
        seconds=1.5,
    )
    assert markdown(result) == (
        "### A title\n\n"
        "| what | msg/s |\n"
        "|---|---|\n"
        "| raw | 1,234 |\n"
        "| router | 0.5 |\n\n"
        "- ratio: 0.5 (bar >= 0.85): **NOT met**\n"
        "- a note\n"
        "- ran in 1.5 s\n"
    )
