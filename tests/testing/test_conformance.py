"""The conformance kit: it passes a provider that keeps the contract, and names every way
another breaks it; then the built-in providers go through it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
import attrs
import pytest

import router.http
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
    Outcome,
    Provider,
    ProviderAmbiguousError,
    ProviderContext,
    ProviderError,
    RecipientOutcome,
    Secret,
    StatusQuery,
)
from router.http import call, retry_after
from router.numbers import to_e164
from router.testing import (
    ConformanceError,
    FakeProvider,
    check_callbacks,
    check_no_secret_leaks,
    check_outcome_mapping,
    check_provider,
    check_provider_type,
)

PASSWORD = "pa55 w/rd+s3cret"

DLR = CallbackRequest("GET", query={"id": "m-1", "to": "61412345678", "status": "DELIVRD"})


@attrs.frozen
class LineConfig:
    """A made-up provider's options."""

    base_url: str
    password: Secret
    username: str = "user"


class LineProvider(Provider[LineConfig]):
    """Sends with GET, password in the query string (the hard case), through ``call``."""

    type_name = "line"
    Config = LineConfig
    capabilities = Capabilities(max_recipients=10, balance=True, status_query=True, push_dlr=True)

    def _params(self, **more: str) -> dict[str, str]:
        return {"user": self.config.username, "pass": self.config.password.reveal(), **more}

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        params = self._params(to=",".join(r.digits for r in batch.recipients), text=batch.text)
        try:
            answer = await call(
                self.context,
                "GET",
                f"{self.config.base_url}/send",
                params=params,
                secrets=[self.config.password],
            )
        except ProviderError as exc:
            return [
                RecipientOutcome(
                    r.e164, exc.outcome, reason=str(exc), kind=exc.kind, retry_after=exc.retry_after
                )
                for r in batch.recipients
            ]
        # "id-<n>" per recipient, one a line: anything else may or may not have been sent.
        ids = answer.text.split()
        if len(ids) != len(batch.recipients) or not all(i.startswith("id-") for i in ids):
            reason = f"unrecognised answer {answer.text[:40]!r}"
            return [
                RecipientOutcome(r.e164, Outcome.AMBIGUOUS, reason=reason) for r in batch.recipients
            ]
        return [
            RecipientOutcome(r.e164, Outcome.ACCEPTED, provider_message_id=i)
            for r, i in zip(batch.recipients, ids, strict=True)
        ]

    async def balance(self) -> Balance:
        url = f"{self.config.base_url}/balance"
        answer = await call(
            self.context, "GET", url, params=self._params(), secrets=[self.config.password]
        )
        try:
            return Balance(Decimal(answer.text), "credits")
        except InvalidOperation:
            raise ProviderAmbiguousError("unrecognised balance", provider=self.name) from None

    async def query_status(self, queries: Sequence[StatusQuery]) -> list[DeliveryReport]:
        url = f"{self.config.base_url}/status"
        ids = ",".join(q.provider_message_id or "" for q in queries)
        answer = await call(
            self.context, "GET", url, params=self._params(id=ids), secrets=[self.config.password]
        )
        # One "<id> DELIVRD" line per query.
        lines = [line.split() for line in answer.text.splitlines()]
        if len(lines) != len(queries) or any(len(line) != 2 for line in lines):
            raise ProviderAmbiguousError("unrecognised status answer", provider=self.name)
        return [
            DeliveryReport(
                provider=self.name,
                status=DeliveryStatus.DELIVERED if word == "DELIVRD" else DeliveryStatus.UNKNOWN,
                raw_status=word,
                provider_message_id=pid,
            )
            for pid, word in lines
        ]

    def parse_callback(self, kind: CallbackKind, request: CallbackRequest) -> CallbackResult:
        params = request.params
        if kind is not CallbackKind.DLR or not params.get("id"):
            raise CallbackError("not a delivery report", provider=self.name)
        status = (
            DeliveryStatus.DELIVERED
            if params.get("status") == "DELIVRD"
            else DeliveryStatus.UNKNOWN
        )
        report = DeliveryReport(
            provider=self.name,
            status=status,
            raw_status=params.get("status", ""),
            provider_message_id=params["id"],
            recipient=to_e164(params.get("to", "")),
        )
        return CallbackResult(CallbackResponse("OK"), reports=(report,))


