"""Redelivery against the emulators: a failed or expired final report sends the recipient
once more through the next provider of its route; never twice, never after a delivered
report, never with the option off, never once the report comes later than allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from router import CallbackKind, CallbackRequest
from tests.daemon.learning_support import ZA, Served, served

ON = {"policy": ["cheapest"], "redeliver_within": "10m"}


async def recipient(s: Served, message_id: str) -> dict[str, object]:
    record = await s.get(f"/v1/messages/{message_id}", "MessageRecord")
    [found] = record["recipients"]
    return dict(found)


@pytest.mark.parametrize("outcome", ["failed", "expired"])
async def test_a_failed_report_sends_it_once_more_through_the_next_provider(
    tmp_path: Path, outcome: str
) -> None:
    async with served(tmp_path, ("a", "b", "c"), ON) as s:
        s.emulators["a"].set_outcome("27", outcome)
        s.emulators["b"].set_outcome("27", "failed")  # fails too: still no third send
        result = await s.send(ZA, "m1")
        assert result.recipients[0].provider == "a"
        found = await recipient(s, "m1")
        assert found["provider"] == "b"
        assert [(a["provider"], a["outcome"]) for a in found["attempts"]] == [  # type: ignore[attr-defined]
            ("a", "accepted"),
            ("b", "accepted"),
        ]
        assert found["redelivered_from"] == "a"
        assert str(found["redelivery_reason"]).startswith(f"{outcome} report from a")
        assert found["delivery"]["status"] == "failed"  # type: ignore[index]  # b's report
        assert s.sent() == {"a": 1, "b": 1, "c": 0}
        async with s.client.get("/metrics") as answer:
            text = await answer.text()
        assert 'smsrouter_redeliveries_total{provider="a",status="accepted"} 1.0' in text


async def test_none_after_a_delivered_report(tmp_path: Path) -> None:
    async with served(tmp_path, ("a", "b"), ON) as s:
        await s.send(ZA, "m1")
        found = await recipient(s, "m1")
        assert (found["provider"], found["redelivered_from"]) == ("a", None)
        assert found["delivery"]["status"] == "delivered"  # type: ignore[index]
        assert s.sent() == {"a": 1, "b": 0}


async def test_none_with_the_option_off(tmp_path: Path) -> None:
    async with served(tmp_path, ("a", "b"), {"policy": ["cheapest"]}) as s:
        s.emulators["a"].set_outcome("27", "failed")
        await s.send(ZA, "m1")
        found = await recipient(s, "m1")
        assert (found["provider"], found["redelivered_from"]) == ("a", None)
        assert found["delivery"]["status"] == "failed"  # type: ignore[index]
        assert s.sent() == {"a": 1, "b": 0}


async def test_none_on_a_report_that_is_not_final_nor_one_that_comes_too_late(
    tmp_path: Path,
) -> None:
    async with served(tmp_path, ("a", "b"), ON) as s:
        s.emulators["a"].set_outcome("27", "none")  # a sends no report of its own
        result = await s.send(ZA, "m1")
        pmid = result.recipients[0].provider_message_id
        assert pmid is not None

        async def push(status: str) -> None:
            params = {"to": ZA[1:], "ref": "m1-0", "smsref": pmid, "status": status}
            await s.router.handle_callback("a", CallbackKind.DLR, CallbackRequest("GET", params))
            await s.settle()

        await push("Enroute")
        assert s.sent() == {"a": 1, "b": 0}
        s.clock.advance(11 * 60)
        await push("Failed")
        found = await recipient(s, "m1")
        assert (found["redelivered_from"], found["delivery"]["status"]) == (None, "failed")  # type: ignore[index]
        assert s.sent() == {"a": 1, "b": 0}
