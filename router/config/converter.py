"""The strict config converter: TOML values into attrs classes, each problem at its path.

cattrs' own hooks coerce (``"no"`` would become True, ``"1"`` a number); these accept only
the TOML type a field asks for. A table is structured field by field, so every problem is
reported, as ``path: message`` with the path written as in TOML, and none hides another.
"""

from __future__ import annotations

import enum
import math
import re
import typing
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

import attrs
import cattrs
import cattrs.cols as cols
from cattrs.errors import ForbiddenExtraKeysError
from cattrs.preconf.tomllib import make_converter

from router.errors import PluginError
from router.redact import Secret


class Duration(float):
    """Seconds, written in config as ``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"`` or ``"1d"``."""


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


def parse_duration(text: str) -> Duration:
    """``"5m"`` -> 300.0; raises ValueError naming the accepted forms."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f'expected a duration like "30s", "5m" or "500ms", got {text!r}')
    return Duration(float(match.group(1)) * _UNITS[match.group(2)])


def _strict(kind: str, *types: type) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _: Any) -> Any:
        if type(value) not in types:
            raise TypeError(f"expected {kind}, got {value!r}")
        return value

    return structure


def _number(value: Any) -> float:
    # TOML has nan and inf: neither is a price, a rate or a timeout.
    if type(value) not in (int, float):
        raise TypeError(f"expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _structure_decimal(value: Any, _: Any) -> Decimal:
    _number(value)
    return Decimal(str(value))


def _structure_float(value: Any, _: Any) -> float:
    return _number(value)


def _structure_duration(value: Any, _: Any) -> Duration:
    if not isinstance(value, str):
        raise TypeError(f'expected a duration like "30s" or "5m", got {value!r}')
    return parse_duration(value)


def _structure_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    # A str/int enum would otherwise fall to the strict str/int hook (its base class) and
    # come back as a plain value, never checked against the members.
    for member in cls:
        if type(value) is type(member.value) and value == member.value:
            return member
    choices = ", ".join(repr(m.value) for m in cls)
    raise ValueError(f"expected one of {choices}, got {value!r}")


def _structure_secret(value: Any, _: Any) -> Secret:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return Secret(value)


def _shape(kind: str, shapes: tuple[type, ...], make: Any, wrap: Any = None) -> Any:
    # cattrs turns any iterable into a list ("abc" -> ['a', 'b', 'c']) and fails on a
    # non-mapping with an AttributeError: check the TOML shape before cattrs' own hook.
    def factory(type_: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
        inner = make(type_, converter)

        def structure(value: Any, target: Any) -> Any:
            if not isinstance(value, shapes):
                raise TypeError(f"expected {kind}, got {value!r}")
            built = inner(value, target)
            return built if wrap is None else wrap(type_)(built)

        return structure

    return factory


def _list_of(item: Any) -> Any:
    return list[item]


def _origin_in(*origins: type) -> Callable[[Any], bool]:
    def predicate(type_: Any) -> bool:
        args = typing.get_args(type_)
        if typing.get_origin(type_) is tuple:
            return tuple in origins and len(args) == 2 and args[1] is Ellipsis
        return typing.get_origin(type_) in origins

    return predicate


def make_config_converter() -> cattrs.Converter:
    """The one strict converter for config, plugins' ``Config`` classes included."""
    converter = make_converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(str, _strict("a string", str))
    converter.register_structure_hook(int, _strict("an integer", int))
    converter.register_structure_hook(bool, _strict("true or false", bool))
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_structure_hook(Duration, _structure_duration)
    converter.register_structure_hook(Secret, _structure_secret)
    # Registered for each enum base so they come before str and int in a StrEnum's MRO.
    for base in (enum.StrEnum, enum.IntEnum, enum.Enum):
        converter.register_structure_hook(base, _structure_enum)
    converter.register_structure_hook_func(
        lambda t: typing.get_origin(t) is _LITERAL, _structure_literal
    )
    converter.register_structure_hook_factory(
        _origin_in(list), _shape("a list", (list, tuple), cols.list_structure_factory)
    )
    converter.register_structure_hook_factory(
        _origin_in(tuple),
        _shape("a list", (list, tuple), cols.homogenous_tuple_structure_factory),
    )
    converter.register_structure_hook_factory(
        _origin_in(set, frozenset),
        _shape(
            "a list",
            (list, tuple),
            lambda t, c: cols.list_structure_factory(_list_of(typing.get_args(t)[0]), c),
            wrap=typing.get_origin,
        ),
    )
    converter.register_structure_hook_factory(
        _origin_in(dict), _shape("a table", (dict,), cols.mapping_structure_factory)
    )
    converter.register_structure_hook_factory(
        attrs.has,
        _shape("a table", (dict,), lambda t, _: converter.gen_structure_attrs_fromdict(t)),
    )
    return converter


