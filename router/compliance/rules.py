"""The rules that hold whichever provider carries a message, as one part of the engine.

:class:`Compliance` checks a message's timing and callback fields, admits its recipients
(:mod:`router.compliance.admit`), keeps the opt-out list (:mod:`router.compliance.optouts`)
and acts on an inbound stop or start word from any provider, replying through that
provider when the config has a reply.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence

from router.clock import MAX_TIME, Clock
from router.compliance.admit import Admission
from router.compliance.optouts import OptOutList
from router.config import Config
from router.errors import RouterError, ValidationError
from router.model import InboundMessage, Message, Recipient, RecipientResult
from router.numbers import parse
from router.store import MessageRecord, MessageStore

__all__ = ["Compliance", "check_url"]

log = logging.getLogger("smsrouter.compliance")

Send = Callable[[Message], Awaitable[object]]


def check_url(field: str, url: str) -> None:
    """Refuse *url* unless it is an absolute http(s) URL a post can go to."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - reading it checks it
    except ValueError as exc:
        raise ValidationError(field, f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(field, "expected an absolute http:// or https:// URL")
    if any(ch.isspace() or ord(ch) < 32 for ch in url) or "#" in url:
        raise ValidationError(field, "a URL has no spaces, control characters or fragment")


def numeric_sender(number: str) -> str | None:
    """Our number a text came to, as the sender of a reply; None when it is not one."""
    digits = number.strip().removeprefix("+")
    return digits if digits.isascii() and digits.isdigit() and len(digits) <= 15 else None


class Compliance:
    """Opt-outs, quiet hours, send and expiry times, per-message callbacks.

    Args:
        config: the Router's config (``[router]`` quiet hours, ``[optouts]``,
            ``[message_callbacks]``).
        store: the journal that keeps the opt-out list.
        clock: where time comes from.
        send: how a reply to a stop or start word is sent (the Router's send).
    """

    def __init__(self, config: Config, store: MessageStore, clock: Clock, send: Send) -> None:
        self.config = config
        self.clock = clock
        self.optouts = OptOutList(store, clock)
        self.admission = Admission(config.router, self.optouts)
        self._send = send
        self._exempt: set[str] = set()
        """Ids of replies to opt-out keywords: they go through the list and quiet hours."""
        self._replies: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Read the opt-out list from the journal."""
        await self.optouts.load()

    async def stop(self) -> None:
        """Wait for the replies under way."""
        if self._replies:
            await asyncio.gather(*self._replies, return_exceptions=True)

    def check(self, message: Message) -> None:
        """Refuse a message whose times or callback URL are wrong (the field named)."""
        send_at, expires_at = message.send_at, message.expires_at
        for field, value in (("send_at", send_at), ("expires_at", expires_at)):
            if value is not None and value > MAX_TIME:
                raise ValidationError(field, "is after 2100")
        if send_at is not None and expires_at is not None and expires_at <= send_at:
            raise ValidationError("expires_at", "is not after send_at")
        if message.callback_url is not None:
            check_url("callback_url", message.callback_url)
            if self.config.message_callbacks.secret is None:
                raise ValidationError(
                    "callback_url", "needs [message_callbacks] secret in the config to sign posts"
                )

    def admit(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        segments: int,
        record: MessageRecord | None = None,
    ) -> dict[str, RecipientResult]:
        """The recipients not to be sent now, with their results (see :class:`Admission`)."""
        exempt = message.id in self._exempt
        now = self.clock.time()
        return self.admission.admit(message, recipients, segments, now, record, exempt=exempt)

    async def inbound(self, message: InboundMessage) -> None:
        """Act on an inbound stop or start word: for every provider, at once."""
        settings = self.config.optouts
        word = settings.keyword(message.text)
        if word is None:
            return
        try:
            number = parse(message.sender, self.config.router.default_region, field="from")
        except ValidationError as exc:
            log.warning("provider %r: %s word from a number not understood: %s", message.provider,
                        word, exc)  # fmt: skip
            return
        keyword = message.text.strip().rstrip(".!").strip().upper()
        if word == "stop":
            await self.optouts.add(number.e164, provider=message.provider, source=keyword)
            reply = settings.stop_reply
        else:
            await self.optouts.remove(number.e164)
            reply = settings.start_reply
        log.info("provider %r: %s from %s", message.provider, keyword, number.e164)
        if reply:
            self._reply(message, number.e164, reply)

    def _reply(self, inbound: InboundMessage, number: str, text: str) -> None:
        """Send *text* to *number* through the provider *inbound* came by, in the background."""
        reply = Message(
            to=number,
            text=text,
            sender=numeric_sender(inbound.recipient),
            providers=(inbound.provider,),
        )
        self._exempt.add(reply.id)
        task = asyncio.get_running_loop().create_task(self._send_reply(reply))
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)

    async def _send_reply(self, reply: Message) -> None:
        try:
            await self._send(reply)
        except RouterError as exc:
            log.warning("the reply to an opt-out keyword was not sent: %s", exc)
        except Exception:
            log.exception("the reply to an opt-out keyword failed")
        finally:
            self._exempt.discard(reply.id)
