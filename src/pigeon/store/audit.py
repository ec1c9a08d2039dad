"""The append-only audit log: who did what administrative or moderating act, to whom.

The store offers exactly two operations on it: insert rows (``insert_entries`` inside
another write's transaction, or ``AuditStore.record`` in one of its own) and read
pages newest first. Nothing in the package updates or deletes a row
(tests/contract/test_audit_log.py holds it to that).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import insert, or_, select

from pigeon.protocol.audit import AuditAction
from pigeon.protocol.views import AuditView
from pigeon.store.engine import Conn, Database
from pigeon.store.schema import audit_log


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row to append. ``actor`` None is the operator's command line."""

    ts: int
    actor: str | None
    action: AuditAction
    target_user: str | None = None
    target_conv: str | None = None
    target_message: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of one page; ``target`` matches any of the three target columns."""

    actor: str | None = None
    action: AuditAction | None = None
    target: str | None = None
    before: int | None = None  # rows with a smaller id only (the cursor)


def _row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "ts": entry.ts,
        "actor_id": entry.actor,
        "action": entry.action.value,
        "target_user": entry.target_user,
        "target_conv": entry.target_conv,
        "target_message": entry.target_message,
        "detail": orjson.dumps(entry.detail).decode(),
        "request_id": entry.request_id,
    }


def _view(row: Any) -> AuditView:
    return {
        "id": int(row.id),
        "ts": row.ts,
        "actor": row.actor_id,
        "action": AuditAction(row.action),
        "target_user": row.target_user,
        "target_conv": row.target_conv,
        "target_message": row.target_message,
        "detail": orjson.loads(row.detail),
        "request_id": row.request_id,
    }


async def insert_entries(conn: Conn, entries: Sequence[AuditEntry]) -> None:
    """Append ``entries`` in the caller's transaction (so they commit with the act)."""
    if entries:
        await conn.execute(insert(audit_log), [_row(e) for e in entries])


class AuditStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, entries: Sequence[AuditEntry]) -> None:
        """Append ``entries`` in a transaction of their own."""
        if entries:
            async with self.db.write() as conn:
                await insert_entries(conn, entries)

    async def page(self, query: AuditQuery, limit: int) -> tuple[list[AuditView], bool]:
        """Rows matching ``query``, newest first, and whether more follow."""
        stmt = select(audit_log)
        if query.actor is not None:
            stmt = stmt.where(audit_log.c.actor_id == query.actor)
        if query.action is not None:
            stmt = stmt.where(audit_log.c.action == query.action.value)
        if query.target is not None:
            stmt = stmt.where(
                or_(
                    audit_log.c.target_user == query.target,
                    audit_log.c.target_conv == query.target,
                    audit_log.c.target_message == query.target,
                )
            )
        if query.before is not None:
            stmt = stmt.where(audit_log.c.id < query.before)
        stmt = stmt.order_by(audit_log.c.id.desc()).limit(limit + 1)
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_view(r) for r in rows[:limit]], len(rows) > limit
