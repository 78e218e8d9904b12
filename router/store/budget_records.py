"""What the journal keeps of the providers' budgets across restarts: calls and holds."""

from __future__ import annotations

import attrs


@attrs.frozen
class CallRecord:
    """A call a provider's budget counted by a rate, kept so a restart keeps to the rate."""

    provider: str
    operation: str
    started: float
    """When it was admitted: with provider and operation, it names the call."""
    ended: float | None = None
    """When it ended; None while in flight (a process that died may have cut it short)."""

    @property
    def at(self) -> float:
        """Its time in the journal: its end, or its start while it has none."""
        return self.started if self.ended is None else self.ended


@attrs.frozen
class HoldRecord:
    """A provider's ``Retry-After``, kept until it ends."""

    provider: str
    operation: str | None
    """The operation held back, or None for every call."""
    until: float


@attrs.frozen
class RecentCalls:
    """What the journal remembers of the providers' budgets: calls and holds."""

    calls: tuple[CallRecord, ...] = ()
    holds: tuple[HoldRecord, ...] = ()
