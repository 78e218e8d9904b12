"""The webhook receiver the README shows, kept here so the tests run it as written."""

from __future__ import annotations

# README webhook receiver: begin
import hashlib
import hmac
import json
import time

from aiohttp import web

SECRET = "the same secret as in [[webhooks]]"
seen: set[str] = set()


def verify(secret: str, header: str, body: bytes, tolerance: float = 300) -> bool:
    """Whether a Smsrouter-Signature header signs this raw body, and is recent."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if not fields.get("t", "").isdigit() or "v1" not in fields:
        return False
    signed = fields["t"].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    recent = abs(time.time() - int(fields["t"])) <= tolerance  # an old one is a replay
    return recent and hmac.compare_digest(expected, fields["v1"])


async def receive(request: web.Request) -> web.Response:
    """One event: check its signature, skip a repeat, act on it, answer 2xx."""
    body = await request.read()
    if not verify(SECRET, request.headers.get("Smsrouter-Signature", ""), body):
        return web.Response(status=401)
    event = json.loads(body)
    if event["id"] not in seen:  # at least once: the same event may come again
        seen.add(event["id"])
        print(event["type"], event["data"])
    return web.Response(status=204)


if __name__ == "__main__":
    app = web.Application()
    app.router.add_post("/smsrouter/events", receive)
    web.run_app(app, host="127.0.0.1", port=8000)
# README webhook receiver: end
