"""The conformance kit: every check of a provider type, and the one error that lists all problems.

Each check gathers its problems from the part that knows them (:mod:`.declarations`,
:mod:`.faults`, :mod:`.callbacks`) and raises one :class:`ConformanceError` naming them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from router.model import CallbackKind, CallbackRequest
from router.provider import Provider
from router.testing.callbacks import callback_problems
from router.testing.declarations import type_problems
from router.testing.faults import (
    ProviderFactory,
    checks_of,
    leak_problems,
    mapping_problems,
    run_all,
    secret_forms,
)

DEFAULT_NUMBERS = ("+61412345678", "+61412345679")
"""The recipients the kit sends to, as many as the provider takes in one call."""


class ConformanceError(AssertionError):
    """A provider type breaks the provider contract; *problems* lists every way it does."""

    def __init__(self, subject: str, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{subject} does not conform:\n  - " + "\n  - ".join(self.problems))


@attrs.frozen
class ConformanceReport:
    """What a conformance run checked, when it found nothing wrong."""

    provider_type: str
    checks: tuple[str, ...]
    """Each check made: ``type``, ``send/refused``, ``balance/http_500``, ``secrets``, ..."""


def _raise_if(subject: str, problems: Sequence[str]) -> None:
    if problems:
        raise ConformanceError(subject, problems)


def check_provider_type(cls: object) -> None:
    """Check what a provider type declares.

    It must subclass :class:`~router.Provider` and implement ``send``; have a lowercase
    ``type_name``; an attrs ``Config`` whose fields the strict config converter can read,
    with credentials typed :class:`~router.Secret`; :class:`~router.Capabilities` that hold
    together and are backed by the methods they promise; :class:`~router.Limits`; and a
    ``callback_answer``.

    Raises:
        ConformanceError: listing every problem.
    """
    _raise_if(getattr(cls, "__name__", repr(cls)), type_problems(cls))


async def check_outcome_mapping(
    make_provider: ProviderFactory,
    *,
    numbers: Sequence[str] = DEFAULT_NUMBERS,
    timeout: float = 0.05,
) -> ConformanceReport:
    """Check how transport failures and malformed answers map to outcomes, on loopback.

    For ``send`` (and ``balance`` and ``query_status`` when the capabilities declare
    them): a refused connection, HTTP 500 and HTTP 429 (with ``Retry-After: 7``) are
    ``unavailable``; HTTP 401 is a ``provider_error`` of kind ``auth``; a server that never
    answers (within *timeout*, which the kit sets as the provider's ``context.timeout``)
    and a connection dropped after the request was read are ``ambiguous``, and the
    dropped request was not sent again; HTTP 200 with a body no provider sends (empty, an
    HTML error page, bytes that are not text) is ``ambiguous``: never accepted, never an
    exception. ``send`` answers one outcome per recipient, in order, and never raises;
    ``balance`` and ``query_status`` raise the matching
    :class:`~router.errors.ProviderError`.

    Args:
        make_provider: ``make_provider(base_url, session)`` builds the adapter with every
            request going to *base_url*; it is called once per check.
        numbers: the recipients to send to (as many as the provider takes in one call).
        timeout: seconds the provider waits for the hanging server.

    Raises:
        ConformanceError: listing every problem.
    """
    probe, runs = await run_all(make_provider, numbers, timeout)
    _raise_if(type(probe).__name__, mapping_problems(probe, runs, numbers))
    return ConformanceReport(probe.type_name, tuple(checks_of(runs)))


async def check_no_secret_leaks(
    make_provider: ProviderFactory,
    password: str,
    *,
    numbers: Sequence[str] = DEFAULT_NUMBERS,
    timeout: float = 0.05,
) -> ConformanceReport:
    """Check that *password* never shows: not plain, not URL-encoded.

    Runs the failures of :func:`check_outcome_mapping` and looks in every outcome, every
    exception (its text, repr, notes and the exceptions chained to it), every log record
    at DEBUG and up, and the reprs of the provider and of its config.

    Raises:
        ConformanceError: listing every place the password showed.
    """
    probe, runs = await run_all(make_provider, numbers, timeout)
    _raise_if(type(probe).__name__, leak_problems(runs, password))
    return ConformanceReport(probe.type_name, ("secrets",))


def check_callbacks(
    provider: Provider[Any],
    samples: Mapping[CallbackKind, Sequence[CallbackRequest]],
) -> None:
    """Check how *provider* parses pushes.

    Each kind it declares (``push_dlr``, ``push_inbound``) needs at least one sample push
    in *samples*; each sample must parse into a :class:`~router.CallbackResult` with at
    least one report or message, ``provider`` set to the configured name, numbers in
    E.164, and the answer ``200 callback_answer``. The same samples spoilt one field at a
    time (missing, empty, garbage), and empty pushes, must parse or raise
    :class:`~router.CallbackError`: never another exception, which the daemon would answer
    with a 500. A kind it does not declare must be refused with CallbackError.

    Raises:
        ConformanceError: listing every problem.
    """
    _raise_if(type(provider).__name__, callback_problems(provider, samples))


async def check_provider(
    make_provider: ProviderFactory,
    *,
    password: str,
    callbacks: Mapping[CallbackKind, Sequence[CallbackRequest]] | None = None,
    numbers: Sequence[str] = DEFAULT_NUMBERS,
    timeout: float = 0.05,
) -> ConformanceReport:
    """Run every conformance check on one provider type, reporting all problems together.

    ``make_provider(base_url, session)`` builds the adapter configured with *password*
    and every request going to *base_url*. See :func:`check_provider_type`,
    :func:`check_outcome_mapping`, :func:`check_no_secret_leaks` and
    :func:`check_callbacks` for what each part checks; *callbacks* holds sample pushes
    by kind, for the kinds the provider declares.

    Returns:
        What was checked, when nothing was wrong.

    Raises:
        ConformanceError: listing every problem found.
    """
    secret_forms(password)  # refuse a short password before doing anything
    probe, runs = await run_all(make_provider, numbers, timeout)
    problems = type_problems(type(probe))
    problems.extend(mapping_problems(probe, runs, numbers))
    problems.extend(leak_problems(runs, password))
    problems.extend(callback_problems(probe, callbacks or {}))
    _raise_if(type(probe).__name__, problems)
    return ConformanceReport(
        probe.type_name,
        ("type", *checks_of(runs), "secrets", "callbacks"),
    )
