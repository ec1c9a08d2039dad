"""The HTTP layer against a real server: body limits whatever the framing, multipart
robustness, security headers, local API docs, request ids and uncacheable tokens."""

from __future__ import annotations

import asyncio
import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from harness import ServerProcess, unique_name

from .wsclient import Account, Rest, assert_error, register

LIMIT = 64 * 1024
MAX_UPLOAD = 256 * 1024
TOO_LARGE, TRANSFER_CODING_UNSUPPORTED = 41300, 50100
MULTIPART_INVALID, MULTIPART_INCOMPLETE = 40030, 40031
BAD_CREDENTIALS = 40101


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("http"),
        {"PIGEON_MAX_REQUEST_BYTES": str(LIMIT), "PIGEON_MAX_UPLOAD_BYTES": str(MAX_UPLOAD)},
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rest(http: aiohttp.ClientSession, limited_server: ServerProcess) -> Rest:
    return Rest(http, limited_server)


# --- raw HTTP/1.1, so framing headers reach the server exactly as written


class RawHttp:
    """One keep-alive connection speaking HTTP/1.1 by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, server: ServerProcess) -> RawHttp:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        return cls(reader, writer)

    async def send(self, head: str, body: bytes = b"") -> None:
        self.writer.write(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        await self.writer.drain()

    async def response(self) -> tuple[int, dict[str, str], Any]:
        status_line = await asyncio.wait_for(self.reader.readline(), 30)
        assert status_line, "connection closed without a response"
        headers: dict[str, str] = {}
        while (line := await asyncio.wait_for(self.reader.readline(), 30)) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        assert b"Traceback" not in body, body
        return int(status_line.split()[1]), headers, orjson.loads(body) if body else None

    async def close(self) -> None:
        self.writer.close()
        await asyncio.gather(self.writer.wait_closed(), return_exceptions=True)


def chunked(payload: bytes, size: int = 16 * 1024) -> bytes:
    pieces = [payload[i : i + size] for i in range(0, len(payload), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def login_json(padding: int = 0) -> bytes:
    """A well-formed login of ``padding`` more bytes (unknown fields are ignored)."""
    return orjson.dumps({"username": "nobody", "password": "wrong-password", "pad": "x" * padding})


def assert_envelope(body: Any, code: int) -> None:
    assert isinstance(body, dict), body
    assert set(body) == {"code", "message", "data"}, body
    assert body["code"] == code, body


async def raw(
    server: ServerProcess, head: str, body: bytes = b""
) -> tuple[int, dict[str, str], Any]:
    conn = await RawHttp.open(server)
    try:
        await conn.send(head, body)
        return await conn.response()
    finally:
        await conn.close()


# --- request bodies: the limit holds on bytes actually read


@pytest.mark.parametrize("coding", ["gzip, chunked", "deflate, chunked", "x-made-up, chunked"])
async def test_an_unknown_transfer_coding_is_501(
    limited_server: ServerProcess, coding: str
) -> None:
    status, headers, body = await raw(
        limited_server,
        "POST /api/v1/auth/login HTTP/1.1\nHost: t\nContent-Type: application/json\n"
        f"Transfer-Encoding: {coding}\n",
        chunked(login_json()),
    )
    assert status == 501
    assert_envelope(body, TRANSFER_CODING_UNSUPPORTED)
    assert headers["connection"].lower() == "close"


async def test_uploads_refuse_unknown_transfer_codings_too(limited_server: ServerProcess) -> None:
    status, _, body = await raw(
        limited_server,
        "POST /api/v1/files HTTP/1.1\nHost: t\nContent-Type: multipart/form-data; boundary=b\n"
        "Transfer-Encoding: gzip, chunked\n",
        chunked(b"--b--\r\n"),
    )
    assert status == 501
    assert_envelope(body, TRANSFER_CODING_UNSUPPORTED)


async def test_a_chunked_body_is_limited_by_the_bytes_read(limited_server: ServerProcess) -> None:
    status, _, body = await raw(
        limited_server,
        "POST /api/v1/auth/login HTTP/1.1\nHost: t\nContent-Type: application/json\n"
        "Transfer-Encoding: chunked\n",
        chunked(login_json(padding=LIMIT)),
    )
    assert status == 413
    assert_envelope(body, TOO_LARGE)


async def test_a_chunked_body_within_the_limit_is_served(limited_server: ServerProcess) -> None:
    conn = await RawHttp.open(limited_server)
    try:
        for _ in range(2):  # and the connection stays usable
            await conn.send(
                "POST /api/v1/auth/login HTTP/1.1\nHost: t\nContent-Type: application/json\n"
                "Transfer-Encoding: chunked\n",
                chunked(login_json(padding=LIMIT - 200)),
            )
            status, _, body = await conn.response()
            assert status == 401
            assert_envelope(body, BAD_CREDENTIALS)
    finally:
        await conn.close()


async def test_any_method_is_limited(limited_server: ServerProcess) -> None:
    status, _, body = await raw(
        limited_server,
        "DELETE /api/v1/users/me/devices/x HTTP/1.1\nHost: t\nTransfer-Encoding: chunked\n",
        chunked(b"x" * (LIMIT + 1)),
    )
    assert status == 413
    assert_envelope(body, TOO_LARGE)


async def test_a_compressed_body_counts_its_decoded_size(limited_server: ServerProcess) -> None:
    packed = gzip.compress(login_json(padding=4 * LIMIT))
    assert len(packed) < LIMIT // 4  # the declared length is small, the body is not
    status, _, body = await raw(
        limited_server,
        "POST /api/v1/auth/login HTTP/1.1\nHost: t\nContent-Type: application/json\n"
        f"Content-Encoding: gzip\nContent-Length: {len(packed)}\n",
        packed,
    )
    assert status == 413
    assert_envelope(body, TOO_LARGE)


async def test_the_declared_length_edge(rest: Rest) -> None:
    padding = LIMIT - len(login_json())
    assert len(login_json(padding)) == LIMIT
    reply = await rest.call("POST", "auth/login", data=login_json(padding), headers=_JSON)
    assert_error(reply, 401, BAD_CREDENTIALS)
    reply = await rest.call("POST", "auth/login", data=login_json(padding + 1), headers=_JSON)
    assert_error(reply, 413, TOO_LARGE)


_JSON = {"Content-Type": "application/json"}


# --- multipart uploads: malformed bodies are client errors, truncated ones are not kept


def _part(content: bytes, extra_header: str = "") -> bytes:
    return (
        b'--bnd\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        + extra_header.encode()
        + b"Content-Type: text/plain\r\n\r\n"
        + content
    )


MALFORMED = {
    "no boundary": ("multipart/form-data", _part(b"hello") + b"\r\n--bnd--\r\n"),
    "garbage": ("multipart/form-data; boundary=bnd", b"garbage\r\n" * 200),
    "one long line": ("multipart/form-data; boundary=bnd", b"g" * 300_000),
    "long part header": (
        "multipart/form-data; boundary=bnd",
        _part(b"hello", f"X-Long: {'a' * 8200}\r\n") + b"\r\n--bnd--\r\n",
    ),
}
TRUNCATED = {
    "inside the file": _part(b"hello world, cut off"),
    "inside the closing boundary": _part(b"hello world") + b"\r\n--bnd",
    "before the closing boundary": _part(b"hello world") + b"\r\n",
}


def _stored_blobs(server: ServerProcess) -> list[Path]:
    root = server.data_dir / "files"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def _upload_raw(
    conn: RawHttp, account: Account, content_type: str, body: bytes
) -> tuple[int, Any]:
    await conn.send(
        f"POST /api/v1/files HTTP/1.1\nHost: t\nAuthorization: Bearer {account.access}\n"
        f"Content-Type: {content_type}\nContent-Length: {len(body)}\n",
        body,
    )
    status, _, reply = await conn.response()
    return status, reply


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_a_malformed_multipart_body_is_400_and_keeps_the_connection(
    rest: Rest, limited_server: ServerProcess, case: str
) -> None:
    account = await register(rest)
    content_type, body = MALFORMED[case]
    conn = await RawHttp.open(limited_server)
    try:
        status, reply = await _upload_raw(conn, account, content_type, body)
        assert status == 400, reply
        assert_envelope(reply, MULTIPART_INVALID)
        good = _part(b"fine") + b"\r\n--bnd--\r\n"
        status, reply = await _upload_raw(conn, account, "multipart/form-data; boundary=bnd", good)
        assert status == 201, reply
        assert reply["data"]["size"] == 4
    finally:
        await conn.close()
    assert "file request failed" not in limited_server.log()


@pytest.mark.parametrize("case", sorted(TRUNCATED))
async def test_a_multipart_body_without_its_closing_boundary_is_not_stored(
    rest: Rest, limited_server: ServerProcess, case: str
) -> None:
    account = await register(rest)
    before = _stored_blobs(limited_server)
    conn = await RawHttp.open(limited_server)
    try:
        status, reply = await _upload_raw(
            conn, account, "multipart/form-data; boundary=bnd", TRUNCATED[case]
        )
    finally:
        await conn.close()
    assert status == 400, reply
    assert_envelope(reply, MULTIPART_INCOMPLETE)
    assert _stored_blobs(limited_server) == before


async def test_an_upload_counts_the_bytes_it_reads_not_the_declared_length(
    rest: Rest, limited_server: ServerProcess
) -> None:
    account = await register(rest)
    before = _stored_blobs(limited_server)
    packed = gzip.compress(_part(b"\0" * (MAX_UPLOAD + 1)) + b"\r\n--bnd--\r\n")
    assert len(packed) < MAX_UPLOAD // 8  # the declared length is far under the limit
    conn = await RawHttp.open(limited_server)
    try:
        await conn.send(
            f"POST /api/v1/files HTTP/1.1\nHost: t\nAuthorization: Bearer {account.access}\n"
            "Content-Type: multipart/form-data; boundary=bnd\nContent-Encoding: gzip\n"
            f"Content-Length: {len(packed)}\n",
            packed,
        )
        status, _, reply = await conn.response()
    finally:
        await conn.close()
    assert status == 413
    assert_envelope(reply, 41310)
    assert _stored_blobs(limited_server) == before


# --- security headers on every kind of response


def _assert_hardened(headers: Any) -> None:
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    for loophole in ("http:", "https:", "*"):
        assert loophole not in policy
    assert re.fullmatch(r"[0-9A-Za-z._:\-]{1,64}", headers["X-Request-Id"])


@pytest.mark.parametrize("path", ["/", "/static/app.css", "/static/js/main.js", "/docs"])
async def test_pages_send_a_same_origin_policy(rest: Rest, path: str) -> None:
    reply = await rest.call("GET", path)
    assert reply.status == 200
    _assert_hardened(reply.headers)
    policy = reply.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "'unsafe-eval'" not in policy
    assert "script-src 'self'" in policy or "script-src" not in policy
    assert "'unsafe-inline'" not in policy


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/config"),
        ("GET", "/api/v1/users/me"),
        ("GET", "/healthz"),
        ("GET", "/openapi.json"),
        ("GET", "/api/v1/nothing-here"),
    ],
)
async def test_api_responses_are_hardened_too(rest: Rest, method: str, path: str) -> None:
    reply = await rest.call(method, path)
    _assert_hardened(reply.headers)
    assert reply.headers["Content-Security-Policy"].startswith("default-src 'none'")


async def test_rest_responses_carry_the_request_id(rest: Rest) -> None:
    echoed = await rest.call("GET", "/api/v1/config", headers={"X-Request-Id": "trace-42.a:b"})
    assert echoed.headers["X-Request-Id"] == "trace-42.a:b"
    failed = await rest.call("GET", "/api/v1/users/me", headers={"X-Request-Id": "trace-43"})
    assert failed.status == 401
    assert failed.headers["X-Request-Id"] == "trace-43"
    for insane in ("has space", "x" * 65, "<script>", "a\tb"):
        reply = await rest.call("GET", "/api/v1/config", headers={"X-Request-Id": insane})
        assert reply.headers["X-Request-Id"] != insane
        assert re.fullmatch(r"[0-9a-f]{16}", reply.headers["X-Request-Id"])
    one, two = await rest.call("GET", "/api/v1/config"), await rest.call("GET", "/api/v1/config")
    assert one.headers["X-Request-Id"] != two.headers["X-Request-Id"]


# --- /docs: Swagger UI from this server only


async def test_docs_reference_nothing_external_and_their_assets_load(rest: Rest) -> None:
    page = await rest.call("GET", "/docs")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert not re.search(r"(https?:)?//", page.text), page.text
    assert "<script>" not in page.text  # no inline script: the policy forbids it
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) >= 3, assets
    for asset in assets:
        assert asset.startswith("/"), asset
        async with rest.http.get(rest.server.base_url + asset) as loaded:
            body = await loaded.read()
            assert loaded.status == 200, asset
            assert body, asset
            if asset.endswith(".js"):
                assert "javascript" in loaded.headers["Content-Type"]
                assert not re.search(rb"""["'](https?:)?//cdn""", body), asset
    spec = await rest.call("GET", "/openapi.json")
    assert spec.status == 200
    assert spec.body["info"]["title"] == "Pigeon"


# --- tokens are never cached


async def test_token_responses_are_not_cacheable(rest: Rest) -> None:
    def uncacheable(reply: Any) -> None:
        assert reply.headers["Cache-Control"] == "no-store"
        assert reply.headers["Pragma"] == "no-cache"

    body = {"username": unique_name("nocache"), "password": "password-1"}
    registered = await rest.call("POST", "auth/register", json=body)
    assert registered.status == 201
    uncacheable(registered)
    logged_in = await rest.call("POST", "auth/login", json=body)
    assert logged_in.status == 200
    uncacheable(logged_in)
    refresh = {"refresh_token": logged_in.data["refresh_token"]}
    refreshed = await rest.call("POST", "auth/refresh", json=refresh)
    assert refreshed.status == 200
    uncacheable(refreshed)
