"""What each ``smsrouter`` subcommand does, given its parsed arguments.

``route``, ``send``, ``balance`` and ``providers`` run against a daemon with ``--server URL``
or in this process with ``--config FILE`` (:mod:`router.cli.target`); a handler returns the
exit status (or a coroutine giving it), and raises :class:`~router.errors.RouterError` for
an error ``main`` prints without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Coroutine
from typing import Any

from router.cli import show
from router.cli.bulk import DaemonSender, InProcessSender, send_rows
from router.cli.bulk_report import Progress, Summary, describe, table
from router.cli.bulk_rows import read_rows
from router.cli.demo import run_demo
from router.cli.emulate import run_emulators
from router.cli.target import DaemonTarget, LocalTarget, Target
from router.config import parse_config, read_toml
from router.daemon import DEFAULT_STORE, serve, serve_problems
from router.daemon.times import parse_time
from router.engine import Router
from router.errors import ConfigError
from router.model import Message
from router.plugins import PluginHost

__all__ = [
    "balance",
    "check_config",
    "demo",
    "emulate",
    "providers",
    "route",
    "send",
    "serve_daemon",
    "target_problem",
]

TOKEN_ENV = "SMSROUTER_API_TOKEN"  # noqa: S105 - the name of the variable, not a token


def _message(args: argparse.Namespace) -> Message:
    """The message the options give; only ``send`` has the timing and callback ones."""

    def time(option: str) -> float | None:
        value = getattr(args, option.removeprefix("--").replace("-", "_"), None)
        return None if value is None else parse_time(option, value)

    return Message(
        to=args.to,
        text=args.text,
        sender=args.sender,
        reference=args.reference,
        send_at=time("--send-at"),
        expires_at=time("--expires-at"),
        urgent=getattr(args, "urgent", False),
        callback_url=getattr(args, "callback_url", None),
    )


def target_problem(args: argparse.Namespace, *, config_needed: bool = True) -> str | None:
    """What is wrong with where a command was told to run, if anything."""
    if args.config is not None and args.server is not None:
        return "give --config FILE (in this process) or --server URL (a daemon), not both"
    if config_needed and args.config is None and args.server is None:
        return "give --config FILE to run in this process, or --server URL to ask a daemon"
    if args.server is not None and not (args.token or os.environ.get(TOKEN_ENV)):
        return f"--server needs --token TOKEN or {TOKEN_ENV} in the environment"
    if args.server is None and args.token is not None:
        return "--token is the API token of a daemon: give --server URL with it"
    return None


def _target(args: argparse.Namespace, *, config_needed: bool = True) -> Target:
    problem = target_problem(args, config_needed=config_needed)
    if problem is not None:
        args.parser.error(problem)
    if args.server is not None:
        return DaemonTarget(args.server, args.token or os.environ[TOKEN_ENV])
    return LocalTarget(args.config)


async def _send_one(target: Target, message: Message) -> int:
    text, ok = show.sent(await target.send(message))
    print(text)
    return 0 if ok else 1


def _send_usage(args: argparse.Namespace) -> str | None:
    """What is wrong with how ``send`` was called, if anything."""
    if args.csv is not None:
        given = [f"--{n}" for n in ("to", "text", "reference") if getattr(args, n) is not None]
        if given:
            dropped = ", ".join(given)
            return f"--csv takes each row's to, text and reference from the file: drop {dropped}"
        if args.send_at is not None or args.expires_at is not None:
            return "--csv takes send_at and expires_at from the file's columns"
        if args.urgent or args.callback_url is not None:
            return "--urgent and --callback-url are options of one message, not of --csv"
    elif args.to is None or args.text is None:
        return "give --to and --text for one message, or --csv FILE for many"
    elif args.campaign is not None:
        return "--campaign names the references of a --csv run"
    if args.concurrency < 1:
        return f"--concurrency must be at least 1, got {args.concurrency}"
    return None


def send(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """``send``: one message (``--to``, ``--text``) or a CSV file's rows."""
    problem = _send_usage(args) or target_problem(args)
    if problem is not None:
        args.parser.error(problem)
    if args.csv is not None:
        return _send_csv(args)
    return _send_one(_target(args), _message(args))


async def _send_csv(args: argparse.Namespace) -> int:
    rows, bad = read_rows(args.csv, campaign=args.campaign or "", sender=args.sender)
    summary = Summary(total=len(rows) + len(bad))
    progress = Progress(sys.stderr)
    for result in bad:
        summary.add(result)
        progress.note(describe(result))
    sender: DaemonSender | InProcessSender
    if args.server is not None:
        sender = DaemonSender(args.server, args.token or os.environ[TOKEN_ENV])
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


async def route(args: argparse.Namespace) -> int:
    """``route``: where the message would go and why, without sending it."""
    print(show.route(await _target(args).route(_message(args))))
    return 0


async def balance(args: argparse.Namespace) -> int:
    """``balance``: each provider's balance, read now (or the daemon's last reading)."""
    text, failed = show.balances(await _target(args).balances(args.provider))
    print(text)
    return 1 if failed else 0


async def providers(args: argparse.Namespace) -> int:
    """``providers``: the loaded plugins, and the configured providers' state."""
    print(show.providers(await _target(args, config_needed=False).providers()))
    return 0


def check_config(args: argparse.Namespace) -> int:
    """``check-config``: validate a file as ``serve`` would, starting nothing."""
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


SECRET_ENV = "SMSROUTER_CALLBACK_SECRET"  # noqa: S105 - the variable's name


def emulate(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """``emulate``: the emulators, pushing to the daemon's callback URLs."""
    secret: str | None = args.callback_secret or os.environ.get(SECRET_ENV) or None
    return run_emulators(args.name, args.listen, args.daemon_listen, args.write_config, secret)


def serve_daemon(args: argparse.Namespace) -> int:
    """``serve``: the daemon, until SIGTERM or SIGINT."""
    serve(args.config, args.listen, access_log=args.access_log)
    return 0


async def demo(args: argparse.Namespace) -> int:
    """``demo``: emulators, the daemon and a mixed batch."""
    return await run_demo(listen=args.listen, once=args.once, config=args.config)
