"""The Echo SMS adapter: the provider's answers, mapped to smsrouter's outcomes.

The protocol (README.md, "The Echo SMS API"): ``POST {base_url}/send`` with the account,
the recipients and one reference per recipient answers one line per recipient,
``OK <digits> <id>`` or ``BAD <digits> <reason>``, or one ``ERROR <reason>`` line for the
whole request. Every request goes through :func:`router.http.call`, which maps transport
failures (refused, 5xx, timeouts, dropped connections) and keeps the password out of
every error text.
"""

from __future__ import annotations

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
    Operation,
    Outcome,
    Provider,
    ProviderAmbiguousError,
    ProviderContext,
    ProviderError,
    ProviderRejectedError,
    Rate,
    RecipientOutcome,
    Secret,
    call,
    to_e164,
)


@attrs.frozen
class EchoConfig:
    """The keys of a provider table with ``plugin = "echo"``."""

    username: str
    password: Secret
    base_url: str = "https://api.echo-sms.example/v1"
    sender: str | None = None
    """The sender ID of a message that has none; None for the provider's shared number."""
    sandbox: bool = False
    """Make no request and accept every recipient: the provider's test mode."""


STATUSES = {
    "ACCEPTD": DeliveryStatus.ACCEPTED,
    "ENROUTE": DeliveryStatus.ENROUTE,
    "DELIVRD": DeliveryStatus.DELIVERED,
    "UNDELIV": DeliveryStatus.FAILED,
    "EXPIRED": DeliveryStatus.EXPIRED,
    "REJECTD": DeliveryStatus.REJECTED,
}
"""Echo's delivery statuses, normalised; any other is ``unknown``."""

_ERROR_KINDS = {
    "login failed": ErrorKind.AUTH,
    "no credit": ErrorKind.CREDIT,
    "too many requests": ErrorKind.THROTTLED,
    "bad request": ErrorKind.INVALID_REQUEST,
}
_BAD_OUTCOMES = {
    "invalid number": Outcome.REJECTED_RECIPIENT,
    "blocked": Outcome.REJECTED_RECIPIENT,
    "rejected text": Outcome.REJECTED_MESSAGE,
}


def _error_kind(reason: str) -> ErrorKind:
    lowered = reason.lower()
    return next(
        (k for text, k in _ERROR_KINDS.items() if lowered.startswith(text)), ErrorKind.OTHER
    )


