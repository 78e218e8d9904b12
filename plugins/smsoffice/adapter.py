"""SMS Office (South Africa): the HTTP API adapter.

A send is one GET to ``sendsms.asp`` per recipient, answered ``Success:<id>`` or an
``Error:…`` text, always with HTTP 200; the balance is a GET to ``balance.asp``, answered
with a bare number of credits. Delivery reports are pushed by GET (``messageid, to, from,
StatusID, statusMessage``) and answered with a plain 200. The account takes one connection
at a time. Every fact here is from ``providers.md`` section 2; the mapping to outcomes is
its section 8.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

import attrs

from router import (
    Answer,
    Balance,
    Batch,
    CallbackKind,
    CallbackRequest,
    CallbackResponse,
    CallbackResult,
    Capabilities,
    DeliveryReport,
    DeliveryStatus,
    ErrorKind,
    Limits,
    Outcome,
    Provider,
    ProviderAmbiguousError,
    ProviderContext,
    ProviderError,
    ProviderRejectedError,
    Recipient,
    RecipientOutcome,
    Secret,
    SenderKind,
    call,
    international_digits,
    to_e164,
)

DEFAULT_URL = "http://www.smsoffice.co.za/sms/api"
"""The API folder; ``sendsms.asp`` and ``balance.asp`` live in it (HTTPS is unknown)."""
MAX_SENDER_LENGTH = 11
_REGION = "ZA"
"""The provider's home, for a number it might echo in national form."""

_DLR_STATUSES = {
    "100": DeliveryStatus.ENROUTE,
    "200": DeliveryStatus.DELIVERED,
    "300": DeliveryStatus.FAILED,
    "400": DeliveryStatus.REJECTED,
}

# providers.md 2.2 and 8: how each known error text (matched by its start, without case)
# maps to an outcome. The spec says a description may go on with "syntax examples", so
# only the start of the text is compared.
_ERRORS: tuple[tuple[str, Outcome, ErrorKind | None], ...] = (
    ("invalid [to]", Outcome.REJECTED_RECIPIENT, None),
    ("number must start with international prefix", Outcome.REJECTED_RECIPIENT, None),
    ("invalid [message]", Outcome.REJECTED_MESSAGE, None),
    ("not enough credits", Outcome.PROVIDER_ERROR, ErrorKind.CREDIT),
    ("login failed", Outcome.PROVIDER_ERROR, ErrorKind.AUTH),
    # Our sender or our part count was refused: the request we built is at fault.
    ("invalid [from]", Outcome.PROVIDER_ERROR, ErrorKind.INVALID_REQUEST),
    ("max of 4 parts", Outcome.PROVIDER_ERROR, ErrorKind.INVALID_REQUEST),
)


def _valid_sender(value: str) -> bool:
    # providers.md 2.2: the sender ID is alphanumeric, up to 11 characters.
    return 0 < len(value) <= MAX_SENDER_LENGTH and value.isascii() and value.isalnum()


