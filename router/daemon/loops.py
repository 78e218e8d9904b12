"""The daemon's event loop: uvloop where it is installed, else asyncio's own (``[server] loop``)."""

from __future__ import annotations

import asyncio

from router.errors import RouterError


def event_loop(choice: str) -> tuple[asyncio.AbstractEventLoop, str]:
    """A new event loop for ``[server] loop`` *choice* (``auto``, ``uvloop`` or ``asyncio``),
    and which it is: ``uvloop`` or ``asyncio``.

    Raises:
        RouterError: ``uvloop`` was asked for and is not installed.
    """
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise RouterError(
                    'server.loop = "uvloop", but uvloop is not installed'
                    ' (pip install uvloop, or set loop = "auto")'
                ) from None
        else:
            return uvloop.new_event_loop(), "uvloop"
    return asyncio.new_event_loop(), "asyncio"
