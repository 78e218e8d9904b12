"""What the command line reports: plain-text tables, and a bulk run's rows and progress.

:func:`table` lays out what every command prints (and the demo). For a bulk run,
:class:`Summary` counts rows by :class:`RowStatus` and what each provider took;
:class:`Progress` shows it on stderr, as one redrawn bar on a terminal and as a plain line
at each tenth of the rows otherwise (a log gets no line per row).
"""

from __future__ import annotations

import enum
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TextIO

import attrs


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    """Rows as an aligned plain-text table."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class RowStatus(enum.StrEnum):
    """Where one row of a bulk file ended."""

    SENT = "sent"
    """A provider took it in this run."""
    EARLIER = "sent earlier"
    """A provider took it in an earlier run (its reference was seen before)."""
    SCHEDULED = "scheduled"
    """Held in the journal until its ``send_at`` (or its recipient's quiet hours end)."""
    FAILED = "failed"
    """Refused, or no provider could take it."""
    AMBIGUOUS = "ambiguous"
    """A provider may have taken it; it was not sent again."""
    BAD = "bad"
    """The row cannot be sent as written."""


@attrs.frozen
class RowResult:
    """What became of one row."""

    line: int
    status: RowStatus
    provider: str | None = None
    segments: int = 0
    cost: Decimal | None = None
    """In the router's base currency, for a row sent in this run, when the price is known."""
    reason: str = ""
    resendable: bool = False
    """An earlier run failed this row and no provider may have taken it: it is safe to
    send it again under a new reference."""


@attrs.define
class ProviderTally:
    """What one provider took."""

    sent: int = 0
    earlier: int = 0
    segments: int = 0
    cost: Decimal | None = None
    """Of this run's sends whose price is known."""


@attrs.define
class Summary:
    """The rows done so far by status, what each provider took, and how the run ended."""

    total: int
    counts: Counter[RowStatus] = attrs.Factory(Counter)
    providers: dict[str, ProviderTally] = attrs.Factory(dict)
    lines: dict[RowStatus, list[int]] = attrs.Factory(dict)
    """The lines of rows that were not sent, by status."""
    interrupted: bool = False
    aborted: str | None = None

    def add(self, result: RowResult) -> None:
        """Count one row's result."""
        self.counts[result.status] += 1
        if result.status in (RowStatus.SENT, RowStatus.EARLIER) and result.provider:
            tally = self.providers.setdefault(result.provider, ProviderTally())
            if result.status is RowStatus.EARLIER:
                tally.earlier += 1
                return
            tally.sent += 1
            tally.segments += result.segments
            if result.cost is not None:
                tally.cost = (tally.cost or Decimal(0)) + result.cost
        elif result.status not in (RowStatus.SENT, RowStatus.EARLIER):
            self.lines.setdefault(result.status, []).append(result.line)

    @property
    def done(self) -> int:
        """Rows with a result."""
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        """Whether every row was sent (in this run or an earlier one) or held for its time."""
        sent = sum(self.counts[s] for s in (RowStatus.SENT, RowStatus.EARLIER, RowStatus.SCHEDULED))
        return sent == self.total and not self.interrupted and self.aborted is None

    def headline(self) -> str:
        """``1000 rows: 990 sent, 5 sent earlier, 3 failed, 2 bad``."""
        parts = [
            f"{self.counts[s]} {s}" for s in RowStatus if self.counts[s] or s is RowStatus.SENT
        ]
        if self.done < self.total:
            parts.append(f"{self.total - self.done} not sent")
        return f"{self.total} rows: {', '.join(parts)}"

    def provider_rows(self) -> list[tuple[object, ...]]:
        """(provider, sent, sent earlier, segments, cost) per provider, then the totals."""
        rows: list[tuple[object, ...]] = []
        for name, t in sorted(self.providers.items()):
            rows.append((name, t.sent, t.earlier, t.segments, _money(t.cost)))
        costs = [t.cost for t in self.providers.values() if t.cost is not None]
        rows.append(
            (
                "total",
                sum(t.sent for t in self.providers.values()),
                sum(t.earlier for t in self.providers.values()),
                sum(t.segments for t in self.providers.values()),
                _money(sum(costs, Decimal(0)) if costs else None),
            )
        )
        return rows


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value.quantize(Decimal('0.0001')).normalize():f}"


class Progress:
    """Rows done out of all, on a stream: one redrawn bar on a terminal, plain lines otherwise.

    Off a terminal a line is written at each tenth of the rows and at least every
    *interval* seconds, so a log shows the run without a line per row.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        tty: bool | None = None,
        interval: float = 15.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self._now = now
        self._last = now()
        self._step = 0
        self._drawn = ""

    def _line(self, summary: Summary) -> str:
        done, total = summary.done, max(summary.total, 1)
        counts = summary.counts
        tail = (
            f"{counts[RowStatus.SENT] + counts[RowStatus.EARLIER]} sent, "
            f"{counts[RowStatus.FAILED] + counts[RowStatus.AMBIGUOUS]} failed, "
            f"{counts[RowStatus.BAD]} bad"
        )
        if not self.tty:
            return f"{done}/{summary.total} rows ({100 * done // total}%): {tail}"
        filled = 30 * done // total
        return f"[{'#' * filled}{'.' * (30 - filled)}] {done}/{summary.total}  {tail}"

    def show(self, summary: Summary) -> None:
        """Show the progress of *summary*, when it is time to."""
        now, finished = self._now(), summary.done >= summary.total
        if self.tty:
            if finished or now - self._last >= 0.1:
                self._drawn = self._line(summary)
                self.stream.write(f"\r{self._drawn}\x1b[K")
                self.stream.flush()
                self._last = now
            return
        step = 10 * summary.done // max(summary.total, 1)
        if step > self._step or now - self._last >= self.interval:
            self.stream.write(self._line(summary) + "\n")
            self.stream.flush()
            self._step, self._last = step, now

    def note(self, text: str) -> None:
        """Write a line of its own (a bad row, a failure) without breaking the bar."""
        if self.tty and self._drawn:
            self.stream.write(f"\r\x1b[K{text}\n{self._drawn}")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = ""


def describe(result: RowResult) -> str:
    """One line about a row that was not sent: ``line 7: bad: to: ... is not valid``."""
    return f"line {result.line}: {result.status}: {result.reason}"