def _check_sender(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _valid_sender(value.removeprefix("+")):
        raise ValueError(
            f"{attribute.name}: expected 1 to {MAX_SENDER_LENGTH} letters or digits, got {value!r}"
        )


def _check_folder(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    # providers.md 2.1: the scripts are sendsms.asp and balance.asp in one folder.
    if value.split("?")[0].rstrip("/").lower().endswith(".asp"):
        raise ValueError(
            f"the folder holding sendsms.asp and balance.asp, not a script; got {value!r}"
        )


@attrs.frozen
class SMSOfficeConfig:
    """The keys of an ``smsoffice`` provider table."""

    username: str
    password: Secret
    """Sent in the query string of every call (providers.md 2.1), so redacted everywhere."""
    sender: str = attrs.field(validator=_check_sender)
    """The sender ID of a message that names none: the provider requires one."""
    base_url: str = attrs.field(default=DEFAULT_URL, validator=_check_folder)
    """The API folder holding ``sendsms.asp`` and ``balance.asp`` (a folder, not a script)."""


def error_outcome(detail: str) -> tuple[Outcome, ErrorKind | None]:
    """The outcome and kind of an ``Error:`` answer whose text after the prefix is *detail*."""
    words = detail.strip().lower()
    for start, outcome, kind in _ERRORS:
        if words.startswith(start):
            return outcome, kind
    return Outcome.PROVIDER_ERROR, ErrorKind.OTHER


def _error_detail(body: str) -> str | None:
    """The text after ``Error`` when *body* is an error answer, else None."""
    # providers.md 2.2: "Error:" comes with and without a space after the colon, so the
    # prefix is matched without regard to case and the rest is trimmed of ':' and spaces.
    if body[:5].lower() != "error":
        return None
    return body[5:].lstrip(" \t:").strip()


def _success_id(body: str) -> str | None:
    """The tracking number of a ``Success:`` answer ("" when it has none), else None."""
    first_line = body.splitlines()[0] if body else ""
    head, sep, rest = first_line.partition(":")
    if head.strip().lower() != "success" or not sep:
        return None
    # providers.md 2.2: split on the first ':' and trim; the spec writes the answer as
    # "Success:message tracking number:", so a trailing ':' is not part of the id.
    return rest.strip().removesuffix(":").strip()


class SMSOfficeProvider(Provider[SMSOfficeConfig]):
    """SMS Office's HTTP API: one GET per recipient, one connection at a time."""

    type_name = "smsoffice"
    Config = SMSOfficeConfig
    capabilities = Capabilities(
        # providers.md 2.2: multiple recipients are unknown; the answer carries one id.
        max_recipients=1,
        # providers.md 2.2: at most 4 parts (4 x 153 = 612 GSM-7 characters); the engine
        # filters texts by their segments, which enforces the 612 rule.
        max_parts=4,
        # providers.md 2.2: whether UCS-2 is supported at all is unknown, so none is claimed.
        unicode=False,
        # A message with no sender takes the configured one (the provider requires one).
        sender_kinds=frozenset(SenderKind),
        max_sender_length=MAX_SENDER_LENGTH,
        balance=True,
        status_query=False,
        push_dlr=True,
        push_inbound=False,
        client_reference=False,
    )
    # providers.md 2.1: one concurrent connection per account.
    limits = Limits(concurrency=1)
    # providers.md 2.4: any 200 answer will do; never 500, which makes them resend.
    callback_answer = "OK"

    def __init__(self, config: SMSOfficeConfig, context: ProviderContext) -> None:
        super().__init__(config, context)
        # providers.md 2.1: one connection at a time; the engine's budget already holds
        # calls to one, this keeps the rule when the adapter is driven directly.
        self._one_connection = asyncio.Lock()

    @property
    def secrets(self) -> tuple[Secret, ...]:
        """The password, which every call carries in its query string (providers.md 2.1)."""
        return (self.config.password,)

    def _url(self, script: str) -> str:
        return f"{self.config.base_url.rstrip('/')}/{script}"

    async def _get(self, script: str, params: Mapping[str, str]) -> Answer:
        query = {
            "username": self.config.username,
            "password": self.config.password.reveal(),
            **params,
        }
        async with self._one_connection:
            return await call(
                self.context, "GET", self._url(script), params=query, secrets=self.secrets
            )

    # -- send -----------------------------------------------------------------------------

    def _sender(self, batch: Batch) -> str:
        if batch.sender is None:
            return self.config.sender.removeprefix("+")
        if batch.sender_kind is SenderKind.NUMERIC:
            # providers.md 2.2: the sender is letters or digits only, so no '+'.
            return batch.sender.removeprefix("+")
        return batch.sender

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        """Send *batch* with one GET per recipient, in order; one outcome per recipient.

        A failure that speaks for the whole account (no connection, login, credit) or an
        ambiguous answer ends the batch: the recipients after it are not sent.
        """
        outcomes: list[RecipientOutcome] = []
        for recipient in batch.recipients:
            if outcomes and _ends_batch(outcomes[-1]):
                outcomes.append(_not_sent(recipient, outcomes[-1]))
                continue
            outcomes.append(await self._send_one(batch, recipient))
        return outcomes

    async def _send_one(self, batch: Batch, recipient: Recipient) -> RecipientOutcome:
        number = recipient.e164
        params = {
            "from": self._sender(batch),
            # providers.md 2.2: international digits; '+' stripped, never a leading 0.
            "to": international_digits(number),
            # aiohttp URL-encodes it; the spec's own example leaves it unencoded.
            "message": batch.text,
        }
        try:
            answer = await self._get("sendsms.asp", params)
        except ProviderError as exc:
            return exc.outcome_for(number)
        return self._outcome(recipient, answer.text)

    def _outcome(self, recipient: Recipient, text: str) -> RecipientOutcome:
        number, body = recipient.e164, text.strip()
        reason = self.redact(body, 200)
        message_id = _success_id(body)
        if message_id is not None:
            if not message_id:
                self._warn("Success answer without a tracking number", body)
            # No id to match reports by: our reference stands in, as the contract asks.
            return RecipientOutcome(
                number, Outcome.ACCEPTED, provider_message_id=message_id or recipient.ref
            )
        detail = _error_detail(body)
        if detail is None:
            # providers.md 2.2: an unknown answer may mean it was sent: never resend blindly.
            return RecipientOutcome(
                number, Outcome.AMBIGUOUS, reason=f"the answer fits no known form: {reason!r}"
            )
        outcome, kind = error_outcome(detail)
        if kind is ErrorKind.INVALID_REQUEST:
            self._warn("refused our request", body)
        return RecipientOutcome(number, outcome, reason=reason, kind=kind)

    # -- balance --------------------------------------------------------------------------

    async def balance(self) -> Balance:
        """The account's SMS credits; raises ProviderError on ``Error: Login Failed``."""
        answer = await self._get("balance.asp", {})
        body = answer.text.strip()
        detail = _error_detail(body)
        if detail is not None:
            _, kind = error_outcome(detail)
            reason = f"balance: {self.redact(body, 200)}"
            raise ProviderRejectedError(reason, provider=self.name, kind=kind)
        # providers.md 2.3: a bare float with 2 decimals; the spec heads it "Success:", so
        # that prefix is taken too.
        head, sep, rest = body.partition(":")
        number = rest.strip() if sep and head.strip().lower() == "success" else body
        try:
            amount = Decimal(number)
        except InvalidOperation:
            amount = Decimal("NaN")
        if not amount.is_finite():
            excerpt = self.redact(body, 60)
            raise ProviderAmbiguousError(
                f"balance: unexpected answer {excerpt!r}", provider=self.name
            )
        # providers.md 2.3: the spec says it "returns the number of SMS credits".
        return Balance(amount, "credits")

    # -- callbacks ------------------------------------------------------------------------

    def parse_callback(self, kind: CallbackKind, request: CallbackRequest) -> CallbackResult:
        """A pushed delivery report, always answered 200 ``OK``.

        Inbound texts are not pushed by this provider (providers.md 2.5): CallbackError.
        """
        if kind is not CallbackKind.DLR:
            return super().parse_callback(kind, request)
        answer = CallbackResponse(self.callback_answer)
        params = {key: value.strip() for key, value in request.params.items()}
        message_id = params.get("messageid") or None
        if message_id is None:
            # providers.md 2.4: log unexpected input and answer 200, never 500.
            self.context.logger.warning(
                "%s: delivery report without a messageid: %s",
                self.name,
                sorted(params)[:10],
            )
            return CallbackResult(answer)
        raw = params.get("StatusID", "")
        status = _DLR_STATUSES.get(raw, DeliveryStatus.UNKNOWN)
        if status is DeliveryStatus.UNKNOWN:
            self.context.logger.warning("%s: unknown StatusID %r", self.name, self.redact(raw, 20))
        to = params.get("to", "")
        report = DeliveryReport(
            provider=self.name,
            status=status,
            raw_status=raw,
            provider_message_id=message_id,
            recipient=to_e164(to, _REGION) if to else None,
            description=params.get("statusMessage", ""),
        )
        return CallbackResult(answer, reports=(report,))

    # -- helpers --------------------------------------------------------------------------

    def _warn(self, what: str, body: str) -> None:
        self.context.logger.warning("%s: %s: %r", self.name, what, self.redact(body, 120))


def _ends_batch(outcome: RecipientOutcome) -> bool:
    """Whether the next recipient would fare no better: the account or the link failed."""
    return outcome.outcome in (Outcome.UNAVAILABLE, Outcome.AMBIGUOUS) or outcome.kind in (
        ErrorKind.AUTH,
        ErrorKind.CREDIT,
    )


def _not_sent(recipient: Recipient, cause: RecipientOutcome) -> RecipientOutcome:
    # After an ambiguous request nothing more was sent, so the rest are plainly unavailable.
    if cause.outcome is Outcome.AMBIGUOUS:
        return RecipientOutcome(
            recipient.e164, Outcome.UNAVAILABLE, reason="not sent: an earlier request failed"
        )
    return attrs.evolve(cause, recipient=recipient.e164)