def factory(cls: type[LineProvider]) -> Any:
    def make(base_url: str, session: aiohttp.ClientSession) -> Provider[Any]:
        config = LineConfig(base_url=base_url, password=Secret(PASSWORD))
        return cls(config, ProviderContext("line", session, logging.getLogger("t.line")))

    return make


@pytest.fixture
async def context() -> AsyncIterator[ProviderContext]:
    """A provider context whose session is open for the test."""
    async with aiohttp.ClientSession() as session:
        yield ProviderContext("line", session, logging.getLogger("t.line"))


def wheres(problems: Sequence[str]) -> list[str]:
    """Each problem's check name: what comes before the first colon."""
    return [p.split(":", 1)[0] for p in problems]


TRANSPORT = ["refused", "http_500", "http_429", "http_401", "hang", "drop"]
MALFORMED = ["empty_200", "html_200", "garbage_200"]
SEND_SCENARIOS = [*TRANSPORT, *MALFORMED]


async def test_a_conforming_provider_passes() -> None:
    report = await check_provider(
        factory(LineProvider), password=PASSWORD, callbacks={CallbackKind.DLR: [DLR]}
    )

    assert report.provider_type == "line"
    assert report.checks == (
        "type",
        *(f"{op}/{s}" for s in SEND_SCENARIOS for op in ("send", "balance", "status")),
        "secrets",
        "callbacks",
    )


class RaisingSend(LineProvider):
    """Lets transport errors out of send."""

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        await call(
            self.context, "POST", f"{self.config.base_url}/send", secrets=[self.config.password]
        )
        return []


async def test_send_must_not_raise() -> None:
    with pytest.raises(ConformanceError) as caught:
        await check_outcome_mapping(factory(RaisingSend))

    assert wheres(caught.value.problems) == [f"send/{s}" for s in SEND_SCENARIOS]
    assert caught.value.problems[0].startswith(
        "send/refused: send raised ProviderUnavailableError("
    )


class TrustsEveryAnswer(LineProvider):
    """Maps every transport failure right, then reads any 200 as if it were well formed:
    an empty or garbled answer makes send raise, and the balance raise the wrong error."""

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        try:
            answer = await call(
                self.context, "GET", f"{self.config.base_url}/send", secrets=[self.config.password]
            )
        except ProviderError as exc:
            return [exc.outcome_for(r.e164) for r in batch.recipients]
        ids = answer.text.split()
        return [
            RecipientOutcome(r.e164, Outcome.ACCEPTED, provider_message_id=ids[index])
            for index, r in enumerate(batch.recipients)
        ]

    async def balance(self) -> Balance:
        answer = await call(
            self.context, "GET", f"{self.config.base_url}/balance", secrets=[self.config.password]
        )
        return Balance(Decimal(answer.text), "credits")


async def test_send_must_not_raise_on_a_malformed_answer() -> None:
    with pytest.raises(ConformanceError) as caught:
        await check_outcome_mapping(factory(TrustsEveryAnswer), numbers=["+61412345678"])

    problems = caught.value.problems
    assert wheres(problems) == [where for s in MALFORMED for where in (f"send/{s}", f"balance/{s}")]
    assert problems[0] == (
        "send/empty_200: send raised IndexError('list index out of range'); it must answer "
        "every recipient"
    )
    # An HTML page read as an id is a send taken on no evidence: it may not be accepted.
    assert problems[2] == "send/html_200: +61412345678 is accepted, expected ambiguous"
    assert problems[1].startswith("balance/empty_200: raised InvalidOperation(")
    assert problems[1].endswith("expected ProviderError")


class ResendingGet(LineProvider):
    """Maps every failure right, but sends with the session directly: aiohttp re-sends a
    GET whose connection dropped, so a send the provider took goes out twice."""

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        def each(outcome: Outcome, **kw: Any) -> list[RecipientOutcome]:
            return [
                RecipientOutcome(r.e164, outcome, reason="failed", **kw) for r in batch.recipients
            ]

        try:
            async with self.context.session.get(
                f"{self.config.base_url}/send",
                params=self._params(),
                timeout=aiohttp.ClientTimeout(total=self.context.timeout),
            ) as response:
                status, header = response.status, response.headers.get("Retry-After")
        except aiohttp.ClientConnectorError:
            return each(Outcome.UNAVAILABLE)
        except (aiohttp.ClientError, TimeoutError):
            return each(Outcome.AMBIGUOUS)
        if status == 401:
            return each(Outcome.PROVIDER_ERROR, kind=ErrorKind.AUTH)
        return each(Outcome.UNAVAILABLE, retry_after=retry_after(header))


