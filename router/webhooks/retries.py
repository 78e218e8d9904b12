"""When a webhook post that failed is tried again, and the posts to a message's own
``callback_url``: signed and retried as a webhook's, under the name ``callback_url``.
"""

from __future__ import annotations

import random

import attrs

from router.config import Config, WebhookSettings
from router.config.compliance import CALLBACK_WEBHOOK
from router.model import EventType
from router.redact import Secret
from router.store import MessageStore
from router.webhooks.events import Event

__all__ = ["CALLBACK_WEBHOOK", "REMOVED", "callback_hook", "for_message", "retry_at"]

REMOVED = WebhookSettings("removed", "http://removed.invalid/", (), Secret(""))
"""The defaults, for deliveries to a webhook the config no longer has."""


def retry_at(
    attempts: int,
    queued_at: float,
    now: float,
    hook: WebhookSettings | None,
    rng: random.Random,
) -> float | None:
    """When to post again after *attempts* failed posts, or None: it is a dead letter.

    The wait doubles from ``backoff`` up to ``max_backoff``, drawn between half of it and
    all of it so many receivers failing at once do not come back at once; the last try is
    at ``max_age`` after *queued_at*. A webhook no longer configured (*hook* None) waits
    with the defaults, so a config put right in time still gets its events.
    """
    hook = hook or REMOVED
    deadline = queued_at + hook.max_age
    if now >= deadline:
        return None
    delay = min(hook.max_backoff, hook.backoff * 2.0 ** min(attempts - 1, 60))
    return float(min(now + delay / 2 + rng.uniform(0, delay / 2), deadline))


def callback_hook(config: Config) -> WebhookSettings | None:
    """The ``[message_callbacks]`` settings as a webhook (its URL is each message's own),
    or None when they have no secret to sign with."""
    settings = config.message_callbacks
    if settings.secret is None:
        return None
    return WebhookSettings(
        CALLBACK_WEBHOOK,
        "http://callback-url.invalid/",
        (EventType.DELIVERY_REPORT,),
        settings.secret,
        timeout=settings.timeout,
        concurrency=settings.concurrency,
        backoff=settings.backoff,
        max_backoff=settings.max_backoff,
        max_age=settings.max_age,
    )


async def for_message(
    hook: WebhookSettings | None, event: Event, store: MessageStore
) -> tuple[WebhookSettings | None, str | None]:
    """*hook* posting to the ``callback_url`` of the message *event* is about, or why not."""
    if hook is None:
        return None, "no [message_callbacks] secret is configured to sign the post"
    message_id = event.data.get("message_id")
    record = None if not isinstance(message_id, str) else await store.get(message_id)
    if record is None or record.callback_url is None:
        return None, "the message and its callback_url are no longer in the journal"
    return attrs.evolve(hook, url=record.callback_url), None
