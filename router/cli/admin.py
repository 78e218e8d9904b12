"""``smsrouter providers suspend|resume|reset NAME``: an operator's word to a running daemon.

Each calls ``POST /v1/providers/NAME/ACTION`` on the daemon at ``--server`` with the API
token (``--token`` or ``SMSROUTER_API_TOKEN``), and prints what the daemon says of the
provider now. The daemon journals the action: a suspension outlives its restarts.
"""

from __future__ import annotations

import argparse
import os
from typing import Any
from urllib.parse import quote

import aiohttp

from router.errors import RouterError

__all__ = ["add_admin_commands"]

_HELP = {
    "suspend": "route nothing to a provider until it is resumed (on a running daemon)",
    "resume": "let a suspended provider take messages again (on a running daemon)",
    "reset": "close a provider's circuit breaker, forgetting its failures (on a running daemon)",
}


def add_admin_commands(providers: argparse.ArgumentParser) -> None:
    """Add ``suspend``, ``resume`` and ``reset`` under the ``providers`` command."""
    actions = providers.add_subparsers(dest="admin_action", metavar="ACTION")
    for action, help_text in _HELP.items():
        sub = actions.add_parser(action, help=help_text, description=help_text)
        sub.add_argument("name", help="the provider's configured name")
        # SUPPRESS: given before the action (``providers --server URL suspend``), the
        # providers command's own option stands.
        keep = argparse.SUPPRESS
        sub.add_argument("--server", metavar="URL", default=keep, help="the daemon's URL")
        sub.add_argument(
            "--token", default=keep, help="the daemon's API token (default: $SMSROUTER_API_TOKEN)"
        )
        sub.add_argument("--reason", default="", help="why, for the journal and explanations")
        # -v/-q anywhere, as on every command: they add to the providers command's own.
        sub.add_argument("-v", "--verbose", dest="sub_verbose", action="count", default=keep)
        sub.add_argument("-q", "--quiet", dest="sub_quiet", action="count", default=keep)
        sub.set_defaults(handler=_act, parser=sub)


async def _act(args: argparse.Namespace) -> int:
    if not getattr(args, "server", None):
        args.parser.error("give --server URL: the daemon to tell")
    token = getattr(args, "token", None) or os.environ.get("SMSROUTER_API_TOKEN")
    if not token:
        args.parser.error("--server needs --token TOKEN or SMSROUTER_API_TOKEN in the environment")
    action: str = args.admin_action
    url = f"{args.server.rstrip('/')}/v1/providers/{quote(args.name, safe='')}/{action}"
    body = {"reason": args.reason} if args.reason else None
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, json=body, headers=headers) as answer,
        ):
            status = answer.status
            try:
                said: Any = await answer.json(content_type=None)
            except ValueError:
                said = None
    except (aiohttp.ClientError, TimeoutError) as exc:
        why = str(exc) or type(exc).__name__
        raise RouterError(f"cannot reach the daemon at {args.server}: {why}") from None
    if status != 200 or not isinstance(said, dict):
        raise RouterError(f"the daemon refused to {action} {args.name!r}: {_error(status, said)}")
    print(_summary(action, said))
    return 0


def _error(status: int, said: Any) -> str:
    """The daemon's error message, or the HTTP status when it gave none."""
    if isinstance(said, dict) and isinstance(said.get("error"), dict):
        return f"{said['error'].get('message')} (HTTP {status})"
    return f"HTTP {status}"


def _summary(action: str, provider: dict[str, Any]) -> str:
    """One line: the provider's name, what was done, and its state now."""
    suspended = provider.get("suspended")
    if suspended:
        state = f"suspended ({suspended.get('reason') or 'no reason given'})"
    else:
        state = "not suspended"
    done = {"suspend": "suspended", "resume": "resumed", "reset": "breaker reset"}[action]
    return f"{provider.get('name')}: {done}; now {state}, breaker {provider.get('breaker')}"
