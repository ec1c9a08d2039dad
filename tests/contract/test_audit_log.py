"""The audit log is append-only, on every backend: rows are inserted and read, never
changed. The store offers no way to update or delete them, no module of the package
writes an UPDATE or DELETE against the table, and rows outlive what they name."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import pigeon
from pigeon.core.ids import new_id
from pigeon.protocol.audit import AuditAction
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.membership import ConversationKind, Visibility
from pigeon.store.audit import AuditEntry, AuditQuery, AuditStore
from pigeon.store.bans import BanRecord
from pigeon.store.engine import StoreError
from pigeon.store.facade import Store
from pigeon.store.groups import MembershipChange, NewConversation

from .storekit import make_user, tick

PACKAGE = Path(pigeon.__file__).parent


def test_the_store_offers_only_appending_and_reading() -> None:
    public = {name for name, _ in inspect.getmembers(AuditStore) if not name.startswith("_")}
    assert public == {"record", "page"}


def test_no_module_updates_or_deletes_audit_rows() -> None:
    changing = re.compile(r"\b(update|delete)\(\s*audit_log\b|(UPDATE|DELETE FROM)\s+audit_log")
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if changing.search(path.read_text())
    ]
    assert not offenders


async def test_rows_commit_with_their_change_and_survive_what_they_name(store: Store) -> None:
    owner, bob = await make_user(store), await make_user(store)
    conv = NewConversation(
        new_id("c_"), ConversationKind.GROUP, "g", owner.id, Visibility.PUBLIC, tick()
    )
    await store.groups.create(conv, [owner.id, bob.id], None, None)

    def entry(action: AuditAction) -> AuditEntry:
        return AuditEntry(tick(), owner.id, action, bob.id, conv.id, None, {"n": 1}, "req-1")

    ban = BanRecord(conv.id, bob.id, owner.id, "spam", tick())
    await store.groups.apply(
        MembershipChange(
            conv.id, tick(), remove=[bob.id], ban=[ban], audit=[entry(AuditAction.MEMBER_BANNED)]
        )
    )
    # A change that fails (bob is banned) leaves no row behind: one transaction.
    with pytest.raises(StoreError) as refused:
        await store.groups.apply(
            MembershipChange(
                conv.id, tick(), add=[bob.id], audit=[entry(AuditAction.MEMBER_UNBANNED)]
            )
        )
    assert refused.value.code is ErrorCode.BANNED
    await store.groups.apply(
        MembershipChange(conv.id, tick(), dissolve=True, audit=[entry(AuditAction.GROUP_DISSOLVED)])
    )
    await store.accounts.update_user(bob.id, disabled=True)
    await store.audit.record([AuditEntry(tick(), None, AuditAction.USER_DISABLED, bob.id)])

    rows, more = await store.audit.page(AuditQuery(target=bob.id), 10)
    assert not more
    assert [(r["action"], r["actor"]) for r in rows] == [
        (AuditAction.USER_DISABLED, None),
        (AuditAction.GROUP_DISSOLVED, owner.id),
        (AuditAction.MEMBER_BANNED, owner.id),
    ]
    assert rows[2]["detail"] == {"n": 1}
    assert rows[2]["request_id"] == "req-1"
    older, _ = await store.audit.page(AuditQuery(target=bob.id, before=rows[0]["id"]), 10)
    assert older == rows[1:]
