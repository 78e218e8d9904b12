"""The loopback sink that also counts each number it was sent, to tell a repeat from a loss.

It is :mod:`bench.sink` (the same answers, the same ``/stats``) with one more count: every
number a send request names, so ``GET /numbers`` says how many distinct numbers arrived and
how many arrived more than once. Every message of a fleet run goes to a number of its own,
so a message two instances both sent shows as a repeat, and one none sent as a missing
number, whatever the other messages did. It runs in a process of its own
(``python -m bench.fleet_sink``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

import attrs
from aiohttp import web

from bench.sink import SinkProcess, make_app, serve


@attrs.frozen
class Numbers:
    """What ``GET /numbers`` says: distinct numbers sent, and how many came again."""

    distinct: int
    repeats: int
    """Send requests for a number already seen: 0 when every message came once."""


def make_counting_app() -> web.Application:
    """:func:`bench.sink.make_app` with every number of a send request counted."""
    seen: set[str] = set()
    repeats = 0

    @web.middleware
    async def count(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        nonlocal repeats
        if request.method == "POST":
            # read() keeps the body, so the sink's own handler reads it again for free.
            fields = dict(parse_qsl((await request.read()).decode()))
            if fields.get("action") != "balance":
                for recipient in fields.get("to", "").split(","):
                    if recipient in seen:
                        repeats += 1
                    else:
                        seen.add(recipient)
        return await handler(request)

    async def numbers(request: web.Request) -> web.Response:
        return web.json_response({"distinct": len(seen), "repeats": repeats})

    app = make_app()
    app.middlewares.append(count)
    app.router.add_get("/numbers", numbers)
    return app


class CountingSink(SinkProcess):
    """The counting sink in a process of its own, for ``with``; stopped as the sink is."""

    module = "bench.fleet_sink"
    name = "counting sink"


if __name__ == "__main__":
    from bench.common import run_on_loop

    run_on_loop(serve(make_counting_app()))
