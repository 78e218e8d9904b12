"""The daemon's own address and URL parts, checked the one way config and ``serve`` share.

:func:`split_listen` reads ``HOST:PORT`` and :func:`http_url` writes the URL it serves;
:func:`path_segment_problem` says why a text cannot be one segment of a callback URL's path
(a callback secret).
"""

from __future__ import annotations

import ipaddress
import string

PATH_SAFE = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@")
"""The characters one URL path segment holds as they are (RFC 3986 ``pchar``, less ``%``)."""


def split_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` -> ("127.0.0.1", 8080); ``"[::1]:80"`` -> ("::1", 80).

    Raises:
        ValueError: not HOST:PORT with a port from 0 to 65535 (an IPv6 host in brackets).
    """
    host, _, port = listen.rpartition(":")
    if not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT with a port up to 65535, got {listen!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} in brackets is not an IPv6 address") from None
    elif ":" in host or "[" in host or "]" in host:
        raise ValueError(f"expected HOST:PORT (an IPv6 host in brackets), got {listen!r}")
    if any(ch.isspace() for ch in host):
        raise ValueError(f"the host has a space in it: {listen!r}")
    return host, int(port)


def http_url(host: str, port: int) -> str:
    """The URL of a server on *host*, *port*: ``http://[::1]:80`` for an IPv6 host."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def path_segment_problem(text: str) -> str | None:
    """Why *text* cannot be one segment of a URL path as it is, or None; never quotes it."""
    if not text:
        return "is empty"
    wrong = sorted({ch for ch in text if ch not in PATH_SAFE})
    if wrong:
        return (
            f"holds {len(wrong)} kind(s) of character a URL path segment cannot carry as "
            "is (only letters, digits and -._~!$&'()*+,;=:@)"
        )
    return None