def _structure_literal(value: Any, type_: Any) -> Any:
    for choice in typing.get_args(type_):
        if type(value) is type(choice) and value == choice:
            return value
    choices = ", ".join(repr(c) for c in typing.get_args(type_))
    raise ValueError(f"expected one of {choices}, got {value!r}")


_LITERAL: Any = Literal
_UNKNOWN = "\0unknown"
_FAILED: Any = object()


def _format_exception(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, ForbiddenExtraKeysError):
        # Split below into one problem per key, each at the key's own path.
        return "\0".join([_UNKNOWN, *sorted(exc.extra_fields)])
    if isinstance(exc, KeyError):
        return "required key is missing"
    if isinstance(exc, TypeError | ValueError) and str(exc):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


_BARE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def join_path(path: str, key: str) -> str:
    """The TOML path of *key* inside the table at *path*, quoted where TOML needs it."""
    part = key if _BARE_KEY.match(key) else f'"{key}"'
    return f"{path}.{part}" if path else part


def _toml_path(cattrs_path: str, prefix: str) -> str:
    def key(match: re.Match[str]) -> str:
        return "." + join_path("", match.group(1))

    path = re.sub(r"\['((?:[^'\\]|\\.)*)'\]", key, cattrs_path.removeprefix("$"))
    return (prefix + path).lstrip(".") or "(top level)"


def _structure(
    converter: cattrs.Converter, data: Any, type_: Any, prefix: str, problems: list[str]
) -> Any:
    """*data* structured as *type_*, or ``_FAILED`` with its problems added."""
    try:
        return converter.structure(data, type_)
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        for line in cattrs.transform_error(exc, format_exception=_format_exception):
            message, _, path = line.rpartition(" @ ")
            where = _toml_path(path, prefix)
            if message.startswith(_UNKNOWN):
                keys = message.split("\0")[2:]
                problems.extend(f"{join_path(prefix and where, k)}: unknown key" for k in keys)
            else:
                problems.append(f"{where}: {message}")
        return _FAILED


def read_table(
    converter: cattrs.Converter, data: Any, cls: type[Any], where: str, problems: list[str]
) -> tuple[Any, set[str]]:
    """One TOML table into the attrs class *cls*, field by field, so each problem has its
    own path and none hides another (attrs stops at the first failing validator).

    Returns the instance, built with defaults in place of the wrong fields (None when even
    that fails), and the names of the wrong fields.
    """
    try:
        attrs.resolve_types(cls)
    except Exception as exc:  # a plugin's Config with an annotation nobody can resolve
        raise PluginError(f"{cls.__qualname__}: its annotations cannot be read: {exc}") from exc
    fields = {f.name: f for f in attrs.fields(cls) if f.init}
    if not isinstance(data, dict):
        problems.append(f"{where or '(top level)'}: expected a table, got {data!r}")
        return None, set(fields)
    problems.extend(f"{join_path(where, key)}: unknown key" for key in data if key not in fields)
    kwargs: dict[str, Any] = {}
    wrong: set[str] = set()
    for name, field in fields.items():
        path = join_path(where, name)
        if name not in data:
            if field.default is attrs.NOTHING:
                problems.append(f"{path}: required key is missing")
                wrong.add(name)
            continue
        if attrs.has(field.type) and isinstance(data[name], dict):
            # A table inside the table: read field by field too, each problem at its path.
            value, inner_wrong = read_table(converter, data[name], field.type, path, problems)
            value = _FAILED if value is None or inner_wrong else value
        else:
            value = _structure(converter, data[name], field.type, path, problems)
        if value is not _FAILED and field.validator is not None and field.converter is None:
            try:
                field.validator(None, field, value)
            except (TypeError, ValueError) as exc:
                problems.append(f"{path}: {str(exc).removeprefix(repr(name) + ' ')}")
                value = _FAILED
            except Exception:  # noqa: S110 - it needs the instance: it runs when that is built
                pass
        if value is _FAILED:
            wrong.add(name)
        else:
            kwargs[field.alias] = value
    try:
        return cls(**kwargs), wrong
    except (TypeError, ValueError) as exc:
        if not wrong:
            problems.append(f"{where or '(top level)'}: {exc}")
        return None, wrong | set(fields)
