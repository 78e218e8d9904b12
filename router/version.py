"""The installed distribution's version: ``router.__version__``, ``smsrouter --version``,
and the daemon's start line."""

from __future__ import annotations

from importlib import metadata

try:
    VERSION = metadata.version("smsrouter")
except metadata.PackageNotFoundError:  # imported from a source tree never installed
    VERSION = "0+unknown"
