"""The routing daemon: one Router behind an HTTP API, with its journal and webhooks.

* :mod:`~router.daemon.app`: the :class:`Daemon`, the aiohttp application, middlewares,
  :func:`serve`;
* :mod:`~router.daemon.routes`: messages, routes, providers, plugins, callbacks, metrics;
* :mod:`~router.daemon.inbound`: ``GET /v1/inbound``;
* :mod:`~router.daemon.json`: request reading, response and error bodies;
* :mod:`~router.daemon.openapi`: the API's OpenAPI document, its bodies' schemas in
  :mod:`~router.daemon.schemas` and :mod:`~router.daemon.state_schemas`.

``/v1/events`` is the webhooks' own (:mod:`router.webhooks.routes`).
"""

from __future__ import annotations

from router.daemon.app import (
    DEFAULT_STORE,
    Daemon,
    listen_on,
    make_app,
    serve,
    serve_problems,
    split_listen,
)

__all__ = [
    "DEFAULT_STORE",
    "Daemon",
    "listen_on",
    "make_app",
    "serve",
    "serve_problems",
    "split_listen",
]
