"""The validated configuration: one frozen attrs class for each table of the TOML file.

:func:`router.config.parse_config` builds them; a plugin's own keys become an instance of
its ``Config`` class, held in :attr:`ProviderSettings.options` or :attr:`Config.policies`.
"""

from __future__ import annotations

import codecs
from decimal import Decimal
from typing import Any, Literal

import attrs

from router.addresses import path_segment_problem, split_listen
from router.config.compliance import (
    MessageCallbackSettings,
    OptOutSettings,
    quiet_hours_by_country_field,
    quiet_hours_field,
)
from router.config.converter import Duration
from router.model import EventType
from router.provider import Limits, Operation
from router.redact import Secret


def _positive(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"must be above 0, got {value!r}")


MAX_COALESCE_WINDOW = 10.0
"""The longest ``[router] coalesce_window``: a queued message waits at most this for others."""


def _window(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0 <= value <= MAX_COALESCE_WINDOW:
        raise ValueError(f"must be from 0 to {MAX_COALESCE_WINDOW:g}s, got {value:g}s")


def _known_charset(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown charset {value!r}") from None


def _share(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"'{attribute.name}' must be above 0 and at most 1, got {value!r}")


def _fraction(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0 <= value < 1:
        raise ValueError(f"'{attribute.name}' must be at least 0 and below 1, got {value!r}")


def _resting(_: object, attribute: attrs.Attribute[Any], value: dict[str, float]) -> None:
    for name, weight in value.items():
        if not 0 < weight <= 1:
            raise ValueError(f"{name}: must be above 0 and at most 1, got {weight!r}")


@attrs.frozen
class BreakerConfig:
    """The ``[router.breaker]`` table: each provider account's circuit breaker."""

    threshold: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    """Consecutive failures (unavailable, ambiguous) that open it."""
    cooldown: Duration = attrs.field(default=Duration(30.0), validator=_positive)
    """How long it stays open the first time; each failed probe doubles it."""
    max_cooldown: Duration = attrs.field(default=Duration(600.0), validator=_positive)
    auth_cooldown: Duration = attrs.field(default=Duration(3600.0), validator=_positive)
    """How long a login failure keeps it open."""
    probe_timeout: Duration = attrs.field(default=Duration(300.0), validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.max_cooldown < self.cooldown:
            raise ValueError("max_cooldown must not be below cooldown")


@attrs.frozen
class CountryBreakerConfig:
    """The ``[router.country_breaker]`` table: a breaker per provider and destination country."""

    threshold: int = attrs.field(default=10, validator=attrs.validators.ge(1))
    """Consecutive failures of sends to one country (provider errors that are not about the
    account, unavailable, ambiguous) that open it for that country alone."""
    cooldown: Duration = attrs.field(default=Duration(60.0), validator=_positive)
    max_cooldown: Duration = attrs.field(default=Duration(1800.0), validator=_positive)
    probe_timeout: Duration = attrs.field(default=Duration(300.0), validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.max_cooldown < self.cooldown:
            raise ValueError("max_cooldown must not be below cooldown")


@attrs.frozen
class QualitySettings:
    """The ``[router.quality]`` table: delivery statistics, and how ``quality`` learns."""

    window: Duration = attrs.field(default=Duration(3600.0), validator=_positive)
    """The rolling window of sends the statistics count."""
    report_timeout: Duration = attrs.field(default=Duration(1800.0), validator=_positive)
    """A send with no final report this long after it counts as not delivered."""
    interval: Duration = attrs.field(default=Duration(60.0), validator=_positive)
    """How often the statistics are read and the weights move."""
    min_sample: int = attrs.field(default=20, validator=attrs.validators.ge(1))
    """Final outcomes (delivered, failed, missing) a provider needs to one country before
    its delivered share counts."""
    step: float = attrs.field(default=0.1, validator=_share)
    """The most a weight falls in one interval."""
    return_step: float = attrs.field(default=0.02, validator=_share)
    """The most a weight rises back toward its resting weight in one interval."""
    min_weight: float = attrs.field(default=0.1, validator=_fraction)
    """The least a weight falls to: the provider keeps that share of its traffic, so it
    stays warm and measured."""
    tolerance: float = attrs.field(default=0.05, validator=_fraction)
    """A delivered share within this fraction of the best provider's counts as the best."""
    frozen: bool = False
    """Weights do not move while frozen (the API can freeze too, not unfreeze this)."""
    resting: dict[str, float] = attrs.field(factory=dict, validator=_resting)
    """Resting weights by provider name (1 unless set): where weights return to."""

    def __attrs_post_init__(self) -> None:
        if self.report_timeout >= self.window:
            raise ValueError("report_timeout must be below window")


@attrs.frozen
class RouterSettings:
    """The ``[router]`` table."""

    default_region: str | None = None
    """ISO country whose national number forms are accepted (``AU``); None for E.164 only."""
    policy: tuple[str, ...] = ("priority",)
    max_attempts: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    on_ambiguous: Literal["stop", "failover"] = "stop"
    on_rejected_recipient: Literal["stop", "failover"] = "stop"
    """When a provider refuses a number: "stop" (it is wrong everywhere), or "failover" to
    try the next provider (some block numbers others take); a number the last provider
    tried also refuses ends rejected."""
    base_currency: str = "AUD"
    currencies: dict[str, Decimal] = attrs.field(factory=dict)
    hook_timeout: Duration = Duration(5.0)
    plugins: tuple[str, ...] = ()
    """Modules to import and register as plugins, by dotted name, beside the installed ones."""
    blocked_plugins: tuple[str, ...] = ()
    balance_stale_after: Duration = Duration(900.0)
    """A balance older than this is unknown to the policies."""
    quiet_hours: str | None = quiet_hours_field
    """Local hours (``"21:00-08:00"``) in which a message is held until they end, unless
    it is urgent; in the recipient's time zone, the most cautious of its country's zones."""
    quiet_hours_by_country: dict[str, str] = quiet_hours_by_country_field
    """Quiet hours by ISO country (``{ US = "20:00-09:00", ZA = "off" }``), over the above."""
    coalesce_window: Duration = attrs.field(default=Duration(0.02), validator=_window)
    """Queued messages (``"wait": false``, bulk, resumed) of one text and sender bound for
    one provider within this of each other go in one request, up to its batch size, where
    its adapter can carry several messages' recipients (:mod:`router.engine.coalesce`);
    ``"0s"`` sends each alone at once. A send whose client waits goes at once unless it
    asks to coalesce (``Router.send(coalesce=True)``, ``"coalesce": true``)."""
    breaker: BreakerConfig = BreakerConfig()
    country_breaker: CountryBreakerConfig = CountryBreakerConfig()
    quality: QualitySettings = QualitySettings()
    redeliver_within: Duration | None = attrs.field(
        default=None, validator=attrs.validators.optional(_positive)
    )
    """Off unless set: a final report of failed or expired that comes within this of the
    send sends the recipient once more through the next provider of its route."""


MIN_API_TOKEN = 8
"""The shortest API token accepted, in characters."""
MAX_WORKERS = 1024
"""The most send workers one daemon runs."""


def _listen(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    try:
        split_listen(value)
    except ValueError as exc:  # worded as serve words it
        raise ValueError(f"cannot listen on {value}: {exc}") from None


def _tokens(_: object, attribute: attrs.Attribute[Any], value: tuple[Secret, ...]) -> None:
    # Never quote a token: say which one, and how long it is.
    for index, token in enumerate(value):
        size = len(token.reveal())
        if size < MIN_API_TOKEN or token.reveal() != token.reveal().strip():
            raise ValueError(
                f"[{index}]: expected at least {MIN_API_TOKEN} characters without surrounding "
                f"spaces, got {size} characters"
            )


def _callback_secret(_: object, attribute: attrs.Attribute[Any], value: Secret | None) -> None:
    why = None if value is None else path_segment_problem(value.reveal())
    if why:
        raise ValueError(f"it is part of the callback URLs' path: it {why}")


@attrs.frozen
class ServerSettings:
    """The ``[server]`` table: the daemon's HTTP side."""

    listen: str = attrs.field(default="127.0.0.1:8080", validator=_listen)
    api_tokens: tuple[Secret, ...] = attrs.field(default=(), validator=_tokens)
    callback_secret: Secret | None = attrs.field(default=None, validator=_callback_secret)
    max_body: int = attrs.field(default=1_048_576, validator=attrs.validators.ge(1024))
    workers: int = attrs.field(
        default=4, validator=[attrs.validators.ge(1), attrs.validators.le(MAX_WORKERS)]
    )
    shutdown_timeout: Duration = Duration(30.0)
    loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    """The daemon's event loop: ``auto`` runs uvloop where it is installed (a dependency
    on Linux), else asyncio's own; ``uvloop`` insists on it; ``asyncio`` never uses it."""


def _at_least_a_second(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 1:
        raise ValueError(f"must be at least 1 second, got {value:g}")


def _key_prefix(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value or not value.isascii() or not all(c.isalnum() or c in "-_.:" for c in value):
        raise ValueError(f"expected letters, digits and - _ . : only, got {value!r}")


@attrs.frozen
class StoreSettings:
    """The ``[store]`` table: where the journal lives (``memory:`` or ``sqlite:///path``).

    Unset, the library keeps its journal in memory and the daemon in ``smsrouter.db``.
    """

    url: str | None = None
    durability: Literal["power", "process"] = "power"
    """What a SQLite commit survives before its caller hears of it: ``power`` (the
    default, ``synchronous = FULL``) survives a power cut; ``process`` (WAL with
    ``synchronous = NORMAL``) survives a killed process but may lose the last commits on
    a power cut or an operating system crash, for less time waiting on the disk."""
    lease: Duration = attrs.field(default=Duration(30.0), validator=_at_least_a_second)
    """In a journal several instances share (PostgreSQL): how long an instance's claim on
    a message lasts unrenewed. An instance that dies has its messages taken over this long
    after its last renewal."""


@attrs.frozen
class StateSettings:
    """The ``[state]`` table: where the live state lives (budgets, breakers, balances,
    recent pushes). Unset, in this process; ``redis://host:port/db`` shares it with every
    instance on that Redis (fleet mode)."""

    url: str | None = None
    prefix: str = attrs.field(default="smsrouter", validator=_key_prefix)
    """What every key of this fleet starts with, so fleets can share one Redis."""
    lease: Duration = attrs.field(default=Duration(15.0), validator=_at_least_a_second)
    """How long a provider's concurrency slot stays taken by an instance that died holding
    it. A live instance renews its slots every third of this while its calls last."""


MIN_WEBHOOK_SECRET = 16
"""The shortest webhook signing secret accepted, in characters."""


@attrs.frozen
class WebhookSettings:
    """One ``[[webhooks]]`` table: a receiver of events, the events it wants, its secret."""

    name: str
    """Names it in the event journal, the API and logs (never the URL: it may hold a token)."""
    url: str
    events: tuple[EventType, ...]
    secret: Secret
    """Signs every post with HMAC-SHA256, so the receiver knows it came from us."""
    timeout: Duration = attrs.field(default=Duration(10.0), validator=_positive)
    concurrency: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    """Posts to this receiver under way at once."""
    backoff: Duration = attrs.field(default=Duration(1.0), validator=_positive)
    """The wait before the first retry; it doubles with each retry, with jitter."""
    max_backoff: Duration = attrs.field(default=Duration(600.0), validator=_positive)
    max_age: Duration = attrs.field(default=Duration(86400.0), validator=_positive)
    """How long an event is retried before it is a dead letter."""


@attrs.frozen
class ProviderCommon:
    """The keys every provider table has beside its plugin's own."""

    plugin: str
    enabled: bool = True
    unicode: bool | None = None
    """Whether the account sends Unicode (UCS-2) text; None for what the plugin claims."""
    prefixes: tuple[str, ...] = ()
    currency: str = "AUD"
    prices: dict[str, Decimal] = attrs.field(factory=dict)
    priority: int | None = None
    balance_interval: Duration = Duration(300.0)
    timeout: Duration = attrs.field(default=Duration(30.0), validator=_positive)
    """How long one HTTP call may take once it has its connection."""
    connect_timeout: Duration = attrs.field(default=Duration(10.0), validator=_positive)
    """How long one HTTP call may wait for a connection (pool slot, then connect)."""
    concurrency: int | None = None
    rates: dict[Operation, str] = attrs.field(factory=dict)
    limit_wait: Duration | None = None
    push_charset: str = attrs.field(default="utf-8", validator=_known_charset)
    """The charset its pushes are in when they name none (SMSC's accounts default to
    cp1251); a push that is not in it is answered as the provider expects and logged."""
    throttle_hold: Duration = attrs.field(default=Duration(60.0), validator=_positive)
    """How long a provider that said we call it too often is left alone (its breaker held
    open) when it did not say how long: SMSC's error 4 blocks our address for a while."""
    callback_url_secret: Secret | None = None
    """This provider's own secret path segment of its callback URLs, accepted beside
    ``[server] callback_secret`` (so one provider's portal cannot speak for another)."""


@attrs.frozen
class ProviderSettings:
    """One configured provider: its name, shared keys, limits and its plugin's options."""

    name: str
    common: ProviderCommon
    options: Any
    limits: Limits


@attrs.frozen
class Config:
    """The whole configuration, validated."""

    router: RouterSettings = RouterSettings()
    server: ServerSettings = ServerSettings()
    store: StoreSettings = StoreSettings()
    state: StateSettings = StateSettings()
    providers: dict[str, ProviderSettings] = attrs.field(factory=dict)
    policies: dict[str, Any] = attrs.field(factory=dict)
    """Each chained policy's options, by policy name."""
    webhooks: tuple[WebhookSettings, ...] = ()
    optouts: OptOutSettings = OptOutSettings()
    message_callbacks: MessageCallbackSettings = MessageCallbackSettings()
    ingress: dict[str, Any] = attrs.field(factory=dict)
    """Each configured ingress's options (``[ingress.NAME]``), by ingress name."""
