"""What routing learnt, over the API: per provider in ``GET /v1/providers``, and the
weights' freeze.

* ``GET /v1/quality``: whether the weights are frozen (and by what), when they last moved,
  and every learnt weight with the figures it came from;
* ``PUT /v1/quality/freeze``: freeze the weights (they stay where they are, the statistics
  go on being counted); ``DELETE /v1/quality/freeze`` lifts it, unless the config froze them.

The freeze is kept in the journal: it outlives a restart and holds for every router on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from router.daemon.json import error, respond
from router.daemon.learnt_json import learnt_json

if TYPE_CHECKING:
    from router.daemon.app import Daemon

__all__ = ["add_routes"]


def quality_json(daemon: Daemon) -> dict[str, Any]:
    """The weights' freeze and every learnt weight."""
    router = daemon.router
    quality = router.quality
    by = "config" if quality.settings.frozen else "api" if quality.frozen_by_api else None
    return {
        "frozen": quality.frozen,
        "frozen_by": by,
        "stepped_at": quality.stepped_at,
        "interval_seconds": float(quality.settings.interval),
        "window_seconds": float(quality.settings.window),
        "providers": {
            name: [learnt_json(c, found) for c, found in sorted(quality.learnt(name).items())]
            for name in router.providers
        },
    }


def add_routes(app: web.Application, daemon: Daemon) -> None:
    """Serve ``/v1/quality`` and its freeze on *app* from *daemon*."""

    async def get_quality(request: web.Request) -> web.Response:
        return respond(quality_json(daemon))

    async def freeze(request: web.Request) -> web.Response:
        await daemon.router.quality.freeze(True)
        return respond(quality_json(daemon))

    async def unfreeze(request: web.Request) -> web.Response:
        quality = daemon.router.quality
        if quality.settings.frozen:
            return error(
                409, "frozen_by_config", "router.quality.frozen is true in the config", None
            )
        await quality.freeze(False)
        return respond(quality_json(daemon))

    app.router.add_get("/v1/quality", get_quality)
    app.router.add_put("/v1/quality/freeze", freeze)
    app.router.add_delete("/v1/quality/freeze", unfreeze)