async def test_a_dropped_send_must_not_be_sent_again() -> None:
    with pytest.raises(ConformanceError) as caught:
        await check_outcome_mapping(factory(ResendingGet))

    assert caught.value.problems == ("send/drop: the same request reached the server 2 times",)


class ForgetsRetryAfter(LineProvider):
    """Drops the provider's Retry-After."""

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        return [attrs.evolve(o, retry_after=None) for o in await super().send(batch)]


async def test_retry_after_is_kept() -> None:
    with pytest.raises(ConformanceError) as caught:
        await check_outcome_mapping(factory(ForgetsRetryAfter), numbers=["+61412345678"])

    assert caught.value.problems == (
        "send/http_429: +61412345678 has retry_after None, expected 7.0 from the "
        "Retry-After header",
    )


class LogsItsRequest(LineProvider):
    """Logs what it sends, password and all."""

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        self.context.logger.debug("sending %s", self._params())
        return await super().send(batch)


async def test_a_password_in_a_debug_log_is_found() -> None:
    with pytest.raises(ConformanceError) as caught:
        await check_no_secret_leaks(factory(LogsItsRequest), PASSWORD)

    assert wheres(caught.value.problems) == [f"send/{s}" for s in SEND_SCENARIOS]
    assert caught.value.problems[0] == (
        "send/refused: the password shows in \"t.line DEBUG sending {'user': 'user', "
        "'pass': 'pa55 w/rd+s3cret'}\""
    )


async def test_the_secret_check_refuses_a_short_password() -> None:
    with pytest.raises(ValueError, match="at least 6 characters"):
        await check_no_secret_leaks(factory(LineProvider), "pw")


async def test_the_outcome_check_passes_a_conforming_provider() -> None:
    report = await check_outcome_mapping(factory(LineProvider), numbers=["+61412345678"])

    assert report.checks[:3] == ("send/refused", "balance/refused", "status/refused")
    assert len(report.checks) == 3 * len(SEND_SCENARIOS)


@attrs.frozen
class PlainConfig:
    """A password as a plain string: its repr shows it."""

    base_url: str
    password: str


class PlainPassword(LineProvider):
    """Keeps its password in a plain string."""

    Config = PlainConfig  # type: ignore[assignment]


async def test_a_plain_string_password_is_found() -> None:
    def make(base_url: str, session: aiohttp.ClientSession) -> Provider[Any]:
        config: Any = PlainConfig(base_url, PASSWORD)
        return PlainPassword(config, ProviderContext("plain", session, logging.getLogger("t")))

    with pytest.raises(ConformanceError) as caught:
        check_provider_type(PlainPassword)
    with pytest.raises(ConformanceError) as leaked:
        await check_no_secret_leaks(make, PASSWORD, numbers=["+61412345678"])

    assert caught.value.problems == ("Config.password holds a credential: type it Secret",)
    # Its repr shows in every check; the first place is enough for each.
    assert len(leaked.value.problems) == 3 * len(SEND_SCENARIOS)
    assert "PlainConfig(base_url=" in leaked.value.problems[0]


def test_declarations_are_checked() -> None:
    @attrs.frozen
    class Options:
        """Options with a type the config converter cannot read."""

        when: object = None

    class Broken(Provider[Any]):
        type_name = "Broken Name"
        Config = Options
        capabilities = Capabilities(balance=True, client_reference=True, push_inbound=True)
        limits = {"send": 1}  # type: ignore[assignment]
        callback_answer = 200  # type: ignore[assignment]

        async def send(self, batch: Batch) -> list[RecipientOutcome]:
            return []

    with pytest.raises(ConformanceError) as caught:
        check_provider_type(Broken)

    assert caught.value.problems == (
        "type_name 'Broken Name' is not a lowercase name like 'smsoffice'",
        "Config.when: <class 'object'> is not a config type (str, int, bool, float, Decimal, "
        "Secret, ...)",
        "capabilities: client_reference needs a reference_length",
        "capabilities declare balance but Broken lacks it",
        "capabilities declare parse_callback but Broken lacks it",
        "limits is not a router.Limits",
        "callback_answer is not a string",
    )


