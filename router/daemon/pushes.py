"""Reading a provider's push: its query and form decoded in the provider's charset.

aiohttp decodes a form as UTF-8 (or a charset the push names) and fails on anything else,
which answered a push in cp1251, UTF-16 or broken multipart with a 500. Here the bytes
are read as sent and decoded strictly: in the charset the push declares when Python knows
it, else the provider's ``push_charset``; what cannot be decoded is :class:`Unreadable`,
never replaced by other characters.
"""

from __future__ import annotations

import codecs
import email.parser
import email.policy
from urllib.parse import unquote_to_bytes

from aiohttp import web

__all__ = ["Unreadable", "read_push"]


class Unreadable(ValueError):
    """A push whose query or body cannot be decoded; the message says where."""


def _charset(declared: str | None, default: str) -> str:
    if declared:
        try:
            return codecs.lookup(declared).name
        except LookupError:
            raise Unreadable(f"unknown charset {declared!r}") from None
    return default


def _pairs(data: bytes, charset: str, where: str) -> dict[str, str]:
    """``a=1&b=%CF`` percent-decoded to bytes, then decoded in *charset*; first value wins."""
    found: dict[str, str] = {}
    for field in data.split(b"&"):
        if not field:
            continue
        name, _, value = field.partition(b"=")
        try:
            key = unquote_to_bytes(name.replace(b"+", b" ")).decode(charset)
            text = unquote_to_bytes(value.replace(b"+", b" ")).decode(charset)
        except UnicodeDecodeError as exc:
            raise Unreadable(f"the {where} is not {charset} (at byte {exc.start})") from None
        found.setdefault(key, text)
    return found


def _multipart(content_type: str, body: bytes, charset: str) -> dict[str, str]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise Unreadable("the multipart body is broken")
    found: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue  # a file, or a part without a name: no push field
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            raise Unreadable(f"the multipart field {name!r} is broken")
        part_charset = _charset(part.get_content_charset(), charset)
        try:
            found.setdefault(name, payload.decode(part_charset))
        except UnicodeDecodeError as exc:
            raise Unreadable(f"the field {name!r} is not {part_charset} ({exc.start})") from None
    return found


async def read_push(request: web.Request, charset: str) -> tuple[dict[str, str], dict[str, str]]:
    """The push's query and form fields, decoded in *charset* unless the push names another.

    Raises:
        Unreadable: a part cannot be decoded (a wrong or unknown charset, broken multipart).
    """
    try:
        raw_query = request.rel_url.raw_query_string.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise Unreadable("the query is not percent-encoded bytes") from None
    query = _pairs(raw_query, charset, "query")
    if request.method != "POST":
        return query, {}
    body = await request.read()
    declared = _charset(request.charset, charset)
    if request.content_type == "multipart/form-data":
        form = _multipart(request.headers.get("Content-Type", ""), body, declared)
    elif declared.startswith(("utf-16", "utf-32")):  # not ASCII-compatible: decode first
        try:
            text = body.decode(declared)
        except UnicodeDecodeError as exc:
            raise Unreadable(f"the body is not {declared} (at byte {exc.start})") from None
        form = _pairs(text.encode("utf-8", "surrogatepass"), "utf-8", "body")
    else:
        form = _pairs(body, declared, "body")
    for fields in (query, form):
        if any("\x00" in k or "\x00" in v for k, v in fields.items()):
            raise Unreadable(f"a field holds NUL: the push is not {declared}")
    return query, form
