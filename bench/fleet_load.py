"""The fleet benchmark's load: messages spread over daemons, and the raw client beside them.

Every message of a run, the raw client's too, takes the next number of one
:class:`NumberSource`, so no two messages share a number and the counting sink can tell a
message that arrived twice from two that arrived once.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from bench.common import PASSWORD, TEXT, Load, drive, number
from bench.daemon import TOKEN
from bench.fleet_sink import CountingSink, Numbers


class NumberSource:
    """The numbers of a run, each given once (at most a million: :func:`number` wraps)."""

    def __init__(self) -> None:
        self._next = itertools.count()

    def take(self) -> str:
        """The next number, in E.164."""
        return number(next(self._next))


class Generator:
    """Posts messages to ``POST /v1/messages`` of each daemon in turn, round-robin."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        daemons: Sequence[str],
        numbers: NumberSource,
        concurrency: int,
    ) -> None:
        self.http = http
        self.urls = [f"{url}/v1/messages" for url in daemons]
        self.numbers = numbers
        self.concurrency = concurrency
        self.headers = {"Authorization": f"Bearer {TOKEN}"}
        self.errors: list[str] = []
        """What went wrong with requests that failed, the first few kept."""

    def _failed(self, what: str) -> bool:
        if len(self.errors) < 10:
            self.errors.append(what)
        return False

    async def post(self, ticket: int, wait: bool) -> bool:
        """Message *ticket* to daemon *ticket* modulo their count; whether it was taken."""
        url = self.urls[ticket % len(self.urls)]
        body: dict[str, Any] = {"to": self.numbers.take(), "text": TEXT}
        if not wait:
            body["wait"] = False
        try:
            async with self.http.post(url, json=body, headers=self.headers) as answer:
                payload = await answer.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            return self._failed(f"{url}: {type(exc).__name__}: {exc}")
        if wait and answer.status == 200 and payload.get("ok") is True:
            return True
        if not wait and answer.status == 202:
            return True
        return self._failed(f"{url}: {answer.status} {payload}")

    async def run(self, count: int, wait: bool) -> Load:
        """*count* messages from :attr:`concurrency` clients."""

        async def job(ticket: int) -> bool:
            return await self.post(ticket, wait)

        return await drive(job, self.concurrency, count)


async def sink_numbers(http: aiohttp.ClientSession, sink: CountingSink) -> Numbers:
    """The distinct numbers the sink has taken so far, and the repeats."""
    async with http.get(f"{sink.base}/numbers") as answer:
        counts = await answer.json()
    return Numbers(int(counts["distinct"]), int(counts["repeats"]))


async def raw_run(
    http: aiohttp.ClientSession,
    sink: CountingSink,
    numbers: NumberSource,
    concurrency: int,
    count: int,
) -> Load:
    """The raw client: the adapter's POST straight to the sink, *count* times."""
    url = sink.url()

    async def job(ticket: int) -> bool:
        form = {
            "username": "bench",
            "password": PASSWORD,
            "to": numbers.take()[1:],
            "message": TEXT,
            "ref": f"{ticket:016x}",
            "maxsplit": "1",
        }
        async with http.post(url, data=form) as answer:
            text = await answer.text()
        return answer.status == 200 and text.startswith("OK:")

    return await drive(job, concurrency, count)


async def queued_run(generator: Generator, sink: CountingSink, count: int, timeout: float) -> Load:
    """*count* messages with ``"wait": false``, done when the sink has every one of them.

    Raises RuntimeError when they have not all arrived *timeout* seconds after the start.
    """
    http = generator.http
    before = (await sink_numbers(http, sink)).distinct
    started = time.perf_counter()
    accepted = await generator.run(count, wait=False)
    while (arrived := (await sink_numbers(http, sink)).distinct - before) < accepted.done:
        if time.perf_counter() - started > timeout:
            raise RuntimeError(
                f"{accepted.done - arrived} of {accepted.done} queued messages did not reach "
                f"the sink in {timeout:g} s"
            )
        await asyncio.sleep(0.01)
    return Load(accepted.done, time.perf_counter() - started, accepted.failed)
