"""The journal contract and its records."""

from __future__ import annotations

import abc
import enum
from collections.abc import Sequence
from decimal import Decimal

import attrs

from router.model import (
    Attempt,
    DeliveryReport,
    DeliveryStatus,
    Encoding,
    InboundMessage,
    Message,
    Recipient,
    RecipientResult,
    RecipientStatus,
    SendResult,
)


class MessageState(enum.StrEnum):
    """Where a journalled message is."""

    QUEUED = "queued"
    """Accepted, no attempt started."""
    SENDING = "sending"
    """Attempts under way."""
    DONE = "done"
    """Every recipient has its final send status."""


@attrs.frozen
class RecipientRecord:
    """One recipient of a journalled message."""

    recipient: str
    ref: str
    status: RecipientStatus | None = None
    """None until the recipient's last attempt ended."""
    provider: str | None = None
    provider_message_id: str | None = None
    attempts: tuple[Attempt, ...] = ()
    in_flight: str | None = None
    """The provider an attempt was started on and has not ended (for crash recovery)."""
    delivery: DeliveryStatus | None = None
    delivery_raw: str | None = None
    delivery_at: float | None = None
    cost: Decimal | None = None


@attrs.frozen
class MessageRecord:
    """A journalled message."""

    id: str
    reference: str | None
    text: str
    sender: str | None
    providers: tuple[str, ...] | None
    encoding: Encoding
    segments: int
    created_at: float
    state: MessageState
    recipients: tuple[RecipientRecord, ...]

    def message(self) -> Message:
        """The message as it was sent to the router, numbers in E.164."""
        return Message(
            to=tuple(r.recipient for r in self.recipients),
            text=self.text,
            sender=self.sender,
            reference=self.reference,
            providers=self.providers,
            id=self.id,
        )

    def result(self, *, duplicate: bool = False) -> SendResult:
        """The send result as far as it is known."""
        return SendResult(
            message_id=self.id,
            reference=self.reference,
            recipients=tuple(
                RecipientResult(
                    recipient=r.recipient,
                    ref=r.ref,
                    status=r.status or RecipientStatus.AMBIGUOUS,
                    provider=r.provider,
                    provider_message_id=r.provider_message_id,
                    attempts=r.attempts,
                    segments=self.segments,
                    cost=r.cost,
                )
                for r in self.recipients
            ),
            encoding=self.encoding,
            segments=self.segments,
            duplicate=duplicate,
        )


class MessageStore(abc.ABC):
    """Where the engine journals messages. Every method is a coroutine."""

    async def open(self) -> None:  # noqa: B027 - most stores have nothing to open
        """Prepare the store (create files, run migrations)."""

    async def close(self) -> None:  # noqa: B027
        """Flush and release the store."""

    @abc.abstractmethod
    async def add(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        encoding: Encoding,
        segments: int,
        now: float,
    ) -> tuple[MessageRecord, bool]:
        """Journal a new message, committed before this returns.

        Returns the record and True; or, when the message's ``reference`` was seen
        before, the first message's record and False (nothing new is journalled).
        """

    @abc.abstractmethod
    async def get(self, message_id: str) -> MessageRecord | None:
        """The message with this id."""

    @abc.abstractmethod
    async def attempt_started(self, message_id: str, provider: str, refs: Sequence[str]) -> None:
        """Mark recipients as handed to *provider*, before the request goes out."""

    @abc.abstractmethod
    async def attempt_ended(self, message_id: str, ref: str, attempt: Attempt) -> None:
        """Record one recipient's attempt and clear its in-flight mark."""

    @abc.abstractmethod
    async def finish(self, result: SendResult) -> None:
        """Record every recipient's final send status; the message is done."""

    @abc.abstractmethod
    async def apply_report(self, report: DeliveryReport, now: float) -> tuple[str, str] | None:
        """Attach a delivery report to its recipient; return (message id, ref) if matched.

        Matched by the provider's message id, else by our reference. A final status is
        never replaced by a later non-final one.
        """

    @abc.abstractmethod
    async def add_inbound(self, message: InboundMessage, now: float) -> str | None:
        """Journal an inbound message; return the id of the message it answers, if known."""

    @abc.abstractmethod
    async def unfinished(self) -> list[MessageRecord]:
        """Messages not done: to send or resolve at start."""


def open_store(url: str) -> MessageStore:
    """The store a ``[store] url`` names: ``memory:`` or ``sqlite:///path/to/file.db``."""
    from router.errors import ConfigError
    from router.store.memory import MemoryStore

    if url == "memory:":
        return MemoryStore()
    if url.startswith("sqlite:///"):
        from router.store.sqlite import SQLiteStore

        store: MessageStore = SQLiteStore(url.removeprefix("sqlite:///"))
        return store
    raise ConfigError([f"store.url: unknown store {url!r} (memory: or sqlite:///path)"])
