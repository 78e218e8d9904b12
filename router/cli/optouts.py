"""``smsrouter optouts list|add|remove``: the opt-out list, in this process or through a daemon.

With ``--config FILE`` the list is read and changed in the config's journal (``[store] url``,
``smsrouter.db`` when unset, as the daemon's); a daemon running on that journal reads the
list at start, so while one runs, change it with ``--server URL`` instead: the daemon then
knows at once.
"""

from __future__ import annotations

import argparse
import datetime
import os
import urllib.parse
from typing import Any

import aiohttp

from router.cli.bulk_report import table
from router.clock import SystemClock
from router.compliance import OptOutList
from router.config import read_toml
from router.engine import Router
from router.errors import RouterError
from router.numbers import parse
from router.store import OptOut

__all__ = ["OPTOUTS_HELP", "optouts", "optouts_arguments"]

DEFAULT_STORE = "sqlite:///smsrouter.db"


def _rows(entries: list[OptOut]) -> list[tuple[object, ...]]:
    def when(at: float) -> str:
        return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat(timespec="seconds")

    return [(e.number, when(e.at), e.provider or "", e.source) for e in entries]


async def _in_process(args: argparse.Namespace) -> tuple[str, list[OptOut]]:
    data = read_toml(args.config)
    store_table = data.get("store", {})
    if isinstance(store_table, dict) and "url" not in store_table:
        data["store"] = {**store_table, "url": DEFAULT_STORE}  # the daemon's journal
    router = Router(data)
    region = router.config.router.default_region
    numbers = [parse(n, region, field="number").e164 for n in args.numbers]
    await router.store.open()
    try:
        optouts = OptOutList(router.store, SystemClock())
        done = []
        for number in numbers:
            if args.action == "add":
                done.append(await optouts.add(number, source="cli"))
            elif args.action == "remove":
                done.append(await optouts.remove(number))
        return _said(args.action, numbers, done), await optouts.entries()
    finally:
        await router.store.close()


async def _through_daemon(args: argparse.Namespace) -> tuple[str, list[OptOut]]:
    token = args.token or os.environ.get("SMSROUTER_API_TOKEN")
    if not token:
        raise RouterError("--server needs --token TOKEN or SMSROUTER_API_TOKEN in the environment")
    url = args.server.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"}
    done = []
    async with aiohttp.ClientSession(headers=headers) as http:

        async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            try:
                async with http.request(method, url + path, json=body) as answer:
                    return answer.status, await answer.json(content_type=None)
            except (aiohttp.ClientError, ValueError) as exc:
                raise RouterError(f"{args.server}: {type(exc).__name__}: {exc}") from None

        for number in args.numbers:
            if args.action == "add":
                status, answer = await call("POST", "/v1/optouts", {"number": number})
            else:
                quoted = urllib.parse.quote(number, safe="")
                status, answer = await call("DELETE", f"/v1/optouts/{quoted}")
            if status >= 400 and status != 404:
                raise RouterError(f"{number}: {answer.get('error', {}).get('message', status)}")
            done.append(status in (200, 201) if args.action == "remove" else status == 201)
        status, listed = await call("GET", "/v1/optouts")
        if status != 200:
            raise RouterError(f"{args.server}: GET /v1/optouts answered {status}")
    entries = [OptOut(i["number"], i["at"], i["provider"], i["source"]) for i in listed["items"]]
    return _said(args.action, args.numbers, done), entries


def _said(action: str, numbers: list[str], done: list[bool]) -> str:
    if action == "list":
        return ""
    verb = {"add": ("added", "already on the list"), "remove": ("removed", "not on the list")}
    return "\n".join(
        f"{n}: {verb[action][0 if d else 1]}" for n, d in zip(numbers, done, strict=True)
    )


async def optouts(args: argparse.Namespace) -> int:
    """``smsrouter optouts``: do the action, then show the list."""
    if (args.config is None) == (args.server is None):
        args.parser.error("give --config FILE (this process) or --server URL (a daemon)")
    if args.action != "list" and not args.numbers:
        args.parser.error(f"{args.action} needs at least one number")
    if args.action == "list" and args.numbers:
        args.parser.error("list takes no numbers")
    said, entries = await (_in_process(args) if args.config else _through_daemon(args))
    if said:
        print(said)
    print(table(_rows(entries), ["number", "since (UTC)", "provider", "source"]))
    return 0


OPTOUTS_HELP = "list, add or remove numbers on the opt-out list every provider obeys"


def optouts_arguments(sub: argparse.ArgumentParser) -> None:
    """The arguments of ``optouts``, on its subcommand parser."""
    sub.set_defaults(parser=sub)
    sub.add_argument("action", choices=["list", "add", "remove"])
    sub.add_argument("numbers", nargs="*", help="phone numbers (national form in default_region)")
    sub.add_argument("--config", "-c", metavar="FILE", help="the TOML config: its journal")
    sub.add_argument("--server", metavar="URL", help="a daemon's URL: change it there")
    sub.add_argument("--token", help="the daemon's API token (default: $SMSROUTER_API_TOKEN)")
