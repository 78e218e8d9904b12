"""The README's embedding example, verbatim between the markers, and what it shows."""

from __future__ import annotations

# README example: begin
import router.testing
from router import Message, Router

config = {
    "router": {"policy": ["prefix", "cheapest"]},
    "providers": {
        "cheap": {"plugin": "fake", "prices": {"61": 0.04}, "outcome": "provider_error"},
        "backup": {"plugin": "fake", "prices": {"61": 0.05}},
    },
}


async def send_hello() -> list[str]:
    async with Router(config, plugins=[router.testing]) as sms:
        result = await sms.send(Message(to="+61412345678", text="Hello"))
    # The cheaper provider answered with an error, so the router failed over:
    return [f"{a.provider}: {a.outcome}" for a in result["+61412345678"].attempts]


# README example: end


async def test_the_readme_example_fails_over() -> None:
    assert await send_hello() == ["cheap: provider_error", "backup: accepted"]
