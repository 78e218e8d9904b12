"""SMS Broadcast (Australia): the Advanced HTTP API adapter.

One form POST to ``api-adv.php`` sends one text to up to a thousand recipients; the answer
is one text line per recipient (``OK:<number>:<smsref>`` or ``BAD:<number>:<reason>``), or
a single ``ERROR:<reason>`` for the whole request, always with HTTP 200. The balance is
``action=balance`` on the same URL. Delivery reports and inbound texts are pushed by GET
and answered ``OK``. Every fact here is from ``providers.md`` section 1; the mapping to
outcomes is its section 8.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

import attrs

from router import (
    Balance,
    Batch,
    CallbackError,
    CallbackKind,
    CallbackRequest,
    CallbackResponse,
    CallbackResult,
    Capabilities,
    DeliveryReport,
    DeliveryStatus,
    ErrorKind,
    InboundMessage,
    Limits,
    Outcome,
    Provider,
    ProviderAmbiguousError,
    ProviderError,
    ProviderRejectedError,
    RecipientOutcome,
    Secret,
    SenderKind,
    call,
    international_digits,
    to_e164,
)

DEFAULT_URL = "https://api.smsbroadcast.com.au/api-adv.php"
_REGION = "AU"
"""The provider's home: numbers it echoes in national form (``04…``) are Australian."""

_DLR_STATUSES = {
    "delivered": DeliveryStatus.DELIVERED,
    "expired": DeliveryStatus.EXPIRED,
    "failed": DeliveryStatus.FAILED,
}

# Words of an ERROR/BAD reason that say what kind of provider-side failure it is. The full
# reason list is unpublished (providers.md 6); these cover the known texts
# ("Username or password is incorrect", "bad auth") and the obvious credit wordings.
_AUTH_WORDS = ("username", "password", "auth", "login", "credential")
_CREDIT_WORDS = ("credit", "balance", "funds")


@attrs.frozen
class SMSBroadcastConfig:
    """The keys of an ``smsbroadcast`` provider table."""

    username: str
    """The API key's username (providers.md 1.1)."""
    password: Secret
    """The API key's secret."""
    base_url: str = DEFAULT_URL
    """The Advanced API script itself (``.../api-adv.php``, not its folder); sends and
    balance queries both go there."""


def error_kind(reason: str) -> ErrorKind:
    """The kind of provider-side error an ``ERROR:``/``BAD:`` *reason* names."""
    words = reason.lower()
    if any(word in words for word in _AUTH_WORDS):
        return ErrorKind.AUTH
    if any(word in words for word in _CREDIT_WORDS):
        return ErrorKind.CREDIT
    return ErrorKind.OTHER


@attrs.frozen
class _Line:
    """One recognised line of a send answer."""

    status: str
    """``OK``, ``BAD`` or ``ERROR``."""
    number: str = ""
    detail: str = ""
    """The smsref of an OK line, the reason of a BAD or ERROR line."""


def _parse_line(line: str) -> _Line | None:
    # providers.md 1.2: some answers put a space after a colon, so every field is trimmed.
    head, _, rest = line.partition(":")
    status = head.strip().upper()
    if status == "ERROR":
        return _Line("ERROR", detail=rest.strip())
    if status not in ("OK", "BAD"):
        return None
    number, sep, detail = rest.partition(":")
    number, detail = number.strip(), detail.strip()
    if not sep or not number or (status == "OK" and not detail):
        return None
    return _Line(status, number, detail)


