"""The HTTP layer's own errors, over raw sockets: every one is the JSON envelope with
a code from the documented table (docs/protocol.md), never aiohttp's plain text.

Request lines and headers are written byte for byte, so the limits meet exactly
what a client sent.
"""

from __future__ import annotations

import asyncio

import pytest

from harness import WAIT_S, ServerProcess

from .test_http_defences import RawHttp, assert_envelope

BAD_REQUEST, NOT_FOUND, METHOD_NOT_ALLOWED = 40000, 40400, 40500
URI_TOO_LONG, HEADERS_TOO_LARGE = 41400, 43100
MAX_REQUEST_LINE = 8190  # docs/protocol.md, "REST conventions"


async def exchange(server: ServerProcess, data: bytes) -> tuple[int, dict[str, str], object]:
    """Send ``data`` as it is and read one response."""
    conn = await RawHttp.open(server)
    try:
        conn.writer.write(data)
        await conn.writer.drain()
        return await asyncio.wait_for(conn.response(), WAIT_S)
    finally:
        await conn.close()


def _line(target_length: int) -> bytes:
    """``GET /…?p=… HTTP/1.1`` with a request line of exactly ``target_length`` bytes."""
    fixed = len(b"GET /api/v1/none?p= HTTP/1.1")
    return b"GET /api/v1/none?p=" + b"a" * (target_length - fixed) + b" HTTP/1.1"


async def test_a_request_line_over_the_limit_is_414(shared_server: ServerProcess) -> None:
    # Only the line is sent: the server answers once it has read one byte too many.
    status, headers, body = await exchange(shared_server, _line(MAX_REQUEST_LINE + 2))
    assert status == 414
    assert headers["content-type"].startswith("application/json")
    assert headers["connection"].lower() == "close"
    assert_envelope(body, URI_TOO_LONG)


async def test_a_long_line_after_a_kept_alive_request_arriving_in_pieces_is_414(
    shared_server: ServerProcess,
) -> None:
    conn = await RawHttp.open(shared_server)
    try:
        await conn.send("GET /healthz HTTP/1.1\nHost: t\n")
        status, _, _ = await asyncio.wait_for(conn.response(), WAIT_S)
        assert status == 200
        line = _line(MAX_REQUEST_LINE + 2)
        for start in range(0, len(line), 3000):
            conn.writer.write(line[start : start + 3000])
            await conn.writer.drain()
        status, _, body = await asyncio.wait_for(conn.response(), WAIT_S)
        assert status == 414
        assert_envelope(body, URI_TOO_LONG)
    finally:
        await conn.close()


async def test_the_unread_body_of_a_413_is_not_taken_for_the_next_request_line(
    shared_server: ServerProcess,
) -> None:
    """A body refused from its Content-Length alone is drained, not read as a head;
    the request written right behind it on the same connection gets its own answer."""
    conn = await RawHttp.open(shared_server)
    try:
        body = b"x" * (1024 * 1024 + 10)  # one line longer than any request line
        head = (
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        conn.writer.write(head.encode())
        status, _, _ = await asyncio.wait_for(conn.response(), WAIT_S)
        assert status == 413
        # The rest of the body, with the next request pipelined into the same writes.
        stream = body + b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
        for start in range(0, len(stream), 64 * 1024 + 7):
            conn.writer.write(stream[start : start + 64 * 1024 + 7])
            await conn.writer.drain()
        status, _, _ = await asyncio.wait_for(conn.response(), WAIT_S)
        assert status == 200
    finally:
        await conn.close()


async def test_a_request_line_at_the_limit_is_read(shared_server: ServerProcess) -> None:
    status, _, body = await exchange(
        shared_server, _line(MAX_REQUEST_LINE) + b"\r\nHost: t\r\n\r\n"
    )
    assert status == 404
    assert_envelope(body, NOT_FOUND)


@pytest.mark.parametrize(
    "headers",
    [
        b"X-Long: " + b"a" * 9000 + b"\r\n",
        b"X-" + b"a" * 9000 + b": v\r\n",
        b"".join(b"X-H%d: v\r\n" % i for i in range(300)),
    ],
    ids=["long-value", "long-name", "too-many"],
)
async def test_oversized_headers_are_431(shared_server: ServerProcess, headers: bytes) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n"
    status, reply_headers, body = await exchange(shared_server, request)
    assert status == 431
    assert reply_headers["content-type"].startswith("application/json")
    assert_envelope(body, HEADERS_TOO_LARGE)


@pytest.mark.parametrize(
    "request_line",
    [b"GE\x01T / HTTP/1.1", b"GET / HTTP/9.9", b"GET  HTTP/1.1", b"GET /\x00 HTTP/1.1"],
    ids=["control-in-method", "unknown-version", "no-target", "nul-in-target"],
)
async def test_a_malformed_request_is_an_enveloped_400(
    shared_server: ServerProcess, request_line: bytes
) -> None:
    status, headers, body = await exchange(shared_server, request_line + b"\r\nHost: t\r\n\r\n")
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    assert_envelope(body, BAD_REQUEST)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        # a REST path with several routes: Allow names them all
        ("PUT", "/api/v1/users/me", {"GET", "PATCH", "DELETE"}),
        ("DELETE", "/api/v1/conversations/c_x/messages", {"GET", "POST"}),
        ("GET", "/api/v1/auth/login", {"POST"}),
        # aiohttp's own routes
        ("POST", "/healthz", {"GET", "HEAD"}),
        ("DELETE", "/ws", {"GET", "HEAD"}),
    ],
)
async def test_a_wrong_method_is_405_with_allow(
    shared_server: ServerProcess, method: str, path: str, allow: set[str]
) -> None:
    request = f"{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n".encode()
    status, headers, body = await exchange(shared_server, request)
    assert status == 405
    assert {m.strip() for m in headers["allow"].split(",")} == allow
    assert_envelope(body, METHOD_NOT_ALLOWED)


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/static/missing.js", "/nowhere"])
async def test_an_unknown_path_is_an_enveloped_404(shared_server: ServerProcess, path: str) -> None:
    status, headers, body = await exchange(
        shared_server, f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    )
    assert status == 404
    assert headers["content-type"].startswith("application/json")
    assert_envelope(body, NOT_FOUND)
