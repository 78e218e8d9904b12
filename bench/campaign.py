"""Campaigns: 10,000 recipients of one text through the daemon, against raw single messages.

Two ways of sending a campaign of :data:`RECIPIENTS` recipients with one text, each queued
with ``"wait": false`` from 64 concurrent API clients, the run ending when the sink has
taken every recipient:

* lists: messages of :data:`LIST_SIZE` recipients each (the most one message may have); the
  send loop batches each message's recipients into one provider request up to the
  provider's batch size (SMS Broadcast's 1,000);
* one message per recipient, as a CSV of one row per recipient is sent: queued messages of
  one text coalesce (``[router] coalesce_window``), so the daemon's workers share provider
  requests up to the batch size.

Beside each: the provider requests the sink counted, the recipients per second, their
ratio to the raw client's single-message rate in the same run, and each process's CPU time
per recipient.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from typing import Any

import aiohttp

from bench.common import TEXT, Bar, CpuMeter, Load, Result, drive, median, number
from bench.daemon import CONCURRENCY, TOKEN, WORKERS, DaemonProcess, sink_recipients
from bench.library import raw_arm
from bench.sink import SinkProcess

RECIPIENTS = 10_000
LIST_SIZE = 1_000
QUICK_RECIPIENTS = 20
QUICK_LIST = 10
TUNED_WORKERS = 1_000
TUNED_WINDOW = "500ms"
"""A daemon set for campaigns: workers to hold a batch's worth of queued messages, and a
window long enough for them to arrive."""
BAR_RATE = 5.0
"""Recipients per second of a campaign, at least this many times raw's single-message rate."""


async def sink_sends(http: aiohttp.ClientSession, sink: SinkProcess) -> int:
    """How many send requests the sink has answered so far."""
    async with http.get(f"{sink.base}/stats") as answer:
        stats = await answer.json()
    sends: int = stats["sends"]
    return sends


