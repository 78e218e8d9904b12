"""Delivery reports that arrive before the send they report on was journalled.

A provider may push a delivery report while the engine is still writing down the attempt
that produced it (a fast provider, a slow disk). Such a report matches nothing yet; it is
held here, keyed by what could match it, and applied as soon as an attempt with that
provider message id or reference is journalled. Held reports are bounded in number and age.
"""

from __future__ import annotations

from collections import OrderedDict

from router.model import DeliveryReport

MAX_HELD = 10_000
MAX_AGE = 600.0
"""Seconds a report is held before it is given up as unknown."""


class EarlyReports:
    """Reports waiting for their attempt to be journalled."""

    def __init__(self, max_held: int = MAX_HELD, max_age: float = MAX_AGE) -> None:
        self.max_held = max_held
        self.max_age = max_age
        self._held: OrderedDict[tuple[str, str], list[tuple[float, DeliveryReport]]] = OrderedDict()
        self.dropped = 0

    def __len__(self) -> int:
        return sum(len(reports) for reports in self._held.values())

    def hold(self, report: DeliveryReport, now: float) -> bool:
        """Keep *report* for later; False when it carries nothing to match it by."""
        key = report.provider_message_id or report.ref
        if key is None:
            return False
        self._expire(now)
        self._held.setdefault((report.provider, key), []).append((now, report))
        while len(self._held) > self.max_held:
            self._held.popitem(last=False)
            self.dropped += 1
        return True

    def take(self, provider: str, keys: tuple[str | None, ...], now: float) -> list[DeliveryReport]:
        """The held reports of *provider* that any of *keys* may match, oldest first."""
        if not self._held:
            return []
        self._expire(now)
        found: list[tuple[float, DeliveryReport]] = []
        for key in keys:
            if key is not None:
                found.extend(self._held.pop((provider, key), ()))
        return [report for _, report in sorted(found, key=lambda pair: pair[0])]

    def _expire(self, now: float) -> None:
        while self._held:
            key, reports = next(iter(self._held.items()))
            if now - reports[-1][0] <= self.max_age:
                return
            del self._held[key]
            self.dropped += len(reports)
