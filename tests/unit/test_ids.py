"""Opaque ids: prefix + 26 Crockford base32 characters, time first, random after."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pigeon.core import ids

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _decode(body: str) -> int:
    value = 0
    for char in body:
        value = value * 32 + ALPHABET.index(char)
    return value


def test_shape() -> None:
    value = ids.new_id("m_")
    assert value.startswith("m_")
    body = value[2:]
    assert len(body) == 26
    assert set(body) <= set(ALPHABET)


def test_alphabet_sorts_like_its_values() -> None:
    # Lexical order of ids equals numeric order only if the alphabet is ascending.
    assert list(ALPHABET) == sorted(ALPHABET)
    assert len(set(ALPHABET)) == 32


def test_ids_are_unique() -> None:
    made = {ids.new_id("u_") for _ in range(5000)}
    assert len(made) == 5000


@settings(max_examples=100)
@given(st.integers(min_value=0, max_value=2**48 - 1))
def test_time_is_in_the_leading_bits(ms: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ids, "now_ms", lambda: ms)
        value = ids.new_id("x")
    assert _decode(value[1:]) >> 80 == ms


@settings(max_examples=100)
@given(
    st.integers(min_value=0, max_value=2**48 - 2),
    st.integers(min_value=1, max_value=10**6),
)
def test_later_ids_sort_after_earlier_ones(ms: int, gap: int) -> None:
    later_ms = min(ms + gap, 2**48 - 1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ids, "now_ms", lambda: ms)
        earlier = ids.new_id("c_")
        patch.setattr(ids, "now_ms", lambda: later_ms)
        later = ids.new_id("c_")
    assert earlier < later


def test_now_ms_is_wall_clock_milliseconds() -> None:
    before = time.time() * 1000
    value = ids.now_ms()
    after = time.time() * 1000
    assert isinstance(value, int)
    assert before - 1 <= value <= after + 1


def test_every_kind_has_its_own_prefix() -> None:
    prefixes = [p.value for p in ids.IdPrefix]
    assert len(set(prefixes)) == len(prefixes)
    # No prefix may start another, or "f_…" could be a file or a friend request.
    for a in prefixes:
        for b in prefixes:
            assert a == b or not b.startswith(a), (a, b)
