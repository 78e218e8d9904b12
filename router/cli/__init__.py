"""The ``smsrouter`` command line: its subcommands, bulk sending and its report, the demo.

:func:`main` runs it (the console script and ``python -m router``); :func:`build_parser`
is its argument parser.
"""

from __future__ import annotations

from router.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
