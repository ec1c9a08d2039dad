"""Writing and reading the audit log (store/audit.py) from the services.

Entries of membership changes are handed to the store with the change and commit in
its transaction; the others (accounts, message recalls, webhooks) are appended right
after the act commits, because their writes are not one transaction to join (a
recall commits in the group committer's batch). docs/operations.md says which is which.

``REQUEST_ID`` is a context variable: the REST layer sets it for the request being
served (each request runs in its own task, so it is never shared), and every entry
made while serving it carries it.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from pigeon.core.clock import Clock, SystemClock
from pigeon.core.paging import Paging
from pigeon.protocol.audit import OPERATOR, AuditAction
from pigeon.protocol.cursors import decode_audit_cursor, encode_audit_cursor
from pigeon.protocol.views import AuditView
from pigeon.store.audit import AuditEntry, AuditQuery, AuditStore

REQUEST_ID: ContextVar[str | None] = ContextVar("pigeon_audit_request_id", default=None)


class AuditLog:
    def __init__(self, store: AuditStore, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or SystemClock()

    def entry(
        self,
        actor: str | None,
        action: AuditAction,
        *,
        user: str | None = None,
        conv: str | None = None,
        message: str | None = None,
        **detail: Any,
    ) -> AuditEntry:
        """A row stamped with the time and the request being served; the command
        line's ``OPERATOR`` is recorded as no actor."""
        return AuditEntry(
            ts=self.clock.now_ms(),
            actor=None if actor == OPERATOR else actor,
            action=action,
            target_user=user,
            target_conv=conv,
            target_message=message,
            detail={k: v for k, v in detail.items() if v is not None},
            request_id=REQUEST_ID.get(),
        )

    async def record(
        self,
        actor: str | None,
        action: AuditAction,
        *,
        user: str | None = None,
        conv: str | None = None,
        message: str | None = None,
        **detail: Any,
    ) -> None:
        """Append one row in a transaction of its own (after the act committed)."""
        entry = self.entry(actor, action, user=user, conv=conv, message=message, **detail)
        await self.store.record([entry])

    async def page(
        self, query: AuditQuery, cursor: str | None, limit: int | None, paging: Paging
    ) -> tuple[list[AuditView], str | None, bool]:
        """Newest first; the cursor is the id of the last row returned."""
        if cursor:
            query = AuditQuery(query.actor, query.action, query.target, decode_audit_cursor(cursor))
        items, more = await self.store.page(query, paging.clamp(limit))
        next_cursor = encode_audit_cursor(items[-1]["id"]) if more and items else None
        return items, next_cursor, more
