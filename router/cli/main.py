"""``smsrouter``: serve, send, route, balance, providers, optouts, check-config, emulate, demo.

A handled error (bad config, bad message, no route) prints its lines without a traceback
and exits 1; bad usage exits 2. ``-v``/``-q`` (more or less logging) and ``--log-format``
go anywhere on the line, before or after the subcommand.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from router import logs
from router.cli import commands
from router.cli.admin import add_admin_commands
from router.cli.optouts import OPTOUTS_HELP, optouts, optouts_arguments
from router.errors import RouterError
from router.version import VERSION

SEND_CSV_HELP = """\
bulk sending with --csv FILE:
  The first row names the columns: to and text, and optionally sender, reference,
  send_at and expires_at (Unix seconds or ISO 8601 with a timezone: a row is held in
  the journal until send_at, and never sent after expires_at); each further row is one
  message to one number. A bad row (a column missing or too
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


def _logging_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """``-v``, ``-q`` and ``--log-format``: on the main parser, and again on every
    subcommand under their own names (*prefix*), so either place counts."""
    default = argparse.SUPPRESS if prefix else None
    parser.add_argument(
        "-v",
        "--verbose",
        dest=f"{prefix}verbose",
        action="count",
        default=0,
        help="more logging (-vv: debug)",
    )
    parser.add_argument(
        "-q", "--quiet", dest=f"{prefix}quiet", action="count", default=0, help="less logging"
    )
    parser.add_argument(
        "--log-format",
        dest=f"{prefix}log_format",
        choices=["text", "json"],
        default=default,
        help="log lines as text (the default), or one JSON object a line",
    )


def _with_target(sub: argparse.ArgumentParser, config_required: bool = True) -> None:
    """``--config`` (run in this process) or ``--server`` and ``--token`` (ask a daemon)."""
    sub.set_defaults(parser=sub)
    also = "" if config_required else " and its providers"
    sub.add_argument(
        "--config", "-c", metavar="FILE", help=f"the TOML config file: run in this process{also}"
    )
    sub.add_argument("--server", metavar="URL", help="a running daemon's URL: ask it instead")
    sub.add_argument("--token", help="the daemon's API token (default: $SMSROUTER_API_TOKEN)")


def _message_arguments(sub: argparse.ArgumentParser, *, required: bool) -> None:
    sub.add_argument("--to", required=required, action="append", help="a recipient (repeatable)")
    sub.add_argument("--text", required=required, help="the message text")
    sub.add_argument("--reference", help="your reference (sent once per reference)")


def _send_arguments(send: argparse.ArgumentParser) -> None:
    """The options of ``send``: one message, or a CSV file, in this process or a daemon."""
    send.formatter_class = argparse.RawDescriptionHelpFormatter
    send.epilog = SEND_CSV_HELP
    _with_target(send)
    _message_arguments(send, required=False)
    send.add_argument("--sender", help="the sender ID (with --csv: for rows without one)")
    send.add_argument("--csv", metavar="FILE", help="send every row of FILE (see below)")
    send.add_argument(
        "--send-at",
        metavar="TIME",
        help="hold the message in the journal until TIME (Unix seconds, or ISO 8601 with a "
        "timezone); a daemon on that journal sends it then",
    )
    send.add_argument(
        "--expires-at", metavar="TIME", help="never send the message after TIME (as --send-at)"
    )
    send.add_argument("--urgent", action="store_true", help="send it in quiet hours too")
    send.add_argument(
        "--callback-url",
        metavar="URL",
        help="where the daemon posts this message's delivery reports, signed",
    )
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


def _emulate_arguments(emulate: argparse.ArgumentParser) -> None:
    emulate.set_defaults(parser=emulate)
    emulate.add_argument("name", help="a provider type (smsc, ...), or all")
    emulate.add_argument(
        "--listen", default="127.0.0.1:0", help="HOST:PORT of the first emulator (0: any ports)"
    )
    emulate.add_argument(
        "--daemon-listen",
        metavar="HOST:PORT",
        default="127.0.0.1:8080",
        help="where the daemon listens: the emulators push delivery reports and inbound "
        "texts to its callback URLs (default: 127.0.0.1:8080)",
    )
    emulate.add_argument(
        "--callback-secret",
        help="the daemon's callback secret (default: $SMSROUTER_CALLBACK_SECRET; with "
        "neither, one is made up and written into the --write-config file)",
    )
    emulate.add_argument(
        "--write-config",
        metavar="FILE",
        help="write a config pointed at the emulators (serve it with smsrouter serve)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    summary = __doc__.splitlines()[0].replace("``", "")
    parser = argparse.ArgumentParser(prog="smsrouter", description=summary)
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    _logging_options(parser)
    commands_ = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, help_text: str, handler: Callable[[argparse.Namespace], Any]
    ) -> argparse.ArgumentParser:
        sub = commands_.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        _logging_options(sub, "sub_")
        return sub

    server = command("serve", "run the routing daemon", commands.serve_daemon)
    server.add_argument("--config", "-c", required=True, help="the TOML config file")
    server.add_argument("--listen", help="HOST:PORT (default: server.listen)")
    server.add_argument("--access-log", action="store_true", help="log one line per HTTP request")
    _send_arguments(
        command("send", "send one message, or one per row of a CSV file", commands.send)
    )
    route = command("route", "explain where a message would go, without sending", commands.route)
    _with_target(route)
    _message_arguments(route, required=True)
    route.add_argument("--sender", help="the sender ID")
    balance = command(
        "balance", "read providers' balances (with --server: the daemon's)", commands.balance
    )
    _with_target(balance)
    balance.add_argument("provider", nargs="*", help="provider names (default: all)")
    providers = command(
        "providers", "list loaded plugins, and the providers' state", commands.providers
    )
    _with_target(providers, config_required=False)
    add_admin_commands(providers)  # providers suspend|resume|reset NAME
    check = command(
        "check-config", "validate a config file without starting anything", commands.check_config
    )
    check.add_argument("file", help="the TOML config file")
    _emulate_arguments(command("emulate", "run provider emulators on loopback", commands.emulate))
    optouts_arguments(command("optouts", OPTOUTS_HELP, optouts))
    demo = command(
        "demo", "run emulators and the daemon, send a mixed batch, show it", commands.demo
    )
    demo.add_argument("--once", action="store_true", help="exit when the batch is done")
    demo.add_argument("--listen", default="127.0.0.1:8080", help="the daemon's HOST:PORT")
    demo.add_argument("--config", help="config to start from (default: config.example.toml)")
    return parser


LEVELS = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]
DAEMONS = frozenset({"serve", "emulate"})
"""The commands that serve until stopped: they log at INFO (where they listen, what they
do) unless told otherwise; the others (the demo prints its own story) at WARNING."""


def log_level(args: argparse.Namespace) -> int:
    """The level ``-v`` and ``-q`` (wherever given) ask for, from the command's own."""
    start = LEVELS.index(logging.INFO if args.command in DAEMONS else logging.WARNING)
    quieter: int = args.quiet + args.sub_quiet - args.verbose - args.sub_verbose
    return LEVELS[max(0, min(len(LEVELS) - 1, start + quieter))]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    log_format = getattr(args, "sub_log_format", None) or args.log_format or "text"
    logs.configure(log_level(args), log_format)
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
    status: int = outcome
    return status


if __name__ == "__main__":
    sys.exit(main())
