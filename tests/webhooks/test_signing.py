"""Signing a post, checking a signature, and the backoff schedule of retries."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest

from router.config import Duration, WebhookSettings
from router.redact import Secret
from router.webhooks import Event, EventType, event_body, retry_at, sign, verify

SECRET = "webhook-secret-0123456789"
T = 1_700_000_000


class Highest(random.Random):
    """Jitter that always draws the top of its range: the wait is the full backoff."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Lowest(random.Random):
    """Jitter that always draws the bottom of its range: half the backoff."""

    def uniform(self, a: float, b: float) -> float:
        return a


def hook(backoff: float, max_backoff: float, max_age: float) -> WebhookSettings:
    """A webhook with backoff settings."""
    return WebhookSettings(
        "app",
        "http://127.0.0.1:1/x",
        (EventType.INBOUND_MESSAGE,),
        Secret(SECRET),
        backoff=Duration(backoff),
        max_backoff=Duration(max_backoff),
        max_age=Duration(max_age),
    )


def test_the_signature_is_hmac_sha256_over_time_and_body() -> None:
    body = b'{"id":"evt_1"}'
    mac = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, T, body) == f"t=1700000000,v1={mac}"


def test_a_signature_verifies_only_for_its_body_secret_and_time() -> None:
    body = b'{"id":"evt_1"}'
    header = sign(SECRET, T, body)
    assert verify(SECRET, header, body, now=T + 299)
    assert verify(SECRET, header, body, now=T - 299)
    assert not verify(SECRET, header, body, now=T + 301)  # a replay, too late
    assert not verify(SECRET, header, body + b" ", now=T)
    assert not verify("another-secret-0123456789", header, body, now=T)
    forged = header.replace("t=1700000000", "t=1700000100")  # a fresh time on an old MAC
    assert not verify(SECRET, forged, body, now=T + 100)
    for broken in ("", "t=x,v1=00", "v1=00", f"t={T}", "garbage"):
        assert not verify(SECRET, broken, body, now=T)


def test_the_body_is_compact_json_of_the_whole_event() -> None:
    event = Event("evt_1", EventType.INBOUND_MESSAGE, 1.5, {"text": "Привет", "n": None})
    assert (
        event_body(event)
        == (
            '{"id":"evt_1","type":"inbound_message","created_at":1.5,'
            '"data":{"text":"Привет","n":null}}'
        ).encode()
    )


def test_the_backoff_doubles_up_to_its_cap() -> None:
    settings = hook(backoff=1.0, max_backoff=8.0, max_age=1000.0)
    waits = [retry_at(n, T, T, settings, Highest()) for n in range(1, 8)]
    assert [w - T for w in waits if w is not None] == [1, 2, 4, 8, 8, 8, 8]
    waits = [retry_at(n, T, T, settings, Lowest()) for n in range(1, 5)]
    assert [w - T for w in waits if w is not None] == [0.5, 1, 2, 4]
    assert retry_at(10_000, T, T, settings, Highest()) == T + 8


def test_the_jitter_stays_between_half_and_all_of_the_wait() -> None:
    settings = hook(backoff=2.0, max_backoff=60.0, max_age=1000.0)
    rng = random.Random(7)
    waits = {retry_at(3, T, T, settings, rng) for _ in range(200)}
    assert all(w is not None and T + 4 <= w <= T + 8 for w in waits)
    assert len(waits) > 100  # not one fixed value: receivers failing together come back apart


def test_the_last_try_is_at_max_age_then_it_is_dead() -> None:
    settings = hook(backoff=10.0, max_backoff=10.0, max_age=60.0)
    assert retry_at(5, T, T + 55, settings, Highest()) == T + 60
    assert retry_at(6, T, T + 60, settings, Highest()) is None
    assert retry_at(6, T, T + 61, settings, Highest()) is None


def test_a_removed_webhook_waits_with_the_defaults() -> None:
    assert retry_at(1, T, T, None, Highest()) == T + 1.0
    assert retry_at(30, T, T, None, Highest()) == T + 600.0
    assert retry_at(1, T, T + 86400.0, None, Highest()) is None


@pytest.mark.parametrize("attempts", [1, 2, 3])
def test_a_wait_never_passes_the_deadline(attempts: int) -> None:
    settings = hook(backoff=100.0, max_backoff=100.0, max_age=30.0)
    assert retry_at(attempts, T, T + 1, settings, Highest()) == T + 30
