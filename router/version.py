"""The version of the installed smsrouter distribution, read once."""

from __future__ import annotations

from importlib import metadata

UNKNOWN = "0+unknown"
"""The version of a source tree that was never installed."""

try:
    VERSION = metadata.version("smsrouter")
except metadata.PackageNotFoundError:  # imported from a source tree never installed
    VERSION = UNKNOWN
"""The distribution's version, as ``pip`` shows it."""
