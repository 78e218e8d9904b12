"""The settings of the rules that hold whichever provider carries a message: the opt-out list
(``[optouts]``), quiet hours (``[router] quiet_hours``) and per-message callbacks
(``[message_callbacks]``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs
import cattrs

from router import numbers
from router.config.converter import Duration, read_table
from router.redact import Secret

__all__ = [
    "CALLBACK_WEBHOOK",
    "COMPLIANCE_SECTIONS",
    "MIN_CALLBACK_SECRET",
    "MessageCallbackSettings",
    "OptOutSettings",
    "QuietHours",
    "parse_quiet_hours",
    "read_compliance",
]

_WINDOW = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])")


@attrs.frozen
class QuietHours:
    """A daily window of local time, in minutes after midnight; it may span midnight."""

    start: int
    end: int

    def __contains__(self, minute: int) -> bool:
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


def parse_quiet_hours(text: str) -> QuietHours | None:
    """``"21:00-08:00"`` as a window, ``"off"`` as none; ValueError for anything else."""
    if text == "off":
        return None
    match = _WINDOW.fullmatch(text)
    if match is None:
        raise ValueError(f'expected "HH:MM-HH:MM" (like "21:00-08:00") or "off", got {text!r}')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if (h1, m1) == (h2, m2):
        raise ValueError(f'{text!r} starts and ends at one time: give a window, or "off"')
    return QuietHours(h1 * 60 + m1, h2 * 60 + m2)


def _window(_: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        parse_quiet_hours(value)


def _by_country(_: object, attribute: attrs.Attribute[Any], value: Mapping[str, str]) -> None:
    for country, window in value.items():
        if not numbers.is_region(country):
            raise ValueError(f'{country!r}: expected an ISO country code like "AU"')
        try:
            parse_quiet_hours(window)
        except ValueError as exc:
            raise ValueError(f"{country}: {exc}") from None


quiet_hours_field = attrs.field(default=None, validator=_window)
quiet_hours_by_country_field = attrs.field(factory=dict, validator=_by_country)


def _words(_: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for index, word in enumerate(value):
        if not word.strip() or word != word.strip():
            raise ValueError(f"[{index}]: expected a word without surrounding spaces")


@attrs.frozen
class OptOutSettings:
    """The ``[optouts]`` table: the inbound keywords that block and unblock a number."""

    stop_words: tuple[str, ...] = attrs.field(
        default=("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), validator=_words
    )
    """An inbound text that is one of these (any case, surrounding spaces and a final
    full stop or exclamation mark aside) puts its sender on the list, for every provider."""
    start_words: tuple[str, ...] = attrs.field(default=("START", "UNSTOP"), validator=_words)
    """Likewise, these take the sender off the list."""
    stop_reply: str | None = None
    """Sent back through the provider that received the stop word, when set."""
    start_reply: str | None = None
    """Sent back through the provider that received the start word, when set."""

    def keyword(self, text: str) -> str | None:
        """``"stop"`` or ``"start"`` when *text* is one of the words, else None."""
        word = text.strip().rstrip(".!").strip().upper()
        if word in map(str.upper, self.stop_words):
            return "stop"
        if word in map(str.upper, self.start_words):
            return "start"
        return None


MIN_CALLBACK_SECRET = 16
"""The shortest signing secret of per-message callbacks, in characters."""
CALLBACK_WEBHOOK = "callback_url"
"""The name per-message callbacks have in the event journal and ``GET /v1/events``."""


def _secret(_: object, attribute: attrs.Attribute[Any], value: Secret | None) -> None:
    if value is not None and len(value.reveal()) < MIN_CALLBACK_SECRET:
        size = len(value.reveal())
        raise ValueError(f"expected at least {MIN_CALLBACK_SECRET} characters, got {size}")


def _positive(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"must be above 0, got {value!r}")


@attrs.frozen
class MessageCallbackSettings:
    """The ``[message_callbacks]`` table: how a message's own ``callback_url`` is posted to.

    Posts are signed and retried exactly as ``[[webhooks]]`` posts are; without a
    ``secret``, a message with a ``callback_url`` is refused.
    """

    secret: Secret | None = attrs.field(default=None, validator=_secret)
    timeout: Duration = attrs.field(default=Duration(10.0), validator=_positive)
    concurrency: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    backoff: Duration = attrs.field(default=Duration(1.0), validator=_positive)
    max_backoff: Duration = attrs.field(default=Duration(600.0), validator=_positive)
    max_age: Duration = attrs.field(default=Duration(86400.0), validator=_positive)


COMPLIANCE_SECTIONS = ("optouts", "message_callbacks")


def read_compliance(
    converter: cattrs.Converter, doc: Mapping[str, Any], problems: list[str]
) -> tuple[OptOutSettings, MessageCallbackSettings]:
    """The ``[optouts]`` and ``[message_callbacks]`` tables, their problems added."""
    optouts, _ = read_table(converter, doc.get("optouts", {}), OptOutSettings, "optouts", problems)
    callbacks, _ = read_table(
        converter,
        doc.get("message_callbacks", {}),
        MessageCallbackSettings,
        "message_callbacks",
        problems,
    )
    if callbacks is not None and callbacks.max_backoff < callbacks.backoff:
        problems.append("message_callbacks.max_backoff: must not be below backoff")
    hooks = doc.get("webhooks", [])
    for index, hook in enumerate(hooks if isinstance(hooks, list) else []):
        if isinstance(hook, dict) and hook.get("name") == CALLBACK_WEBHOOK:
            problems.append(
                f"webhooks[{index}].name: {CALLBACK_WEBHOOK!r} is the name of messages' own "
                "callback URLs in the event journal: choose another"
            )
    return optouts or OptOutSettings(), callbacks or MessageCallbackSettings()
