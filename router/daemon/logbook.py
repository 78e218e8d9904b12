"""What the daemon writes to its log: one line at start, the access log, a line per event.

* :func:`started_line`: where it listens, its providers and its journal, once it serves;
* :class:`AccessLog`: one line per request (``smsrouter serve --access-log``), on the
  ``smsrouter.access`` logger: the path without its query, a callback URL's secret segment
  masked whatever it is;
* :class:`EventLog`: event hooks the daemon registers with each Router it builds, one
  ``smsrouter.messages`` line per recipient sent, delivery report and inbound text.

Each line carries its fields in ``extra`` (``message_id``, ``provider``, ``status`` ...), so
``--log-format json`` writes them as fields of their own. No text of a message is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from yarl import URL

from router.addresses import http_url
from router.config import Config
from router.hookspecs import hookimpl
from router.model import DeliveryReport, InboundMessage, Message, SendResult
from router.redact import MASK

__all__ = ["ACCESS", "AccessLog", "EventLog", "safe_store_url", "started_line"]

ACCESS = logging.getLogger("smsrouter.access")
"""The access log's logger: at INFO once ``--access-log`` switches it on."""
MESSAGES = logging.getLogger("smsrouter.messages")
"""The events' logger: what became of each recipient, reports, inbound texts."""


def safe_store_url(url: str) -> str:
    """*url* with any password in it masked (a database URL may hold one)."""
    try:
        parsed = URL(url)
    except ValueError:
        return MASK
    return str(parsed.with_password(MASK)) if parsed.password else url


def started_line(
    config: Config, addresses: Iterable[tuple[str, int]], store: str, version: str
) -> tuple[str, dict[str, Any]]:
    """The line the daemon logs once it serves, and its fields."""
    urls = [http_url(host, port) for host, port in addresses]
    providers = {
        name: settings.common.plugin
        for name, settings in config.providers.items()
        if settings.common.enabled
    }
    disabled = sorted(set(config.providers) - set(providers))
    shown = ", ".join(f"{n} ({p})" for n, p in providers.items()) or "none"
    if disabled:
        shown += f"; disabled: {', '.join(disabled)}"
    store = safe_store_url(store)
    line = f"smsrouter {version} listening on {', '.join(urls)}; providers: {shown}; store: {store}"
    fields = {
        "listen": urls,
        "providers": list(providers),
        "disabled_providers": disabled,
        "store": store,
        "version": version,
    }
    return line, fields


def _shown_path(request: web.BaseRequest) -> str:
    """The request's path; a callback URL's last segment (its secret) masked."""
    parts = request.path.split("/")
    if len(parts) >= 5 and parts[1] == "callbacks":
        parts[4:] = [MASK]
    return "/".join(parts)


class AccessLog(AbstractAccessLogger):
    """One line per request: remote address, method, path, status, size and duration.

    The query string is left out: a provider's push may carry credentials in it.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Write the request's line."""
        fields = {
            "remote": request.remote or "-",
            "method": request.method,
            "path": _shown_path(request),
            "status": response.status,
            "bytes": response.body_length,
            "duration_ms": round(time * 1000, 3),
        }
        self.logger.info(
            "%s %s %s %d %dB %.1fms",
            fields["remote"],
            fields["method"],
            fields["path"],
            response.status,
            response.body_length,
            time * 1000,
            extra=fields,
        )

    @property
    def enabled(self) -> bool:
        """Whether a line would be written (the logger's level lets INFO through)."""
        return self.logger.isEnabledFor(logging.INFO)


def _log(text: str, fields: Mapping[str, Any]) -> None:
    MESSAGES.info("%s", text, extra=dict(fields))


def _on() -> bool:
    """Whether event lines are written: each costs about 20 us of CPU, a check 0.1 us."""
    return MESSAGES.isEnabledFor(logging.INFO)


class EventLog:
    """Event hooks that log what became of messages, reports and inbound texts."""

    @hookimpl
    def smsrouter_message_routed(self, message: Message, result: SendResult) -> None:
        """One line per recipient: its status, the provider that took it, the attempts."""
        if not _on():
            return
        for r in result.recipients:
            path = " -> ".join(f"{a.provider}:{a.outcome.value}" for a in r.attempts)
            by = f" by {r.provider}" if r.provider else ""
            text = f"message {result.message_id} to {r.recipient}: {r.status.value}{by}"
            fields = {
                "message_id": result.message_id,
                "reference": result.reference,
                "recipient": r.recipient,
                "status": r.status.value,
                "provider": r.provider,
                "provider_message_id": r.provider_message_id,
                "attempts": len(r.attempts),
                "segments": r.segments,
            }
            _log(f"{text} ({path or 'no attempt'})", fields)

    @hookimpl
    def smsrouter_delivery_report(
        self, report: DeliveryReport, message_id: str | None, ref: str | None, applied: bool
    ) -> None:
        """One line per report: the message it is about (if any) and its status."""
        if not _on():
            return
        about = f"message {message_id}" if message_id else "no known message"
        text = f"delivery report from {report.provider} on {about}: {report.status.value}"
        fields = {
            "message_id": message_id,
            "provider": report.provider,
            "provider_message_id": report.provider_message_id,
            "status": report.status.value,
            "raw_status": report.raw_status,
            "applied": applied,
        }
        _log(text if applied or message_id is None else f"{text} (not applied)", fields)

    @hookimpl
    def smsrouter_inbound_message(self, message: InboundMessage) -> None:
        """One line per inbound text: who sent it, through which provider, what it answers."""
        if not _on():
            return
        answers = f", replying to message {message.in_reply_to}" if message.in_reply_to else ""
        fields = {
            "provider": message.provider,
            "sender": message.sender,
            "recipient": message.recipient,
            "provider_message_id": message.provider_message_id,
            "in_reply_to": message.in_reply_to,
        }
        _log(f"inbound text from {message.sender} via {message.provider}{answers}", fields)
