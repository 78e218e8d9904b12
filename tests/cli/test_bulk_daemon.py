"""``smsrouter send --csv`` through a daemon, against the emulators.

The command is a real process (it is interrupted with SIGINT); the daemon it talks to over
loopback HTTP is the daemon's app served in the test's process.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from router.testing import Fault
from tests.cli.support import BulkRun, config_text, write_csv
from tests.daemon.support import TOKEN, sent_texts

Bulk = Callable[[Sequence[str]], BulkRun]


def numbers(n: int) -> str:
    """Row *n*'s number: two in three Australian (SMS Broadcast), the rest South African."""
    return f"+2782{n:07d}" if n % 3 == 2 else f"+614{n:08d}"


def all_sent(emulators: dict[str, Any]) -> Counter[str]:
    """How many times each text was sent, by either provider."""
    return Counter(sent_texts(emulators["broadcast"]) + sent_texts(emulators["office"]))


def headline(output: str) -> str:
    """The summary's first line, after the file's name."""
    return output.splitlines()[0].split(": ", 1)[1]


def provider_table(output: str) -> dict[str, list[str]]:
    """The summary's provider table: each row's cells after the name."""
    rows = {}
    for line in output.splitlines()[3:]:
        cells = line.split()
        if cells and cells[0] in ("broadcast", "office", "total"):
            rows[cells[0]] = cells[1:]
    return rows


async def test_a_thousand_rows_interrupted_and_resumed_send_each_once(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any, bulk: Bulk
) -> None:
    daemon = served_factory(config_text(tmp_path, emulators))
    await daemon.start()
    texts = [f"bulk row {n}" for n in range(1000)]
    rows = [(numbers(n), text) for n, text in enumerate(texts)]
    csv_file = write_csv(tmp_path / "campaign.csv", rows)
    # Slow the providers a little so the run is surely interrupted midway.
    for emulator in emulators.values():
        emulator.inject(Fault(operation="send", latency=0.004))
    args = ["--csv", str(csv_file), "--server", daemon.url, "--concurrency", "6"]

    first = bulk(args)
    for _ in range(400):
        if sum(all_sent(emulators).values()) >= 250:
            break
        assert first.process.poll() is None, first.err
        await asyncio.sleep(0.02)
    first.process.send_signal(signal.SIGINT)
    assert await first.wait() == 130, first.err
    assert "interrupted" in first.err
    sent_before = all_sent(emulators)
    assert 250 <= sum(sent_before.values()) < 1000
    assert set(sent_before.values()) == {1}
    # Every send under way at the interrupt ended and was counted: the summary is the truth.
    counted = re.fullmatch(r"1000 rows: (\d+) sent, (\d+) not sent", headline(first.out))
    assert counted is not None, first.out
    done = int(counted[1])
    assert int(counted[2]) == 1000 - done
    assert done == sum(sent_before.values())
    assert f"{1000 - done} rows not sent: run the same command again" in first.err

    for emulator in emulators.values():
        emulator.clear_faults()
    second = bulk(args)
    assert await second.wait() == 0, second.err
    assert headline(second.out) == f"1000 rows: {1000 - done} sent, {done} sent earlier"
    sent = all_sent(emulators)
    assert sent == Counter(texts), "a row was sent twice, or not at all"
    # Each row went where its number routes, and SMS Office never had two calls at once.
    office = sent_texts(emulators["office"])
    assert sorted(office) == sorted(t for n, t in enumerate(texts) if n % 3 == 2)
    assert emulators["office"].counters.violations == Counter()
    assert emulators["office"].counters.max_in_flight == 1
    table = provider_table(second.out)
    office_now = sum(1 for t in office if t not in sent_before)
    broadcast_now = 1000 - done - office_now
    assert table["office"][:2] == [str(office_now), str(333 - office_now)]
    assert table["broadcast"][:2] == [str(broadcast_now), str(667 - broadcast_now)]
    assert table["total"] == [
        str(1000 - done),
        str(done),
        str(1000 - done),
        f"{broadcast_now * 0.05 + office_now * 0.25:.2f}".rstrip("0").rstrip("."),
    ]

    third = bulk(args)
    assert await third.wait() == 0, third.err
    assert headline(third.out) == "1000 rows: 0 sent, 1000 sent earlier"
    assert all_sent(emulators) == Counter(texts)


async def test_bad_rows_are_reported_by_line_and_the_rest_are_sent(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any, bulk: Bulk
) -> None:
    daemon = served_factory(config_text(tmp_path, emulators))
    await daemon.start()
    csv_file = tmp_path / "mixed.csv"
    csv_file.write_text(
        "to,text,sender,reference\n"  # line 1
        "+61412345601,good one,,\n"  # 2
        "+61 4,bad number,,\n"  # 3
        "+61412345603,,,\n"  # 4: empty text
        "+61412345604,missing columns\n"  # 5
        "+61412345605,too many,Shop,r5,extra\n"  # 6
        '+61412345607,"good two\n'  # 7
        'on two lines",Shop,order-7\n'  # 8
        "+61412345609,duplicate reference,,order-7\n"  # 9
        "\n"  # 10: blank, skipped
        "0412345611,good three (national form),,\n"  # 11
        "+61412345612,sender too long,ThisIsTooLongASender,\n",  # 12
        encoding="utf-8",
    )
    run = bulk(["--csv", str(csv_file), "--server", daemon.url, "--token", TOKEN])
    assert await run.wait() == 1, run.err
    problems = sorted(line for line in run.err.splitlines() if line.startswith("line "))
    assert problems == [
        "line 12: bad: sender: an alphanumeric sender has at most 11 characters: "
        "'ThisIsTooLongASender'",
        "line 3: bad: to: '+61 4' is not a phone number (The string supplied is too short "
        "to be a phone number.)",
        "line 4: bad: text: is empty",
        "line 5: bad: expected 4 columns (to, text, sender, reference), got 2: no sender, "
        "reference",
        "line 6: bad: expected 4 columns (to, text, sender, reference), got 5: too many columns",
        "line 9: bad: reference: 'order-7' is also line 7's",
    ]
    assert headline(run.out) == "9 rows: 3 sent, 6 bad"
    assert "bad rows, by line: 3, 4, 5, 6, 9, 12" in run.out
    sent = emulators["broadcast"].counters.sent
    assert sorted((s["to"], s["message"], s["from"]) for s in sent) == [
        ("61412345601", "good one", ""),
        ("61412345607", "good two\non two lines", "Shop"),
        ("61412345611", "good three (national form)", ""),
    ]


async def test_a_wrong_token_or_no_daemon_stops_before_sending(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any, bulk: Bulk
) -> None:
    daemon = served_factory(config_text(tmp_path, emulators))
    await daemon.start()
    csv_file = write_csv(tmp_path / "one.csv", [("+61412345678", "hello")])
    run = bulk(["--csv", str(csv_file), "--server", daemon.url, "--token", "wrong"])
    assert await run.wait() == 1
    assert "the daemon refused the API token (HTTP 401)" in run.err
    assert sent_texts(emulators["broadcast"]) == []
