"""Checking a message before anything is routed or sent.

:func:`prepare` turns a :class:`~router.model.Message` into a :class:`Prepared`: its
recipients normalised to E.164, each with its reference (:func:`~router.model.recipient_ref`),
how its text is encoded and how many segments it takes, and the kind of its sender ID; or
it raises ValidationError naming the field that is wrong.
"""

from __future__ import annotations

from collections.abc import Collection

import attrs

from router.errors import ValidationError
from router.model import (
    MAX_RECIPIENTS,
    Message,
    Recipient,
    SenderKind,
    recipient_ref,
)
from router.numbers import parse
from router.text import TextInfo, analyse


@attrs.frozen
class Prepared:
    """A message found sendable: what routing and the send loop read of it."""

    message: Message
    recipients: tuple[Recipient, ...]
    text: TextInfo
    sender_kind: SenderKind


def sender_kind(sender: str | None) -> SenderKind:
    """What kind of sender ID *sender* is, or ValidationError naming ``sender``."""
    if sender is None:
        return SenderKind.NONE
    if not sender:
        raise ValidationError("sender", "is empty (leave it out for the provider's default)")
    digits = sender.removeprefix("+")
    # ASCII only: str.isdigit() is also true of "²" and Arabic-Indic digits, which no
    # provider can send as a number.
    if digits.isascii() and digits.isdigit():
        if len(digits) > 15:
            raise ValidationError("sender", f"a numeric sender has at most 15 digits: {sender!r}")
        return SenderKind.NUMERIC
    if len(sender) > 11:
        raise ValidationError(
            "sender", f"an alphanumeric sender has at most 11 characters: {sender!r}"
        )
    if not all(ch.isascii() and ch.isalnum() for ch in sender):
        # No provider here takes spaces or punctuation (providers.md 1.6, 2.2, 4.2).
        raise ValidationError("sender", f"only letters and digits are allowed: {sender!r}")
    return SenderKind.ALPHANUMERIC


def prepare(message: Message, *, providers: Collection[str], region: str | None) -> Prepared:
    """Check *message* against the configured *providers*, numbers read in *region*.

    Raises:
        ValidationError: the first thing wrong, with the field it is in.
    """
    if not message.text.strip():
        raise ValidationError("text", "is empty")
    if not message.to:
        raise ValidationError("to", "no recipients")
    if len(message.to) > MAX_RECIPIENTS:
        raise ValidationError(
            "to", f"{len(message.to)} recipients, at most {MAX_RECIPIENTS} in one message"
        )
    kind = sender_kind(message.sender)
    if message.reference is not None and not message.reference.strip():
        raise ValidationError("reference", "expected a non-empty string")
    if message.providers is not None and not message.providers:
        raise ValidationError("providers", "is empty (leave it out to use every provider)")
    for index, name in enumerate(message.providers or ()):
        if name not in providers:
            known = ", ".join(providers) or "none"
            raise ValidationError(
                f"providers[{index}]", f"unknown provider {name!r} (configured: {known})"
            )
    recipients: list[Recipient] = []
    seen: dict[str, int] = {}
    for index, number in enumerate(message.to):
        field = f"to[{index}]" if len(message.to) > 1 else "to"
        parsed = parse(number, region, field=field)
        if parsed.e164 in seen:
            raise ValidationError(
                field, f"{parsed.e164} is also to[{seen[parsed.e164]}]: send it once"
            )
        seen[parsed.e164] = index
        ref = recipient_ref(message.id, index)
        recipients.append(Recipient(parsed.e164, parsed.region, parsed.country_code, ref))
    return Prepared(message, tuple(recipients), analyse(message.text), kind)
