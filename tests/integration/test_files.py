"""Files against a real server: multipart and tus uploads, access, signed links, images."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from PIL import Image

from harness import WAIT_S, ServerProcess, unique_name

from .wsclient import Account, Rest, assert_error, direct, eventually, register

MAX_UPLOAD = 2 * 1024 * 1024
FILE_NOT_FOUND, FILE_URL_EXPIRED, FILE_URL_INVALID = 40404, 40310, 40311
UPLOAD_OFFSET_MISMATCH, FILE_TOO_LARGE, INVALID_BODY = 40910, 41310, 40003
TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture(scope="module")
def files_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("files"), {"PIGEON_MAX_UPLOAD_BYTES": str(MAX_UPLOAD)}
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rest(http: aiohttp.ClientSession, files_server: ServerProcess) -> Rest:
    return Rest(http, files_server)


# --- helpers


def jpeg_photo(width: int = 640, height: int = 480, orientation: int = 6) -> bytes:
    """A JPEG carrying EXIF orientation and a GPS-like tag, as phones write them."""
    image = Image.new("RGB", (width, height), (200, 40, 40))
    for x in range(0, width, 8):
        image.putpixel((x, x % height), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def huge_single_colour_png(side: int) -> bytes:
    """A side x side 1-bit PNG, tiny on disk: a decompression bomb for naive decoders."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    packer = zlib.compressobj(9)
    compressed = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", compressed)
        + chunk(b"IEND", b"")
    )


def multipart(content: bytes, filename: str, boundary: str = "pigeonboundary") -> bytes:
    """A multipart body written by hand, so the filename reaches the server exactly as given."""
    quoted = filename.replace('"', "%22")
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )


async def upload(
    rest: Rest, account: Account, content: bytes, filename: str = "f.bin", status: int = 201
) -> Any:
    async with rest.http.post(
        rest.server.base_url + "/api/v1/files",
        data=multipart(content, filename),
        headers={
            "Authorization": f"Bearer {account.access}",
            "Content-Type": "multipart/form-data; boundary=pigeonboundary",
        },
    ) as response:
        body = await response.json()
        assert response.status == status, body
        return body["data"] if status == 201 else body


async def fetch(http: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, bytes, Any]:
    async with http.get(url, headers=headers) as response:
        return response.status, await response.read(), response.headers


async def describe(rest: Rest, account: Account, file_id: str) -> Any:
    return await rest.ok("GET", f"files/{file_id}", token=account.access)


async def tus(
    rest: Rest, method: str, url: str, account: Account, data: bytes = b"", **headers: str
) -> tuple[int, Any]:
    sent = {**TUS, "Authorization": f"Bearer {account.access}", **headers}
    if method == "PATCH":
        sent.setdefault("Content-Type", "application/offset+octet-stream")
    async with rest.http.request(method, url, data=data, headers=sent) as response:
        await response.read()
        return response.status, response.headers


