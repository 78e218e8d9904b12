"""The ``smsrouter`` command: serve, send, route, balance, providers, check-config, emulate, demo.

A handled error (bad config, bad message, no route) prints its lines without a traceback
and exits 1; bad usage exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from router.cli.admin import add_admin_commands
from router.cli.bulk import DaemonSender, InProcessSender, send_rows
from router.cli.bulk_report import Progress, Summary, describe, table
from router.cli.bulk_rows import read_rows
from router.cli.demo import run_demo
from router.config import parse_config, read_toml
from router.daemon import DEFAULT_STORE, serve, serve_problems, split_listen
from router.engine import Router
from router.errors import ConfigError, NoRouteError, RouterError
from router.logs import EscapeControls
from router.model import Message
from router.plugins import PluginHost
from router.registries import EmulatorRegistry
from router.testing import Emulator


def _message(args: argparse.Namespace) -> Message:
    return Message(to=args.to, text=args.text, sender=args.sender, reference=args.reference)


async def _send_one(args: argparse.Namespace) -> int:
    async with Router.from_file(args.config) as router:
        try:
            result = await router.send(_message(args))
        except NoRouteError as exc:
            print(exc, file=sys.stderr)
            return 1
    rows = [
        (
            r.recipient,
            r.status,
            r.provider,
            r.provider_message_id,
            " -> ".join(f"{a.provider}:{a.outcome}" for a in r.attempts),
        )
        for r in result.recipients
    ]
    print(f"message {result.message_id}: {result.encoding}, {result.segments} segment(s)")
    print(table(rows, ["to", "status", "provider", "provider id", "attempts"]))
    return 0 if result.ok else 1


def _send_usage(args: argparse.Namespace) -> str | None:
    """What is wrong with how ``send`` was called, if anything."""
    if args.csv is not None:
        given = [f"--{n}" for n in ("to", "text", "reference") if getattr(args, n) is not None]
        if given:
            dropped = ", ".join(given)
            return f"--csv takes each row's to, text and reference from the file: drop {dropped}"
    elif args.to is None or args.text is None:
        return "give --to and --text for one message, or --csv FILE for many"
    elif args.campaign is not None:
        return "--campaign names the references of a --csv run"
    if (args.config is None) == (args.server is None):
        return (
            "give --config FILE to send in this process, or --server URL to send through a daemon"
        )
    if args.server is not None and args.csv is None:
        return "--server sends a --csv file; send one message with --config, or POST /v1/messages"
    if args.server is not None and not (args.token or os.environ.get("SMSROUTER_API_TOKEN")):
        return "--server needs --token TOKEN or SMSROUTER_API_TOKEN in the environment"
    if args.concurrency < 1:
        return f"--concurrency must be at least 1, got {args.concurrency}"
    return None


def _send(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    problem = _send_usage(args)
    if problem is not None:
        args.parser.error(problem)
    return _send_csv(args) if args.csv is not None else _send_one(args)


async def _send_csv(args: argparse.Namespace) -> int:
    rows, bad = read_rows(args.csv, campaign=args.campaign or "", sender=args.sender)
    summary = Summary(total=len(rows) + len(bad))
    progress = Progress(sys.stderr)
    for result in bad:
        summary.add(result)
        progress.note(describe(result))
    sender: DaemonSender | InProcessSender
    if args.server is not None:
        sender = DaemonSender(args.server, args.token or os.environ["SMSROUTER_API_TOKEN"])
        currency = ""
    else:
        data = read_toml(args.config)
        store = data.get("store", {})
        if isinstance(store, dict) and "url" not in store:
            # A rerun must find the references of this one: the daemon's journal, not memory.
            data["store"] = {**store, "url": DEFAULT_STORE}
        router = Router(data)
        if router.config.store.url == "memory:":
            progress.note("note: the journal is in memory, so a rerun cannot tell what was sent")
        sender = InProcessSender(router)
        currency = f" ({router.config.router.base_currency})"
    async with sender:
        if isinstance(sender, DaemonSender):
            await sender.check()
        await send_rows(rows, sender, summary, progress, concurrency=args.concurrency)
    print(f"{args.csv}: {summary.headline()}")
    headers = ["provider", "sent", "sent earlier", "segments", f"cost{currency}"]
    print(table(summary.provider_rows(), headers))
    for status, lines in sorted(summary.lines.items()):
        print(f"{status} rows, by line: {', '.join(map(str, sorted(lines)))}")
    if summary.aborted:
        print(f"aborted: {summary.aborted}", file=sys.stderr)
    if summary.interrupted or summary.aborted:
        print(
            f"{summary.total - summary.done} rows not sent: run the same command again "
            "to send them (no row is sent twice)",
            file=sys.stderr,
        )
    if summary.interrupted:
        return 130
    return 0 if summary.ok else 1


async def _route(args: argparse.Namespace) -> int:
    router = Router.from_file(args.config)
    plan = router.route(_message(args))
    print(f"{plan.encoding}, {plan.segments} segment(s)")
    for route in plan.routes:
        print(f"\n{route.recipient}")
        rows: list[list[object]] = []
        for rank, c in enumerate(route.candidates, 1):
            keys = "; ".join(f"{k}: {v}" for k, v in c.keys.items())
            rows.append([rank, c.provider, "" if c.cost is None else f"{c.cost:f}", keys])
        for e in route.excluded:
            rows.append(["-", e.provider, "", f"excluded by {e.policy}: {e.reason}"])
        print(table(rows, ["#", "provider", "cost", "why"]))
    return 0


async def _balance(args: argparse.Namespace) -> int:
    failed = 0
    async with Router.from_file(args.config) as router:
        names = args.provider or [
            n for n, s in router.providers.items() if s.provider.capabilities.balance
        ]
        rows = []
        for name in names:
            if name not in router.providers:
                raise RouterError(f"no provider named {name!r} in {args.config}")
            try:
                balance = await router.balance(name)
                rows.append((name, f"{balance.amount:f}", balance.unit, ""))
            except Exception as exc:
                failed += 1
                rows.append((name, "", "", str(exc)))
    print(table(rows, ["provider", "balance", "unit", "error"]))
    return 1 if failed else 0


def _providers(args: argparse.Namespace) -> int:
    blocked: list[str] = []
    if args.config:
        raw = read_toml(args.config).get("router", {})
        blocked = list(raw.get("blocked_plugins", [])) if isinstance(raw, dict) else []
    host = PluginHost.load(blocked=blocked)
    rows = [
        (i.name, i.version, ", ".join(i.providers), ", ".join(i.policies)) for i in host.describe()
    ]
    print(table(rows, ["plugin", "version", "providers", "policies"]))
    return 0


def _check_config(args: argparse.Namespace) -> int:
    data = read_toml(args.file)
    raw = data.get("router", {})
    blocked = list(raw.get("blocked_plugins", [])) if isinstance(raw, dict) else []
    config = parse_config(data, PluginHost.load(blocked=blocked))
    problems = serve_problems(config)  # check-config refuses what serve would
    if problems:
        raise ConfigError(problems)
    print(
        f"{args.file}: OK ({len(config.providers)} providers, policy "
        f"{' > '.join(config.router.policy)})"
    )
    return 0


def emulator_class(emulators: EmulatorRegistry, type_name: str) -> type[Emulator]:
    """The emulator a plugin registered for provider type *type_name*."""
    cls = emulators.get(type_name)
    if cls is None:
        known = ", ".join(emulators.names())
        raise RouterError(f"no emulator for provider type {type_name!r} (known: {known})")
    return cls


async def _emulate(args: argparse.Namespace) -> int:
    host, port = split_listen(args.listen)
    emulators = PluginHost.load().emulators
    names = emulators.names() if args.name == "all" else [args.name]
    running = []
    for offset, name in enumerate(names):
        emulator = emulator_class(emulators, name)(callback_url=args.callback_url)
        await emulator.start(host, port + offset if port else 0)
        running.append(emulator)
        account = next(iter(emulator.accounts.values()))
        login = f"account {account.username} / {account.password}"
        print(f"{name}: {emulator.api_url} ({login})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        for emulator in running:
            await emulator.stop()
    return 0


def _serve(args: argparse.Namespace) -> int:
    serve(args.config, args.listen)
    return 0


async def _demo(args: argparse.Namespace) -> int:
    return await run_demo(listen=args.listen, once=args.once, config=args.config)


SEND_CSV_HELP = """\
bulk sending with --csv FILE:
  The first row names the columns: to and text, and optionally sender and reference;
  each further row is one message to one number. A bad row (a column missing or too
  many, an empty text, a bad number) is reported with its line number and the other
  rows are sent. Progress goes to stderr, a summary (sent, failed, by provider, cost)
  to stdout.

  Each row is sent once: a row without a reference gets one derived from its to and
  text (and how many rows before it had the same), and a reference sent before is not
  sent again. So an interrupted run (Ctrl-C lets the sends under way finish) is resumed
  by running the same command again, and a file whose bad rows were fixed sends only
  those. A row that failed without any provider taking it (an outage) is sent again
  by a rerun. Changing a row's to or text makes it a new message.

  --server URL sends through a daemon (its journal remembers the references);
  --config FILE sends in this process, journalled in the config's [store] url, or in
  smsrouter.db in the working directory (the daemon's default) when it has none.
  Provider rate and concurrency limits apply either way.
"""


def _send_arguments(send: argparse.ArgumentParser) -> None:
    """The options of ``send``: one message, or a CSV file, in this process or a daemon."""
    send.formatter_class = argparse.RawDescriptionHelpFormatter
    send.epilog = SEND_CSV_HELP
    send.set_defaults(parser=send)
    send.add_argument(
        "--config", "-c", metavar="FILE", help="the TOML config file: send in this process"
    )
    send.add_argument("--server", metavar="URL", help="a daemon's URL: send --csv through it")
    send.add_argument("--token", help="the daemon's API token (default: $SMSROUTER_API_TOKEN)")
    send.add_argument("--to", action="append", help="a recipient (repeatable)")
    send.add_argument("--text", help="the message text")
    send.add_argument("--sender", help="the sender ID (with --csv: for rows without one)")
    send.add_argument("--reference", help="your reference (sent once per reference)")
    send.add_argument("--csv", metavar="FILE", help="send every row of FILE (see below)")
    send.add_argument(
        "--concurrency",
        metavar="N",
        type=int,
        default=8,
        help="rows under way at once (default: 8)",
    )
    send.add_argument(
        "--campaign",
        metavar="NAME",
        help="mixed into the references derived for rows without one: a new name sends "
        "the same file again",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="smsrouter", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, help_text: str, handler: Callable[[argparse.Namespace], Any]
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    def with_message(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--config", "-c", required=True, help="the TOML config file")
        sub.add_argument("--to", required=True, action="append", help="a recipient (repeatable)")
        sub.add_argument("--text", required=True, help="the message text")
        sub.add_argument("--sender", help="the sender ID")
        sub.add_argument("--reference", help="your reference (sent once per reference)")

    server = command("serve", "run the routing daemon", _serve)
    server.add_argument("--config", "-c", required=True, help="the TOML config file")
    server.add_argument("--listen", help="HOST:PORT (default: server.listen)")
    _send_arguments(command("send", "send one message, or one per row of a CSV file", _send))
    with_message(command("route", "explain where a message would go, without sending", _route))
    balance = command("balance", "read providers' balances now", _balance)
    balance.add_argument("--config", "-c", required=True, help="the TOML config file")
    balance.add_argument("provider", nargs="*", help="provider names (default: all)")
    providers = command("providers", "list loaded plugins, providers and policies", _providers)
    providers.add_argument("--config", "-c", help="apply this config's blocked_plugins")
    add_admin_commands(providers)  # providers suspend|resume|reset NAME
    check = command(
        "check-config", "validate a config file without starting anything", _check_config
    )
    check.add_argument("file", help="the TOML config file")
    emulate = command("emulate", "run provider emulators on loopback", _emulate)
    emulate.add_argument("name", help="a provider type, or all")
    emulate.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (0: any port)")
    emulate.add_argument("--callback-url", help="where delivery reports are pushed")
    demo = command("demo", "run emulators and the daemon, send a mixed batch, show it", _demo)
    demo.add_argument("--once", action="store_true", help="exit when the batch is done")
    demo.add_argument("--listen", default="127.0.0.1:8080", help="the daemon's HOST:PORT")
    demo.add_argument("--config", help="config to start from (default: config.example.toml)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        # Provider text with a newline in it would forge a line: escape it on the way out.
        if not any(isinstance(f, EscapeControls) for f in handler.filters):
            handler.addFilter(EscapeControls())
    try:
        outcome = args.handler(args)
        if asyncio.iscoroutine(outcome):
            outcome = asyncio.run(outcome)
    except RouterError as exc:
        print(f"smsrouter {args.command}: error", file=sys.stderr)
        print(str(exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return int(outcome)


if __name__ == "__main__":
    sys.exit(main())
