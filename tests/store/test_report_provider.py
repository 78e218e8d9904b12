"""The journal's contract: a report applies only to attempts through the provider that sent it.

Generated sends through several providers and generated reports naming them every way
(our reference, our message id, a provider's id, none) on every provider's URL.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from router.model import (
    Attempt,
    DeliveryReport,
    DeliveryStatus,
    Encoding,
    Message,
    Outcome,
    Recipient,
)
from router.store import MemoryStore, MessageStore, SQLiteStore

NOW = 1_700_000_000.0
NUMBERS = ("+61412345670", "+61412345671")
PROVIDERS = ("a", "b", "c")

sends = st.lists(
    st.tuples(st.sampled_from(PROVIDERS), st.sampled_from(["same", "own", "none"])),
    min_size=1,
    max_size=3,
)
reports = st.lists(
    st.tuples(
        st.sampled_from(PROVIDERS),
        st.integers(0, 3),  # which message the report names (3: none of ours)
        st.sampled_from(["ref", "message", "provider_id", "number"]),
        st.sampled_from(list(DeliveryStatus)),
    ),
    min_size=1,
    max_size=8,
)


def _ids(kind: str, m: int) -> list[str | None]:
    if kind == "same":
        return [f"p-{m}", f"p-{m}"]
    if kind == "own":
        return [f"p-{m}-0", f"p-{m}-1"]
    return [None, None]


def _report(provider: str, m: int, how: str, status: DeliveryStatus, j: int = 0) -> DeliveryReport:
    name = f"m{m}"
    return DeliveryReport(
        provider=provider,
        status=status,
        raw_status=status.value,
        ref=f"{name}-{j}" if how == "ref" else name if how in ("message", "number") else None,
        provider_message_id=f"p-{m}" if how == "provider_id" else None,
        recipient=NUMBERS[j] if how == "number" else None,
    )


async def _check(
    store: MessageStore,
    plan: list[tuple[str, str]],
    pushes: list[tuple[str, int, str, DeliveryStatus]],
) -> None:
    await store.open()
    try:
        through: dict[str, str] = {}
        for m, (provider, kind) in enumerate(plan):
            name = f"m{m}"
            message = Message(to=NUMBERS, text="Hi", providers=PROVIDERS, id=name)
            recipients = [Recipient(n, "AU", 61, f"{name}-{j}") for j, n in enumerate(NUMBERS)]
            await store.add(message, recipients, Encoding.GSM7, 1, NOW)
            refs = [r.ref for r in recipients]
            await store.attempt_started(name, provider, refs)
            for ref, pid in zip(refs, _ids(kind, m), strict=True):
                attempt = Attempt(provider, Outcome.ACCEPTED, provider_message_id=pid, at=NOW)
                await store.attempt_ended(name, ref, attempt)
            through[name] = provider
        for j, (provider, m, how, status) in enumerate(pushes):
            matched = await store.apply_report(_report(provider, m, how, status, j % 2), NOW + 1)
            if matched is not None:
                assert through[matched.message_id] == provider, (provider, m, how)
        for name, provider in through.items():
            record = await store.get(name)
            assert record is not None
            for r in record.recipients:
                if r.delivery is not None:
                    assert any(p == provider for p, *_ in pushes)
                    assert all(a.provider == provider for a in r.attempts)
    finally:
        await store.close()


@settings(max_examples=80, deadline=None)
@given(sends, reports, st.sampled_from(["memory", "sqlite"]))
def test_a_report_applies_only_through_its_own_provider(
    plan: list[tuple[str, str]],
    pushes: list[tuple[str, int, str, DeliveryStatus]],
    kind: str,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore() if kind == "memory" else SQLiteStore(Path(tmp) / "journal.db")
        asyncio.run(_check(store, plan, pushes))


def test_our_reference_on_another_providers_url_matches_nothing() -> None:
    async def run() -> None:
        store = MemoryStore()
        await _check(store, [("a", "own")], [("b", 0, "ref", DeliveryStatus.DELIVERED)])
        store = MemoryStore()
        await store.open()
        message = Message(to=NUMBERS, text="Hi", providers=PROVIDERS, id="m0")
        recipients = [Recipient(n, "AU", 61, f"m0-{j}") for j, n in enumerate(NUMBERS)]
        await store.add(message, recipients, Encoding.GSM7, 1, NOW)
        await store.attempt_started("m0", "a", ["m0-0"])
        await store.attempt_ended("m0", "m0-0", Attempt("a", Outcome.ACCEPTED, at=NOW))
        forged = _report("b", 0, "ref", DeliveryStatus.FAILED)
        assert await store.apply_report(forged, NOW) is None
        assert await store.apply_report(_report("a", 0, "ref", DeliveryStatus.DELIVERED), NOW)

    asyncio.run(run())
