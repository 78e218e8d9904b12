"""Forged log lines: provider text with control characters is escaped on the way out."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import aiohttp
from aioresponses import aioresponses as AioResponses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugins.smsc.adapter import SMSCConfig, SMSCProvider
from router.logs import EscapeControls, HideSecrets, JsonFormatter, escape_controls
from router.provider import ProviderContext
from router.redact import Secret
from tests.test_secrets import batch, captured

CONTROLS = st.characters(codec=None, categories=["Cc"]) | st.sampled_from("\u2028\u2029")
HOSTILE_TEXT = st.lists(st.text(max_size=5) | CONTROLS, min_size=1, max_size=12).map("".join)


def clean(line: str) -> bool:
    return escape_controls(line) == line


@settings(max_examples=500, deadline=None)
@given(text=HOSTILE_TEXT)
def test_escaped_text_has_no_control_characters(text: str) -> None:
    escaped = escape_controls(text)
    assert clean(escaped)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in escaped)
    if clean(text):
        assert escaped == text


@settings(max_examples=500, deadline=None)
@given(text=HOSTILE_TEXT, args=st.lists(HOSTILE_TEXT, max_size=3))
def test_every_record_is_one_line(text: str, args: list[str]) -> None:
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, text, tuple(args), None)
    if args:
        record.msg = " ".join(["%s"] * len(args)) + " " + text.replace("%", "%%")
    assert EscapeControls().filter(record)
    line = logging.Formatter("%(levelname)s %(message)s").format(record)
    assert clean(line)
    assert "\n" not in line


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=HOSTILE_TEXT)
async def test_a_provider_error_text_cannot_forge_a_line(
    mock_http: AioResponses, text: str
) -> None:
    mock_http.clear()
    answer = json.dumps({"error": f"bad\n2026-01-01 INFO forged{text}", "error_code": 1})
    mock_http.post("https://smsc.test/sys/send.php", body=answer)
    with captured() as lines:
        async with aiohttp.ClientSession() as session:
            logger = logging.getLogger("smsrouter.provider.smsc")
            context = ProviderContext(name="smsc", session=session, logger=logger)
            config = SMSCConfig(login="u", psw=Secret("pw"), base_url="https://smsc.test/sys")
            await SMSCProvider(config, context).send(batch())
    [refused] = [line for line in lines if "malformed" in line]
    assert "bad\\n2026-01-01 INFO forged" in refused
    assert all(clean(line) for line in lines)


def test_the_command_line_escapes_every_handler() -> None:
    code = (
        "import logging, sys; from router.cli.main import main; from router.logs import "
        "EscapeControls; main(['providers']); print(all(any(isinstance(f, EscapeControls) "
        "for f in h.filters) for h in logging.getLogger().handlers))"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip().endswith("True")


def _record(message: str, *args: object, **fields: object) -> logging.LogRecord:
    record = logging.LogRecord("smsrouter.t", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(fields)
    return record


@settings(max_examples=300, deadline=None)
@given(text=HOSTILE_TEXT, provider=HOSTILE_TEXT)
def test_a_json_line_is_one_object_with_the_message_and_its_fields(
    text: str, provider: str
) -> None:
    record = _record("sent %s", text, message_id="m1", provider=provider, attempts=2)
    line = JsonFormatter().format(record)
    assert not {"\n", "\r", "\u2028", "\u2029"} & set(line)
    parsed = json.loads(line)
    assert parsed["message"] == f"sent {text}"
    assert (parsed["level"], parsed["logger"]) == ("info", "smsrouter.t")
    assert (parsed["message_id"], parsed["provider"], parsed["attempts"]) == ("m1", provider, 2)
    assert parsed["time"].endswith("Z")


def test_a_json_line_carries_the_traceback_in_a_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    parsed = json.loads(JsonFormatter().format(record))
    assert parsed["message"] == "failed"
    assert "ValueError: boom" in parsed["exception"]


def test_secrets_are_masked_in_the_fields_too() -> None:
    hide = HideSecrets()
    hide.secrets = (Secret("s3cret-value"),)
    record = _record("token %s", "s3cret-value", url="https://x/?k=s3cret-value", n=3)
    assert hide.filter(record)
    line = JsonFormatter().format(record)
    assert "s3cret-value" not in line
    assert json.loads(line)["url"] == "https://x/?k=***"


def test_the_command_line_masks_config_secrets_in_every_logger() -> None:
    code = (
        "import logging; from router.logs import configure, hide_in_aiohttp_logs; "
        "from router.redact import Secret; configure(logging.INFO, 'json'); "
        "hide_in_aiohttp_logs([Secret('p4ssw0rd-xyz')]); "
        "logging.getLogger('smsrouter.provider.smsc').info('answer %s', 'psw=p4ssw0rd-xyz', "
        "extra={'provider': 'smsc', 'raw': 'p4ssw0rd-xyz'})"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    parsed = json.loads(done.stderr)
    assert parsed["message"] == "answer psw=***"
    assert parsed["raw"] == "***"
    assert "p4ssw0rd-xyz" not in done.stderr
