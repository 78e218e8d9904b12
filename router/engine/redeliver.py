"""Redelivery: a recipient whose final report says failed or expired is sent once more.

Off unless ``[router] redeliver_within`` is set. A final report of failed or expired that
comes within that long of the send, for the provider the recipient was last sent through,
sends it once more through the next provider of its route as routing decides it now (one
it was not tried on). Never on a report that is not final, never twice: the journal's claim
(:meth:`~router.store.MessageStore.claim_redelivery`) marks the recipient first, with the
provider and why, and clears its delivery status for the new send's reports. The message
then shows both attempts, the provider it failed on and the report that failed it.

A redelivery runs in the background, so the provider's push is answered at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from prometheus_client import Counter

from router.clock import Clock
from router.engine.decide import Decider
from router.engine.prepare import Prepared
from router.engine.recover import Progress
from router.engine.send import SendLoop
from router.model import DeliveryReport, DeliveryStatus, Message, RecipientStatus, SendResult
from router.store import MessageStore, ReportMatch

log = logging.getLogger("smsrouter.redelivery")

REDELIVERED = frozenset({DeliveryStatus.FAILED, DeliveryStatus.EXPIRED})
"""The final statuses that send a recipient once more."""


class Redelivery:
    """Sends a recipient once more after its final report said failed or expired.

    Args:
        within: how long after the send a report may come and still redeliver; None: off.
        store: the journal (the message, the claim, the new result).
        loop: the send loop that sends it.
        decider: routes it as routing decides now.
        prepare: checks the journalled message again, as the Router does.
        counter: counts redeliveries by the provider that failed and how they ended.
        clock: the time the report's age is measured on.
    """

    def __init__(
        self,
        *,
        within: float | None,
        store: MessageStore,
        loop: SendLoop,
        decider: Decider,
        prepare: Callable[[Message], Prepared],
        counter: Counter,
        clock: Clock,
    ) -> None:
        self.within = within
        self.store = store
        self.loop = loop
        self.decider = decider
        self.prepare = prepare
        self.counter = counter
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    async def consider(self, report: DeliveryReport, match: ReportMatch) -> None:
        """Start a redelivery in the background when *report* calls for one."""
        if self.within is None or match.status not in REDELIVERED:
            return
        task = asyncio.get_running_loop().create_task(self._redeliver(report, match))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait for the redeliveries under way."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _redeliver(self, report: DeliveryReport, match: ReportMatch) -> None:
        try:
            await self.redeliver(report, match)
        except Exception:  # one failed redelivery must not be lost silently
            log.exception("redelivery of %s after a %s report failed", match.ref, report.status)

    async def redeliver(self, report: DeliveryReport, match: ReportMatch) -> str:
        """Send the recipient of *match* once more if *report* calls for it; what was done."""
        record = await self.store.get(match.message_id)
        found = None if record is None else [r.ref for r in record.recipients]
        if record is None or found is None or match.ref not in found:
            return "no such recipient"
        index = found.index(match.ref)
        previous = record.recipients[index]
        provider = report.provider
        if previous.redelivered_from is not None:
            return "redelivered once already"
        if previous.status is not RecipientStatus.ACCEPTED or previous.provider != provider:
            return f"not last sent through {provider}"
        sent_at = max((a.at for a in previous.attempts if a.provider == provider), default=None)
        age = self.clock.time() - (record.created_at if sent_at is None else sent_at)
        if self.within is None or age > self.within:
            return f"report came {age:.0f}s after the send, later than redeliver_within"
        prepared = self.prepare(record.message())
        route = self.decider.routes(prepared)[index]
        tried = {a.provider for a in previous.attempts}
        candidates = [name for name in route.providers if name not in tried]
        if not candidates:
            log.info("no provider left to redeliver %s after %s's report", match.ref, provider)
            return "no other provider in its route"
        words = f" ({report.description})" if report.description else ""
        reason = (
            f"{report.status} report from {provider}{words}, status {report.raw_status!r},"
            f" {age:.0f}s after the send"
        )
        if not await self.store.deliveries.claim_redelivery(record.id, match.ref, provider, reason):
            return "redelivered once already"
        recipient, tried_so_far = prepared.recipients[index], list(previous.attempts)
        item = Progress(recipient, tuple(candidates), {}, attempts=tried_so_far)
        item.first = len(tried_so_far)  # max_attempts counts the new ones only
        result = await self.loop.send_one(prepared, item)
        message, text = prepared.message, prepared.text
        sent = SendResult(message.id, message.reference, (result,), text.encoding, text.segments)
        quality = self.loop.quality
        counted = [] if quality is None else quality.samples({recipient.ref: recipient}, (result,))
        await self.store.finish(sent, counted)

        self.counter.labels(provider, result.status.value).inc()
        log.info(
            "redelivered %s after %s: %s via %s", match.ref, reason, result.status, result.provider
        )
        return f"redelivered: {result.status}"
