"""``python -m bench [--quick] [--only NAME ...] [--json FILE]``: run the benchmarks.

Prints the machine, then each benchmark's table and bars as Markdown (the form
``bench/README.md`` records them in). ``--quick`` runs a few dozen messages per
benchmark: a check that the scripts work, not a measurement. ``fleet`` needs PostgreSQL
and Redis on this machine, so it runs only when named: ``--only fleet``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

import bench.campaign
import bench.daemon
import bench.decision
import bench.fleet
import bench.library
import bench.limits
import bench.memory
from bench.common import Result, load_average, machine, markdown, run_on_loop

BENCHMARKS: dict[str, Callable[[bool], Awaitable[Result]]] = {
    "library": bench.library.run,
    "daemon": bench.daemon.run,
    "decision": bench.decision.run,
    "memory": bench.memory.run,
    "limits": bench.limits.run,
    "campaign": bench.campaign.run,
    "fleet": bench.fleet.run,
}
"""Every benchmark, in the order they run."""
NEEDS_SERVERS = frozenset({"fleet"})
"""Benchmarks run only when named: they need PostgreSQL and Redis."""


async def run_all(names: Sequence[str], quick: bool) -> list[Result]:
    """Run the named benchmarks in order, printing each as it ends."""
    results = []
    for name in names:
        result = await BENCHMARKS[name](quick)
        print(markdown(result), flush=True)
        results.append(result)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few dozen messages each")
    parser.add_argument(
        "--only", action="append", choices=list(BENCHMARKS), help="run only these (repeatable)"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    names = args.only or [name for name in BENCHMARKS if name not in NEEDS_SERVERS]
    info = machine()
    command = "python -m bench" + (" --quick" if args.quick else "")
    print(f"## smsrouter benchmarks ({command})\n")
    for key, value in info.items():
        print(f"- {key}: {value}")
    print(flush=True)
    started = time.perf_counter()
    results = run_on_loop(run_all(names, args.quick))
    total = time.perf_counter() - started
    info["load average at end"] = load_average()
    print(f"All benchmarks ran in {total:.0f} s; load average at the end: {load_average()}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(
                {
                    "machine": info,
                    "quick": args.quick,
                    "seconds": total,
                    "results": [r.json() for r in results],
                },
                out,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
