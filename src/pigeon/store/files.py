"""Files and the messages that reference them.

A file row is created when an upload starts (``state = 'uploading'``) and
completed once its bytes are sealed into a blob. ``touched_at`` is the last time
anything showed interest in it (creation, an upload chunk, a send claiming it);
garbage collection removes files nobody referenced for a configured time.
``file_refs`` rows are written in the same transaction as the message that
references the file, so a recipient can read it as soon as the message exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    String,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from pigeon.protocol.membership import MemberState
from pigeon.store.engine import Conn, Database
from pigeon.store.schema import conversations, file_refs, files, members, messages, users

UPLOADING, COMPLETE = "uploading", "complete"
REFERENCING_KINDS = frozenset({"image", "file"})
# A user's or group's avatar is stored as this path plus an image file id; it keeps the file alive.
AVATAR_URL_PREFIX = "/api/v1/avatars/"


def shown_avatar(stored: str | None) -> str | None:
    """A stored avatar as clients see it: only the server's own avatar path. A link
    elsewhere, stored before avatars were limited to uploads, would tell that host
    who looks at it."""
    return stored if stored is not None and stored.startswith(AVATAR_URL_PREFIX) else None


@dataclass(frozen=True, slots=True)
class FileRecord:
    id: str
    owner_id: str
    state: str
    length: int | None
    name: str
    mime: str | None
    blob_key: str | None
    width: int | None
    height: int | None
    animated: bool
    thumb_key: str | None
    thumb_mime: str | None
    created_at: int
    touched_at: int

    @property
    def complete(self) -> bool:
        return self.state == COMPLETE

    @property
    def displayable(self) -> bool:
        """A decoded, allow-listed image within the pixel limit (it has dimensions)."""
        return self.complete and self.width is not None


@dataclass(frozen=True, slots=True)
class Usage:
    """What one user's files hold: bytes (unfinished uploads at their declared
    length) and how many resumable uploads are unfinished."""

    bytes: int
    pending: int


@dataclass(frozen=True, slots=True)
class Completion:
    """What finishing an upload learned about its content."""

    blob_key: str
    length: int
    mime: str
    width: int | None = None
    height: int | None = None
    animated: bool = False
    thumb_key: str | None = None
    thumb_mime: str | None = None


def _record(row: Any) -> FileRecord:
    return FileRecord(
        id=row.id,
        owner_id=row.owner_id,
        state=row.state,
        length=row.length,
        name=row.name,
        mime=row.mime,
        blob_key=row.blob_key,
        width=row.width,
        height=row.height,
        animated=bool(row.animated),
        thumb_key=row.thumb_key,
        thumb_mime=row.thumb_mime,
        created_at=row.created_at,
        touched_at=row.touched_at,
    )


def _shown_as_avatar(file_id: Any) -> Any:
    """Whether a user or a group shows the file as their avatar."""
    path = literal(AVATAR_URL_PREFIX, String) + file_id
    return or_(
        exists(select(users.c.id).where(users.c.avatar == path)),
        exists(select(conversations.c.id).where(conversations.c.avatar == path)),
    )


def _live_refs(file_id: Any) -> Any:
    """References from messages that still show the file (a recalled one does not)."""
    return (
        select(file_refs.c.file_id)
        .join(
            messages,
            and_(messages.c.conv_id == file_refs.c.conv_id, messages.c.seq == file_refs.c.seq),
        )
        .where(file_refs.c.file_id == file_id, messages.c.recalled.is_(False))
    )


async def reference_files(conn: Conn, rows: Sequence[Mapping[str, Any]]) -> None:
    """Record which stored messages reference a file; call inside the storing transaction.

    ``rows`` are message rows as inserted (``body`` as JSON text).
    """
    refs = []
    for row in rows:
        if row["kind"] not in REFERENCING_KINDS:
            continue
        file_id = orjson.loads(row["body"]).get("file_id")
        if isinstance(file_id, str):
            refs.append({"file_id": file_id, "conv_id": row["conv_id"], "seq": row["seq"]})
    if refs:
        await conn.execute(insert(file_refs), refs)


class FileStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self, file_id: str, owner_id: str, name: str, length: int | None, now: int
    ) -> None:
        row = {
            "id": file_id,
            "owner_id": owner_id,
            "state": UPLOADING,
            "length": length,
            "name": name,
            "created_at": now,
            "touched_at": now,
        }
        async with self.db.write() as conn:
            await conn.execute(insert(files).values(**row))

    async def get(self, file_id: str) -> FileRecord | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(files).where(files.c.id == file_id))).first()
        return _record(row) if row else None

    async def touch(self, file_id: str, now: int) -> None:
        async with self.db.write() as conn:
            await conn.execute(update(files).where(files.c.id == file_id).values(touched_at=now))

    async def set_blob(self, file_id: str, blob_key: str) -> None:
        """Pin a sealed blob to its (still uploading) file, so collection keeps it."""
        async with self.db.write() as conn:
            await conn.execute(update(files).where(files.c.id == file_id).values(blob_key=blob_key))

    async def complete(self, file_id: str, done: Completion, now: int) -> FileRecord | None:
        values = {
            "state": COMPLETE,
            "length": done.length,
            "mime": done.mime,
            "blob_key": done.blob_key,
            "width": done.width,
            "height": done.height,
            "animated": done.animated,
            "thumb_key": done.thumb_key,
            "thumb_mime": done.thumb_mime,
            "touched_at": now,
        }
        async with self.db.write() as conn:
            await conn.execute(update(files).where(files.c.id == file_id).values(**values))
            row = (await conn.execute(select(files).where(files.c.id == file_id))).first()
        return _record(row) if row else None

    async def completed_with_blob(self, blob_key: str) -> FileRecord | None:
        """Any finished file with this content: its analysis can be reused as is."""
        stmt = select(files).where(files.c.blob_key == blob_key, files.c.state == COMPLETE).limit(1)
        async with self.db.read() as conn:
            row = (await conn.execute(stmt)).first()
        return _record(row) if row else None

    async def claim(self, file_id: str, owner_id: str, now: int) -> FileRecord | None:
        """The owner's complete file, marked as just used (keeps collection away from it)."""
        async with self.db.write() as conn:
            await conn.execute(
                update(files)
                .where(
                    files.c.id == file_id, files.c.owner_id == owner_id, files.c.state == COMPLETE
                )
                .values(touched_at=now)
            )
            row = (await conn.execute(select(files).where(files.c.id == file_id))).first()
        record = _record(row) if row else None
        if record is None or record.owner_id != owner_id or not record.complete:
            return None
        return record

    async def readable_by(self, file_id: str, user_id: str) -> FileRecord | None:
        """The complete file when ``user_id`` uploaded it or can read a message showing it.

        A member sees a message when it lies after their join point and, once they
        left, not after their departure — the same window history reads use.
        """
        record = await self.get(file_id)
        if record is None or not record.complete:
            return None
        if record.owner_id == user_id:
            return record
        visible = (
            _live_refs(file_id)
            .join(
                members,
                and_(members.c.conv_id == file_refs.c.conv_id, members.c.user_id == user_id),
            )
            .where(
                file_refs.c.seq > members.c.join_seq,
                or_(members.c.state == MemberState.ACTIVE, file_refs.c.seq <= members.c.left_seq),
            )
            .limit(1)
        )
        async with self.db.read() as conn:
            found = (await conn.execute(visible)).first()
        return record if found else None

    async def is_referenced(self, file_id: str) -> bool:
        async with self.db.read() as conn:
            return (await conn.execute(_live_refs(file_id).limit(1))).first() is not None

    async def is_avatar(self, file_id: str) -> bool:
        async with self.db.read() as conn:
            return bool((await conn.execute(select(_shown_as_avatar(file_id)))).scalar())

    async def delete_unreferenced(self, file_id: str, touched_before: int | None = None) -> bool:
        """Delete the file unless a live message references it (or it was touched since)."""
        conditions = [
            files.c.id == file_id,
            ~exists(_live_refs(file_id)),
            ~_shown_as_avatar(file_id),
        ]
        if touched_before is not None:
            conditions.append(files.c.touched_at < touched_before)
        async with self.db.write() as conn:
            result = await conn.execute(delete(files).where(*conditions))
            if result.rowcount == 0:
                return False
            await conn.execute(delete(file_refs).where(file_refs.c.file_id == file_id))
        return True

    async def usage(self, owner_id: str) -> Usage:
        pending = and_(files.c.state == UPLOADING, files.c.length.is_not(None))
        stmt = select(
            func.coalesce(func.sum(files.c.length), 0),
            func.count().filter(pending),
        ).where(files.c.owner_id == owner_id)
        async with self.db.read() as conn:
            row = (await conn.execute(stmt)).one()
        return Usage(int(row[0]), int(row[1]))

    async def stale(
        self, touched_before: int, limit: int, pending_before: int | None = None
    ) -> list[FileRecord]:
        """Collection candidates: files with no live reference untouched since
        ``touched_before`` — unfinished uploads already since ``pending_before``."""
        idle = files.c.touched_at < touched_before
        if pending_before is not None:
            idle = or_(
                and_(files.c.state == COMPLETE, idle),
                and_(files.c.state == UPLOADING, files.c.touched_at < pending_before),
            )
        stmt = (
            select(files)
            .where(idle, ~exists(_live_refs(files.c.id)), ~_shown_as_avatar(files.c.id))
            .order_by(files.c.touched_at)
            .limit(limit)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_record(row) for row in rows]

    async def blob_in_use(self, key: str) -> bool:
        stmt = select(files.c.id).where(or_(files.c.blob_key == key, files.c.thumb_key == key))
        async with self.db.read() as conn:
            return (await conn.execute(stmt.limit(1))).first() is not None
