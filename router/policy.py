"""The policy contract and the chain that combines policies into a failover order.

A policy is a small synchronous object built from its config table. For one destination
(the :class:`RoutingContext`) and one provider's live state (a :class:`ProviderView`) it may
**exclude** the provider with a reason, and, if it orders, gives a **sort key** (lower goes
first). The chain excludes by every policy, then orders by the keys in chain order; ties
fall through to the next key and finally to config order. Before any configured policy,
the always-on filters run: breaker open (the provider's, or its breaker for the
destination country), capability, balance known below the cost.

A policy's answers may be remembered only when it says ``cacheable = True``; one whose answer
depends on the message id or on learnt statistics (``share``, ``quality``) keeps it False.
"""

from __future__ import annotations

import abc
import hashlib
import math
from collections.abc import Hashable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import attrs

from router.model import Balance, Encoding, Recipient, SenderKind
from router.provider import Capabilities
from router.store.deliveries import DeliveryFigures


@attrs.frozen
class Candidate:
    """A provider that may take a message, with the sort keys that placed it."""

    provider: str
    keys: Mapping[str, object]
    """Each ordering policy's key for this provider, in chain order."""
    cost: Decimal | None
    """The estimated cost of the message on this provider, in the base currency."""


@attrs.frozen
class Exclusion:
    """A provider that may not take a message, and why."""

    provider: str
    policy: str
    reason: str


@attrs.frozen
class Route:
    """The routing decision for one destination: candidates in failover order, and the rest."""

    recipient: str
    candidates: tuple[Candidate, ...]
    excluded: tuple[Exclusion, ...]

    @property
    def providers(self) -> tuple[str, ...]:
        """The candidates' names, in failover order."""
        return tuple(c.provider for c in self.candidates)


@attrs.frozen
class NoOptions:
    """The config of a policy that takes no options."""


@attrs.frozen
class RoutingContext:
    """What is known about one destination of one message when routing it."""

    recipient: Recipient
    encoding: Encoding
    segments: int
    sender_kind: SenderKind
    sender_length: int
    recipient_count: int
    """Recipients of the whole message: the cost of sending it scales with them."""
    base_currency: str
    currencies: Mapping[str, Decimal]
    """One unit of each currency in the base currency."""

    def to_base(self, amount: Decimal, currency: str) -> Decimal | None:
        """*amount* of *currency* in the base currency, or None when no rate is known."""
        return to_base(amount, currency, self.base_currency, self.currencies)


# The one price and currency rule: routing (``cheapest``, ``/v1/route``'s costs) and the
# cost journalled for an accepted send both use these two functions.


def price_per_segment(
    prices: Mapping[str, Decimal], digits: str, lengths: Sequence[int] = ()
) -> Decimal | None:
    """The price to *digits* (E.164 without ``+``) by the longest prefix of *prices*.

    *lengths* are the prefix lengths to try, longest first (:func:`prefix_lengths`); empty
    tries every length.
    """
    for end in lengths or range(len(digits), 0, -1):
        if end > len(digits):
            continue
        found = prices.get(digits[:end])
        if found is not None:
            return found
    return None


def to_base(
    amount: Decimal, currency: str, base_currency: str, currencies: Mapping[str, Decimal]
) -> Decimal | None:
    """*amount* of *currency* in *base_currency*, or None when no rate is known."""
    if currency == base_currency:
        return amount
    rate = currencies.get(currency)
    return None if rate is None else amount * rate


def prefix_lengths(prices: Mapping[str, object]) -> tuple[int, ...]:
    """The distinct lengths of *prices*' prefixes, longest first: the only ones to try."""
    return tuple(sorted({len(prefix) for prefix in prices}, reverse=True))


