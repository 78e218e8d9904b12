"""The README's webhook section tells the truth: its receiver is the tested one."""

from __future__ import annotations

from pathlib import Path

from router.webhooks import EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, EventType

ROOT = Path(__file__).resolve().parent.parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_receiver_is_the_tested_one() -> None:
    tested = (Path(__file__).parent / "readme_receiver.py").read_text(encoding="utf-8")
    block = tested.split("# README webhook receiver: begin\n")[1]
    block = block.split("# README webhook receiver: end")[0]
    assert f"```python\n{block.strip()}\n```" in README


def test_the_readme_names_every_event_header_and_endpoint() -> None:
    section = README.split("### Webhooks\n")[1].split("\n### ")[0]
    for name in [*EventType, SIGNATURE_HEADER, EVENT_ID_HEADER, EVENT_TYPE_HEADER]:
        assert name in section, name
    assert "/v1/events?state=dead" in section
    assert "/v1/events/EVENT_ID/retry" in section
    assert "smsrouter_webhook_events_total{outcome}" in section
