"""The hot path alone, to profile: ``Router.send`` at concurrency 64 on the instant sink.

Run it under a sampling profiler installed by hand (py-spy is no dependency)::

    .venv/bin/py-spy record -r 250 -f raw -o /tmp/send.txt -- \\
        .venv/bin/python -m bench.hotpath --seconds 20
    .venv/bin/python -m bench.hotpath --summarize /tmp/send.txt

``--summarize`` reads py-spy's collapsed stacks and prints the functions that take the
most samples, by their own time and with what they call (start-up imports left out).

``--daemon FILE`` profiles the daemon instead: it starts the sink and the daemon
(``python -m router serve``, SQLite journal), attaches py-spy to the daemon's process for
``--seconds`` (every thread, so the journal's writer thread shows) and drives it from the
load generator meanwhile, in waiting mode or with ``--queued``::

    .venv/bin/python -m bench.hotpath --daemon /tmp/daemon.txt --seconds 15
    .venv/bin/python -m bench.hotpath --summarize /tmp/daemon.txt
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from bench.common import Load, run_on_loop
from bench.daemon import DaemonProcess, LoadGenerator
from bench.library import raw_arm, router_arm
from bench.sink import SinkProcess


async def _load(seconds: float, concurrency: int, slow: bool, raw: bool) -> Load:
    with SinkProcess() as sink:
        arm = raw_arm if raw else router_arm
        return await arm(sink.url(slow), concurrency, 10**9, seconds, 200)


async def _profile_daemon(path: str, seconds: float, queued: bool) -> Load:
    """Drive the daemon for *seconds* while py-spy records it into *path*."""
    with SinkProcess() as sink:
        async with DaemonProcess(sink) as daemon, aiohttp.ClientSession() as http:
            generator = LoadGenerator(http, daemon.url)
            await generator.run(500, None, wait=True)
            spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            record = await asyncio.create_subprocess_exec(
                spy,
                "record",
                "-r",
                "250",
                "-f",
                "raw",
                "-d",
                str(int(seconds)),
                "-o",
                path,
                "-p",
                str(daemon.pid),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            load = await generator.run(10**9, seconds, wait=not queued)
            await record.wait()
            return load


def summarize(path: str, top: int = 25) -> str:
    """The *top* functions of a py-spy raw (collapsed) profile, by own and total samples."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    areas: collections.Counter[str] = collections.Counter()
    samples = 0
    with open(path, encoding="utf-8") as profile:
        for line in profile:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            if not count_text.isdigit():
                continue
            count = int(count_text)
            if "<frozen importlib" in stack:
                continue  # start-up imports, not the hot path
            frames = [_short(frame) for frame in stack.split(";")]
            samples += count
            areas[_area(stack.split(";"))] += count
            own[frames[-1]] += count
            for frame in set(frames):
                total[frame] += count
    lines = [f"{samples} samples", "", "by area (the innermost frame that has one):"]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in areas.most_common()]
    lines += ["", "own time:"]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines += ["", "with callees (smsrouter code only):"]
    ours = [(name, n) for name, n in total.most_common() if _ours(name)]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in ours[:top]]
    return "\n".join(lines)


AREAS = (
    ("(phonenumbers/", "phone numbers (phonenumbers, via router.numbers)"),
    ("(prometheus_client/", "metrics (prometheus_client)"),
    ("(router/store/", "journal (router.store)"),
    ("(router/policy.py", "routing (policy chain)"),
    ("(policies/", "routing (policy chain)"),
    ("(plugins/", "the adapter's own code"),
    ("(router/daemon/", "the daemon's HTTP side (router.daemon)"),
    ("(router/", "the router's own code"),
    ("(threading.py", "the journal's writer thread (waiting for work)"),
    ("(sqlite3/", "the journal's writer thread (SQLite)"),
    ("(aiohttp/", "HTTP client and event loop (aiohttp, asyncio)"),
    ("(asyncio/", "HTTP client and event loop (aiohttp, asyncio)"),
    ("(selectors", "HTTP client and event loop (aiohttp, asyncio)"),
    ("(uvloop/", "HTTP client and event loop (aiohttp, asyncio)"),
    ("(bench/", "the load driver"),
)


def _area(frames: list[str]) -> str:
    """What part of the work a sample is: its innermost frame that belongs to an area."""
    for frame in reversed(frames):
        for marker, area in AREAS:
            if marker in frame:
                return area
    return "other"


def _short(frame: str) -> str:
    # py-spy writes "function (path/to/file.py:line)": keep the function and the file.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path, _, _ = where.rpartition(":")
    parts = path.split("/")
    tail = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{name} ({tail})"


def _ours(name: str) -> bool:
    return any(f"({package}/" in name for package in ("router", "store", "plugins", "smsbroadcast"))


def main(argv: Sequence[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--slow", action="store_true", help="the 20 ms sink")
    parser.add_argument("--raw", action="store_true", help="the raw client instead")
    parser.add_argument("--summarize", metavar="FILE", help="summarize a py-spy raw profile")
    parser.add_argument("--daemon", metavar="FILE", help="profile the daemon into FILE")
    parser.add_argument("--queued", action="store_true", help='the daemon with "wait": false')
    args = parser.parse_args(argv)
    if args.summarize:
        print(summarize(args.summarize))
        return 0
    if args.daemon:
        load = run_on_loop(_profile_daemon(args.daemon, args.seconds, args.queued))
        print(f"{load.done} messages posted in {load.elapsed:.1f} s: {load.rate:.0f} msg/s")
        return 0
    load = asyncio.run(_load(args.seconds, args.concurrency, args.slow, args.raw))
    print(f"{load.done} messages in {load.elapsed:.1f} s: {load.rate:.0f} msg/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
