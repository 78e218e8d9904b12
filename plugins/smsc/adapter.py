"""SMSC / SMS Centre (smsc.ru, smscentre.com, smsc.kz): the adapter.

Every call is a form POST to ``{base_url}/<cmd>.php`` with ``fmt=3`` (JSON answers), so the
password never sits in a URL. A send carries our own message ``id``, derived from our
message id, so ``status.php`` can find a send whose answer was lost. Errors come back as
HTTP 200 with an ``error_code``; each one maps to a row of the outcome taxonomy
(providers.md section 8). Pushes (delivery reports and inbound texts) are form POSTs to one
handler URL, told apart by their fields, and are answered ``OK``; :mod:`plugins.smsc.pushes`
reads them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from plugins.smsc.codes import (
    SEND_ERRORS,
    has_error,
    normalise_status,
    not_found,
    read_currency,
    read_decimal,
    read_int,
    read_json,
)
from plugins.smsc.config import SMSCConfig
from plugins.smsc.pushes import read_push
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
    Operation,
    Outcome,
    Provider,
    ProviderAmbiguousError,
    ProviderError,
    ProviderRejectedError,
    ProviderUnavailableError,
    Rate,
    RecipientOutcome,
    Secret,
    StatusQuery,
    call,
    message_of_ref,
    read_time,
    to_e164,
)

__all__ = ["MAX_ID", "MAX_TEXT", "SMSCConfig", "SMSCProvider", "smsc_id"]

MAX_TEXT = 1000
"""Characters one ``mes`` may hold (providers.md 3.2)."""

MAX_ID = 2_147_483_647
"""The largest ``id`` SMSC takes: a positive 32-bit integer (providers.md 3.2)."""


def smsc_id(message_id: str) -> int:
    """Our message id as SMSC's ``id``: a stable integer in 1..2147483647.

    One id per message (not per batch): status queries and reports go by (id, phone), and
    the id can be rebuilt from our message id alone when a send's answer was lost.
    """
    digest = hashlib.sha256(message_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % MAX_ID + 1


class SMSCProvider(Provider[SMSCConfig]):
    """SMSC's HTTP API: ``send.php``, ``status.php``, ``balance.php`` and pushes."""

    type_name = "smsc"
    Config = SMSCConfig
    capabilities = Capabilities(
        # No documented cap (providers.md 3.2); 100 keeps one POST body small and one lost
        # answer (ambiguous, resolved by one status.php call) to 100 recipients.
        max_recipients=100,
        # A coalesced call goes by the first message's id; the journal keeps that id with
        # each recipient's in-flight mark (StatusQuery.via), so recovery asks by it.
        coalesce=True,
        # mes is at most 1000 characters: 14 UCS-2 parts of 67 fit (938), 15 do not (1005).
        # A GSM-7 text of 14 parts can pass 1000 characters: send() refuses it locally.
        max_parts=14,
        unicode=True,
        max_sender_length=11,
        balance=True,
        status_query=True,
        push_dlr=True,
        push_inbound=True,
        client_reference=True,
        # Our reference travels as a decimal 32-bit id (providers.md 3.2).
        reference_length=10,
    )
    limits = Limits(concurrency=5, rates={Operation.BALANCE: Rate(10, 60.0)})
    callback_answer = "OK"

    # -- sending --------------------------------------------------------------------------

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        """Send *batch* in one ``send.php`` call; one outcome per recipient, in order."""
        recipients = [r.e164 for r in batch.recipients]
        if not recipients:
            return []
        message_id = smsc_id(batch.message_id)
        pmid = str(message_id)
        if len(batch.text) > MAX_TEXT:
            reason = f"text of {len(batch.text)} characters; SMSC takes at most {MAX_TEXT}"
            return [RecipientOutcome(r, Outcome.PROVIDER_ERROR, reason=reason) for r in recipients]
        form = {
            **self._auth(),
            # providers.md 3.2: with "+" SMSC does not auto-correct a number; ours are E.164.
            "phones": ",".join(recipients),
            "mes": batch.text,
        }
        sender = batch.sender or self.config.sender
        if sender:
            form["sender"] = sender
        form |= {
            "id": pmid,
            "fmt": "3",
            "charset": "utf-8",
            "cost": "3",
            "op": "1",
            "err": "1",
        }
        try:
            answer = await call(
                self.context, "POST", self._url("send"), data=form, secrets=self.secrets
            )
        except ProviderError as exc:
            sent_as = pmid if exc.outcome is Outcome.AMBIGUOUS else None
            return [exc.outcome_for(r, provider_message_id=sent_as) for r in recipients]
        body = read_json(answer.text)
        if not isinstance(body, dict):
            reason = f"unreadable send answer: {self.redact(answer.text, 200)}"
            return [RecipientOutcome(r, Outcome.AMBIGUOUS, pmid, reason) for r in recipients]
        if body.get("error_code") is not None:
            outcome = self._error_outcome(body, pmid)
            return [attrs.evolve(outcome, recipient=r) for r in recipients]
        if body.get("id") is None:
            reason = f"send answer without id: {self.redact(answer.text, 200)}"
            return [RecipientOutcome(r, Outcome.AMBIGUOUS, pmid, reason) for r in recipients]
        if read_int(body["id"]) != message_id:
            given = self.redact(repr(body["id"]), 40)
            self.context.logger.warning("%s: SMSC answered id %s to our %s", self.name, given, pmid)
        return self._accepted(body, recipients, pmid)

    def _accepted(
        self, body: Mapping[str, Any], recipients: Sequence[str], pmid: str
    ) -> list[RecipientOutcome]:
        balance = read_decimal(body.get("balance"))
        total = read_decimal(body.get("cost"))
        phones = body.get("phones")
        if not isinstance(phones, list) or not phones:
            # No per-number breakdown: share the submission's cost out evenly.
            each = None if total is None else total / len(recipients)
            return [
                RecipientOutcome(r, Outcome.ACCEPTED, pmid, cost=each, balance=balance)
                for r in recipients
            ]
        # providers.md 3.2: op=1 adds a phones array; a number with an error there failed alone.
        entries: dict[str, Mapping[str, Any]] = {}
        for entry in phones:
            if isinstance(entry, dict):
                e164 = to_e164(str(entry.get("phone", "")), self.context.default_region)
                if e164 is not None:
                    entries[e164] = entry
        outcomes = []
        for recipient in recipients:
            entry = entries.get(recipient)
            if entry is None:
                reason = "missing from the per-number answer"
                outcomes.append(RecipientOutcome(recipient, Outcome.AMBIGUOUS, pmid, reason))
            elif has_error(entry.get("error")):
                outcomes.append(self._phone_error(recipient, entry, pmid))
            else:
                cost = read_decimal(entry.get("cost"))
                outcomes.append(
                    RecipientOutcome(recipient, Outcome.ACCEPTED, pmid, cost=cost, balance=balance)
                )
        return outcomes

    def _phone_error(self, recipient: str, entry: Mapping[str, Any], pmid: str) -> RecipientOutcome:
        error = entry.get("error")
        code = read_int(error)
        outcome, kind = (Outcome.REJECTED_RECIPIENT, None)
        if code is not None:
            outcome, kind = SEND_ERRORS.get(code, (Outcome.REJECTED_RECIPIENT, None))
        return RecipientOutcome(
            recipient,
            outcome,
            provider_message_id=pmid if outcome is Outcome.AMBIGUOUS else None,
            reason=self.redact(f"number refused: error {error}"),
            kind=kind,
        )

    def _error_outcome(self, body: Mapping[str, Any], pmid: str) -> RecipientOutcome:
        code = read_int(body.get("error_code"))
        outcome, kind = SEND_ERRORS.get(code or 0, (Outcome.PROVIDER_ERROR, ErrorKind.OTHER))
        reason = self.redact(f"error {body.get('error_code')}: {body.get('error', '')}")
        if kind is ErrorKind.INVALID_REQUEST:
            self.context.logger.error(
                "%s: SMSC refused our request as malformed: %s", self.name, reason
            )
        return RecipientOutcome(
            "",
            outcome,
            provider_message_id=pmid if outcome is Outcome.AMBIGUOUS else None,
            reason=reason,
            kind=kind,
        )

    # -- status and balance ---------------------------------------------------------------

    async def query_status(self, queries: Sequence[StatusQuery]) -> list[DeliveryReport]:
        """The status of each (id, phone) by one ``status.php`` call, in query order."""
        if not queries:
            return []
        ids = [_query_id(q) for q in queries]
        id_list = ",".join(str(i) for i in ids)
        phone_list = ",".join(q.recipient for q in queries)
        if len(queries) == 1:
            # providers.md 3.4: a trailing comma keeps the list form of the answer for one.
            id_list, phone_list = f"{id_list},", f"{phone_list},"
        form = {
            **self._auth(),
            "id": id_list,
            "phone": phone_list,
            "fmt": "3",
            "all": "0",
            "charset": "utf-8",
        }
        answer = await call(
            self.context, "POST", self._url("status"), data=form, secrets=self.secrets
        )
        body = read_json(answer.text)
        if isinstance(body, dict):
            if body.get("error_code") is not None:
                raise self._error(body, "status")
            body = [body]
        if not isinstance(body, list):
            raise ProviderAmbiguousError(
                f"unreadable status answer: {self.redact(answer.text, 200)}", provider=self.name
            )
        items = [item for item in body if isinstance(item, dict)]
        region = self.context.default_region
        by_key = {
            (read_int(item.get("id")), to_e164(str(item.get("phone", "")), region)): item
            for item in items
        }
        reports = []
        for index, (query, message_id) in enumerate(zip(queries, ids, strict=True)):
            item = by_key.get((message_id, query.recipient))
            if item is None and index < len(items) and "phone" not in items[index]:
                item = items[index]
            reports.append(self._report_of(query, message_id, item))
        return reports

    def _report_of(
        self, query: StatusQuery, message_id: int, item: Mapping[str, Any] | None
    ) -> DeliveryReport:
        status, raw, error_code = DeliveryStatus.UNKNOWN, "", None
        if item is None:  # an answer that leaves a message out is no proof it is unknown
            description = "not in the status answer"
        elif item.get("error_code") is not None:
            error_code = str(item["error_code"])
            description = self.redact(str(item.get("error", "")))
        else:
            status, raw, error_code, description = normalise_status(
                item.get("status"), item.get("err")
            )
        return DeliveryReport(
            provider=self.name,
            status=status,
            raw_status=raw,
            provider_message_id=str(message_id),
            ref=query.ref,
            recipient=query.recipient,
            error_code=error_code,
            description=description,
            at=None if item is None else read_time(item.get("last_timestamp")),
            not_found=item is not None and not_found(item.get("status")),
        )

    async def balance(self) -> Balance:
        """The account balance from ``balance.php``, in the account's currency."""
        form = {**self._auth(), "fmt": "3", "cur": "1"}
        answer = await call(
            self.context, "POST", self._url("balance"), data=form, secrets=self.secrets
        )
        body = read_json(answer.text)
        if isinstance(body, dict) and body.get("error_code") is not None:
            raise self._error(body, "balance")
        # providers.md 3.5: fmt 0/1 answer a bare "250.80"; take it if fmt=3 was ignored.
        amount = read_decimal(body.get("balance") if isinstance(body, dict) else body)
        if amount is None:
            raise ProviderAmbiguousError(
                f"unreadable balance answer: {self.redact(answer.text, 200)}", provider=self.name
            )
        currency = read_currency(body.get("currency")) if isinstance(body, dict) else None
        return Balance(amount, currency or self.config.currency)

    def _error(self, body: Mapping[str, Any], operation: str) -> ProviderError:
        """The exception for an ``error_code`` answer of a status or balance call."""
        code = read_int(body.get("error_code"))
        reason = self.redact(
            f"{operation}: error {body.get('error_code')}: {body.get('error', '')}"
        )
        if code in (4, 9):
            # providers.md 3.3/3.5: 4 is an IP blocked for a while, 9 too many calls (over 10
            # balance calls a minute, or 15 at once): nothing was done, back off. No
            # retry_after: it would hold back sends too, which the balance rule leaves alone.
            return ProviderUnavailableError(reason, provider=self.name, kind=ErrorKind.THROTTLED)
        # providers.md 3.3: one code list serves every request, so a send's kinds hold here.
        kind = SEND_ERRORS.get(code or 0, (Outcome.PROVIDER_ERROR, None))[1] or ErrorKind.OTHER
        if kind is ErrorKind.INVALID_REQUEST:
            self.context.logger.error(
                "%s: SMSC refused our request as malformed: %s", self.name, reason
            )
        return ProviderRejectedError(reason, provider=self.name, kind=kind)

    # -- pushes ---------------------------------------------------------------------------

    def parse_callback(self, kind: CallbackKind, request: CallbackRequest) -> CallbackResult:
        """A status push or an inbound text, whichever URL it came to; answered ``OK``.

        Raises:
            CallbackError: the push has neither shape, or its signature does not match.
        """
        answer = CallbackResponse(self.callback_answer)
        push = read_push(
            self.name,
            kind,
            request.params,
            region=self.context.default_region,
            secret=self.config.callback_secret,
        )
        if isinstance(push, InboundMessage):
            return CallbackResult(answer, inbound=(push,))
        return CallbackResult(answer, reports=(push,))

    # -- wire details ---------------------------------------------------------------------

    def _url(self, command: str) -> str:
        return f"{self.config.base_url.rstrip('/')}/{command}.php"

    def _auth(self) -> dict[str, str]:
        config = self.config
        if config.apikey is not None:
            return {"apikey": config.apikey.reveal()}
        assert config.psw is not None  # SMSCConfig refuses a table with neither
        return {"login": config.login, "psw": config.psw.reveal()}

    @property
    def secrets(self) -> tuple[Secret, ...]:
        """The password and the API key, whichever are configured."""
        return tuple(s for s in (self.config.psw, self.config.apikey) if s is not None)


def _query_id(query: StatusQuery) -> int:
    """SMSC's id of a queried send: the one it was given, else rebuilt from the message the
    call went by (a coalesced call's first), else from our reference."""
    known = read_int(query.provider_message_id)
    if known is not None:
        return known
    return smsc_id(query.via or message_of_ref(query.ref) or query.ref)