async def campaign(
    http: aiohttp.ClientSession,
    daemon: DaemonProcess,
    sink: SinkProcess,
    recipients: int,
    per_message: int,
    first: int,
) -> tuple[Load, int]:
    """Queue *recipients* numbers from *first*, *per_message* a message; (load, requests)."""
    url = f"{daemon.url}/v1/messages"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    numbers = itertools.count(first)
    sends_before = await sink_sends(http, sink)
    taken_before = await sink_recipients(http, sink)
    started = time.perf_counter()

    async def job(ticket: int) -> bool:
        to = [number(next(numbers)) for _ in range(per_message)]
        body: dict[str, Any] = {"to": to, "text": TEXT, "wait": False, "providers": ["instant"]}
        async with http.post(url, json=body, headers=headers) as answer:
            await answer.read()
            return answer.status == 202

    queued = await drive(job, CONCURRENCY, recipients // per_message)
    if queued.failed:
        raise RuntimeError(f"{queued.failed} campaign messages were refused")
    while await sink_recipients(http, sink) < taken_before + recipients:
        if time.perf_counter() - started > 600:
            raise RuntimeError("the daemon did not send the whole campaign in time")
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    requests = await sink_sends(http, sink) - sends_before
    return Load(recipients, elapsed), requests


async def _arm(
    http: aiohttp.ClientSession,
    daemon: DaemonProcess,
    sink: SinkProcess,
    meter: CpuMeter,
    recipients: int,
    per_message: int,
    first: int,
) -> tuple[Load, int, dict[str, float]]:
    """One campaign through *daemon*, measured: (load, provider requests, CPU per recipient)."""
    meter.start()
    load, requests = await campaign(http, daemon, sink, recipients, per_message, first)
    meter.stop()
    return load, requests, meter.per_message(load.done)


def _cells(load: Load, raw: float, requests: int, cpu: dict[str, float]) -> tuple[Any, ...]:
    """A campaign's row after its label."""
    processes = (round(cpu["daemon"]), round(cpu["client"]), round(cpu["sink"]))
    return (round(load.rate), round(load.rate / raw, 2), requests, *processes)


async def run(quick: bool = False) -> Result:
    """The raw single-message rate, then the campaign as lists and as single messages."""
    started = time.perf_counter()
    total = QUICK_RECIPIENTS if quick else RECIPIENTS
    size = QUICK_LIST if quick else LIST_SIZE
    rows: list[tuple[Any, ...]] = []
    figures: dict[str, float] = {}
    with SinkProcess() as sink:
        async with DaemonProcess(sink) as daemon, aiohttp.ClientSession() as http:
            meter = CpuMeter({"daemon": daemon.pid, "client": os.getpid(), "sink": sink.pid})
            raws = []
            for _ in range(1 if quick else 3):
                raws.append(
                    (
                        await raw_arm(
                            sink.url(),
                            CONCURRENCY,
                            20 if quick else 10**9,
                            None if quick else 3.0,
                            5,
                        )
                    ).rate
                )
            raw = median(raws)
            rows.append(("raw client, one message per request", round(raw), 1.0, "", "", "", ""))
            first = 500_000
            arms = [("lists", size, daemon, meter), ("singles", 1, daemon, meter)]
            for name, per_message, via, cpu_of in arms:
                load, requests, cpu = await _arm(http, via, sink, cpu_of, total, per_message, first)
                first += total
                label = (
                    f"{total:,} recipients in messages of {per_message:,}"
                    if per_message > 1
                    else f"{total:,} single-recipient messages (a CSV's rows)"
                )
                rows.append((label, *_cells(load, raw, requests, cpu)))
                figures[f"{name}_rate"] = load.rate
                figures[f"{name}_ratio"] = load.rate / raw
                figures[f"{name}_requests"] = float(requests)
        # The same single messages on a daemon set for campaigns: more workers to gather
        # them, and a longer window.
        async with (
            DaemonProcess(sink, workers=TUNED_WORKERS, coalesce=TUNED_WINDOW) as tuned,
            aiohttp.ClientSession() as http,
        ):
            meter = CpuMeter({"daemon": tuned.pid, "client": os.getpid(), "sink": sink.pid})
            load, requests, cpu = await _arm(http, tuned, sink, meter, total, 1, first)
            label = (
                f"{total:,} single-recipient messages, {TUNED_WORKERS:,} workers, "
                f"coalesce_window {TUNED_WINDOW}"
            )
            rows.append((label, *_cells(load, raw, requests, cpu)))
            figures["tuned_rate"] = load.rate
            figures["tuned_ratio"] = load.rate / raw
            figures["tuned_requests"] = float(requests)
    figures["raw"] = raw
    batch = 1000  # SMS Broadcast's batch size (the adapter's max_recipients)
    return Result(
        name="campaign",
        title=f"Campaigns: {total:,} recipients of one text through the daemon",
        columns=(
            "how",
            "recipients/s",
            "ratio to raw msg/s",
            "provider requests",
            "daemon CPU µs/recipient",
            "client CPU µs/recipient",
            "sink CPU µs/recipient",
        ),
        rows=tuple(rows),
        bars=(
            Bar("campaign as lists: recipients/s / raw msg/s", BAR_RATE, figures["lists_ratio"]),
            Bar(
                "campaign as lists: provider requests",
                max(1.0, total / min(batch, size)),
                figures["lists_requests"],
                higher_is_better=False,
            ),
            Bar(
                "campaign as single messages: recipients/s / raw msg/s",
                BAR_RATE,
                figures["singles_ratio"],
            ),
            Bar(
                "campaign as single messages: provider requests",
                max(1.0, total / batch),
                figures["singles_requests"],
                higher_is_better=False,
            ),
            Bar(
                "single messages, daemon set for campaigns: recipients/s / raw msg/s",
                BAR_RATE,
                figures["tuned_ratio"],
            ),
            Bar(
                "single messages, daemon set for campaigns: provider requests",
                max(1.0, total / batch),
                figures["tuned_requests"],
                higher_is_better=False,
            ),
        ),
        notes=(
            f'every message queued with "wait": false from {CONCURRENCY} API clients; '
            "the time runs until the sink has taken every recipient",
            "single-recipient messages coalesce (coalesce_window 20 ms): queued ones of one "
            f"text share a provider request, as many as the daemon's {WORKERS} workers hold",
        ),
        figures=figures,
        seconds=time.perf_counter() - started,
    )
