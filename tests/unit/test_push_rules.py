"""Pure rules of offline push: do-not-disturb windows, clock parsing, retry backoff."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pigeon.push.dispatcher import RetryPolicy
from pigeon.push.prefs import Preferences, parse_clock, valid_time_zone


def at(hour: int, minute: int = 0) -> int:
    return int(datetime(2026, 1, 15, hour, minute, tzinfo=UTC).timestamp() * 1000)


def test_a_window_within_one_day() -> None:
    prefs = Preferences(dnd_start=parse_clock("12:00"), dnd_end=parse_clock("13:30"))
    assert not prefs.quiet_at(at(11, 59))
    assert prefs.quiet_at(at(12, 0))
    assert prefs.quiet_at(at(13, 29))
    assert not prefs.quiet_at(at(13, 30))


def test_a_window_across_midnight_in_the_users_time_zone() -> None:
    # 22:00-07:00 in Tokyo (UTC+9) is 13:00-22:00 UTC
    prefs = Preferences(dnd_start=1320, dnd_end=420, time_zone="Asia/Tokyo")
    assert prefs.quiet_at(at(13, 0))
    assert prefs.quiet_at(at(21, 59))
    assert not prefs.quiet_at(at(22, 0))
    assert not prefs.quiet_at(at(12, 59))


def test_no_window_or_an_empty_one_is_never_quiet() -> None:
    assert not Preferences().quiet_at(at(3))
    assert not Preferences(dnd_start=600, dnd_end=600).quiet_at(at(10))


@pytest.mark.parametrize("text", ["7:00", "24:00", "12:60", "ab:cd", "1200", "", "12:00:00"])
def test_bad_clock_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="time must be"):
        parse_clock(text)


def test_time_zones_are_iana_names() -> None:
    assert valid_time_zone("Europe/Paris")
    assert valid_time_zone("UTC")
    assert not valid_time_zone("Mars/Olympus_Mons")
    assert not valid_time_zone("../../etc/passwd")


def test_backoff_doubles_up_to_the_cap_with_jitter_below() -> None:
    policy = RetryPolicy(max_attempts=10, base_s=2.0, max_s=30.0)
    for attempts, full in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 30.0), (9, 30.0)]:
        for _ in range(50):
            assert full * 500 <= policy.delay_ms(attempts) <= full * 1000
