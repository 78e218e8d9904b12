"""A config as TOML text: what ``smsrouter emulate --write-config`` writes.

The standard library reads TOML but does not write it; a config holds only tables, arrays,
strings, numbers and booleans, which :func:`toml_text` writes so that ``tomllib`` reads back
exactly the same values. Top-level tables and tables of tables (``[providers.NAME]``) are
sections; a table of plain values inside one (``prices``) is written inline.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["toml_text"]

_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _key(key: str) -> str:
    return key if _BARE.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    # JSON's escapes are TOML's too; DEL is the one control JSON leaves as it is.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(k)} = {_value(v, f'{where}.{k}')}" for k, v in value.items())
        return f"{{ {inner} }}" if inner else "{}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_value(v, f"{where}[{i}]") for i, v in enumerate(value)) + "]"
    raise TypeError(f"{where}: {type(value).__name__} has no TOML form")


def _is_section(value: object, depth: int) -> bool:
    """Whether a table is written as a ``[section]`` (else inline)."""
    if not isinstance(value, Mapping):
        return False
    return depth == 0 or any(isinstance(v, Mapping) for v in value.values())


def _section(path: list[str], table: Mapping[str, Any], out: list[str]) -> None:
    depth = len(path)
    plain = [(k, v) for k, v in table.items() if not _is_section(v, depth)]
    nested = [(k, v) for k, v in table.items() if _is_section(v, depth)]
    if path and (plain or not nested):
        out.append(f"\n[{'.'.join(map(_key, path))}]")
    where = ".".join(path)
    out.extend(f"{_key(k)} = {_value(v, f'{where}.{k}'.lstrip('.'))}" for k, v in plain)
    for key, value in nested:
        _section([*path, key], value, out)


def toml_text(data: Mapping[str, Any], header: str = "") -> str:
    """*data* as TOML, after *header* (each of its lines written as a comment).

    Raises:
        TypeError: a value has no TOML form (named by its path).
    """
    out = [f"# {line}".rstrip() for line in header.splitlines()]
    _section([], data, out)
    return "\n".join(out).lstrip("\n") + "\n"