class SMSBroadcastProvider(Provider[SMSBroadcastConfig]):
    """SMS Broadcast's Advanced HTTP API: per-recipient answers, credits, pushed reports."""

    type_name = "smsbroadcast"
    Config = SMSBroadcastConfig
    capabilities = Capabilities(
        # providers.md 1.2: 1000 is a cap a public client imposes, not a documented limit.
        max_recipients=1000,
        # Each recipient's answer line and report carry its own smsref: several messages'
        # recipients can share a request (its ref is then the first message's id).
        coalesce=True,
        # providers.md 1.6: maxsplit runs from 1 to 5.
        max_parts=5,
        # providers.md 1.2: nothing is documented about Unicode, so none is claimed.
        unicode=False,
        sender_kinds=frozenset(SenderKind),
        max_sender_length=11,
        balance=True,
        status_query=False,
        push_dlr=True,
        push_inbound=True,
        client_reference=True,
        reference_length=20,
    )
    # providers.md 1.2: no rate or concurrency limits are documented.
    limits = Limits()
    callback_answer = "OK"

    @property
    def secrets(self) -> tuple[Secret, ...]:
        """The API key's secret: the one thing to mask from answers and errors."""
        return (self.config.password,)

    def _credentials(self) -> dict[str, str]:
        return {"username": self.config.username, "password": self.config.password.reveal()}

    def _e164(self, number: str) -> str | None:
        # providers.md 1.2: an OK line may echo 04… (or 614…) for what we sent as 614….
        if not number.removeprefix("+").isdigit():
            return None
        return to_e164(number, _REGION)

    # -- send -----------------------------------------------------------------------------

    def _form(self, batch: Batch) -> dict[str, str]:
        form = self._credentials()
        # providers.md 1.2: digits only, international form recommended.
        form["to"] = ",".join(international_digits(r.e164) for r in batch.recipients)
        form["message"] = batch.text
        if batch.sender is not None:
            form["from"] = _sender(batch.sender, batch.sender_kind)
        # providers.md 1.2: ref is per request (<= 20 chars) and echoed in every report.
        form["ref"] = batch.message_id
        form["maxsplit"] = str(max(1, batch.segments))
        return form

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        """Send *batch* in one POST; one outcome per recipient, in batch order."""
        try:
            answer = await call(
                self.context,
                "POST",
                self.config.base_url,
                data=self._form(batch),
                secrets=self.secrets,
            )
        except ProviderError as exc:
            return [exc.outcome_for(r.e164) for r in batch.recipients]
        return self._outcomes(batch, answer.text)

    def _outcomes(self, batch: Batch, text: str) -> list[RecipientOutcome]:
        numbers = [r.e164 for r in batch.recipients]
        outcomes: list[RecipientOutcome | None] = [None] * len(numbers)
        error: str | None = None
        recognised = 0
        for raw in text.split("\n"):
            line = raw.strip()
            if not line:
                continue
            parsed = _parse_line(line)
            if parsed is None:
                # providers.md 1.2: an unknown line (maybe a balance line) is skipped, not fatal.
                self._warn("skipped an unrecognised answer line", line)
                continue
            recognised += 1
            if parsed.status == "ERROR":
                error = parsed.detail if error is None else error
                continue
            index = self._match(parsed.number, numbers, outcomes)
            if index is None:
                self._warn("skipped a line for a number not in the request", line)
                continue
            outcomes[index] = self._line_outcome(numbers[index], parsed)
        return [
            outcome or self._unanswered(number, error, recognised)
            for number, outcome in zip(numbers, outcomes, strict=True)
        ]

    def _match(
        self, number: str, numbers: list[str], outcomes: list[RecipientOutcome | None]
    ) -> int | None:
        # The provider echoes what we sent (614…) nearly always: try that before parsing.
        for index, ours in enumerate(numbers):
            if outcomes[index] is None and ours[1:] == number:
                return index
        e164 = self._e164(number)
        for index, ours in enumerate(numbers):
            if outcomes[index] is None and ours == e164:
                return index
        return None

    def _line_outcome(self, number: str, line: _Line) -> RecipientOutcome:
        if line.status == "OK":
            return RecipientOutcome(number, Outcome.ACCEPTED, provider_message_id=line.detail)
        reason = self.redact(f"BAD: {line.detail}")
        if line.detail.lower() == "invalid number":
            return RecipientOutcome(number, Outcome.REJECTED_RECIPIENT, reason=reason)
        # providers.md 5: other BAD reasons are provider-side, so the recipient fails over.
        kind = error_kind(line.detail)
        return RecipientOutcome(number, Outcome.PROVIDER_ERROR, reason=reason, kind=kind)

    def _unanswered(self, number: str, error: str | None, recognised: int) -> RecipientOutcome:
        if error is not None:
            # providers.md 1.2: ERROR is a request-level failure for every recipient.
            reason = self.redact(f"ERROR: {error}")
            return RecipientOutcome(
                number, Outcome.PROVIDER_ERROR, reason=reason, kind=error_kind(error)
            )
        if recognised:
            reason = "the answer had no line for this recipient"
        else:
            reason = "the answer fits no known form"
        return RecipientOutcome(number, Outcome.AMBIGUOUS, reason=reason)

    # -- balance --------------------------------------------------------------------------

    async def balance(self) -> Balance:
        """The account's credits (``OK:<n>``); raises ProviderError on ``ERROR:``."""
        data = {"action": "balance", **self._credentials()}
        answer = await call(
            self.context, "POST", self.config.base_url, data=data, secrets=self.secrets
        )
        line = next((x.strip() for x in answer.text.split("\n") if x.strip()), "")
        head, _, rest = line.partition(":")
        status, rest = head.strip().upper(), rest.strip()
        if status == "ERROR":
            reason = self.redact(f"balance: ERROR: {rest}")
            raise ProviderRejectedError(reason, provider=self.name, kind=error_kind(rest))
        if status == "OK":
            try:
                # providers.md 1.3: clients read an int; a Decimal takes any number given.
                amount = Decimal(rest)
            except InvalidOperation:
                pass
            else:
                if amount.is_finite():
                    return Balance(amount, "credits")
        excerpt = self.redact(line, 60)
        raise ProviderAmbiguousError(f"balance: unexpected answer {excerpt!r}", provider=self.name)

    # -- callbacks ------------------------------------------------------------------------

    def parse_callback(self, kind: CallbackKind, request: CallbackRequest) -> CallbackResult:
        """A pushed status report (``to, ref, smsref, status``) or inbound text, answered OK."""
        answer = CallbackResponse(self.callback_answer)
        if kind is CallbackKind.DLR:
            params = {key: value.strip() for key, value in request.params.items()}
            return CallbackResult(answer, reports=(self._report(params),))
        return CallbackResult(answer, inbound=(self._inbound(request.params),))

    def _report(self, params: Mapping[str, str]) -> DeliveryReport:
        smsref, ref = params.get("smsref") or None, params.get("ref") or None
        if smsref is None and ref is None:
            raise CallbackError("status push without smsref or ref", provider=self.name)
        raw = params.get("status", "")
        # providers.md 1.4: Delivered/Expired/Failed, compared without regard to case.
        status = _DLR_STATUSES.get(raw.lower(), DeliveryStatus.UNKNOWN)
        if status is DeliveryStatus.UNKNOWN:
            self.context.logger.warning(
                "%s: unknown delivery status %r", self.name, self.redact(raw, 40)
            )
        to = params.get("to", "")
        return DeliveryReport(
            provider=self.name,
            status=status,
            raw_status=raw,
            provider_message_id=smsref,
            ref=ref,
            recipient=self._e164(to) if to else None,
        )

    def _inbound(self, params: Mapping[str, str]) -> InboundMessage:
        sender, to = params.get("from", "").strip(), params.get("to", "").strip()
        if not sender:
            raise CallbackError("inbound push without a sender", provider=self.name)
        return InboundMessage(
            provider=self.name,
            sender=self._e164(sender) or sender,
            recipient=self._e164(to) or to,
            text=params.get("message", ""),
            # providers.md 1.5: whether smsref comes with inbound texts is unknown.
            provider_message_id=params.get("smsref", "").strip() or None,
            in_reply_to=params.get("ref", "").strip() or None,
        )

    # -- helpers --------------------------------------------------------------------------

    def _warn(self, what: str, line: str) -> None:
        self.context.logger.warning("%s: %s: %r", self.name, what, self.redact(line, 80))


def _sender(sender: str, kind: SenderKind) -> str:
    # providers.md 1.6: the sender ID is digits or letters only, no '+', spaces or punctuation.
    if kind is SenderKind.NUMERIC:
        return sender.removeprefix("+")
    return "".join(sender.split())
