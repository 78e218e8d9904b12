"""Reading a foreign gateway's request: its fields as bytes, and Kannel's URL escapes.

Clients of Kannel and Jasmin send their fields in the query (GET) or a form body (POST),
percent-encoded in the charset they name, not always UTF-8; so the fields are read as
bytes and each ingress decodes them as its protocol says.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

from aiohttp import web

__all__ = ["MAX_FIELD", "Unreadable", "fill_escapes", "request_fields", "text_of"]

MAX_FIELD = 16_384
"""The longest field taken, in bytes (a long SMS is ~1,600 characters)."""
FORM = "application/x-www-form-urlencoded"


class Unreadable(ValueError):
    """The request's fields cannot be read; the message says why."""


def _pairs(raw: str, fields: dict[str, bytes]) -> None:
    try:
        # latin-1 maps each byte to one character: the bytes come back as they were sent.
        pairs = urllib.parse.parse_qsl(raw, keep_blank_values=True, encoding="latin-1")
    except ValueError as exc:
        raise Unreadable(str(exc)) from None
    for key, value in pairs:
        data = value.encode("latin-1")
        if len(data) > MAX_FIELD:
            raise Unreadable(f"field {key[:40]!r} is over {MAX_FIELD} bytes")
        fields.setdefault(key, data)  # the first of a repeated field counts, as in Kannel


async def request_fields(request: web.Request) -> dict[str, bytes]:
    """The query's fields, then a form body's, each as the bytes sent; the first wins.

    Raises:
        Unreadable: a field is too long, or the query cannot be parsed.
    """
    fields: dict[str, bytes] = {}
    _pairs(request.rel_url.raw_query_string, fields)
    if request.method == "POST" and request.content_type == FORM:
        body = await request.read()
        _pairs(body.decode("latin-1"), fields)
    return fields


def text_of(fields: Mapping[str, bytes], name: str) -> str | None:
    """A field as UTF-8 text (names, numbers, URLs), or None when absent.

    Raises:
        Unreadable: it is not UTF-8.
    """
    value = fields.get(name)
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable(f"{name} is not UTF-8") from None


def fill_escapes(template: str, values: Mapping[str, str]) -> str:
    """*template* with each ``%x`` escape of *values* replaced by its value, percent-encoded.

    ``%%`` is one ``%``; an escape *values* lacks is left as it is, as Kannel leaves it.
    """
    out: list[str] = []
    index = 0
    while index < len(template):
        char = template[index]
        if char == "%" and index + 1 < len(template):
            code = template[index + 1]
            if code == "%":
                out.append("%")
                index += 2
                continue
            if code in values:
                out.append(urllib.parse.quote(values[code], safe=""))
                index += 2
                continue
        out.append(char)
        index += 1
    return "".join(out)