def test_declarations_of_abstract_and_foreign_classes() -> None:
    class NoSend(Provider[LineConfig]):
        type_name = "nosend"
        Config = LineConfig

    with pytest.raises(ConformanceError) as abstract:
        check_provider_type(NoSend)
    with pytest.raises(ConformanceError) as foreign:
        check_provider_type(dict)

    assert abstract.value.problems == ("abstract methods not implemented: send",)
    assert foreign.value.problems == ("<class 'dict'> is not a subclass of router.Provider",)


def test_the_fake_provider_conforms(
    context: ProviderContext,
) -> None:
    check_provider_type(FakeProvider)
    samples = {
        CallbackKind.DLR: [CallbackRequest("GET", query={"ref": "r-1", "status": "delivered"})],
        CallbackKind.INBOUND: [
            CallbackRequest(
                "POST", form={"from": "+61412345678", "to": "+61400000000", "text": "Hi"}
            )
        ],
    }
    check_callbacks(FakeProvider(FakeProvider.Config(), context), samples)


class ParsesCarelessly(LineProvider):
    """Indexes the push without looking, and answers the wrong body."""

    def parse_callback(self, kind: CallbackKind, request: CallbackRequest) -> CallbackResult:
        report = DeliveryReport(
            provider=self.name,
            status=DeliveryStatus.DELIVERED,
            raw_status=request.params["status"],
            provider_message_id=request.params["id"],
            recipient=request.params.get("to"),
        )
        return CallbackResult(CallbackResponse("thanks"), reports=(report,))


def test_callback_problems_are_named(context: ProviderContext) -> None:
    provider = ParsesCarelessly(LineConfig("http://127.0.0.1:9", Secret(PASSWORD)), context)
    with pytest.raises(ConformanceError) as caught:
        check_callbacks(provider, {CallbackKind.DLR: [DLR]})

    assert caught.value.problems == (
        "callbacks/dlr: answered 200 'thanks', expected 200 'OK' (the class's callback_answer)",
        "callbacks/dlr: number '61412345678' is not in E.164",
        "callbacks/dlr empty GET: raised KeyError('status'); expected a CallbackError",
        "callbacks/dlr empty POST: raised KeyError('status'); expected a CallbackError",
        "callbacks/dlr sample 0 without 'id': raised KeyError('id'); expected a CallbackError",
        "callbacks/dlr sample 0 without 'status': raised KeyError('status'); expected a "
        "CallbackError",
        "callbacks/inbound undeclared: raised KeyError('status'); expected a CallbackError",
    )


def test_a_declared_push_needs_a_sample(context: ProviderContext) -> None:
    provider = LineProvider(LineConfig("http://127.0.0.1:9", Secret(PASSWORD)), context)
    with pytest.raises(ConformanceError) as caught:
        check_callbacks(provider, {})

    assert caught.value.problems == ("callbacks/dlr: declared, but no sample push was given",)


# -- the built-in providers ---------------------------------------------------------------


def _context(session: aiohttp.ClientSession, name: str) -> ProviderContext:
    return ProviderContext(name, session, logging.getLogger(f"t.{name}"), default_region="AU")


def make_smsbroadcast(base_url: str, session: aiohttp.ClientSession) -> Provider[Any]:
    from plugins.smsbroadcast.adapter import SMSBroadcastConfig, SMSBroadcastProvider

    config = SMSBroadcastConfig("demo", Secret(PASSWORD), base_url=f"{base_url}/api-adv.php")
    return SMSBroadcastProvider(config, _context(session, "broadcast"))


def make_smsoffice(base_url: str, session: aiohttp.ClientSession) -> Provider[Any]:
    from plugins.smsoffice.adapter import SMSOfficeConfig, SMSOfficeProvider

    config = SMSOfficeConfig(
        "demo", Secret(PASSWORD), sender="Shop", base_url=f"{base_url}/sms/api"
    )
    return SMSOfficeProvider(config, _context(session, "office"))


def make_smsc(base_url: str, session: aiohttp.ClientSession) -> Provider[Any]:
    from plugins.smsc.adapter import SMSCConfig, SMSCProvider

    config = SMSCConfig(login="demo", psw=Secret(PASSWORD), base_url=f"{base_url}/sys")
    return SMSCProvider(config, _context(session, "smsc"))


