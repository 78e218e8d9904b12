"""Reading a bulk file: its rows, each with the reference it is sent under.

The file's first row names its columns: ``to`` and ``text``, and optionally ``sender``,
``reference``, ``send_at`` and ``expires_at``. Each further row is one message to one
number. A row that cannot be sent as written (a column missing or too many, an empty
text, a bad number or time) is reported with its line number and the other rows go on.

A row without a reference gets one derived from its ``to`` and ``text`` and how many rows
before it had the same (:func:`derived_reference`), so running the same file again sends
only what was not sent (:mod:`router.cli.bulk`).
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from pathlib import Path
from typing import TextIO

import attrs

from router.cli.bulk_report import RowResult, RowStatus
from router.daemon.times import read_time_field
from router.errors import RouterError, ValidationError

COLUMNS = ("to", "text", "sender", "reference", "send_at", "expires_at")
"""The columns a bulk file may have; ``to`` and ``text`` are required. ``send_at`` and
``expires_at`` are Unix seconds or ISO 8601 with a timezone (empty: none)."""
TIMES = ("send_at", "expires_at")


@attrs.frozen
class Row:
    """One row of a bulk file, ready to send."""

    line: int
    """The line of the file the row starts on (the header is line 1)."""
    to: str
    text: str
    sender: str | None
    reference: str
    send_at: float | None = None
    """When to send it; held in the journal until then."""
    expires_at: float | None = None
    """Not sent by then, it ends expired."""


def derived_reference(to: str, text: str, occurrence: int, campaign: str = "") -> str:
    """The reference of a row that has none: the same row of the same file gets the same one.

    *occurrence* counts the earlier rows with the same *to* and *text* (without a
    reference), so repeating a row in a file sends it again, and only a changed *to*,
    *text* or *campaign* makes a row new.
    """
    key = "\x1f".join((campaign, to, text, str(occurrence)))
    return "csv-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def read_rows(
    path: str | Path, *, campaign: str = "", sender: str | None = None
) -> tuple[list[Row], list[RowResult]]:
    """The rows of a bulk file to send, and the bad ones with their line numbers.

    *sender* is the sender of rows whose ``sender`` cell is empty or missing.

    Raises:
        RouterError: the file cannot be read, is not UTF-8, or its header is wrong.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            return _parse(stream, str(path), campaign, sender)
    except OSError as exc:
        raise RouterError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise RouterError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _header(cells: list[str], name: str) -> list[str]:
    columns = [c.strip().lower() for c in cells]
    problems = [f"unknown column {c!r}" for c in columns if c not in COLUMNS]
    problems += [f"column {c!r} twice" for c, n in Counter(columns).items() if n > 1]
    problems += [f"no {c!r} column" for c in ("to", "text") if c not in columns]
    if problems:
        known = ", ".join(COLUMNS)
        raise RouterError(f"{name}: line 1: {'; '.join(problems)} (columns: {known})")
    return columns


def _parse(
    stream: TextIO, name: str, campaign: str, default_sender: str | None
) -> tuple[list[Row], list[RowResult]]:
    # One pass, row by row: each problem is kept with its line and the other rows go on.
    reader = csv.reader(stream)
    columns: list[str] | None = None
    rows: list[Row] = []
    bad: list[RowResult] = []
    seen: Counter[tuple[str, str]] = Counter()
    references: dict[str, int] = {}
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            bad.append(RowResult(start, RowStatus.BAD, reason=f"not valid CSV: {exc}"))
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue  # a blank line, or a spreadsheet's empty row: nothing to send
        if columns is None:
            columns = _header(cells, name)
            continue
        if len(cells) != len(columns):
            missing = ", ".join(columns[len(cells) :])
            why = f"no {missing}" if missing else "too many columns"
            reason = f"expected {len(columns)} columns ({', '.join(columns)}), got {len(cells)}"
            bad.append(RowResult(line, RowStatus.BAD, reason=f"{reason}: {why}"))
            continue
        row = dict(zip(columns, cells, strict=True))
        to, text = row["to"].strip(), row["text"]
        reference = row.get("reference", "").strip()
        problem = (
            "to: is empty"
            if not to
            else "text: is empty"
            if not text.strip()
            else f"reference: {reference!r} is also line {references[reference]}'s"
            if reference in references
            else None
        )
        if problem is not None:
            bad.append(RowResult(line, RowStatus.BAD, reason=problem))
            continue
        if reference:
            references[reference] = line
        else:
            reference = derived_reference(to, text, seen[to, text], campaign)
            seen[to, text] += 1
        sender = row.get("sender", "").strip() or default_sender
        try:
            times = {f: read_time_field(f, row.get(f, "").strip() or None) for f in TIMES}
        except ValidationError as exc:
            bad.append(RowResult(line, RowStatus.BAD, reason=str(exc)))
            continue
        rows.append(Row(line, to, text, sender, reference, **times))
    if columns is None:
        raise RouterError(f"{name}: no header row (expected: {', '.join(COLUMNS)})")
    return rows, bad
