"""A user's data as one zip archive (``POST /users/me/export``; layout in
docs/protocol.md, "Exporting your data", and in the README.txt inside).

The archive is written to a temporary file, entry by entry, never held in memory.
Its size is bounded by ``export_max_bytes``, counted as the bytes of the entries
before compression (a figure the user can reason about, unlike the compressed
size); the first entry that would pass it stops the export with 40090. A user may
export once per ``export_interval_s`` (42920 with ``retry_after``), which bounds
the work one account can ask of the server.

What is in it is what the user may read anyway: messages only inside their
membership windows (after joining; up to leaving, for a conversation they left),
recalled messages as recalled (no content), their own uploads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import zipfile
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from pigeon.core.clock import Clock
from pigeon.core.errors import CoreError
from pigeon.core.ratelimit import RateLimited
from pigeon.protocol.errors import ErrorCode
from pigeon.store.facade import Store
from pigeon.store.files import FileRecord
from pigeon.store.lifecycle import LifecycleStore
from pigeon.store.records import ConversationRecord, MemberRecord

_PAGE = 500  # messages read per query
_REMEMBERED = 10_000  # users whose last export is kept before the expired ones are dropped

README = """\
Pigeon data export
==================

This archive holds what the server keeps about your account, as of exported_at in
profile.json. Every file is UTF-8 JSON unless said otherwise; times are
milliseconds since 1970-01-01 UTC; people are named by user id.

profile.json             your account: id, username, display name, avatar,
                         settings, when it was created
contacts.json            friends, friend requests (sent and received) and the
                         people you blocked
people.json              the public profile of everyone named in this archive
conversations.json       every conversation you are or were in: kind, title, your
                         role and state, your settings (muted, pinned), and the
                         window of messages you may read (after join_seq; up to
                         left_seq once you left)
messages/<conv>.jsonl    that conversation's messages in your window, one JSON
                         object a line, oldest first, as clients receive them
                         (a recalled message says "recalled": true and has an
                         empty body)
files.json               the files you uploaded: id, name, type, size, and where
                         each is in this archive
