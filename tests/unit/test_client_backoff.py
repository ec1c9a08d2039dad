"""Reconnect backoff: exponential caps, full jitter, bounded, reset after success."""

from __future__ import annotations

import random

import pytest

from pigeon.backoff import Backoff, ReconnectPolicy


def test_caps_double_up_to_the_maximum() -> None:
    backoff = Backoff(ReconnectPolicy(initial_delay=0.5, max_delay=8.0), random.Random(1))
    caps = []
    for _ in range(8):
        caps.append(backoff.cap())
        backoff.next_delay()
    assert caps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]


def test_delays_are_jittered_within_the_cap_and_grow() -> None:
    rng = random.Random(7)
    samples: dict[int, list[float]] = {n: [] for n in range(6)}
    for _ in range(300):
        backoff = Backoff(ReconnectPolicy(initial_delay=0.1, max_delay=3.0), rng)
        for n in range(6):
            cap = backoff.cap()
            delay = backoff.next_delay()
            assert 0.0 <= delay <= cap
            samples[n].append(delay)
    means = [sum(s) / len(s) for s in samples.values()]
    assert means == sorted(means)  # later attempts wait longer on average
    for delays in samples.values():
        assert len(set(delays)) == len(delays)  # jittered: no two alike
        assert min(delays) < max(delays) / 4  # full jitter reaches near zero


def test_reset_starts_over_and_huge_attempt_counts_stay_bounded() -> None:
    backoff = Backoff(ReconnectPolicy(initial_delay=1.0, max_delay=30.0, factor=10.0))
    for _ in range(5000):
        assert backoff.next_delay() <= 30.0
    assert backoff.cap() == 30.0
    backoff.reset()
    assert backoff.cap() == 1.0


def test_policy_is_validated() -> None:
    with pytest.raises(ValueError, match="initial_delay"):
        ReconnectPolicy(initial_delay=2.0, max_delay=1.0)
    with pytest.raises(ValueError, match="factor"):
        ReconnectPolicy(factor=0.5)