async def raw_request(server: ServerProcess, head: str, body: bytes = b"") -> bytes:
    """Send a request by hand; returns the response's status line and headers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(head.encode() + body)
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
    finally:
        writer.close()


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return parts._replace(query=urlencode(query)).geturl()


async def send_message(rest: Rest, sender: Account, conv: str, kind: str, body: Any) -> Any:
    payload = {"cid": unique_name("c"), "kind": kind, "body": body}
    return await rest.call(
        "POST", f"conversations/{conv}/messages", token=sender.access, json=payload
    )


# --- multipart


async def test_multipart_round_trip_with_dimensions_thumbnail_and_one_stored_copy(
    rest: Rest, files_server: ServerProcess
) -> None:
    alice = await register(rest, "alice")
    photo = jpeg_photo()
    first = await upload(rest, alice, photo, "holiday.jpg")
    assert first["mime"] == "image/jpeg"
    assert (first["size"], first["name"]) == (len(photo), "holiday.jpg")
    assert (first["width"], first["height"]) == (480, 640)  # orientation 6: shown rotated
    # Signed URLs and their expiry are minted per response, so two reads a second apart differ.
    minted = {"url": None, "thumbnail_url": None, "url_expires_at": None}
    assert await describe(rest, alice, first["id"]) | minted == first | minted
    status, content, headers = await fetch(rest.http, first["url"])
    assert (status, content) == (200, photo)
    assert headers["Content-Type"] == "image/jpeg"
    assert headers["Content-Disposition"].startswith("inline")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in headers["Content-Security-Policy"]
    status, thumb, headers = await fetch(rest.http, first["thumbnail_url"])
    assert status == 200
    with Image.open(io.BytesIO(thumb)) as image:
        assert max(image.size) <= 320
        assert image.size[1] > image.size[0]  # orientation applied
        assert not image.getexif()  # metadata stripped
    second = await upload(rest, alice, photo, "again.jpg")
    assert second["id"] != first["id"]
    originals = [p for p in (files_server.data_dir / "files" / "blobs").rglob("*") if p.is_file()]
    assert sum(p.read_bytes() == photo for p in originals) == 1


async def test_html_disguised_as_png_is_served_as_an_inert_attachment(rest: Rest) -> None:
    alice = await register(rest, "alice")
    page = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
    found = await upload(rest, alice, page, "cat.png")
    assert found["mime"] == "application/octet-stream"
    assert "width" not in found
    assert "thumbnail_url" not in found
    status, content, headers = await fetch(rest.http, found["url"])
    assert (status, content) == (200, page)
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"].startswith("attachment")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..", "file"),
    ],
)
async def test_filenames_lose_their_paths(rest: Rest, given: str, expected: str) -> None:
    alice = await register(rest, "alice")
    found = await upload(rest, alice, b"plain words\n", given)
    assert found["name"] == expected
    _, _, headers = await fetch(rest.http, found["url"])
    assert "/" not in headers["Content-Disposition"]


async def test_very_long_filenames_are_capped_keeping_the_extension(rest: Rest) -> None:
    alice = await register(rest, "alice")
    found = await upload(rest, alice, b"x", "a" * 5000 + ".txt")
    assert len(found["name"]) <= 255
    assert found["name"].endswith(".txt")
    location = await _tus_create(rest, alice, 1, "..\\..\\windows\\win.ini")
    assert (await tus(rest, "PATCH", location, alice, b"x", **{"Upload-Offset": "0"}))[0] == 204
    assert (await describe(rest, alice, location.rsplit("/", 1)[-1]))["name"] == "win.ini"


async def test_a_30000_square_png_is_kept_as_an_attachment_without_decoding(rest: Rest) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    bomb = huge_single_colour_png(30_000)
    assert len(bomb) < MAX_UPLOAD
    found = await upload(rest, alice, bomb, "bomb.png")
    assert found["mime"] == "image/png"
    assert "width" not in found
    assert "thumbnail_url" not in found
    status, _, headers = await fetch(rest.http, found["url"])
    assert status == 200
    assert headers["Content-Disposition"].startswith("attachment")
    conv = await direct(rest, alice, bob)
    image = {"file_id": found["id"], "width": 30_000, "height": 30_000}
    assert_error(await send_message(rest, alice, conv, "image", image), 400, INVALID_BODY)
    sent = await send_message(rest, alice, conv, "file", {"file_id": found["id"], "name": "b.png"})
    assert sent.status == 200, sent.text


async def test_too_large_uploads_get_413_before_the_body_is_read(
    rest: Rest, files_server: ServerProcess
) -> None:
    alice = await register(rest, "alice")
    head = (
        "POST /api/v1/files HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{files_server.port}\r\n"
        f"Authorization: Bearer {alice.access}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {50 * MAX_UPLOAD}\r\n\r\n"
    )
    answer = await raw_request(files_server, head)  # no body sent at all
    assert answer.startswith(b"HTTP/1.1 413"), answer
    status, _ = await tus(
        rest, "POST", files_server.base_url + "/api/v1/uploads/", alice,
        **{"Upload-Length": str(MAX_UPLOAD + 1)},
    )  # fmt: skip
    assert status == 413


async def test_chunked_upload_is_stopped_once_past_the_limit(rest: Rest) -> None:
    alice = await register(rest, "alice")

    async def endless() -> AsyncIterator[bytes]:
        yield b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
        for _ in range(4 * MAX_UPLOAD // 65536):
            yield b"\0" * 65536

    try:
        async with rest.http.post(
            rest.server.base_url + "/api/v1/files",
            data=endless(),
            headers={
                "Authorization": f"Bearer {alice.access}",
                "Content-Type": "multipart/form-data; boundary=xyz",
            },
        ) as response:
            body = await response.json()
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
        pytest.skip("the server closed the connection before the client read its answer")
    assert response.status == 413, body
    assert body["code"] == FILE_TOO_LARGE


# --- tus


async def _tus_create(rest: Rest, account: Account, length: int, name: str = "movie.bin") -> str:
    import base64

    metadata = f"filename {base64.b64encode(name.encode()).decode()}"
    url = rest.server.base_url + "/api/v1/uploads/"
    async with rest.http.post(
        url,
        headers={
            **TUS,
            "Authorization": f"Bearer {account.access}",
            "Upload-Length": str(length),
            "Upload-Metadata": metadata,
        },
    ) as response:
        assert response.status == 201, await response.text()
        assert response.headers["Tus-Resumable"] == "1.0.0"
        return response.headers["Location"]


async def _drop_mid_patch(
    server: ServerProcess, account: Account, path: str, offset: int, data: bytes, total: int
) -> None:
    """Start a PATCH promising ``total`` bytes, send ``data``, then cut the connection."""
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        (
            f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Authorization: Bearer {account.access}\r\nTus-Resumable: 1.0.0\r\n"
            "Content-Type: application/offset+octet-stream\r\n"
            f"Upload-Offset: {offset}\r\nContent-Length: {total}\r\n\r\n"
        ).encode()
        + data
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def test_tus_upload_resumes_after_a_dropped_connection(
    rest: Rest, files_server: ServerProcess
) -> None:
    alice = await register(rest, "alice")
    content = bytes(range(256)) * 4000  # 1,024,000 bytes
    async with rest.http.options(files_server.base_url + "/api/v1/uploads/") as response:
        assert response.status == 204
        assert "creation" in response.headers["Tus-Extension"]
        assert "termination" in response.headers["Tus-Extension"]
    location = await _tus_create(rest, alice, len(content))
    file_id = location.rsplit("/", 1)[-1]
    status, headers = await tus(
        rest, "PATCH", location, alice, content[:300_000], **{"Upload-Offset": "0"}
    )
    assert (status, headers["Upload-Offset"]) == (204, "300000")
    status, _ = await tus(rest, "PATCH", location, alice, b"late", **{"Upload-Offset": "0"})
    assert status == 409
    await _drop_mid_patch(
        files_server,
        alice,
        urlsplit(location).path,
        300_000,
        content[300_000:700_000],
        len(content) - 300_000,
    )

    def patches_done() -> int:
        path = urlsplit(location).path
        return sum(
            e.get("method") == "PATCH" and e.get("path") == path for e in files_server.events()
        )

    async def dropped_patch_finished() -> bool:
        return patches_done() == 3

    # The server keeps what it consumed before the cut (tus: "as many bytes as possible").
    await eventually(dropped_patch_finished, what="the dropped PATCH to be handled")
    status, headers = await tus(rest, "HEAD", location, alice)
    assert status == 200
    assert headers["Upload-Length"] == str(len(content))
    offset = int(headers["Upload-Offset"])
    assert 300_000 <= offset <= 700_000
    await rest.fails("GET", f"files/{file_id}", 404, FILE_NOT_FOUND, token=alice.access)
    status, headers = await tus(
        rest, "PATCH", location, alice, content[offset:], **{"Upload-Offset": str(offset)}
    )
    assert (status, headers["Upload-Offset"]) == (204, str(len(content)))
    found = await describe(rest, alice, file_id)
    assert (found["id"], found["size"], found["name"]) == (file_id, len(content), "movie.bin")
    status, body, _ = await fetch(rest.http, found["url"])
    assert (status, body) == (200, content)


async def test_tus_termination_and_ownership(rest: Rest, files_server: ServerProcess) -> None:
    alice, mallory = await register(rest, "alice"), await register(rest, "mallory")
    location = await _tus_create(rest, alice, 1000)
    assert (await tus(rest, "PATCH", location, alice, b"x" * 10, **{"Upload-Offset": "0"}))[
        0
    ] == 204
    assert (await tus(rest, "HEAD", location, mallory))[0] == 404
    assert (await tus(rest, "DELETE", location, mallory))[0] == 404
    assert (await tus(rest, "DELETE", location, alice))[0] == 204
    assert (await tus(rest, "HEAD", location, alice))[0] == 404
    status, _ = await tus(rest, "PATCH", location, alice, b"y", **{"Upload-Offset": "10"})
    assert status == 404
    async with rest.http.head(
        location, headers={"Authorization": f"Bearer {alice.access}"}
    ) as response:
        assert response.status == 412  # no Tus-Resumable header


# --- access and links


async def test_strangers_get_the_same_404_as_for_a_missing_file(rest: Rest) -> None:
    alice, stranger = await register(rest, "alice"), await register(rest, "stranger")
    found = await upload(rest, alice, b"secret notes\n", "notes.txt")
    mine = await rest.fails(
        "GET", f"files/{found['id']}", 404, FILE_NOT_FOUND, token=stranger.access
    )
    missing = await rest.fails("GET", "files/f_nothing", 404, FILE_NOT_FOUND, token=stranger.access)
    assert mine.body == missing.body
    await rest.fails("GET", f"files/{found['id']}", 401, 40100)


async def test_tampered_links_are_refused(rest: Rest) -> None:
    alice = await register(rest, "alice")
    url = (await upload(rest, alice, b"content\n", "c.txt"))["url"]
    sig = parse_qs(urlsplit(url).query)["sig"][0]
    exp = parse_qs(urlsplit(url).query)["exp"][0]
    for bad in (
        with_query(url, sig=("A" if sig[0] != "A" else "B") + sig[1:]),
        with_query(url, exp=str(int(exp) + 3600)),
        url.replace("/content?", "/thumbnail?"),
        url.split("?")[0],
    ):
        async with rest.http.get(bad) as response:
            body = await response.json()
            assert (response.status, body["code"]) == (403, FILE_URL_INVALID), bad


async def test_range_requests_return_the_asked_bytes(rest: Rest) -> None:
    alice = await register(rest, "alice")
    content = bytes(range(256)) * 64
    url = (await upload(rest, alice, content, "r.bin"))["url"]
    status, body, headers = await fetch(rest.http, url, Range="bytes=1000-1999")
    assert (status, body) == (206, content[1000:2000])
    assert headers["Content-Range"] == f"bytes 1000-1999/{len(content)}"


async def test_image_message_needs_the_senders_own_complete_file(rest: Rest) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    bobs = await upload(rest, bob, jpeg_photo(64, 48, 1), "b.jpg")
    conv = await direct(rest, alice, bob)
    for file_id in (bobs["id"], "f_missing"):
        body = {"file_id": file_id, "width": 64, "height": 48}
        assert_error(await send_message(rest, alice, conv, "image", body), 404, FILE_NOT_FOUND)
    location = await _tus_create(rest, alice, 100)
    half = {"file_id": location.rsplit("/", 1)[-1], "name": "half"}
    assert_error(await send_message(rest, alice, conv, "file", half), 404, FILE_NOT_FOUND)


async def test_a_recipient_of_an_image_message_can_fetch_it_and_its_thumbnail(rest: Rest) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    photo = jpeg_photo(800, 600, 1)
    found = await upload(rest, alice, photo, "view.jpg")
    conv = await direct(rest, alice, bob)
    await rest.fails("GET", f"files/{found['id']}", 404, FILE_NOT_FOUND, token=bob.access)
    body = {"file_id": found["id"], "width": 800, "height": 600, "caption": "look"}
    sent = await send_message(rest, alice, conv, "image", body)
    assert sent.status == 200, sent.text
    seen = await describe(rest, bob, found["id"])
    assert (seen["width"], seen["height"], seen["mime"]) == (800, 600, "image/jpeg")
    status, content, _ = await fetch(rest.http, seen["url"])
    assert (status, content) == (200, photo)
    status, thumb, headers = await fetch(rest.http, seen["thumbnail_url"])
    assert status == 200
    assert headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumb)) as image:
        assert image.size == (320, 240)


async def test_config_lists_files(rest: Rest) -> None:
    config = await rest.ok("GET", "config")
    assert "files" in config["features"]
    assert config["limits"]["max_upload_bytes"] == MAX_UPLOAD


# --- expiry and collection (their own server: short lifetimes)


async def test_links_expire_and_unreferenced_uploads_are_collected(
    http: aiohttp.ClientSession, server_factory: Any, tmp_path: Path
) -> None:
    # `kept` must be referenced by a message before the unreferenced-upload TTL runs
    # out: the conversation exists first, so only the send itself falls inside it, and
    # the TTL leaves a few seconds for that one request on a loaded machine.
    server = server_factory(
        "short",
        env={
            "PIGEON_FILE_URL_TTL_S": "1",
            "PIGEON_UNREFERENCED_FILE_TTL_S": "3",
            "PIGEON_FILE_GC_INTERVAL_S": "0.2",
        },
    )
    rest = Rest(http, server)
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    kept = await upload(rest, alice, b"kept\n", "kept.txt")
    sent = await send_message(rest, alice, conv, "file", {"file_id": kept["id"], "name": "k"})
    assert sent.status == 200, sent.text
    dropped = await upload(rest, alice, b"dropped\n", "dropped.txt")

    async def link_expired() -> bool:
        async with http.get(kept["url"]) as response:
            if response.status == 200:
                return False
            body = await response.json()
            assert (response.status, body["code"]) == (403, FILE_URL_EXPIRED)
            return True

    await eventually(link_expired, what="the signed link to expire")

    async def collected() -> bool:
        reply = await rest.call("GET", f"files/{dropped['id']}", token=alice.access)
        return reply.status == 404

    await eventually(collected, what="the unreferenced upload to be collected")
    fresh = await describe(rest, bob, kept["id"])
    status, content, _ = await fetch(http, fresh["url"])
    assert (status, content) == (200, b"kept\n")