class EchoProvider(Provider[EchoConfig]):
    """The Echo SMS API: batches of up to 100 recipients, balance in credits, pushes."""

    type_name = "echo"
    Config = EchoConfig
    capabilities = Capabilities(
        max_recipients=100,
        max_parts=6,
        unicode=True,
        balance=True,
        push_dlr=True,
        push_inbound=True,
        client_reference=True,
        reference_length=20,
    )
    limits = Limits(
        concurrency=4,
        rates={Operation.SEND: Rate(20, 1.0), Operation.BALANCE: Rate(6, 60.0)},
    )
    callback_answer = "OK"

    def __init__(self, config: EchoConfig, context: ProviderContext) -> None:
        super().__init__(config, context)
        if config.sandbox:
            # The sandbox has no account, so nothing should poll its balance.
            self.capabilities = attrs.evolve(self.capabilities, balance=False)

    @property
    def secrets(self) -> tuple[Secret, ...]:
        """The password: masked in every error text and log line (see :meth:`redact`)."""
        return (self.config.password,)

    def _form(self) -> dict[str, str]:
        return {"user": self.config.username, "password": self.config.password.reveal()}

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        """Send one message to up to 100 recipients in one request."""
        if self.config.sandbox:
            return [
                RecipientOutcome(r.e164, Outcome.ACCEPTED, provider_message_id=f"sandbox-{r.ref}")
                for r in batch.recipients
            ]
        form = self._form()
        form["to"] = ",".join(r.digits for r in batch.recipients)
        form["ref"] = ",".join(r.ref for r in batch.recipients)
        form["text"] = batch.text
        sender = batch.sender or self.config.sender
        if sender:
            form["from"] = sender
        try:
            answer = await call(
                self.context,
                "POST",
                f"{self.config.base_url}/send",
                data=form,
                secrets=self.secrets,
            )
        except ProviderError as exc:
            return [exc.outcome_for(r.e164) for r in batch.recipients]
        return self._read_send(batch, self.redact(answer.text))

    def _read_send(self, batch: Batch, text: str) -> list[RecipientOutcome]:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines and lines[0].startswith("ERROR "):
            reason = lines[0].removeprefix("ERROR ")
            kind = _error_kind(reason)  # login failed -> auth, no credit -> credit, ...
            if kind is ErrorKind.INVALID_REQUEST:
                self.context.logger.error("%s: Echo refused our request: %s", self.name, reason)
            return [
                RecipientOutcome(r.e164, Outcome.PROVIDER_ERROR, reason=reason, kind=kind)
                for r in batch.recipients
            ]
        answers: dict[str, RecipientOutcome] = {}
        for line in lines:
            word, _, rest = line.partition(" ")
            digits, _, detail = rest.partition(" ")
            number = f"+{digits}"
            if word == "OK" and detail:
                answers[number] = RecipientOutcome(
                    number, Outcome.ACCEPTED, provider_message_id=detail
                )
            elif word == "BAD":
                outcome = _BAD_OUTCOMES.get(detail.lower(), Outcome.PROVIDER_ERROR)
                answers[number] = RecipientOutcome(number, outcome, reason=detail)
        missing = f"no answer line for it in {text[:100]!r}"
        return [
            answers.get(r.e164) or RecipientOutcome(r.e164, Outcome.AMBIGUOUS, reason=missing)
            for r in batch.recipients
        ]

    async def balance(self) -> Balance:
        """The account's credits."""
        url = f"{self.config.base_url}/balance"
        answer = await call(self.context, "POST", url, data=self._form(), secrets=self.secrets)
        line = self.redact(answer.text.strip())
        if line.startswith("BALANCE "):
            try:
                return Balance(Decimal(line.removeprefix("BALANCE ")), "credits")
            except InvalidOperation:
                pass
        if line.startswith("ERROR "):
            reason = line.removeprefix("ERROR ")
            raise ProviderRejectedError(reason, provider=self.name, kind=_error_kind(reason))
        raise ProviderAmbiguousError(
            f"unrecognised balance answer {line[:100]!r}", provider=self.name
        )

    def parse_callback(self, kind: CallbackKind, request: CallbackRequest) -> CallbackResult:
        """A delivery report or an inbound message, pushed with GET; Echo wants ``OK``."""
        params = request.params
        answer = CallbackResponse(self.callback_answer)
        region = self.context.default_region
        if kind is CallbackKind.DLR:
            if not (params.get("id") or params.get("ref")):
                raise CallbackError("a delivery report without id or ref", provider=self.name)
            raw = params.get("status", "")
            report = DeliveryReport(
                provider=self.name,
                status=STATUSES.get(raw.upper(), DeliveryStatus.UNKNOWN),
                raw_status=raw,
                provider_message_id=params.get("id") or None,
                ref=params.get("ref") or None,
                recipient=to_e164(params.get("to", ""), region),
            )
            return CallbackResult(answer, reports=(report,))
        sender, text = params.get("from"), params.get("text")
        if not sender or text is None:
            raise CallbackError("an inbound message without from or text", provider=self.name)
        ours = params.get("to", "")
        inbound = InboundMessage(
            provider=self.name,
            sender=to_e164(sender, region) or sender,
            recipient=to_e164(ours, region) or ours,
            text=text,
            provider_message_id=params.get("id") or None,
        )
        return CallbackResult(answer, inbound=(inbound,))
