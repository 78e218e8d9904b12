"""``smsrouter send --csv --config``: bulk sending with a Router in the command's own process."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import router.testing
from router.cli import main
from router.cli.bulk import InProcessSender, send_row, send_rows
from router.cli.bulk_report import Progress, RowResult, RowStatus, Summary
from router.cli.bulk_rows import Row, derived_reference
from router.engine import Router
from router.model import Message, Outcome
from router.store import MemoryStore, MessageState
from router.testing import FakeProvider, Fault
from tests.cli.support import BulkRun, config_text, write_csv
from tests.daemon.support import sent_texts

Bulk = Callable[[Sequence[str]], BulkRun]


async def test_in_process_run_interrupted_and_resumed_sends_each_row_once(
    tmp_path: Path, emulators: dict[str, Any], bulk: Bulk
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path, emulators), encoding="utf-8")
    texts = [f"in-process row {n}" for n in range(300)]
    rows = [(f"+2782{n:07d}" if n % 4 == 3 else f"+614{n:08d}", t) for n, t in enumerate(texts)]
    csv_file = write_csv(tmp_path / "rows.csv", rows)
    for emulator in emulators.values():
        emulator.inject(Fault(operation="send", latency=0.005))
    args = ["--csv", str(csv_file), "--config", str(config), "--concurrency", "4"]

    def sent() -> Counter[str]:
        return Counter(sent_texts(emulators["broadcast"]) + sent_texts(emulators["office"]))

    first = bulk(args)
    for _ in range(500):
        if sum(sent().values()) >= 60:
            break
        assert first.process.poll() is None, first.err
        await asyncio.sleep(0.02)
    first.process.send_signal(signal.SIGINT)
    assert await first.wait() == 130, first.err
    done = sum(sent().values())
    assert 60 <= done < 300
    assert first.out.splitlines()[0].endswith(f": 300 rows: {done} sent, {300 - done} not sent")

    for emulator in emulators.values():
        emulator.clear_faults()
    second = bulk(args)
    assert await second.wait() == 0, second.err
    assert second.out.splitlines()[0].endswith(
        f": 300 rows: {300 - done} sent, {done} sent earlier"
    )
    assert sent() == Counter(texts)
    assert "cost (AUD)" in second.out.splitlines()[1]
    assert emulators["office"].counters.violations == Counter()


def _router(window: str = "20ms", **fake: Any) -> Router:
    config = {
        "router": {"policy": ["priority"], "on_ambiguous": "stop", "coalesce_window": window},
        "providers": {"fake": {"plugin": "fake", "prices": {"61": 0.04}, **fake}},
    }
    return Router(config, plugins=[router.testing], store=MemoryStore())


def _row(line: int, to: str = "+61412345678", text: str = "hi") -> Row:
    return Row(line, to, text, None, derived_reference(to, text, 0))


async def test_a_message_an_earlier_run_left_unsent_is_sent_once() -> None:
    sms = _router()
    rows = [_row(2, text="left queued"), _row(3, text="new")]
    async with InProcessSender(sms) as sender:
        # An earlier run journalled the first row and stopped before any attempt.
        record, _ = await sms.accept(
            Message("+61412345678", "left queued", reference=rows[0].reference)
        )
        assert record.state is MessageState.QUEUED
        summary = await send_rows(rows, sender, Summary(total=2), Progress(tty=False))
        fake = sms.provider("fake")
        assert isinstance(fake, FakeProvider)
        assert sorted(b.text for b in fake.batches) == ["left queued", "new"]
        stored = await sms.store.get(record.id)
        assert stored is not None
        assert stored.state is MessageState.DONE
    assert summary.counts == Counter({RowStatus.SENT: 2})
    assert summary.providers["fake"].cost == Decimal("0.08")


async def test_a_message_caught_mid_attempt_is_settled_not_resent() -> None:
    sms = _router()
    row = _row(2, text="in flight")
    async with InProcessSender(sms) as sender:
        record, _ = await sms.accept(Message(row.to, row.text, reference=row.reference))
        # An earlier run was killed after the request went out: the provider may have it.
        await sms.store.attempt_started(record.id, "fake", [f"{record.id}-0"])
        result = await sender.send(row)
        fake = sms.provider("fake")
        assert isinstance(fake, FakeProvider)
        assert fake.batches == []
    assert result == RowResult(
        2, RowStatus.AMBIGUOUS, "fake", 1, reason="fake: ambiguous: interrupted mid-attempt"
    )


async def test_a_campaign_shares_provider_requests_row_by_row_journalled() -> None:
    sms = _router("2s", coalesce=True, max_recipients=4)  # a window no machine misses
    numbers = [f"+6141234{n:04d}" for n in range(12)]
    rows = [_row(2 + n, to=number, text="sale today") for n, number in enumerate(numbers)]
    async with InProcessSender(sms) as sender:
        summary = await send_rows(rows, sender, Summary(total=12), Progress(tty=False))
        fake = sms.provider("fake")
        assert isinstance(fake, FakeProvider)
        # Eight rows under way at once, four to a call: fewer calls than rows, none too big.
        assert 3 <= len(fake.batches) < 12
        assert max(len(b.recipients) for b in fake.batches) == 4
        assert sorted(r.e164 for b in fake.batches for r in b.recipients) == numbers
        for row in rows:
            [record] = await sms.store.find(reference=row.reference)
            assert record.state is MessageState.DONE
    assert summary.counts == Counter({RowStatus.SENT: 12})


async def test_rows_the_router_refuses_are_bad_or_failed_and_the_rest_go_on() -> None:
    sms = _router(script=["accepted", "rejected_recipient", "provider_error"])
    rows = [_row(2, text="a"), _row(3, to="+61 4"), _row(4, text="b"), _row(5, text="c")]
    async with InProcessSender(sms) as sender:
        summary = await send_rows(
            rows, sender, Summary(total=4), Progress(tty=False), concurrency=1
        )
    assert summary.counts == Counter({RowStatus.SENT: 1, RowStatus.BAD: 1, RowStatus.FAILED: 2})
    assert summary.lines == {RowStatus.BAD: [3], RowStatus.FAILED: [4, 5]}


FAKE_CONFIG = """
[router]
plugins = ["router.testing"]
policy = ["priority"]