def make_smscentral(base_url: str, session: aiohttp.ClientSession) -> Provider[Any]:
    from plugins.smscentral.adapter import SMSCentralConfig, SMSCentralProvider

    config = SMSCentralConfig(
        "demo",
        Secret(PASSWORD),
        base_url=f"{base_url}/api/v3.2",
        callback_username="pusher",
        callback_password=Secret("push-password"),
    )
    return SMSCentralProvider(config, _context(session, "central"))


def _get(**query: str) -> CallbackRequest:
    return CallbackRequest("GET", query=query)


def _post(**form: str) -> CallbackRequest:
    return CallbackRequest("POST", form=form)


_CENTRAL_AUTH = {"USER_NAME": "pusher", "PASSWORD": "push-password"}

BUILT_INS: dict[str, tuple[Any, tuple[str, ...], dict[CallbackKind, list[CallbackRequest]]]] = {
    "smsbroadcast": (
        make_smsbroadcast,
        ("+61412345678", "+61412345679"),
        {
            CallbackKind.DLR: [
                _get(to="61412345678", ref="0123456789abcdef-0", smsref="4821", status="Delivered")
            ],
            CallbackKind.INBOUND: [
                _get(to="61400000000", **{"from": "61412345678"}, message="Yes")
            ],
        },
    ),
    "smsoffice": (
        make_smsoffice,
        ("+27821234567",),
        {
            CallbackKind.DLR: [
                _get(messageid="99120", StatusID="200", statusMessage="Delivered", to="27821234567")
            ]
        },
    ),
    "smsc": (
        make_smsc,
        ("+79161234567", "+79161234568"),
        {
            CallbackKind.DLR: [
                _post(id="27", phone="79161234567", status="1", err="0", ts="1700000000")
            ],
            CallbackKind.INBOUND: [_post(id="31", phone="79161234567", mes="Da", to="79160000000")],
        },
    ),
    "smscentral": (
        make_smscentral,
        ("+61412345678", "+61412345679"),
        {
            CallbackKind.DLR: [
                _post(
                    **_CENTRAL_AUTH,
                    ORIGINATOR="61400000000",
                    RECIPIENT="61412345678",
                    ID="7",
                    REFERENCE="0123456789abcdef-0",
                    RESULT="0",
                    STATUS="DELIVERD",
                )
            ],
            CallbackKind.INBOUND: [
                _post(
                    **_CENTRAL_AUTH,
                    ORIGINATOR="61412345678",
                    RECIPIENT="61400000000",
                    MESSAGE_TEXT="Yes",
                )
            ],
        },
    ),
}
"""Each built-in's factory, the numbers it sends to, and sample pushes in its own format."""


@pytest.mark.parametrize(
    ("name", "operations"),
    [
        ("smsbroadcast", ("send", "balance")),
        ("smsoffice", ("send", "balance")),
        ("smsc", ("send", "balance", "status")),
        ("smscentral", ("send", "balance", "status")),
    ],
)
async def test_built_in_providers_conform(name: str, operations: tuple[str, ...]) -> None:
    make, numbers, samples = BUILT_INS[name]

    report = await check_provider(make, password=PASSWORD, callbacks=samples, numbers=numbers)

    assert report.provider_type == name
    assert report.checks == (
        "type",
        *(f"{op}/{s}" for s in SEND_SCENARIOS for op in operations),
        "secrets",
        "callbacks",
    )


async def test_the_drop_check_sees_aiohttp_resend_a_get(monkeypatch: pytest.MonkeyPatch) -> None:
    # SMS Office sends with GET. Without router.http's single-shot guard, aiohttp sends the
    # GET again when the connection drops after the provider took it: the kit must see it.
    def let_through() -> aiohttp.ClientMiddlewareType:
        async def middleware(
            request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
        ) -> aiohttp.ClientResponse:
            return await handler(request)

        return middleware

    monkeypatch.setattr(router.http, "_single_shot", let_through)

    with pytest.raises(ConformanceError) as caught:
        await check_outcome_mapping(make_smsoffice, numbers=["+27821234567"])

    assert caught.value.problems == ("send/drop: the same request reached the server 2 times",)
