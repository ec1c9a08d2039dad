"""Files: uploads (whole or resumable), content analysis, access rules, signed links, GC.

Access rule (docs/files.md, "The file object"): a file is visible to its uploader and to
members who can read a message referencing it; to everyone else it does not
exist (FILE_NOT_FOUND, the same answer as for an unknown id). Signed links are
bearer capabilities: whoever holds an unexpired one may download that variant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pigeon.core.errors import CoreError
from pigeon.core.ids import IdPrefix, new_id, now_ms
from pigeon.core.ratelimit import KeyedLimiter
from pigeon.files.blobs import BlobStore, SealedBlob
from pigeon.files.decoder import ImageDecoder
from pigeon.files.images import INLINE_IMAGE_TYPES, ImageInfo, sniff
from pigeon.files.signing import FileError, UrlSigner
from pigeon.protocol.errors import ErrorCode
from pigeon.store.files import REFERENCING_KINDS, Completion, FileRecord, FileStore, Usage

log = logging.getLogger("pigeon.files")

_GC_BATCH = 200
_LOCK_WAIT_S = 10.0


@dataclass(frozen=True, slots=True)
class FileLimits:
    max_upload_bytes: int
    thumbnail_px: int
    url_ttl_s: int
    unreferenced_ttl_s: int
    gc_interval_s: float
    quota_bytes: int
    max_pending: int
    pending_ttl_s: int


@dataclass(frozen=True, slots=True)
class Download:
    path: Path
    mime: str
    inline: bool
    name: str
    expires_at: int


def _not_found() -> FileError:
    return FileError(ErrorCode.FILE_NOT_FOUND)


class FileService:
    def __init__(
        self,
        store: FileStore,
        blobs: BlobStore,
        signer: UrlSigner,
        limits: FileLimits,
        decoder: ImageDecoder,
        upload_rate: KeyedLimiter,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.signer = signer
        self.limits = limits
        self._upload_locks: dict[str, asyncio.Lock] = {}
        # Held while a blob moves into place and its row is pinned to it, and while
        # collection decides a blob is unused and deletes it: the two never interleave.
        self._blob_lock = asyncio.Lock()
        self.decoder = decoder
        self.upload_rate = upload_rate
        # Quota decisions for one user are taken one at a time on this node; bytes
        # reserved by one-shot uploads still streaming count as used.
        self._quota_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._reserved: dict[str, int] = {}
        self._gc_task: asyncio.Task[None] | None = None

    # --- uploads

    async def create_upload(self, owner_id: str, length: int | None, name: str) -> FileRecord:
        """Start a resumable upload of ``length`` bytes (counted against the quota now)."""
        self._check_size(length)
        self.upload_rate.check(owner_id, ErrorCode.UPLOAD_RATE_LIMITED)
        async with self._quota_lock(owner_id):
            usage = await self.store.usage(owner_id)
            if usage.pending >= self.limits.max_pending:
                raise FileError(
                    ErrorCode.TOO_MANY_PENDING_UPLOADS,
                    details={"max_pending_uploads": self.limits.max_pending},
                )
            self._check_room(owner_id, usage, length or 0)
            return await self._create(owner_id, length, name)

    def _check_size(self, length: int | None) -> None:
        if length is not None and length > self.limits.max_upload_bytes:
            raise FileError(
                ErrorCode.FILE_TOO_LARGE,
                f"file is larger than {self.limits.max_upload_bytes} bytes",
                {"max_upload_bytes": self.limits.max_upload_bytes},
            )

    def _room(self, owner_id: str, usage: Usage) -> int:
        return self.limits.quota_bytes - usage.bytes - self._reserved.get(owner_id, 0)

    def _check_room(self, owner_id: str, usage: Usage, wanted: int) -> int:
        """Bytes still free for ``owner_id``; raises unless ``wanted`` (and one byte) fit."""
        room = self._room(owner_id, usage)
        if room < max(wanted, 1):
            raise FileError(
                ErrorCode.STORAGE_QUOTA_EXCEEDED,
                details={"upload_quota_bytes": self.limits.quota_bytes, "free": max(room, 0)},
            )
        return room

    def _quota_lock(self, owner_id: str) -> asyncio.Lock:
        lock = self._quota_locks.get(owner_id)
        if lock is None:
            lock = self._quota_locks[owner_id] = asyncio.Lock()
        return lock

    async def _create(self, owner_id: str, length: int | None, name: str) -> FileRecord:
        file_id = new_id(IdPrefix.FILE)
        await self.store.create(file_id, owner_id, name, length, now_ms())
        await self.blobs.create_partial(file_id)
        record = await self.store.get(file_id)
        assert record is not None
        return record

    async def _owned(self, file_id: str, owner_id: str) -> FileRecord:
        record = await self.store.get(file_id)
        if record is None or record.owner_id != owner_id:
            raise _not_found()
        return record

    @contextlib.asynccontextmanager
    async def _upload_lock(self, file_id: str) -> AsyncIterator[None]:
        """One writer per upload; a request arriving while one runs waits for it a while.

        Waiting matters for resumption: a client whose connection dropped asks for
        the offset at once, while the server may still be storing the tail it got.
        """
        lock = self._upload_locks.setdefault(file_id, asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), _LOCK_WAIT_S)
        except TimeoutError:
            raise FileError(
                ErrorCode.UPLOAD_OFFSET_MISMATCH, "another request is writing this upload"
            ) from None
        try:
            yield
        finally:
            lock.release()
            if not lock.locked() and self._upload_locks.get(file_id) is lock:
                del self._upload_locks[file_id]

    async def offset(self, file_id: str, owner_id: str) -> tuple[int, FileRecord]:
        """Bytes received so far (tus HEAD), after any request still writing has finished."""
        async with self._upload_lock(file_id):
            record = await self._owned(file_id, owner_id)
            if record.complete:
                return record.length or 0, record
            size = await self.blobs.partial_size(file_id)
            if size is None:
                raise _not_found()
            return size, record

    async def append(
        self,
        file_id: str,
        owner_id: str,
        offset: int,
        chunks: AsyncIterator[bytes],
        content_length: int | None,
    ) -> tuple[int, FileRecord]:
        """Append a tus PATCH body at ``offset``; finishes the file when the last byte is in.

        Bytes received before a dropped connection are kept: the client resumes
        from the offset a HEAD reports.
        """
        async with self._upload_lock(file_id):
            record = await self._owned(file_id, owner_id)
            current = record.length if record.complete else await self.blobs.partial_size(file_id)
            if current is None or record.length is None:
                raise _not_found()
            if current != offset:
                raise FileError(
                    ErrorCode.UPLOAD_OFFSET_MISMATCH,
                    f"Upload-Offset must be {current}",
                    {"offset": current},
                )
            if record.complete:
                return current, record
            remaining = record.length - current
            if content_length is not None and content_length > remaining:
                raise FileError(ErrorCode.FILE_TOO_LARGE, "the body passes Upload-Length")
            await self.store.touch(file_id, now_ms())
            overflow = await self._write(file_id, chunks, remaining)
            size = await self.blobs.partial_size(file_id) or 0
            if size == record.length:
                record = await self._finish(file_id)
            if overflow:
                raise FileError(ErrorCode.FILE_TOO_LARGE, "the body passes Upload-Length")
            return size, record

    async def _write(self, file_id: str, chunks: AsyncIterator[bytes], limit: int) -> bool:
        """Stream ``chunks`` into the partial, at most ``limit`` bytes; True when more came."""
        writer = await self.blobs.append(file_id)
        written = 0
        try:
            async for chunk in chunks:
                room = limit - written
                if len(chunk) > room:
                    await writer.write(chunk[:room])
                    return True
                await writer.write(chunk)
                written += len(chunk)
        finally:
            await writer.close()
        return False

    async def upload_whole(
        self, owner_id: str, name: str, chunks: AsyncIterator[bytes]
    ) -> FileRecord:
        """A one-shot upload (multipart): stored only if it ends within the size limit
        and the owner's free quota, which it holds reserved while it streams."""
        self.upload_rate.check(owner_id, ErrorCode.UPLOAD_RATE_LIMITED)
        async with self._quota_lock(owner_id):
            usage = await self.store.usage(owner_id)
            room = self._check_room(owner_id, usage, 0)
            limit = min(self.limits.max_upload_bytes, room)
            self._reserved[owner_id] = self._reserved.get(owner_id, 0) + limit
            record = await self._create(owner_id, None, name)
        try:
            async with self._upload_lock(record.id):  # keeps collection away until done
                if await self._write(record.id, chunks, limit):
                    raise self._overflow(limit)
                return await self._finish(record.id)
        except BaseException:
            await self._remove(record.id)
            raise
        finally:
            left = self._reserved.pop(owner_id, 0) - limit
            if left > 0:
                self._reserved[owner_id] = left

    def _overflow(self, limit: int) -> FileError:
        if limit < self.limits.max_upload_bytes:
            return FileError(
                ErrorCode.STORAGE_QUOTA_EXCEEDED,
                details={"upload_quota_bytes": self.limits.quota_bytes, "free": limit},
            )
        return FileError(
            ErrorCode.FILE_TOO_LARGE,
            f"file is larger than {self.limits.max_upload_bytes} bytes",
            {"max_upload_bytes": self.limits.max_upload_bytes},
        )

    async def terminate(self, file_id: str, owner_id: str) -> None:
        """tus termination: the owner drops an upload, or a file no message references."""
        async with self._upload_lock(file_id):
            await self._owned(file_id, owner_id)
            if not await self._remove(file_id):
                raise FileError(ErrorCode.FILE_IN_USE)

    # --- finishing: seal, analyse, complete

    async def _finish(self, file_id: str) -> FileRecord:
        async with self._blob_lock:
            sealed = await self.blobs.seal(file_id)
            await self.store.set_blob(file_id, sealed.key)
        completion, thumbnail = await self._analyse(sealed)
        async with self._blob_lock:
            if thumbnail is not None and completion.thumb_key is not None:
                await self.blobs.put(completion.thumb_key, thumbnail)
            record = await self.store.complete(file_id, completion, now_ms())
        if record is None:
            raise _not_found()
        return record

    async def _analyse(self, sealed: SealedBlob) -> tuple[Completion, bytes | None]:
        known = await self.store.completed_with_blob(sealed.key)
        if known is not None and known.mime is not None:
            return Completion(
                sealed.key, sealed.size, known.mime, known.width, known.height,
                known.animated, known.thumb_key, known.thumb_mime,
            ), None  # fmt: skip
        mime = sniff(sealed.head)
        info = await self._inspect(sealed.key) if mime in INLINE_IMAGE_TYPES else None
        if info is None:
            return Completion(sealed.key, sealed.size, mime), None
        thumb_key = f"{sealed.key}-t{self.limits.thumbnail_px}"
        completion = Completion(
            sealed.key, sealed.size, info.mime, info.width, info.height,
            info.animated, thumb_key, info.thumbnail_mime,
        )  # fmt: skip
        return completion, info.thumbnail

    async def _inspect(self, key: str) -> ImageInfo | None:
        path = self.blobs.local_path(key)
        if path is None:
            return None
        return await self.decoder.inspect(path)

    # --- reading

    async def describe(self, file_id: str, user_id: str, base_url: str) -> dict[str, Any]:
        record = await self.store.readable_by(file_id, user_id)
        if record is None:
            raise _not_found()
        return self.public(record, base_url)

    def public(self, record: FileRecord, base_url: str) -> dict[str, Any]:
        """The contract's file object, with links signed for ``url_ttl_s`` from now."""
        exp = int(time.time()) + self.limits.url_ttl_s
        item: dict[str, Any] = {
            "id": record.id,
            "url": self._link(base_url, record.id, "content", exp),
            "mime": record.mime,
            "size": record.length,
            "name": record.name,
            "url_expires_at": exp * 1000,
        }
        if record.width is not None and record.height is not None:
            item.update(width=record.width, height=record.height, animated=record.animated)
        if record.thumb_key is not None:
            item["thumbnail_url"] = self._link(base_url, record.id, "thumbnail", exp)
        return item

    def _link(self, base_url: str, file_id: str, variant: str, exp: int) -> str:
        sig = self.signer.sign(file_id, variant, exp)
        return f"{base_url}/api/v1/files/{file_id}/{variant}?exp={exp}&sig={sig}"

    async def download(
        self, file_id: str, variant: str, exp: str | None, sig: str | None
    ) -> Download:
        self.signer.verify(file_id, variant, exp, sig, int(time.time()))
        record = await self.store.get(file_id)
        if record is None or not record.complete:
            raise _not_found()
        if variant == "thumbnail":
            key, mime, inline = record.thumb_key, record.thumb_mime, True
        else:
            key, mime = record.blob_key, record.mime
            inline = record.displayable and mime in INLINE_IMAGE_TYPES
        path = self.blobs.local_path(key) if key else None
        if path is None or mime is None:
            raise _not_found()
        return Download(path, mime, inline, record.name, int(exp or 0))

    # --- messages

    async def check_attachment(self, user_id: str, kind: str, body: dict[str, Any]) -> None:
        """An image/file message must name a complete file its sender uploaded.

        Raised as CoreError so the messaging path treats it like its own checks.
        """
        if kind not in REFERENCING_KINDS:
            return
        file_id = body.get("file_id")
        record = (
            await self.store.claim(file_id, user_id, now_ms()) if isinstance(file_id, str) else None
        )
        if record is None:
            raise CoreError(ErrorCode.FILE_NOT_FOUND)
        if kind == "image" and not record.displayable:
            raise CoreError(
                ErrorCode.INVALID_BODY,
                "body.file_id is not an image this server can display; send it as kind 'file'",
            )

    async def check_forwarded(self, user_id: str, kind: str, body: dict[str, Any]) -> None:
        """A forwarded image/file message shows a file its forwarder may read.

        The body is the original's, taken by the server from a message the forwarder
        reads, never from the client, so no one reaches a file they could not
        download already. Touching it keeps collection and retention from deleting
        it before the copy's reference is committed.
        """
        if kind not in REFERENCING_KINDS:
            return
        file_id = body.get("file_id")
        record = (
            await self.store.readable_by(file_id, user_id) if isinstance(file_id, str) else None
        )
        if record is None:
            raise CoreError(ErrorCode.FILE_NOT_FOUND)
        await self.store.touch(record.id, now_ms())

    async def delete(self, file_id: str) -> bool:
        """Delete a file now unless a live message or an avatar shows it (a deleted
        account's uploads, core/lifecycle.py); False when it is still in use."""
        return await self._remove(file_id)

    async def stored(self, file_ids: Sequence[str]) -> list[tuple[FileRecord, Path]]:
        """The complete files among ``file_ids`` with their blob's path (data export)."""
        found = []
        for file_id in file_ids:
            record = await self.store.get(file_id)
            if record is None or not record.complete or record.blob_key is None:
                continue
            path = self.blobs.local_path(record.blob_key)
            if path is not None:
                found.append((record, path))
        return found

    # --- garbage collection

    async def release(self, file_ids: Sequence[str], touched_before: int) -> int:
        """Delete those of ``file_ids`` no message references any more (retention
        removed theirs) and nobody touched since ``touched_before``; returns how many."""
        removed = 0
        for file_id in file_ids:
            if file_id in self._upload_locks:
                continue
            if await self.store.get(file_id) is None:
                continue  # another node released it
            if await self._remove(file_id, touched_before):
                removed += 1
        return removed

    async def _remove(self, file_id: str, touched_before: int | None = None) -> bool:
        """Delete an unreferenced file with its partial and any blob no other file uses."""
        async with self._blob_lock:
            record = await self.store.get(file_id)
            if record is None:
                return True
            if not await self.store.delete_unreferenced(file_id, touched_before):
                return False
            await self.blobs.discard_partial(file_id)
            for key in {record.blob_key, record.thumb_key} - {None}:
                if key is not None and not await self.store.blob_in_use(key):
                    await self.blobs.delete(key)
        return True

    async def collect_garbage(self) -> int:
        """Remove files nobody referenced for ``unreferenced_ttl_s`` and uploads left
        unfinished for ``pending_ttl_s``; returns how many."""
        now = now_ms()
        cutoff = now - self.limits.unreferenced_ttl_s * 1000
        pending_cutoff = now - self.limits.pending_ttl_s * 1000
        removed = 0
        for record in await self.store.stale(cutoff, _GC_BATCH, pending_cutoff):
            if record.id in self._upload_locks:
                continue  # a request is writing it right now
            if await self._remove(record.id, cutoff if record.complete else pending_cutoff):
                removed += 1
        return removed

    async def _collect_forever(self) -> None:
        while True:
            await asyncio.sleep(self.limits.gc_interval_s)
            try:
                removed = await self.collect_garbage()
            except Exception:
                log.exception("file garbage collection failed; retrying next round")
                continue
            if removed:
                log.info("files collected", extra={"removed": removed})

    def start(self) -> None:
        self._gc_task = asyncio.create_task(self._collect_forever(), name="file-gc")

    async def close(self) -> None:
        if self._gc_task is not None:
            self._gc_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gc_task
            self._gc_task = None
        self.decoder.close()
