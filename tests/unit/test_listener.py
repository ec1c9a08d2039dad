"""The listener's pure parts: the WebSocket frame-header scanner, the derived socket
cap, and the connection settings at their edges."""

from __future__ import annotations

import os
import resource
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from pigeon.config import Settings
from pigeon.listener import FrameScanner, derived_max_connections


def _frame(payload: bytes, *, masked: bool = True, opcode: int = 0x1) -> bytes:
    size = len(payload)
    flag = 0x80 if masked else 0
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, flag | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, flag | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, flag | 127, size)
    return header + (os.urandom(4) if masked else b"") + payload


def _feed_in_pieces(data: bytes, cuts: list[int]) -> int | None:
    """Feed ``data`` cut at ``cuts``; the absolute offset of the first unmasked frame."""
    scanner = FrameScanner()
    start = 0
    for end in [*sorted(set(cuts)), len(data)]:
        piece = data[start:end]
        found = scanner.feed(piece)
        if found is not None:
            return start + found
        start = end
    return None


SIZES = st.sampled_from([0, 1, 125, 126, 127, 65535, 65536, 70000])


@given(sizes=st.lists(SIZES, max_size=4), cuts=st.lists(st.integers(0, 300_000), max_size=8))
def test_masked_frames_pass_however_they_are_split(sizes: list[int], cuts: list[int]) -> None:
    data = b"".join(_frame(b"x" * n) for n in sizes)
    assert _feed_in_pieces(data, [c for c in cuts if c < len(data)]) is None


@given(sizes=st.lists(SIZES, max_size=3), cuts=st.lists(st.integers(0, 300_000), max_size=8))
def test_an_unmasked_frame_is_found_where_it_starts(sizes: list[int], cuts: list[int]) -> None:
    before = b"".join(_frame(b"y" * n) for n in sizes)
    data = before + _frame(b'{"t":"ping"}', masked=False) + _frame(b"z")
    found = _feed_in_pieces(data, [c for c in cuts if c < len(data)])
    # Where the read holding its second byte began, at the latest its first byte.
    assert found is not None
    assert found <= len(before) + 1


def test_an_unmasked_control_frame_counts_too() -> None:
    assert FrameScanner().feed(_frame(b"", masked=False, opcode=0x9)) == 0


def test_the_derived_cap_is_the_fd_limit_minus_the_reserve() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert derived_max_connections(100) == max(16, soft - 100)
    assert derived_max_connections(soft) == 16


@pytest.mark.parametrize(
    ("name", "bad", "edge"),
    [
        ("header_timeout_s", "0", "0.001"),
        ("keepalive_timeout_s", "0", "0.001"),
        ("max_connections", "0", "1"),
        ("fd_reserve", "-1", "0"),
        ("max_connections_per_ip", "0", "1"),
        ("max_pending_per_ip", "0", "1"),
        ("max_sockets_per_user", "0", "1"),
        ("metrics_port", "65536", "65535"),
        ("metrics_token", "x" * 15, "x" * 16),
    ],
)
def test_connection_settings_at_their_edges(
    monkeypatch: pytest.MonkeyPatch, name: str, bad: str, edge: str
) -> None:
    monkeypatch.setenv(f"PIGEON_{name.upper()}", bad)
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv(f"PIGEON_{name.upper()}", edge)
    value = getattr(Settings(), name)
    assert value == type(value)(edge)


def test_connection_defaults_keep_metrics_local(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("PIGEON_"):
            monkeypatch.delenv(name)
    settings = Settings()
    assert settings.metrics_port is None
    assert settings.metrics_token is None
    assert settings.metrics_host == "127.0.0.1"
    assert settings.max_connections is None
    assert settings.max_pending_per_ip < settings.max_connections_per_ip
