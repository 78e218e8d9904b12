"""SMS Central (AU) adapter: REST API v3.2, form POSTs with UPPERCASE keys.

A send answers a bare ``0`` on success and ``<code> <text>`` on error, and returns no
message id: our per-recipient reference (``REFERENCE``) is the key for status queries and
delivery reports, so it stands in as the provider's message id. Balance and status answers
are small XML documents. Delivery reports are pushed once per SMS part; the adapter keeps
the parts of each message and reports one combined status (providers.md 4.2 to 4.6). The
pushes are read in :mod:`plugins.smscentral.pushes`.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import attrs

from plugins.smscentral.codes import (
    CODED_ANSWER,
    PUSH_STATUSES,
    QUERY_STATUSES,
    RECIPIENT_WORDS,
    STATUS_RANK,
    error_kind,
    recipient_refused,
    same_outcome,
)
from plugins.smscentral.parts import PartTracker, parse_udh
from plugins.smscentral.pushes import read_push
from router import (
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
    InboundMessage,
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
    StatusQuery,
    call,
    to_e164,
)

__all__ = [
    "DEFAULT_URL",
    "MAX_MESSAGES",
    "MAX_STATUS_REFERENCES",
    "PUSH_STATUSES",
    "QUERY_STATUSES",
    "PartTracker",
    "SMSCentralConfig",
    "SMSCentralProvider",
    "error_kind",
    "parse_udh",
]

DEFAULT_URL = "https://my.smscentral.com.au/api/v3.2"
MAX_MESSAGES = 100
"""Messages one ``RECIPIENTMESSAGES`` POST may hold (providers.md 4.7)."""
MAX_STATUS_REFERENCES = 100
"""References one status query may name (providers.md 4.7)."""

_DTD = re.compile(r"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


@attrs.frozen
class SMSCentralConfig:
    """The keys of an ``smscentral`` provider table."""

    username: str
    """The account login (usually an e-mail address)."""
    password: Secret
    base_url: str = DEFAULT_URL
    """The API's URL itself (``.../api/v3.2``): every call is a POST there, its ``ACTION``
    in the form."""
    originator: str | None = None
    """The default ``ORIGINATOR``: a number, a name, ``shared`` or ``dedicated``.

    A message's own sender wins; with neither, ``ORIGINATOR`` is left out.
    """
    callback_username: str | None = None
    """The ``USER_NAME`` SMS Central sends with pushes; when set, others are refused."""
    callback_password: Secret | None = None
    """The ``PASSWORD`` SMS Central sends with pushes; when set, others are refused."""
    status_action: str | None = "status"
    """The ``ACTION`` of a status query; None sends none.

    providers.md 4.4: the status page lists no ``ACTION``, so ``status`` is a guess.
    """


class SMSCentralProvider(Provider[SMSCentralConfig]):
    """SMS Central's REST API: send, balance, status by reference, pushed DLRs and replies."""

    type_name = "smscentral"
    Config = SMSCentralConfig
    capabilities = Capabilities(
        max_recipients=MAX_MESSAGES,
        # RECIPIENTMESSAGES carries a REFERENCE per recipient, ours: any messages' mix.
        coalesce=True,
        # providers.md 4.2: length limits are unknown; 6 parts is an assumption.
        max_parts=6,
        # providers.md 4.7: encoding and Unicode are unknown, so GSM-7 only.
        unicode=False,
        sender_kinds=frozenset(SenderKind),
        balance=True,
        status_query=True,
        push_dlr=True,
        push_inbound=True,
        client_reference=True,
        reference_length=100,
    )
    # providers.md 4.7: no throughput or concurrency limits are documented.
    limits = Limits()
    callback_answer = "0"
    max_tracked_messages = 10_000
    """Multi-part messages whose part reports are kept at once; the oldest go first."""

    def __init__(self, config: SMSCentralConfig, context: ProviderContext) -> None:
        super().__init__(config, context)
        self.parts = PartTracker(self.max_tracked_messages)
        """The part reports of multi-part messages not yet final."""

    # -- send -----------------------------------------------------------------------------

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        """One POST for the batch: ``RECIPIENT`` for one, ``RECIPIENTMESSAGES`` for more."""
        recipients = batch.recipients
        if len(recipients) > MAX_MESSAGES:
            reason = f"{len(recipients)} recipients in one call; SMS Central takes {MAX_MESSAGES}"
            return same_outcome(
                recipients, Outcome.PROVIDER_ERROR, reason, ErrorKind.INVALID_REQUEST
            )
        form = self._form("send")
        originator = self._originator(batch)
        if originator is not None:
            form["ORIGINATOR"] = originator
        form["MESSAGE_TEXT"] = batch.text
        if len(recipients) == 1:
            form["RECIPIENT"] = recipients[0].digits
            form["REFERENCE"] = recipients[0].ref
        else:
            messages = [
                {"RECIPIENT": r.digits, "MESSAGE_TEXT": batch.text, "REFERENCE": r.ref}
                for r in recipients
            ]
            form["RECIPIENTMESSAGES"] = json.dumps(messages, ensure_ascii=False)
        try:
            answer = await call(
                self.context, "POST", self.config.base_url, data=form, secrets=self.secrets
            )
        except ProviderError as exc:
            return [exc.outcome_for(r.e164) for r in recipients]
        return self._send_outcomes(recipients, answer.text)

    def _originator(self, batch: Batch) -> str | None:
        if batch.sender is None:
            return self.config.originator
        if batch.sender_kind is SenderKind.NUMERIC:
            # providers.md 5: SMS Central wants numbers international, without "+".
            return batch.sender.removeprefix("+")
        return batch.sender

    def _send_outcomes(self, recipients: Sequence[Recipient], body: str) -> list[RecipientOutcome]:
        text = body.strip()
        coded = CODED_ANSWER.match(text)
        if coded is None:
            # providers.md 4.2: HTML or an empty body may follow a send that was taken.
            reason = f"unrecognised answer: {self._excerpt(text)!r}"
            self.context.logger.warning("%s: send: %s", self.name, reason)
            return same_outcome(recipients, Outcome.AMBIGUOUS, reason)
        code, words = coded.group(1), (coded.group(2) or "").strip()
        if int(code) == 0:
            # providers.md 4.2: code 0 is success; any words after it are not an error.
            return [
                RecipientOutcome(r.e164, Outcome.ACCEPTED, provider_message_id=r.ref)
                for r in recipients
            ]
        reason = self._excerpt(f"{code} {words}".strip())
        kind = error_kind(words)
        if kind is None and RECIPIENT_WORDS.search(words):
            return recipient_refused(recipients, words, reason)
        return same_outcome(recipients, Outcome.PROVIDER_ERROR, reason, kind or ErrorKind.OTHER)

    # -- balance and status ---------------------------------------------------------------

    async def balance(self) -> Balance:
        """The balance in Australian dollars (providers.md 4.3: ``<balance>125.34</balance>``)."""
        answer = await call(
            self.context,
            "POST",
            self.config.base_url,
            data=self._form("balance"),
            secrets=self.secrets,
        )
        root = self._document(answer.text, "balance")
        found = root.find(".//balance")
        if found is None:
            raise self._unrecognised("balance", answer.text)
        try:
            amount = Decimal((found.text or "").strip())
        except InvalidOperation:
            raise self._unrecognised("balance", answer.text) from None
        if not amount.is_finite():
            raise self._unrecognised("balance", answer.text)
        return Balance(amount, "AUD")

    async def query_status(self, queries: Sequence[StatusQuery]) -> list[DeliveryReport]:
        """One report per query, looked up by ``REFERENCE``, at most 100 per request.

        A reference SMS Central does not list comes back ``unknown`` and ``not_found``.
        """
        refs = list(dict.fromkeys(q.ref for q in queries))
        found: dict[str, DeliveryReport] = {}
        for start in range(0, len(refs), MAX_STATUS_REFERENCES):
            form = self._form(self.config.status_action)
            form["REFERENCE"] = ",".join(refs[start : start + MAX_STATUS_REFERENCES])
            answer = await call(
                self.context, "POST", self.config.base_url, data=form, secrets=self.secrets
            )
            for report in self._status_reports(answer.text):
                ref = report.ref or ""
                best = found.get(ref)
                if best is None or STATUS_RANK[report.status] > STATUS_RANK[best.status]:
                    found[ref] = report
        reports = []
        for query in queries:
            listed = found.get(query.ref)
            if listed is None:
                # providers.md 4.4: the answer lists the messages it knows by REFERENCE; one
                # it leaves out is one it does not know (yet, or at all).
                listed = DeliveryReport(
                    provider=self.name,
                    status=DeliveryStatus.UNKNOWN,
                    raw_status="",
                    provider_message_id=query.ref,
                    ref=query.ref,
                    recipient=query.recipient,
                    description="SMS Central lists no message with this REFERENCE",
                    not_found=True,
                )
            elif listed.recipient is None:
                listed = attrs.evolve(listed, recipient=query.recipient)
            reports.append(listed)
        return reports

    def _status_reports(self, body: str) -> list[DeliveryReport]:
        root = self._document(body, "status")
        messages = root.findall(".//message")
        if not messages and root.find(".//messages") is None:
            raise self._unrecognised("status", body)
        reports = []
        for message in messages:
            reference = _text(message, "reference")
            if not reference:
                continue
            raw = _text(message, "status")
            description = _text(message, "statusdescription")
            code, colon, _ = description.partition(":")
            number = _text(message, "recipient")
            reports.append(
                DeliveryReport(
                    provider=self.name,
                    status=QUERY_STATUSES.get(raw.upper(), DeliveryStatus.UNKNOWN),
                    raw_status=raw,
                    provider_message_id=reference,
                    ref=reference,
                    recipient=to_e164(number) if number else None,
                    # providers.md 4.4: descriptions read "0004: Delivered to mobile service".
                    error_code=code.strip() if colon and code.strip().isdigit() else None,
                    description=description,
                )
            )
        return reports

    def _document(self, body: str, operation: str) -> ET.Element:
        """The XML answer wrapped in one root, or the error the answer is."""
        text = body.strip()
        coded = CODED_ANSWER.match(text)
        if coded is not None:
            raise self._rejected(operation, coded.group(1), coded.group(2) or "")
        if text and not text.startswith("<"):
            raise self._rejected(operation, "", text)
        if not text or _DTD.search(text):
            # A DTD is never needed here and is how entity-expansion attacks start.
            raise self._unrecognised(operation, body)
        try:
            # Wrapped, because error answers may be sibling <errorcode>/<errormessage> tags.
            root = ET.fromstring(f"<answer>{_XML_DECLARATION.sub('', text)}</answer>")  # noqa: S314
        except ET.ParseError:
            raise self._unrecognised(operation, body) from None
        code = root.find(".//errorcode")
        if code is not None:
            # providers.md 4.3: errors may come as <errorcode>/<errormessage> XML.
            raise self._rejected(operation, _text(code, "."), _text(root, ".//errormessage"))
        return root

    def _rejected(self, operation: str, code: str, words: str) -> ProviderRejectedError:
        reason = self._excerpt(f"{operation}: " + f"{code} {words.strip()}".strip())
        return ProviderRejectedError(reason, provider=self.name, kind=error_kind(words))

    def _unrecognised(self, operation: str, body: str) -> ProviderAmbiguousError:
        reason = f"{operation}: unrecognised answer: {self._excerpt(body.strip())!r}"
        return ProviderAmbiguousError(reason, provider=self.name)

    # -- pushes ---------------------------------------------------------------------------

    def parse_callback(self, kind: CallbackKind, request: CallbackRequest) -> CallbackResult:
        """A delivery report (one per SMS part) or an inbound message; both answer ``0``."""
        push = read_push(
            self.name,
            kind,
            request.params,
            parts=self.parts,
            username=self.config.callback_username,
            password=self.config.callback_password,
        )
        answer = CallbackResponse(self.callback_answer)
        if isinstance(push, InboundMessage):
            return CallbackResult(answer, inbound=(push,))
        return CallbackResult(answer, reports=(push,))

    # -- helpers --------------------------------------------------------------------------

    @property
    def secrets(self) -> tuple[Secret, ...]:
        """The account password, which the form of every call carries."""
        return (self.config.password,)

    def _form(self, action: str | None) -> dict[str, str]:
        form = {"USERNAME": self.config.username, "PASSWORD": self.config.password.reveal()}
        if action is not None:
            form["ACTION"] = action
        return form

    def _excerpt(self, text: str) -> str:
        text = self.redact(text)  # then cut to 200 characters, marking the cut
        return text if len(text) <= 200 else text[:200] + "..."


def _text(element: ET.Element, path: str) -> str:
    found = element.find(path)
    return (found.text or "").strip() if found is not None else ""
