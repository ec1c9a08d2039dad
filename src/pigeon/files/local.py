"""Local-directory blob backend: ``<root>/blobs/ab/<key>`` and ``<root>/partial/<id>``.

Blocking file operations run in worker threads so a slow disk never stalls the
event loop; appends are buffered so a stream of small network reads becomes a
few large writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from pathlib import Path
from typing import BinaryIO

from pigeon.files.blobs import SealedBlob, check_key, check_upload_id

_WRITE_BUFFER = 256 * 1024
_READ_CHUNK = 1024 * 1024
HEAD_BYTES = 4096


def _fsync_and_close(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


class _LocalWriter:
    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self._handle = handle
        self._path = path
        self._buffer = bytearray()

    async def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= _WRITE_BUFFER:
            await self._flush()

    async def _flush(self) -> None:
        if self._buffer:
            chunk, self._buffer = bytes(self._buffer), bytearray()
            await asyncio.to_thread(self._handle.write, chunk)

    async def close(self) -> int:
        try:
            await self._flush()
        finally:
            await asyncio.to_thread(_fsync_and_close, self._handle)
        return self._path.stat().st_size


def _hash_file(path: Path) -> tuple[str, int, bytes]:
    digest = hashlib.sha256()
    size = 0
    head = b""
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            if not head:
                head = chunk[:HEAD_BYTES]
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size, head


def _write_new(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class LocalBlobStore:
    """Blobs in a directory on this machine (or a shared mount, for a cluster)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "blobs"
        self._partials = root / "partial"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._partials.mkdir(parents=True, exist_ok=True)

    def _blob_path(self, key: str) -> Path:
        return self._blobs / check_key(key)[:2] / key

    def _partial_path(self, upload_id: str) -> Path:
        return self._partials / check_upload_id(upload_id)

    async def partial_size(self, upload_id: str) -> int | None:
        try:
            return self._partial_path(upload_id).stat().st_size
        except FileNotFoundError:
            return None

    async def create_partial(self, upload_id: str) -> None:
        path = self._partial_path(upload_id)
        await asyncio.to_thread(path.touch, exist_ok=True)

    async def append(self, upload_id: str) -> _LocalWriter:
        path = self._partial_path(upload_id)
        handle = await asyncio.to_thread(path.open, "ab")
        return _LocalWriter(handle, path)

    async def discard_partial(self, upload_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self._partial_path(upload_id).unlink)

    async def seal(self, upload_id: str) -> SealedBlob:
        partial = self._partial_path(upload_id)
        key, size, head = await asyncio.to_thread(_hash_file, partial)
        target = self._blob_path(key)
        await asyncio.to_thread(self._move_into_place, partial, target)
        return SealedBlob(key, size, head)

    @staticmethod
    def _move_into_place(partial: Path, target: Path) -> None:
        if target.exists():
            partial.unlink()  # the same content is stored already
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, target)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(_write_new, self._blob_path(key), data)

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self._blob_path(key).unlink)

    def local_path(self, key: str) -> Path | None:
        path = self._blob_path(key)
        return path if path.is_file() else None
