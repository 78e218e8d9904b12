"""Log records that are safe to write: no forged lines, no secret from aiohttp's own logs.

Provider texts reach log calls (an answer we could not read, an error description), and a
newline in one would forge a log line of its own: :class:`EscapeControls`, on every
handler the command line sets up, writes CR, LF and every other C0 and C1 control of a
message as an escape (``\\n``, ``\\x1b``). aiohttp logs raw request lines and URLs when its
parser fails, with the bearer token, a callback secret or a push password in them:
:func:`hide_in_aiohttp_logs` puts one :class:`HideSecrets` filter on its loggers, holding
the secrets of the config in force.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

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


class HideSecrets(logging.Filter):
    """A filter that masks every encoding of its secrets in a record's message and traceback."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: tuple[Secret, ...] = ()

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the secrets in place; never drops a record."""
        if not self.secrets:
            return True
        record.msg, record.args = redact(_render(record), self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


_AIOHTTP_FILTER = HideSecrets()


def hide_in_aiohttp_logs(secrets: Iterable[Secret]) -> None:
    """Mask *secrets* (replacing the ones before) in everything aiohttp's loggers write."""
    _AIOHTTP_FILTER.secrets = tuple(s for s in secrets if s)
    for name in AIOHTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _AIOHTTP_FILTER not in logger.filters:
            logger.addFilter(_AIOHTTP_FILTER)


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
