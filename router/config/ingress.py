"""The ``[ingress.NAME]`` tables: each turns on one registered ingress, with its options.

A table names a registered ingress (``kannel``, ``jasmin``, or a plugin's) and holds what
that ingress's ``Config`` takes; the ingress checks what types cannot (a user's token must
be one of ``[server] api_tokens``). No table, no ingress: its paths answer 404.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import cattrs

from router.config.converter import join_path, read_table
from router.config.settings import ServerSettings
from router.plugins import PluginHost


def read_ingress(
    converter: cattrs.Converter,
    host: PluginHost,
    tables: object,
    server: ServerSettings | None,
    providers: Collection[str],
    problems: list[str],
) -> dict[str, Any]:
    """Each configured ingress's options, by name; problems appended as ``path: message``.

    *server* gives the API tokens users' tokens must be among (none when it is wrong);
    *providers* the names ``providers`` options may use.
    """
    api_tokens = [t.reveal() for t in server.api_tokens] if server is not None else []
    if not isinstance(tables, dict):
        problems.append(f"ingress: expected a table, got {tables!r}")
        return {}
    found: dict[str, Any] = {}
    for name, table in tables.items():
        where = join_path("ingress", name)
        cls = host.ingresses.get(name)
        if cls is None:
            known = ", ".join(host.ingresses.names()) or "none"
            problems.append(f"{where}: unknown ingress {name!r} (known: {known})")
            continue
        before = len(problems)
        options, _ = read_table(converter, table, cls.Config, where, problems)
        if options is None or len(problems) > before:
            continue
        own = cls.config_problems(options, api_tokens, list(providers))
        problems.extend(f"{where}.{line}" for line in own)
        if not own:
            found[name] = options
    return found
