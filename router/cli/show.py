"""How the command line shows what a :class:`~router.cli.target.Target` answered.

Each function takes the API's JSON shape and returns the lines to print, so a daemon's
answer and an in-process Router's look the same.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from router.cli.bulk_report import table

__all__ = ["ago", "balances", "providers", "route", "sent"]


def route(plan: Mapping[str, Any]) -> str:
    """A routing explanation: per recipient, the candidates in order and the excluded."""
    parts = [f"{plan['encoding']}, {plan['segments']} segment(s)"]
    for one in plan["routes"]:
        rows: list[list[object]] = []
        for rank, c in enumerate(one["candidates"], 1):
            keys = "; ".join(f"{k}: {v}" for k, v in c["keys"].items())
            rows.append([rank, c["provider"], c["cost"] or "", keys])
        for e in one["excluded"]:
            rows.append(["-", e["provider"], "", f"excluded by {e['policy']}: {e['reason']}"])
        if not rows:
            rows.append(["-", "", "", "no provider is configured"])
        settled = one.get("settled")
        head = one["to"] if not settled else f"{one['to']}: {_status(settled)}, not sent now"
        parts.append(f"\n{head}\n" + table(rows, ["#", "provider", "cost", "why"]))
    return "\n".join(parts)


def sent(answer: Mapping[str, Any]) -> tuple[str, bool]:
    """A send's result (or its no-route error), and whether every recipient was accepted
    or held for its time."""
    error = answer.get("error")
    result = answer.get("result") if error else answer
    lines = []
    if result:
        lines.append(
            f"message {result['id']}: {result['encoding']}, {result['segments']} segment(s)"
        )
        rows = [
            (
                r["to"],
                _status(r),
                r["provider"],
                r["provider_message_id"],
                " -> ".join(f"{a['provider']}:{a['outcome']}" for a in r["attempts"]),
            )
            for r in result["recipients"]
        ]
        lines.append(table(rows, ["to", "status", "provider", "provider id", "attempts"]))
    if error:
        reasons = error.get("reasons") or {}
        why = [f"  {name}: {reason}" for name, reason in reasons.items()] or ["  no providers"]
        lines.extend([error["message"], *why])
    # A message held for its time did what was asked: only a refusal or failure is not ok.
    done = ("accepted", "scheduled")
    ok = not error and all(r["status"] in done for r in (result or {}).get("recipients", []))
    return "\n".join(lines), ok


def _status(recipient: Mapping[str, Any]) -> str:
    """A recipient's status, with the time it is held until, or why it was not sent."""
    status = str(recipient["status"])
    when = recipient.get("scheduled_at")
    if status == "scheduled" and isinstance(when, int | float):
        moment = datetime.datetime.fromtimestamp(when, datetime.UTC)
        return f"scheduled until {moment.isoformat(timespec='seconds')}"
    reason = recipient.get("reason")
    return f"{status} ({reason})" if reason and status != "accepted" else status


def ago(seconds: object) -> str:
    """How long ago, for a reading *seconds* old."""
    if not isinstance(seconds, int | float):
        return ""
    if seconds < 1:
        return "now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def balances(rows: Sequence[Mapping[str, Any]]) -> tuple[str, int]:
    """The balance rows as a table, and how many could not be read."""
    shown = [
        (r["name"], r.get("amount", ""), r.get("unit", ""), ago(r.get("age_seconds")), r["error"])
        for r in rows
    ]
    failed = sum(1 for r in rows if r["error"])
    return table(shown, ["provider", "balance", "unit", "read", "error"]), failed


def _provider_row(p: Mapping[str, Any]) -> tuple[object, ...]:
    balance = p.get("balance") or {}
    amount = f"{balance['amount']} {balance['unit']}" if balance else ""
    hold = p.get("hold")
    state = p.get("breaker", "")
    if hold:
        state = f"{state}, held {hold['seconds_left']:g}s: {hold['reason']}"
    return (p["name"], p["plugin"], state, amount, ago(balance.get("age_seconds")))


def providers(answer: Mapping[str, Any]) -> str:
    """The plugins table, then (with a config or a daemon) the providers table."""
    plugins = [
        (p["name"], p["version"], ", ".join(p["providers"]), ", ".join(p["policies"]))
        for p in answer["plugins"]
    ]
    text = table(plugins, ["plugin", "version", "providers", "policies"])
    if answer.get("providers") is not None:
        rows = [_provider_row(p) for p in answer["providers"]]
        text += "\n\n" + table(rows, ["provider", "plugin", "state", "balance", "read"])
    return text