[providers.fake]
plugin = "fake"
prices = { "61" = 0.04 }
"""


def test_without_a_store_the_journal_is_the_daemons_default_so_a_rerun_resumes(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("config.toml").write_text(FAKE_CONFIG, encoding="utf-8")
    write_csv(Path("rows.csv"), [(f"+6141234560{n}", f"hello {n}") for n in range(5)])
    args = ["send", "--csv", "rows.csv", "--config", "config.toml"]
    assert main(args) == 0
    first = capsys.readouterr()
    assert first.out.splitlines() == [
        "rows.csv: 5 rows: 5 sent",
        "provider  sent  sent earlier  segments  cost (AUD)",
        "--------  ----  ------------  --------  ----------",
        "fake      5     0             5         0.2",
        "total     5     0             5         0.2",
    ]
    assert Path("smsrouter.db").exists()
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines()[0] == "rows.csv: 5 rows: 0 sent, 5 sent earlier"


def test_one_message_with_to_and_text_still_sends(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("config.toml").write_text(FAKE_CONFIG, encoding="utf-8")
    assert main(["send", "-c", "config.toml", "--to", "+61412345678", "--text", "hi"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(": gsm7, 1 segment(s)")
    assert out[3].split() == ["+61412345678", "accepted", "fake", "fake-1", "fake:accepted"]
    assert not Path("smsrouter.db").exists()


async def test_sigterm_ends_a_run_as_gently_as_ctrl_c(tmp_path: Path, bulk: Bulk) -> None:
    config = tmp_path / "config.toml"
    journal = tmp_path / "journal.db"
    slow = '\ndelay = 0.02\n\n[store]\nurl = "sqlite:///' + str(journal) + '"\n'
    config.write_text(FAKE_CONFIG + slow, encoding="utf-8")
    csv_file = write_csv(tmp_path / "rows.csv", [(f"+614123{n:05d}", "hi") for n in range(200)])
    args = ["--csv", str(csv_file), "--config", str(config), "--concurrency", "4"]
    first = bulk(args)
    for _ in range(500):
        if "20/200 rows" in first.err:
            break
        await asyncio.sleep(0.02)
    first.process.send_signal(signal.SIGTERM)
    assert await first.wait() == 130, first.err
    counted = first.out.splitlines()[0].split(": 200 rows: ")[1]
    done = int(counted.split()[0])
    assert 20 <= done < 200
    assert counted == f"{done} sent, {200 - done} not sent"
    second = bulk(args)
    assert await second.wait() == 0, second.err
    again = second.out.splitlines()[0]
    assert again.endswith(f": 200 rows: {200 - done} sent, {done} sent earlier")


async def test_a_rerun_sends_again_what_failed_unsent_and_only_that() -> None:
    sms = _router(outcome="provider_error")
    rows = [_row(2, text="outage"), _row(3, to="+61412345679", text="outage")]
    async with InProcessSender(sms) as sender:
        fake = sms.provider("fake")
        assert isinstance(fake, FakeProvider)
        first = await send_rows(rows, sender, Summary(total=2), Progress(tty=False))
        assert first.counts == Counter({RowStatus.FAILED: 2})
        fake.script(Outcome.ACCEPTED, Outcome.ACCEPTED)  # the provider is back
        second = await send_rows(rows, sender, Summary(total=2), Progress(tty=False))
        assert second.counts == Counter({RowStatus.SENT: 2})
        third = await send_rows(rows, sender, Summary(total=2), Progress(tty=False))
        assert third.counts == Counter({RowStatus.EARLIER: 2})
        assert len(fake.batches) == 4
        again = await sms.store.get(fake.batches[-1].message_id)
        assert again is not None
        assert again.reference in {f"{r.reference}~1" for r in rows}


async def test_a_failure_after_an_ambiguous_attempt_is_never_sent_again() -> None:
    config = {
        "router": {"policy": ["priority"], "on_ambiguous": "failover"},
        "providers": {
            "first": {"plugin": "fake", "priority": 1, "outcome": "ambiguous"},
            "second": {"plugin": "fake", "priority": 2, "outcome": "provider_error"},
        },
    }
    sms = Router(config, plugins=[router.testing], store=MemoryStore())
    row = _row(2, text="maybe out")
    async with InProcessSender(sms) as sender:
        first = await send_row(sender, row)
        assert (first.status, first.resendable) == (RowStatus.FAILED, False)
        again = await send_row(sender, row)
        assert (again.status, again.resendable) == (RowStatus.FAILED, False)
        assert again.reason.endswith("(an earlier run)")
        fake = sms.provider("first")
        assert isinstance(fake, FakeProvider)
        assert len(fake.batches) == 1
