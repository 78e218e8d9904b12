"""Routing that learns, as a Router holds it: the delivery statistics and learnt weights
(:mod:`router.engine.quality`), their metrics, and redelivery (:mod:`router.engine.redeliver`),
wired to the way back so each report that gives a recipient its final status reaches both."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from router.clock import Clock
from router.config import Config
from router.engine.callbacks import Callbacks
from router.engine.decide import Decider
from router.engine.learnt_metrics import LearntCollector, redeliveries
from router.engine.metrics import Metrics
from router.engine.prepare import Prepared
from router.engine.providers import ProviderState
from router.engine.quality import QualityTracker
from router.engine.redeliver import Redelivery
from router.engine.send import SendLoop
from router.model import Message
from router.policy import PolicyChain
from router.store import MessageStore


class Learning:
    """The statistics tracker now, and redelivery once the send loop exists (:meth:`wire`).

    Args:
        config: the Router's config (``[router.quality]``, ``redeliver_within``).
        providers: every enabled provider's state, by name.
        store: the journal the statistics, weights and redeliveries are kept in.
        metrics: the Router's metrics, whose registry gets the learnt series.
        clock: the Router's clock.
    """

    def __init__(
        self,
        config: Config,
        providers: Mapping[str, ProviderState],
        store: MessageStore,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.quality = QualityTracker(
            settings=config.router.quality, providers=providers, store=store, clock=clock
        )
        metrics.registry.register(LearntCollector(self.quality, lambda: providers))
        self.redelivery: Redelivery | None = None
        self.always = False
        """Read the statistics every interval whatever the chain (the daemon shows them)."""

    def wire(
        self,
        loop: SendLoop,
        decider: Decider,
        prepare: Callable[[Message], Prepared],
        callbacks: Callbacks,
    ) -> Redelivery:
        """The redelivery of *loop*'s messages, told with the tracker of every final report;
        *loop* counts its sends with the tracker and *decider* shows its weights."""
        redelivery = Redelivery(
            within=self.config.router.redeliver_within,
            store=self.store,
            loop=loop,
            decider=decider,
            prepare=prepare,
            counter=redeliveries(self.metrics.registry, self.config.providers),
            clock=self.clock,
        )
        callbacks.on_final = (self.quality.reported, redelivery.consider)
        loop.quality = decider.quality = self.quality
        self.redelivery = redelivery
        return redelivery

    async def start(self, chain: PolicyChain, *, balances: bool) -> None:
        """Read the statistics once, then every interval when *balances* are tracked and a
        policy of *chain* learns (the daemon starts that loop itself, whatever the chain)."""
        await self.quality.refresh()
        if self.always or (balances and any(p.learns for p in chain.policies)):
            self.quality.start()

    async def stop(self) -> None:
        """Stop reading the statistics; wait for the redeliveries under way."""
        await self.quality.stop()
        if self.redelivery is not None:
            await self.redelivery.settle()
