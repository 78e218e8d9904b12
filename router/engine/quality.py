"""What routing learns: delivery statistics from the journal and the weights they move.

:class:`QualityTracker` reads the delivery statistics (:mod:`router.store.deliveries`) every
``[router.quality] interval``, moves the learnt weights one bounded step
(:mod:`router.engine.weights`) and keeps them in the journal, so a restart, or another
router on the same journal, goes on from there. A weight moves at most once per interval
whoever looks. While frozen (by config, or through the API) the weights stay where they
are and the statistics go on being counted. The ``quality`` policy reads the weights from
the provider views (:class:`~router.policy.Learnt`); ``GET /v1/providers`` and the metrics
show them with the figures.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from router.clock import Clock
from router.config import QualitySettings
from router.engine.providers import ProviderState
from router.engine.weights import next_weights
from router.model import DeliveryReport, Recipient, RecipientResult, RecipientStatus
from router.policy import Learnt
from router.store import (
    DeliveryFigures,
    DeliverySample,
    MessageStore,
    QualityState,
    ReportMatch,
)

log = logging.getLogger("smsrouter.quality")


class QualityTracker:
    """Delivery statistics per provider and country, and the weights learnt from them.

    Args:
        settings: the ``[router.quality]`` table.
        providers: every enabled provider's state, by configured name.
        store: the journal the statistics and weights are kept in.
        clock: the time windows and intervals are measured on.
    """

    def __init__(
        self,
        *,
        settings: QualitySettings,
        providers: Mapping[str, ProviderState],
        store: MessageStore,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.providers = providers
        self.store = store
        self.clock = clock
        self.figures: dict[tuple[str, str], DeliveryFigures] = {}
        self.weights: dict[tuple[str, str], float] = {}
        self.frozen_by_api = False
        self.stepped_at: float | None = None
        self.version = 0
        """Moves whenever figures or weights do: the provider views are rebuilt then."""
        self._learnt: dict[str, dict[str, Learnt]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def frozen(self) -> bool:
        """Whether the weights stay where they are (config or API)."""
        return self.settings.frozen or self.frozen_by_api

    def resting(self, provider: str) -> float:
        """*provider*'s resting weight."""
        return self.settings.resting.get(provider, 1.0)

    def learnt(self, provider: str) -> dict[str, Learnt]:
        """What was learnt of *provider*, by country."""
        return self._learnt.get(provider, {})

    # -- counting -------------------------------------------------------------------------

    def samples(
        self, recipients: Mapping[str, Recipient], results: Sequence[RecipientResult]
    ) -> list[DeliverySample]:
        """The samples of the accepted recipients of *results*, for the journal to count
        with the result (``MessageStore.finish``): no write of their own."""
        samples = []
        for result in results:
            recipient = recipients.get(result.ref)
            if result.status is not RecipientStatus.ACCEPTED or recipient is None:
                continue
            provider = result.provider
            at = max((a.at for a in result.attempts if a.provider == provider), default=None)
            if provider is not None:
                at = self.clock.time() if at is None else at
                samples.append(DeliverySample(provider, recipient.country, result.ref, at))
        return samples

    async def reported(self, report: DeliveryReport, match: ReportMatch) -> None:
        """Count a report that gave the recipient of *match* its final status."""
        if match.status is not None:
            now = self.clock.time()
            await self.store.deliveries.record_final(report.provider, match.ref, match.status, now)

    # -- learning -------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the statistics and the weights; move the weights when an interval is due."""
        now, settings = self.clock.time(), self.settings
        found = await self.store.deliveries.delivery_figures(
            now - settings.window, now - settings.report_timeout
        )
        self.figures = {(f.provider, f.country): f for f in found}
        self._take(await self.store.deliveries.quality_state())
        due = self.stepped_at is None or now - self.stepped_at >= settings.interval
        if due and not self.frozen:
            resting = {name: self.resting(name) for name in self.providers}
            moved = next_weights(self.figures, self.weights, resting, settings)
            state = QualityState(moved, now, self.frozen_by_api)
            await self.store.deliveries.save_quality(state)
            self._take(state)
        if due:
            await self.store.deliveries.forget_deliveries(now - settings.window)
        self._relearn()

    async def freeze(self, frozen: bool) -> None:
        """Freeze the weights through the API, or lift that freeze (not the config's)."""
        state = await self.store.deliveries.quality_state()
        state = QualityState(state.weights, state.stepped_at, frozen)
        await self.store.deliveries.save_quality(state)
        self._take(state)
        self._relearn()

    def _take(self, state: QualityState) -> None:
        self.weights = {(w.provider, w.country): w.weight for w in state.weights}
        self.stepped_at, self.frozen_by_api = state.stepped_at, state.frozen

    def _relearn(self) -> None:
        learnt: dict[str, dict[str, Learnt]] = {}
        for provider, country in {*self.figures, *self.weights}:
            rest = self.resting(provider)
            weight = self.weights.get((provider, country), rest)
            figures = self.figures.get((provider, country))
            learnt.setdefault(provider, {})[country] = Learnt(weight, rest, figures)
        self._learnt = learnt
        self.version += 1

    # -- the loop -------------------------------------------------------------------------

    def start(self) -> None:
        """Refresh every interval in the background, until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="smsrouter-quality"
            )

    async def stop(self) -> None:
        """Stop the background refresh."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # a loop that dies would freeze the weights unseen
                log.exception("reading the delivery statistics failed; trying again")
            await self.clock.sleep(float(self.settings.interval))
