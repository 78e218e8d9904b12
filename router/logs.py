"""Log records that are safe to write: no forged lines, no secret from aiohttp's own logs.

Provider texts reach log calls (an answer we could not read, an error description), and a
newline in one would forge a log line of its own: :class:`EscapeControls`, on every
handler the command line sets up, writes CR, LF and every other C0 and C1 control of a
message as an escape (``\\n``, ``\\x1b``). aiohttp logs raw request lines and URLs when its
parser fails, with the bearer token, a callback secret or a push password in them:
:func:`hide_in_aiohttp_logs` puts one :class:`HideSecrets` filter on its loggers, holding
the secrets of the config in force; the command line puts the same filter on its handler,
so no logger writes them. :class:`JsonFormatter` writes a record as one JSON object a line
(``--log-format json``), with the fields a log call passes in ``extra`` (``message_id``,
``provider``) beside the message; :func:`configure` sets up the command line's handler.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import attrs

from router.redact import Secret, redact

AIOHTTP_LOGGERS = ("aiohttp.server", "aiohttp.access", "aiohttp.web", "aiohttp.client")
"""The loggers aiohttp writes request lines, URLs and parser errors to."""

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CONTROLS = {
    code: _NAMED.get(chr(code), f"\\x{code:02x}") for code in (*range(0x20), *range(0x7F, 0xA0))
} | {0x2028: "\\u2028", 0x2029: "\\u2029"}


def escape_controls(text: str) -> str:
    """*text* with CR, LF and the other C0 and C1 controls (and U+2028, U+2029) escaped."""
    return text.translate(_CONTROLS)


def _render(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad format string: write what was given, not a traceback
        return f"{record.msg!r} % {record.args!r}"


class EscapeControls(logging.Filter):
    """A handler filter: the record's message, formatted, with its control characters escaped.

    Tracebacks keep their lines; only the message, where provider text lands, is escaped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Escape the message in place; never drops a record."""
        message = _render(record)
        escaped = escape_controls(message)
        if escaped != message or record.args:
            record.msg, record.args = escaped, None
        return True


_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)
"""The attributes every record has; any other was passed in ``extra``: a field of the line."""


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a log call passed in ``extra`` (``message_id``, ``provider``, ...)."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and k[:1] != "_"}


class HideSecrets(logging.Filter):
    """A filter that masks every encoding of its secrets in a record's message, fields and
    traceback."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: tuple[Secret, ...] = ()

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the secrets in place; never drops a record."""
        if not self.secrets:
            return True
        record.msg, record.args = redact(_render(record), self.secrets), None
        for key, value in fields_of(record).items():
            if isinstance(value, str):
                setattr(record, key, redact(value, self.secrets))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


_SECRETS = HideSecrets()
"""The secrets of the config in force: on aiohttp's loggers, and on the handler of
:func:`configure`."""


def hide_in_aiohttp_logs(secrets: Iterable[Secret]) -> None:
    """Mask *secrets* (replacing the ones before) in everything aiohttp's loggers write, and
    everything the handler :func:`configure` set up writes."""
    _SECRETS.secrets = tuple(s for s in secrets if s)
    for name in AIOHTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _SECRETS not in logger.filters:
            logger.addFilter(_SECRETS)


def secrets_of(value: object) -> list[Secret]:
    """Every :class:`Secret` held in *value*: attrs instances, mappings and sequences, deep.

    A config's API tokens, callback secrets, webhook secrets and each provider's options.
    """
    found: list[Secret] = []
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Secret):
            found.append(item)
        elif attrs.has(type(item)):
            stack.extend(attrs.asdict(item, recurse=False).values())  # type: ignore[arg-type]
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    the record's fields, and ``exception`` (its traceback) when it has one.

    JSON escapes every control character, so a provider's text cannot forge a line.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        at = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        line: dict[str, Any] = {
            "time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _render(record),
        }
        for key, value in fields_of(record).items():
            line.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        text = json.dumps(line, ensure_ascii=False, default=str)
        # Valid JSON, but line breaks to a JavaScript reader: written as escapes.
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""The lines ``--log-format text`` writes."""


class _Handler(logging.StreamHandler[TextIO]):
    """The handler :func:`configure` puts on the root logger (and replaces when called again)."""


def configure(level: int, log_format: str = "text", stream: TextIO | None = None) -> None:
    """Log records of *level* and above to *stream* (stderr), as ``text`` or ``json`` lines.

    The handler escapes control characters (text) and masks the secrets of the config in
    force (both), so no logger writes a secret. Where logging was set up already by whoever
    runs this (an application, a test runner), its handlers are kept as they are, with
    these filters added, and no handler or level is changed.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    filters: list[logging.Filter] = (
        [_SECRETS] if log_format == "json" else [EscapeControls(), _SECRETS]
    )
    if root.handlers:
        for handler in root.handlers:
            for wanted in filters:
                if not any(type(f) is type(wanted) for f in handler.filters):
                    handler.addFilter(wanted)
        return
    handler = _Handler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    for wanted in filters:
        handler.addFilter(wanted)
    root.addHandler(handler)
    root.setLevel(level)
