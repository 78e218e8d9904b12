"""The conformance kit's first part: what a provider type declares, checked without a call."""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from decimal import Decimal
from typing import Any

import attrs

from router.config import Duration
from router.errors import PluginError
from router.provider import Capabilities, Limits, Operation, Provider
from router.redact import Secret
from router.registries import ProviderRegistry

_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CREDENTIAL = re.compile(r"pass(word|wd)?|secret|token|api_?key|psw|pwd", re.IGNORECASE)
_PLAIN_TYPES = (str, int, bool, float, Decimal, Secret, Duration)


def _config_type_problem(tp: Any) -> str | None:
    """Why the strict config converter cannot structure *tp*, or None when it can."""
    if tp in _PLAIN_TYPES or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        return None
    if isinstance(tp, type) and attrs.has(tp):
        return None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return None
    if origin in (typing.Union, types.UnionType, tuple, list, frozenset):
        inner = [a for a in args if a is not type(None) and a is not Ellipsis]
        return next((p for p in map(_config_type_problem, inner) if p), None)
    if origin is dict and args and args[0] is str:
        return _config_type_problem(args[1])
    return f"{tp!r} is not a config type (str, int, bool, float, Decimal, Secret, ...)"


def _mentions_secret(tp: Any) -> bool:
    return tp is Secret or any(_mentions_secret(a) for a in typing.get_args(tp))


def type_problems(cls: object) -> list[str]:
    """What is wrong with provider type *cls*'s declarations: each problem a line."""
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        return [f"{cls!r} is not a subclass of router.Provider"]
    problems: list[str] = []
    type_name = getattr(cls, "type_name", None)
    if not isinstance(type_name, str) or not _TYPE_NAME.match(type_name):
        problems.append(f"type_name {type_name!r} is not a lowercase name like 'smsoffice'")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        problems.append(f"abstract methods not implemented: {missing}")
    config = getattr(cls, "Config", None)
    if not (isinstance(config, type) and attrs.has(config)):
        problems.append("Config is not an attrs class")
    else:
        try:
            attrs.resolve_types(config)
        except Exception as exc:
            problems.append(f"Config's annotations cannot be resolved: {exc!r}")
        else:
            for field in attrs.fields(config):
                why = _config_type_problem(field.type)
                if why:
                    problems.append(f"Config.{field.name}: {why}")
                elif _CREDENTIAL.search(field.name) and not _mentions_secret(field.type):
                    problems.append(f"Config.{field.name} holds a credential: type it Secret")
    caps = getattr(cls, "capabilities", None)
    if not isinstance(caps, Capabilities):
        problems.append("capabilities is not a router.Capabilities")
    else:
        if caps.max_recipients < 1 or caps.max_parts < 1:
            problems.append("capabilities: max_recipients and max_parts must be at least 1")
        if not caps.sender_kinds:
            problems.append("capabilities: sender_kinds is empty")
        if caps.client_reference and not (caps.reference_length or 0) >= 1:
            problems.append("capabilities: client_reference needs a reference_length")
        for declared, method in (
            (caps.balance, "balance"),
            (caps.status_query, "query_status"),
            (caps.push_dlr or caps.push_inbound, "parse_callback"),
        ):
            if declared and getattr(cls, method) is getattr(Provider, method):
                problems.append(f"capabilities declare {method} but {cls.__name__} lacks it")
    limits = getattr(cls, "limits", None)
    if not isinstance(limits, Limits):
        problems.append("limits is not a router.Limits")
    elif any(not isinstance(op, Operation) for op in limits.rates):
        problems.append("limits.rates keys must be router.Operation members")
    if not isinstance(getattr(cls, "callback_answer", None), str):
        problems.append("callback_answer is not a string")
    if not problems:
        try:
            ProviderRegistry().add(cls)
        except PluginError as exc:
            problems.append(f"registering it fails: {exc}")
    return problems
