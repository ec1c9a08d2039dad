"""Token buckets driven by an explicit clock, and the keyed limiter's bounded memory."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pigeon.core.ratelimit import KeyedLimiter, LoginGuard, RateLimited, TokenBucket
from pigeon.protocol.errors import ErrorCode


def _bucket(rate: float, burst: float) -> tuple[TokenBucket, float]:
    """A bucket and a clock origin at or after its creation (the bucket reads monotonic time)."""
    bucket = TokenBucket(rate, burst)
    return bucket, time.monotonic()


def test_full_burst_is_available_at_once_then_refused() -> None:
    bucket, t0 = _bucket(rate=1.0, burst=5)
    assert [bucket.take(t0) for _ in range(6)] == [True] * 5 + [False]


def test_refills_at_rate() -> None:
    bucket, t0 = _bucket(rate=2.0, burst=2)
    assert bucket.take(t0)
    assert bucket.take(t0)
    assert not bucket.take(t0 + 0.25)  # half a token
    assert bucket.take(t0 + 0.5)
    assert not bucket.take(t0 + 0.5)


def test_refill_is_capped_at_burst() -> None:
    bucket, t0 = _bucket(rate=10.0, burst=3)
    for _ in range(3):
        assert bucket.take(t0)
    later = t0 + 3600
    assert [bucket.take(later) for _ in range(4)] == [True, True, True, False]


def test_retry_after_says_when_a_token_is_back() -> None:
    bucket, t0 = _bucket(rate=4.0, burst=1)
    assert bucket.retry_after() == 0.0
    assert bucket.take(t0)
    assert not bucket.take(t0)
    wait = bucket.retry_after()
    assert wait == pytest.approx(0.25)
    assert bucket.take(t0 + wait + 1e-9)


@settings(max_examples=100)
@given(
    rate=st.floats(min_value=0.1, max_value=100),
    burst=st.integers(min_value=1, max_value=50),
    steps=st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=60),
)
def test_never_allows_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: int, steps: list[float]
) -> None:
    bucket, now = _bucket(rate, burst)
    start, allowed = now, 0
    for step in steps:
        now += step
        allowed += bucket.take(now)
        assert bucket.retry_after() >= 0
    assert allowed <= burst + rate * (now - start) + 1e-6


@settings(max_examples=100)
@given(
    rate=st.floats(min_value=0.1, max_value=100),
    burst=st.integers(min_value=1, max_value=20),
    extra=st.integers(min_value=0, max_value=20),
)
def test_waiting_retry_after_always_lets_one_through(rate: float, burst: int, extra: int) -> None:
    bucket, now = _bucket(rate, burst)
    for _ in range(burst + extra):
        bucket.take(now)
    assert not bucket.take(now)
    assert bucket.take(now + bucket.retry_after() * (1 + 1e-9) + 1e-9)


# --- keyed limiter


def test_each_key_has_its_own_budget() -> None:
    limiter = KeyedLimiter(per_minute=3)
    assert [limiter.take("ip-a") for _ in range(3)] == [None] * 3
    wait = limiter.take("ip-a")
    assert wait is not None
    assert 0 < wait <= 20.0
    assert limiter.take("ip-b") is None


def test_memory_stays_bounded_by_max_keys() -> None:
    limiter = KeyedLimiter(per_minute=1, max_keys=50)
    for index in range(1000):
        limiter.take(f"attacker-{index}")
    assert len(limiter._buckets) == 50


def test_least_recently_used_key_is_forgotten_first() -> None:
    limiter = KeyedLimiter(per_minute=1, max_keys=3)
    assert limiter.take("old") is None
    assert limiter.take("busy") is None
    assert limiter.take("old") is not None  # exhausted, and now the most recently used
    assert limiter.take("busy") is not None
    limiter.take("k1")  # fills the table: old, busy, k1
    limiter.take("k2")  # one too many: "old" was used least recently and goes
    assert limiter.take("busy") is not None  # still remembered, still exhausted
    assert limiter.take("old") is None  # forgotten: a fresh budget


def test_keyed_limiter_burst_can_differ_from_the_rate() -> None:
    limiter = KeyedLimiter(per_minute=0.6, burst=2)
    assert [limiter.take("u") for _ in range(2)] == [None, None]
    wait = limiter.take("u")
    assert wait is not None
    assert wait > 50
    assert limiter.wait("other") is None


def test_login_guard_spends_the_username_budget_only_on_unknown_addresses() -> None:
    guard = LoginGuard(per_address_per_min=100, failures_per_min=2)
    guard.succeeded("Owner", "10.0.0.1")
    for n in range(2):
        guard.check("owner", f"10.9.0.{n}")
        guard.failed("owner", f"10.9.0.{n}")
    with pytest.raises(RateLimited) as refused:
        guard.check("owner", "10.9.0.9")
    assert refused.value.code == ErrorCode.LOGIN_SLOWED
    assert refused.value.retry_after >= 1
    guard.check("OWNER ", "10.0.0.1")  # the known address passes, whatever the case
    guard.failed("owner", "10.0.0.1")  # and its failures cost the budget nothing
    guard.check("someone-else", "10.9.0.9")


def test_login_guard_limits_each_address_per_username() -> None:
    guard = LoginGuard(per_address_per_min=1, failures_per_min=100)
    guard.check("a", "10.0.0.1")
    with pytest.raises(RateLimited) as refused:
        guard.check("a", "10.0.0.1")
    assert refused.value.code == ErrorCode.RATE_LIMITED
    guard.check("a", "10.0.0.2")
    guard.check("b", "10.0.0.1")