files/<id>/<name>        the files themselves
"""


@dataclass(frozen=True, slots=True)
class ExportLimits:
    max_bytes: int
    interval_s: float


class _Bounded:
    """A zip being written, refusing the entry that would pass the byte bound."""

    def __init__(self, archive: zipfile.ZipFile, max_bytes: int) -> None:
        self.archive = archive
        self.max_bytes = max_bytes
        self.written = 0

    def check(self, size: int) -> None:
        """Refuse now when ``size`` more bytes would pass the bound."""
        if self.written + size > self.max_bytes:
            raise CoreError(
                ErrorCode.EXPORT_TOO_LARGE,
                f"your data is over the export limit of {self.max_bytes} bytes",
                {"max_bytes": self.max_bytes},
            )

    def _reserve(self, size: int) -> None:
        self.check(size)
        self.written += size

    def text(self, name: str, data: str | bytes) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self._reserve(len(raw))
        self.archive.writestr(name, raw)

    def json(self, name: str, value: Any) -> None:
        self.text(name, orjson.dumps(value, option=orjson.OPT_INDENT_2))

    def lines(self, name: str, rows: Iterable[bytes]) -> None:
        self.text(name, b"".join(row + b"\n" for row in rows))

    def blob(self, name: str, path: Path) -> None:
        self._reserve(path.stat().st_size)
        self.archive.write(path, name)


class DataExport:
    def __init__(
        self,
        store: Store,
        lifecycle: LifecycleStore,
        stored_files: Callable[[Sequence[str]], Awaitable[list[tuple[FileRecord, Path]]]],
        limits: ExportLimits,
        clock: Clock,
        temp_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.stored_files = stored_files
        self.limits = limits
        self.clock = clock
        self.temp_dir = temp_dir
        self._last: dict[str, int] = {}  # user -> when their last export began (this node)

    def _admit(self, user_id: str) -> None:
        """One export per ``interval_s`` per user, counted from when the last one began."""
        now = self.clock.now_ms()
        interval_ms = int(self.limits.interval_s * 1000)
        last = self._last.get(user_id)
        if last is not None and last + interval_ms > now:
            raise RateLimited((last + interval_ms - now) / 1000, ErrorCode.EXPORT_RATE_LIMITED)
        if len(self._last) >= _REMEMBERED:  # forget those whose interval is over
            self._last = {u: t for u, t in self._last.items() if t + interval_ms > now}
        self._last[user_id] = now

    async def export(self, user_id: str) -> Path:
        """Write the user's archive to a new temporary file; the caller removes it."""
        self._admit(user_id)
        handle, name = tempfile.mkstemp(prefix="pigeon-export-", suffix=".zip", dir=self.temp_dir)
        os.close(handle)
        path = Path(name)
        try:
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                await self._write(_Bounded(archive, self.limits.max_bytes), user_id)
        except BaseException:
            remove_quietly(path)
            raise
        return path

    async def _write(self, out: _Bounded, user_id: str) -> None:
        user = await self.store.accounts.user_by_id(user_id)
        if user is None:
            raise CoreError(ErrorCode.USER_NOT_FOUND)
        out.text("README.txt", README)
        out.json(
            "profile.json",
            {
                **user.public(),
                "dm_policy": user.dm_policy,
                "created_at": user.created_at,
                "exported_at": self.clock.now_ms(),
            },
        )
        contacts = await self.lifecycle.contacts(user_id)
        out.json("contacts.json", contacts)
        people = {user_id}
        people.update(f["user"] for f in contacts["friends"])
        people.update(b["user"] for b in contacts["blocked"])
        for request in contacts["friend_requests"]:
            people.update((request["from"], request["to"]))
        memberships = await self.lifecycle.memberships(user_id)
        out.json("conversations.json", [_conversation(c, m) for c, m in memberships])
        for _, member in memberships:
            people.update(await self._messages(out, member))
        await self._files(out, user_id)
        found = await self.store.accounts.users_by_ids(people)
        out.json("people.json", [found[u].public() for u in sorted(found)])

    async def _messages(self, out: _Bounded, member: MemberRecord) -> set[str]:
        """Write the member's readable messages of one conversation; returns the senders."""
        rows: list[bytes] = []
        size = 0
        senders: set[str] = set()
        after = 0
        while page := await self.lifecycle.readable_messages(member, after, _PAGE):
            for message in page:
                rows.append(orjson.dumps(message.public()))
                size += len(rows[-1]) + 1
                senders.add(message.sender_id)
            out.check(size)  # an over-large history stops the export here, not at its end
            after = page[-1].seq
        out.lines(f"messages/{member.conv_id}.jsonl", rows)
        return senders

    async def _files(self, out: _Bounded, user_id: str) -> None:
        listed = []
        stored = await self.stored_files(await self.lifecycle.owned_file_ids(user_id))
        for record, path in stored:
            inside = f"files/{record.id}/{_safe_name(record.name)}"
            listed.append(
                {
                    "id": record.id,
                    "name": record.name,
                    "mime": record.mime,
                    "length": record.length,
                    "created_at": record.created_at,
                    "path": inside,
                }
            )
            await asyncio.to_thread(out.blob, inside, path)
        out.json("files.json", listed)


def _conversation(conv: ConversationRecord, member: MemberRecord) -> dict[str, Any]:
    return {
        "id": conv.id,
        "kind": conv.kind,
        "title": conv.title,
        "visibility": conv.visibility,
        "dissolved_at": conv.dissolved_at,
        "role": member.role,
        "state": member.state,
        "joined_at": member.joined_at,
        "join_seq": member.join_seq,
        "left_seq": None if member.active else member.left_seq,
        "read_seq": member.read_seq,
        "muted": member.muted,
        "muted_until": member.muted_until,
        "pinned": member.pinned,
    }


def _safe_name(name: str) -> str:
    """A stored file name as one archive path component."""
    cleaned = name.replace("/", "_").replace("\\", "_").strip(". ") or "file"
    return cleaned[:200]


def remove_quietly(path: Path) -> None:
    """Delete a finished export once it has been sent."""
    with contextlib.suppress(OSError):
        path.unlink()
