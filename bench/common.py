"""What every benchmark shares: the figures it returns, the load driver, the machine.

A benchmark returns a :class:`Result`: a table of figures and the bars it is held to. The
load driver runs a coroutine from a number of concurrent workers until a count or a
duration is reached and says how many finished in how long.
"""

from __future__ import annotations

import asyncio
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aiohttp
import attrs

T = TypeVar("T")


@attrs.frozen
class Bar:
    """One bar a figure is held to."""

    what: str
    limit: float
    value: float
    higher_is_better: bool = True

    @property
    def met(self) -> bool:
        """Whether the figure reaches the bar."""
        if not math.isfinite(self.value):
            return False
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit


@attrs.frozen
class Result:
    """What one benchmark measured: a table, its bars, and notes to read them by."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    bars: tuple[Bar, ...] = ()
    notes: tuple[str, ...] = ()
    figures: dict[str, float] = attrs.field(factory=dict)
    """The headline numbers by name, for the JSON output and the tests."""
    seconds: float = 0.0
    """How long the benchmark took to run."""

    def json(self) -> dict[str, Any]:
        """The result as plain JSON values."""
        return {
            "name": self.name,
            "title": self.title,
            "columns": list(self.columns),
            "rows": [list(row) for row in self.rows],
            "bars": [
                {
                    "what": b.what,
                    "limit": b.limit,
                    "value": b.value,
                    "higher_is_better": b.higher_is_better,
                    "met": b.met,
                }
                for b in self.bars
            ],
            "notes": list(self.notes),
            "figures": dict(self.figures),
            "seconds": self.seconds,
        }


@attrs.frozen
class Load:
    """How a run of the load driver went."""

    done: int
    elapsed: float
    failed: int = 0
    cpu: float = 0.0
    """CPU seconds this process spent (every thread), sink and other processes not counted."""

    @property
    def rate(self) -> float:
        """Completed jobs per second."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def cpu_per_job(self) -> float:
        """CPU microseconds this process spent per completed job."""
        return 1e6 * self.cpu / self.done if self.done else math.nan


async def drive(
    job: Callable[[int], Awaitable[bool]],
    concurrency: int,
    count: int,
    duration: float | None = None,
) -> Load:
    """Run *job* from *concurrency* workers until *count* jobs or *duration* seconds.

    Each job gets its ticket number and returns whether it succeeded. Jobs started before
    the deadline are finished and counted; the time runs until the last one ends.
    """
    tickets = iter(range(count))
    done = failed = 0
    cpu = time.process_time()
    started = time.perf_counter()
    deadline = math.inf if duration is None else started + duration

    async def worker() -> None:
        nonlocal done, failed
        for ticket in tickets:
            if time.perf_counter() >= deadline:
                return
            if await job(ticket):
                done += 1
            else:
                failed += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return Load(done, elapsed, failed, time.process_time() - cpu)


def new_loop() -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's where it is installed, so no baseline is a slow one."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def loop_name() -> str:
    """``uvloop`` or ``asyncio``: what :func:`new_loop` gives."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run_on_loop(main: Awaitable[T]) -> T:
    """Run *main* to completion on a loop of :func:`new_loop`."""
    with asyncio.Runner(loop_factory=new_loop) as runner:
        return runner.run(main)  # type: ignore[arg-type]


TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """CPU seconds process *pid* has spent (user and system, every thread), from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    # After the command's closing parenthesis: state is field 3, utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / TICKS


class CpuMeter:
    """CPU seconds of named processes over a stretch: ``meter.start()``, ``meter.stop()``."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._before: dict[str, float] = {}
        self.spent: dict[str, float] = {}

    def start(self) -> None:
        """Note each process's CPU time now."""
        self._before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        """Each process's CPU seconds since :meth:`start`."""
        self.spent = {
            name: cpu_seconds(pid) - self._before[name] for name, pid in self.pids.items()
        }
        return self.spent

    def per_message(self, messages: int) -> dict[str, float]:
        """Each process's CPU microseconds per message over the last stretch."""
        if not messages:
            return dict.fromkeys(self.spent, math.nan)
        return {name: 1e6 * spent / messages for name, spent in self.spent.items()}


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which *fraction* of *values* fall (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    """The median, NaN for no values."""
    return statistics.median(values) if values else math.nan


def cpu_model() -> str:
    """The CPU model as /proc/cpuinfo names it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews figures."""
    try:
        return " ".join(f"{load:.2f}" for load in os.getloadavg())
    except OSError:
        return "unknown"


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": sys.version.split()[0],
        "aiohttp": aiohttp.__version__,
        "event loop (clients and sink)": loop_name(),
        "platform": platform.platform(),
        "load average at start": load_average(),
    }


def rss_kib(pid: int) -> int:
    """A process's resident set size in KiB, read from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if abs(value) < 10:
            return f"{value:.3g}"
        return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def markdown(result: Result) -> str:
    """One benchmark's figures as Markdown."""
    lines = [f"### {result.title}", ""]
    lines.append("| " + " | ".join(result.columns) + " |")
    lines.append("|" + "---|" * len(result.columns))
    lines.extend("| " + " | ".join(_cell(v) for v in row) + " |" for row in result.rows)
    lines.append("")
    for bar in result.bars:
        sign = ">=" if bar.higher_is_better else "<="
        verdict = "met" if bar.met else "NOT met"
        lines.append(f"- {bar.what}: {bar.value:.3g} (bar {sign} {bar.limit:g}): **{verdict}**")
    lines.extend(f"- {note}" for note in result.notes)
    lines.append(f"- ran in {result.seconds:.1f} s")
    return "\n".join(lines) + "\n"


PASSWORD = "bench-password"
"""The sink does not check it; it is here so requests carry one, as real ones do."""
TEXT = "Your table for two is booked for 7pm tonight."
"""One segment of GSM-7, the common case."""


def number(index: int) -> str:
    """The *index*-th of a million distinct Australian mobile numbers, in E.164.

    Every message of a run goes to a number of its own, as a real load's mostly do, so
    nothing that remembers numbers makes the figures better than they would be.
    """
    return f"+61412{index % 1_000_000:06d}"
