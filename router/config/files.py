"""Reading the config file: TOML in, a plain mapping out, or one ConfigError saying where.

What the mapping must hold is checked by :func:`router.config.parse.parse_config`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from router.errors import ConfigError

__all__ = ["read_toml"]


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file, or raise ConfigError naming the file and the line."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 (byte {exc.start})"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: nested too deeply to read"]) from None
