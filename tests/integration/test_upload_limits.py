"""Abuse limits on files against a real server: decoded pixels, the server's memory,
per-user upload rate, storage quota and unfinished resumable uploads."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import zlib
from collections.abc import Callable
from functools import cache
from typing import Any

import aiohttp

from harness import ServerProcess

from .test_files import TUS, fetch, multipart, tus
from .wsclient import Account, Rest, assert_error, eventually, register

TOO_MANY_PENDING, STORAGE_QUOTA_EXCEEDED, UPLOAD_RATE_LIMITED = 40330, 41311, 42912
MIB = 1024 * 1024


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


@cache
def rgba_png(width: int, height: int, shade: int = 0) -> bytes:
    """A width x height 8-bit RGBA PNG that compresses to little: 4 bytes a pixel decoded."""
    row = b"\x00" + bytes([shade, 90, 160, 255]) * width
    packer = zlib.compressobj(6)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def header_only_png(side: int) -> bytes:
    """Just the signature and an IHDR claiming side x side pixels: nothing to decode."""
    header = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IEND", b"")


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (the server's image workers and forkserver)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":  # a zombie holds no memory and is no longer running
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def tree_rss_mib(pid: int) -> int:
    """Resident memory of a process and all its descendants."""
    total_kib = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total_kib += int(line.split()[1])
        except OSError:
            continue  # a worker that just exited
    return total_kib // 1024


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def _upload(rest: Rest, account: Account, content: bytes, name: str = "f.bin") -> Any:
    reply = await rest.call(
        "POST",
        "files",
        token=account.access,
        data=multipart(content, name),
        headers={"Content-Type": "multipart/form-data; boundary=pigeonboundary"},
    )
    return reply


async def _tus_create(rest: Rest, account: Account, length: int) -> tuple[int, Any]:
    name = base64.b64encode(b"part.bin").decode()
    return await tus(
        rest,
        "POST",
        rest.server.base_url + "/api/v1/uploads",
        account,
        **{"Upload-Length": str(length), "Upload-Metadata": f"filename {name}"},
    )


# --- decoding


async def test_big_images_are_files_and_the_servers_memory_stays_bounded(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory(env={"PIGEON_MAX_UPLOAD_BYTES": str(8 * MIB)})
    assert server.proc is not None
    rest = Rest(http, server)
    alice = await register(rest, "alice")
    # Warm up: the first image starts the decoding workers.
    warm = await _upload(rest, alice, rgba_png(64, 64), "warm.png")
    assert warm.status == 201, warm.text
    baseline = tree_rss_mib(server.proc.pid)

    # Four 6000 x 6000 RGBA images at once (144 MiB each decoded, a few hundred KiB
    # on the wire) and a header claiming 30000 x 30000: all kept as plain files.
    bombs = [rgba_png(6000, 6000, shade) for shade in range(4)] + [header_only_png(30_000)]
    replies = await asyncio.gather(
        *(_upload(rest, alice, bomb, f"big{n}.png") for n, bomb in enumerate(bombs))
    )
    for reply in replies:
        assert reply.status == 201, reply.text
        assert reply.data["mime"] == "image/png"
        assert "width" not in reply.data
        assert "thumbnail_url" not in reply.data
    status, _, headers = await fetch(http, replies[0].data["url"])
    assert status == 200
    assert headers["Content-Disposition"].startswith("attachment")

    # At the pixel limit an image is decoded (in a worker); one pixel row more is not.
    limit = (await rest.ok("GET", "config"))["limits"]["max_image_pixels"]
    assert limit == 4000 * 4000  # the default
    at_edge = await _upload(rest, alice, rgba_png(4000, 4000), "edge.png")
    assert at_edge.status == 201, at_edge.text
    assert (at_edge.data["width"], at_edge.data["height"]) == (4000, 4000)
    assert "thumbnail_url" in at_edge.data
    past_edge = await _upload(rest, alice, rgba_png(4000, 4001), "past.png")
    assert past_edge.status == 201, past_edge.text
    assert "width" not in past_edge.data
    for n in range(3):  # more decodes at the limit: each worker's memory goes with it
        reply = await _upload(rest, alice, rgba_png(4000, 4000, n + 1), f"edge{n}.png")
        assert reply.data["width"] == 4000

    # Generous: one decoded 6000 x 6000 image alone is 144 MiB; a decode in the
    # server's own process used to leave it hundreds of MiB larger for good.
    grown = tree_rss_mib(server.proc.pid) - baseline
    assert grown < 80, f"server and workers grew by {grown} MiB"


async def test_image_workers_leave_when_the_server_is_killed(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory()
    assert server.proc is not None
    rest = Rest(http, server)
    alice = await register(rest, "alice")
    reply = await _upload(rest, alice, rgba_png(64, 64), "small.png")
    assert reply.data["width"] == 64
    helpers = [pid for pid in process_tree(server.proc.pid) if pid != server.proc.pid]
    assert helpers  # the forkserver and an idle worker, at least
    server.kill()

    async def all_gone() -> bool:
        return not any(_running(pid) for pid in helpers)

    await eventually(all_gone, timeout=60, what="image workers to exit after the server died")


# --- rate, quota, unfinished uploads


async def test_uploads_are_rate_limited_per_user(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    # Three a minute: a fourth inside the test is always refused, however slow the machine.
    rest = Rest(http, server_factory(env={"PIGEON_UPLOAD_RATE_PER_MIN": "3"}))
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    assert (await _upload(rest, alice, b"one\n")).status == 201
    assert (await _tus_create(rest, alice, 10))[0] == 201
    assert (await _upload(rest, alice, b"three\n")).status == 201
    refused = await _upload(rest, alice, b"four\n")
    assert_error(refused, 429, UPLOAD_RATE_LIMITED)
    assert int(refused.headers["Retry-After"]) >= 1
    status, headers = await _tus_create(rest, alice, 10)
    assert status == 429
    assert int(headers["Retry-After"]) >= 1
    assert (await _upload(rest, bob, b"bob's own budget\n")).status == 201
    config = await rest.ok("GET", "config")
    assert config["limits"]["upload_rate_per_min"] == 3


QUOTA = 10_000


async def test_the_storage_quota_counts_files_and_unfinished_uploads_at_its_edge(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    rest = Rest(http, server_factory(env={"PIGEON_UPLOAD_QUOTA_BYTES": str(QUOTA)}))
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    assert (await _upload(rest, alice, b"a" * 6000)).status == 201
    # A resumable upload reserves its whole declared length at creation.
    status, headers = await _tus_create(rest, alice, QUOTA - 6000 + 1)
    assert status == 413
    status, headers = await _tus_create(rest, alice, QUOTA - 6000)  # exactly fills it
    assert status == 201
    pending = headers["Location"]
    assert (await _tus_create(rest, alice, 1))[0] == 413
    full = await _upload(rest, alice, b"b")
    assert_error(full, 413, STORAGE_QUOTA_EXCEEDED)
    assert full.body["data"]["upload_quota_bytes"] == QUOTA
    # Another user's quota is untouched.
    assert (await _upload(rest, bob, b"c" * QUOTA)).status == 201
    # Dropping the unfinished upload frees its reservation; a one-shot upload that
    # would pass the quota is refused and leaves nothing behind.
    assert (await tus(rest, "DELETE", pending, alice))[0] == 204
    over = await _upload(rest, alice, b"d" * (QUOTA - 6000 + 1))
    assert_error(over, 413, STORAGE_QUOTA_EXCEEDED)
    fits = await _upload(rest, alice, b"e" * (QUOTA - 6000))
    assert fits.status == 201, fits.text
    config = await rest.ok("GET", "config")
    assert config["limits"]["upload_quota_bytes"] == QUOTA


async def test_unfinished_uploads_are_capped_per_user_and_expire(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory(
        env={
            "PIGEON_MAX_PENDING_UPLOADS": "2",
            # The cap is checked over several requests before the first uploads expire:
            # the lifetime leaves room for them on a loaded machine.
            "PIGEON_PENDING_UPLOAD_TTL_S": "10",
            "PIGEON_FILE_GC_INTERVAL_S": "0.2",
        }
    )
    rest = Rest(http, server)
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    locations = []
    for _ in range(2):
        status, headers = await _tus_create(rest, alice, 4)
        assert status == 201
        locations.append(headers["Location"])
    status, _ = await _tus_create(rest, alice, 4)
    assert status == 403
    refused = await rest.call(
        "POST",
        "uploads",
        token=alice.access,
        headers={**TUS, "Upload-Length": "4"},
    )
    assert_error(refused, 403, TOO_MANY_PENDING)
    assert (await _tus_create(rest, bob, 4))[0] == 201
    # Finishing one makes room for another.
    status, _ = await tus(rest, "PATCH", locations[0], alice, b"done", **{"Upload-Offset": "0"})
    assert status == 204
    status, headers = await _tus_create(rest, alice, 4)
    assert status == 201
    finished = locations[0].rsplit("/", 1)[-1]

    async def abandoned_are_gone() -> bool:
        for location in (locations[1], headers["Location"]):
            if (await tus(rest, "HEAD", location, alice))[0] != 404:
                return False
        return True

    await eventually(abandoned_are_gone, what="abandoned uploads to be collected")
    # The finished file (unreferenced, but within its own longer lifetime) stays.
    assert (await rest.call("GET", f"files/{finished}", token=alice.access)).status == 200
    for _ in range(2):
        assert (await _tus_create(rest, alice, 4))[0] == 201
