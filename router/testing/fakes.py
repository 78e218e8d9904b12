"""The test doubles: a fake clock, and the ``fake`` provider that answers from a script."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from decimal import Decimal

import attrs

from router.errors import CallbackError
from router.model import (
    Balance,
    Batch,
    CallbackKind,
    CallbackRequest,
    CallbackResponse,
    CallbackResult,
    DeliveryReport,
    DeliveryStatus,
    ErrorKind,
    InboundMessage,
    Outcome,
    RecipientOutcome,
    StatusQuery,
)
from router.provider import Capabilities, Provider, ProviderContext


class FakeClock:
    """A clock for tests: time moves when a test advances it, or when code sleeps on it.

    With *autojump* (the default) a sleep moves the time forward at once: the code under
    test never waits. That suits code that sleeps on its way to an answer (a rate limit);
    a background loop that sleeps forever (the balance tracker) would spin through fake
    hours. Without *autojump*, a sleep waits until the test's :meth:`advance` reaches its
    end, so background loops stay put until the test moves time.
    """

    def __init__(self, start: float = 1_700_000_000.0, *, autojump: bool = True) -> None:
        self.now = start
        self.autojump = autojump
        self.slept: list[float] = []
        self._moved = asyncio.Event()

    def time(self) -> float:
        """The fake time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Advance the time by *seconds* (or wait for the test to), then let others run."""
        self.slept.append(seconds)
        if self.autojump:
            self.now += max(seconds, 0.0)
            await asyncio.sleep(0)
            return
        until = self.now + max(seconds, 0.0)
        while self.now < until:
            moved = self._moved
            await moved.wait()
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Move the time forward, waking the sleeps it ends."""
        self.now += seconds
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()


@attrs.frozen
class FakeConfig:
    """The options of a ``fake`` provider table."""

    outcome: Outcome = Outcome.ACCEPTED
    """The outcome of every send once the script is used up."""
    script: tuple[Outcome, ...] = ()
    """Outcomes of the first send calls, one per call, for all its recipients."""
    kind: ErrorKind | None = None
    """The error kind that goes with a provider_error outcome."""
    balance: Decimal | None = None
    balance_unit: str = "credits"
    max_recipients: int = 100
    coalesce: bool = False
    """Whether one call may carry several queued messages' recipients."""
    max_parts: int = 10
    unicode: bool = True
    status_query: bool = False
    delay: float = 0.0
    """Seconds each send takes."""


class FakeProvider(Provider[FakeConfig]):
    """A provider that answers from a script and remembers every batch it was sent."""

    type_name = "fake"
    Config = FakeConfig

    def __init__(self, config: FakeConfig, context: ProviderContext) -> None:
        super().__init__(config, context)
        self.capabilities = Capabilities(
            max_recipients=config.max_recipients,
            coalesce=config.coalesce,
            max_parts=config.max_parts,
            unicode=config.unicode,
            balance=config.balance is not None,
            status_query=config.status_query,
            push_dlr=True,
            push_inbound=True,
            client_reference=True,
            reference_length=20,
        )
        self._script = list(config.script)
        self.batches: list[Batch] = []
        self.balance_calls = 0
        self.status_calls: list[tuple[StatusQuery, ...]] = []
        self.status_answer: DeliveryStatus | None = DeliveryStatus.ACCEPTED
        """What a status query answers for every message; None: the provider does not know
        it (``unknown``, ``not_found``)."""
        self.status_error: Exception | None = None
        """When set, a status query raises it: no answer."""
        self._ids = itertools.count(1)
        self.closed = False

    def script(self, *outcomes: Outcome) -> None:
        """Queue the outcomes of the next send calls."""
        self._script.extend(outcomes)

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        """Answer every recipient with the next scripted outcome."""
        self.batches.append(batch)
        if self.config.delay:
            await asyncio.sleep(self.config.delay)
        outcome = self._script.pop(0) if self._script else self.config.outcome
        kind = self.config.kind if outcome is Outcome.PROVIDER_ERROR else None
        return [
            RecipientOutcome(
                recipient=r.e164,
                outcome=outcome,
                provider_message_id=f"{self.name}-{next(self._ids)}"
                if outcome is Outcome.ACCEPTED
                else None,
                reason="" if outcome is Outcome.ACCEPTED else f"scripted {outcome}",
                kind=kind,
            )
            for r in batch.recipients
        ]

    async def balance(self) -> Balance:
        """The configured balance."""
        self.balance_calls += 1
        if self.config.balance is None:
            raise NotImplementedError("no balance configured")
        return Balance(self.config.balance, self.config.balance_unit)

    async def query_status(self, queries: Sequence[StatusQuery]) -> list[DeliveryReport]:
        """Every queried recipient in ``status_answer``, or ``status_error`` raised."""
        self.status_calls.append(tuple(queries))
        if self.status_error is not None:
            raise self.status_error
        status = self.status_answer or DeliveryStatus.UNKNOWN
        return [
            DeliveryReport(
                provider=self.name,
                status=status,
                raw_status=str(status),
                provider_message_id=q.provider_message_id,
                ref=q.ref,
                recipient=q.recipient,
                not_found=self.status_answer is None,
            )
            for q in queries
        ]

    def parse_callback(self, kind: CallbackKind, request: CallbackRequest) -> CallbackResult:
        """``?id=..&ref=..&to=..&status=delivered`` reports (each but the status optional);
        ``?from=..&to=..&text=..`` inbound."""
        params = request.params
        answer = CallbackResponse("OK")
        if kind is CallbackKind.DLR:
            try:
                status = DeliveryStatus(params.get("status", "unknown"))
            except ValueError:
                # An unknown status is the pusher's mistake: refuse it, never answer 500.
                raise CallbackError(
                    f"unknown status {params['status']!r}", provider=self.name
                ) from None
            report = DeliveryReport(
                provider=self.name,
                status=status,
                raw_status=params.get("status", ""),
                provider_message_id=params.get("id"),
                ref=params.get("ref"),
                recipient=params.get("to"),
            )
            return CallbackResult(answer, reports=(report,))
        inbound = InboundMessage(
            provider=self.name,
            sender=params.get("from", ""),
            recipient=params.get("to", ""),
            text=params.get("text", ""),
            in_reply_to=params.get("ref"),
        )
        return CallbackResult(answer, inbound=(inbound,))

    async def aclose(self) -> None:
        """Remember that it was closed."""
        self.closed = True
