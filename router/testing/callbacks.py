"""The conformance kit's push part: sample pushes parsed, and spoilt ones refused cleanly."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from router.errors import CallbackError
from router.model import (
    CallbackKind,
    CallbackRequest,
    CallbackResponse,
    CallbackResult,
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
)
from router.provider import Provider


def _spoil(fields: Mapping[str, str], key: str, value: str | None) -> dict[str, str]:
    out = {k: v for k, v in fields.items() if k != key}
    if value is not None and key in fields:
        out[key] = value
    return out


def _mutations(request: CallbackRequest) -> Iterator[tuple[str, CallbackRequest]]:
    """*request* spoilt one field at a time: the field missing, empty, or garbage."""
    for key in request.params:
        for label, value in (("without", None), ("empty", ""), ("garbage", "\x00zz\u2603-1")):
            spoilt = attrs.evolve(
                request,
                query=_spoil(request.query, key, value),
                form=_spoil(request.form, key, value),
            )
            yield f"{label} {key!r}", spoilt


def _parse_problem(
    provider: Provider[Any], kind: CallbackKind, request: CallbackRequest, label: str
) -> tuple[CallbackResult | None, str | None]:
    try:
        # Typed as object: a provider under test may answer anything at all.
        result: object = provider.parse_callback(kind, request)
    except CallbackError:
        return None, None
    except Exception as exc:
        return None, f"callbacks/{kind} {label}: raised {exc!r}; expected a CallbackError"
    if not isinstance(result, CallbackResult) or not isinstance(result.response, CallbackResponse):
        return None, f"callbacks/{kind} {label}: answered {result!r}, not a CallbackResult"
    return result, None


def _sample_problems(
    provider: Provider[Any], kind: CallbackKind, result: CallbackResult
) -> list[str]:
    where, problems = f"callbacks/{kind}", []
    answer = type(provider).callback_answer
    if result.response.body != answer or not 200 <= result.response.status < 300:
        problems.append(
            f"{where}: answered {result.response.status} {result.response.body!r}, "
            f"expected 200 {answer!r} (the class's callback_answer)"
        )
    items: Sequence[DeliveryReport | InboundMessage] = (
        result.reports if kind is CallbackKind.DLR else result.inbound
    )
    if not items:
        problems.append(f"{where}: the sample parsed to nothing")
    for item in items:
        if item.provider != provider.name:
            problems.append(f"{where}: provider is {item.provider!r}, not {provider.name!r}")
        number = item.recipient if isinstance(item, DeliveryReport) else item.sender
        if number and number.lstrip("+").isdigit() and not number.startswith("+"):
            problems.append(f"{where}: number {number!r} is not in E.164")
        status: object = item.status if isinstance(item, DeliveryReport) else None
        if isinstance(item, DeliveryReport) and not isinstance(status, DeliveryStatus):
            problems.append(f"{where}: status {status!r} is not a DeliveryStatus")
    return problems


def callback_problems(
    provider: Provider[Any], samples: Mapping[CallbackKind, Sequence[CallbackRequest]]
) -> list[str]:
    """What is wrong with how *provider* parses the sample pushes: each problem a line."""
    caps, problems = provider.capabilities, []
    for kind, declared in (
        (CallbackKind.DLR, caps.push_dlr),
        (CallbackKind.INBOUND, caps.push_inbound),
    ):
        given = samples.get(kind, ())
        if not declared:
            result, problem = _parse_problem(provider, kind, CallbackRequest("GET"), "undeclared")
            if problem or result is not None:
                problems.append(
                    problem or f"callbacks/{kind}: not declared, yet an empty push was accepted"
                )
            continue
        if not given:
            problems.append(f"callbacks/{kind}: declared, but no sample push was given")
        spoilt: list[tuple[str, CallbackRequest]] = [
            ("empty GET", CallbackRequest("GET")),
            ("empty POST", CallbackRequest("POST")),
        ]
        for index, sample in enumerate(given):
            result, problem = _parse_problem(provider, kind, sample, f"sample {index}")
            if problem or result is None:
                problems.append(problem or f"callbacks/{kind} sample {index}: refused")
            else:
                problems.extend(_sample_problems(provider, kind, result))
            spoilt.extend((f"sample {index} {label}", r) for label, r in _mutations(sample))
        for label, request in spoilt:
            _, problem = _parse_problem(provider, kind, request, label)
            if problem:
                problems.append(problem)
    return problems