def draw(ref: str, provider: str, salt: str = "") -> float:
    """A number in (0, 1) fixed by *ref*, *provider* and *salt*, evenly spread.

    Policies that split traffic draw with it, so one recipient of one message id goes the
    same way every time it is routed (a retry, an explanation, a restart).
    """
    digest = hashlib.blake2b(f"{salt}\0{provider}\0{ref}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / 2.0**64


def weighted_score(ref: str, provider: str, weight: float, salt: str = "") -> float | None:
    """The rendezvous score of *provider* for *ref* (lower first), None for weight 0.

    Sorting candidates by it puts each first with the chance of its share of the weights:
    of providers weighted 7 and 3, the first goes first for 70% of refs.
    """
    if weight <= 0:
        return None
    return -math.log(draw(ref, provider, salt)) / weight


@attrs.frozen
class Learnt:
    """What routing learnt of one provider's delivery to one country."""

    weight: float
    """The share of its traffic it keeps (its resting weight until it learns otherwise)."""
    resting: float
    """Where its weight returns to."""
    figures: DeliveryFigures | None = None
    """Its delivery statistics over the window, when it sent there."""


@attrs.frozen
class ProviderView:
    """One provider's declared abilities, its routing settings and its live state."""

    name: str
    index: int
    """Its place in the config: the last tie-breaker."""
    capabilities: Capabilities
    prefixes: tuple[str, ...]
    """E.164 digit prefixes it may send to; empty for everywhere."""
    prices: Mapping[str, Decimal]
    """Price per segment by E.164 digit prefix, in *currency*."""
    currency: str
    priority: int | None
    balance: Balance | None
    """The balance, or None when it is unknown or stale."""
    breaker: str = "closed"
    """``closed``, ``open`` or ``half_open``."""
    accepting: bool = True
    """Whether the breaker lets a call through now."""
    in_flight: int = 0
    suspended: str | None = None
    """What the operator said when suspending it, or None when it is not suspended."""
    price_lengths: tuple[int, ...] = ()
    """The lengths of the keys of *prices*, longest first (see :func:`prefix_lengths`);
    empty to try every length."""
    closed_to: Mapping[str, str] = attrs.field(factory=dict)
    """Countries its breaker per country lets no call to now, with that breaker's state."""
    learnt: Mapping[str, Learnt] = attrs.field(factory=dict)
    """What was learnt of its delivery, by destination country (:attr:`Recipient.country`)."""
    resting: float = 1.0
    """Its resting weight, for a country it has learnt nothing of."""

    def learnt_for(self, country: str) -> Learnt:
        """What was learnt of its delivery to *country* (its resting weight if nothing)."""
        found = self.learnt.get(country)
        return found if found is not None else Learnt(self.resting, self.resting)

    def price(self, digits: str) -> Decimal | None:
        """The price per segment to *digits* (E.164 without ``+``) by the longest prefix."""
        return price_per_segment(self.prices, digits, self.price_lengths)

    def cost(self, ctx: RoutingContext) -> Decimal | None:
        """The whole message's cost on this provider, in its currency, when priced."""
        price = self.price(ctx.recipient.digits)
        return None if price is None else price * ctx.segments * ctx.recipient_count

    def affordable(self, ctx: RoutingContext) -> Decimal | None:
        """How many copies of this message (to one recipient) the balance pays for.

        A balance in credits pays one credit per segment; one in money pays the price.
        None when the balance or the price is unknown.
        """
        balance = self.balance
        if balance is None:
            return None
        if balance.amount <= 0:
            return Decimal(0)  # nothing pays for nothing, whatever the price
        if balance.is_credits:
            return balance.amount / ctx.segments
        price = self.price(ctx.recipient.digits)
        if price is None:
            return None
        if balance.unit != self.currency:
            converted = ctx.to_base(balance.amount, balance.unit)
            price_base = ctx.to_base(price, self.currency)
            if converted is None or price_base is None or not price_base:
                return None
            return converted / (price_base * ctx.segments)
        return balance.amount / (price * ctx.segments) if price else None


class Policy(abc.ABC):
    """The base of every routing policy."""

    name: ClassVar[str]
    """The name a chain uses: ``policy = ["prefix", "cheapest"]``."""
    Config: ClassVar[type[Any]] = NoOptions
    """An attrs class for the policy's own table, ``[policies.NAME]``."""
    orders: ClassVar[bool] = False
    """Whether :meth:`key` places providers; a policy that only excludes leaves it False."""
    learns: ClassVar[bool] = False
    """Whether it reads what the router learns (:attr:`ProviderView.learnt`): a Router
    whose chain has one reads its delivery statistics every interval while it runs."""
    cacheable: ClassVar[bool] = False
    """Whether the chain may remember this policy's answers (see :class:`PolicyChain`).

    True promises that :meth:`exclude`, :meth:`key` and :meth:`describe` read only the
    destination's digits as far as some provider's ``prefixes`` or ``prices`` reach, the
    message's shape (encoding, segments, sender kind and length, recipient count), the
    provider's settings, its balance and its breaker, and whatever :meth:`cache_version`
    covers; never the rest of the number, the message's id or text, ``in_flight``, the
    time, or other state of its own. A reason may name the recipient only as
    ``ctx.recipient.e164``: a remembered reason gets each recipient's own number in its
    place. False (the default, and what a policy keyed by message id must keep) means
    every decision through a chain holding it is made afresh."""

    @classmethod
    def problems(cls, config: Any, providers: Sequence[str]) -> list[str]:
        """What is wrong in *config* given the configured *providers*, each as
        ``key: message`` under the policy's table (say of a provider name none has)."""
        return []

    def __init__(self, config: Any) -> None:
        self.config = config

    def cache_version(self) -> Hashable:
        """What this policy's own state is now, for a cacheable policy that has some.

        Remembered decisions are dropped whenever the value changes: a policy ordering by
        statistics it keeps returns a new value when they move enough to change an
        answer. The default, None, never changes.
        """
        return None

    def exclude(self, ctx: RoutingContext, provider: ProviderView) -> str | None:
        """Why *provider* must not take this destination, or None when it may."""
        return None

    def key(self, ctx: RoutingContext, provider: ProviderView) -> Any:
        """The sort key of *provider* (lower goes first), or None when unknown (goes last)."""
        return None

    def describe(self, key: Any) -> object:
        """The key as the explanation shows it."""
        return key


_SENDER_REFUSED = {
    SenderKind.NONE: "needs a sender ID",
    SenderKind.NUMERIC: "does not take a numeric sender ID",
    SenderKind.ALPHANUMERIC: "does not take an alphanumeric sender ID",
}


def suspension_reason(said: str) -> str:
    """Why a suspended provider is skipped, in route explanations and attempts alike."""
    return f"suspended by an operator: {said}" if said else "suspended by an operator"


def always_on(ctx: RoutingContext, provider: ProviderView) -> Exclusion | None:
    """The filters every chain starts with: suspended, breaker, capability, balance below
    cost."""
    caps = provider.capabilities

    def out(policy: str, reason: str) -> Exclusion:
        return Exclusion(provider.name, policy, reason)

    if provider.suspended is not None:
        return out("suspended", suspension_reason(provider.suspended))
    if not provider.accepting:
        return out("breaker", f"circuit breaker is {provider.breaker}")
    if provider.closed_to:
        held = provider.closed_to.get(ctx.recipient.country)
        if held is not None:
            return out("breaker", f"circuit breaker for {ctx.recipient.country} is {held}")
    if ctx.encoding is Encoding.UCS2 and not caps.unicode:
        return out("capability", "cannot send Unicode (UCS-2) text")
    if ctx.segments > caps.max_parts:
        return out("capability", f"{ctx.segments} segments, it sends at most {caps.max_parts}")
    if ctx.sender_kind not in caps.sender_kinds:
        return out("capability", _SENDER_REFUSED[ctx.sender_kind])
    if ctx.sender_kind is SenderKind.ALPHANUMERIC and ctx.sender_length > caps.max_sender_length:
        return out("capability", f"sender longer than {caps.max_sender_length} characters")
    affordable = provider.affordable(ctx)
    if affordable is not None and affordable < ctx.recipient_count:
        return out(
            "balance",
            f"balance {provider.balance.amount if provider.balance else '?'} "
            "is below the message's cost",
        )
    return None


def _sort_part(key: Any) -> tuple[int, Any]:
    return (1, 0) if key is None else (0, key)


class PolicyChain:
    """Policies combined: exclusions from all, then order by each key in turn.

    When every policy in it is :attr:`~Policy.cacheable`, the Router remembers its
    decisions per destination prefix and message shape, dropping them all when a
    provider's balance, breaker or budget, a policy's :meth:`~Policy.cache_version` or
    the config moves.
    """

    def __init__(self, policies: Sequence[Policy]) -> None:
        self.policies = tuple(policies)
        self._ordering = tuple(p for p in self.policies if p.orders)
        self.cacheable = all(p.cacheable for p in self.policies)
        """Whether decisions through this chain may be remembered."""

    def version(self) -> tuple[Hashable, ...]:
        """Every policy's :meth:`~Policy.cache_version`, in chain order."""
        return tuple(p.cache_version() for p in self.policies)

    def decide(
        self, ctx: RoutingContext, providers: Sequence[ProviderView]
    ) -> tuple[tuple[Candidate, ...], tuple[Exclusion, ...]]:
        """The candidates in failover order, and every excluded provider with its reason."""
        excluded: list[Exclusion] = []
        ranked: list[tuple[tuple[Any, ...], Candidate]] = []
        for view in providers:
            exclusion = always_on(ctx, view)
            if exclusion is None:
                for policy in self.policies:
                    reason = policy.exclude(ctx, view)
                    if reason is not None:
                        exclusion = Exclusion(view.name, policy.name, reason)
                        break
            if exclusion is not None:
                excluded.append(exclusion)
                continue
            keys = [(policy, policy.key(ctx, view)) for policy in self._ordering]
            cost = view.cost(ctx)
            candidate = Candidate(
                provider=view.name,
                keys={p.name: p.describe(k) for p, k in keys},
                cost=None if cost is None else ctx.to_base(cost, view.currency),
            )
            order = (*(_sort_part(k) for _, k in keys), view.index)
            ranked.append((order, candidate))
        ranked.sort(key=lambda pair: pair[0])
        return tuple(c for _, c in ranked), tuple(excluded)
