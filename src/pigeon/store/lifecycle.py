"""The rows an account's deletion changes and its data export reads (core/lifecycle.py,
core/export.py).

Every step here is idempotent: it changes only what is still there to change, so a
deletion interrupted anywhere is finished by running it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from pigeon.protocol.lifecycle import (
    DELETED_DISPLAY_NAME,
    DELETED_USERNAME_PREFIX,
    AccountDeletionMode,
)
from pigeon.protocol.membership import MemberState, Role
from pigeon.store.accounts import user_from_row
from pigeon.store.conversations import conversation_from_row, member_from_row
from pigeon.store.engine import Database
from pigeon.store.messages import append_in_transaction, message_from_row
from pigeon.store.records import (
    AppendOutcome,
    ConversationRecord,
    MemberRecord,
    MessageRecord,
    NewMessage,
    UserRecord,
)
from pigeon.store.schema import (
    blocks,
    bot_webhooks,
    conversations,
    files,
    friend_requests,
    friendships,
    incoming_hooks,
    logins,
    members,
    messages,
    push_jobs,
    push_prefs,
    push_subscriptions,
    users,
)

#: Not an Argon2 hash: no password verifies against it.
NO_PASSWORD = "!deleted"  # noqa: S105 - a marker that matches no password
#: Entries that are not someone's words: a deletion in ``remove`` mode leaves them.
_NOT_CONTENT = ("recall", "edit", "system")


class LifecycleStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- deletion

    async def begin_deletion(
        self, user_id: str, mode: AccountDeletionMode, now: int
    ) -> tuple[UserRecord, list[str]] | None:
        """Mark the account deleted and anonymise its row, revoking every login, in one
        transaction; returns the row and the revoked login ids, or None for no such user.

        On an account already being deleted this keeps the first start time and takes
        the stronger mode (``remove`` wins), so a retry never weakens a deletion.
        """
        async with self.db.write() as conn:
            row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
            if row is None:
                return None
            pending = row.deletion
            if row.deleted_at is not None and pending is None:
                return user_from_row(row), []  # finished before
            if pending == AccountDeletionMode.REMOVE:
                mode = AccountDeletionMode.REMOVE
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(
                    deleted_at=row.deleted_at or now,
                    deletion=mode,
                    disabled=True,
                    username=f"{DELETED_USERNAME_PREFIX}{user_id}",
                    display_name=DELETED_DISPLAY_NAME,
                    avatar=None,
                    password_hash=NO_PASSWORD,
                    dm_policy="friends",
                )
            )
            active = logins.c.user_id == user_id, logins.c.revoked_at.is_(None)
            revoked: list[str] = list(
                (await conn.execute(select(logins.c.id).where(*active))).scalars()
            )
            if revoked:
                await conn.execute(update(logins).where(*active).values(revoked_at=now))
            row = (await conn.execute(select(users).where(users.c.id == user_id))).one()
        return user_from_row(row), revoked

    async def unfinished(self, limit: int) -> list[UserRecord]:
        """Accounts whose deletion began and did not finish (a crash, a failed step)."""
        stmt = select(users).where(users.c.deletion.is_not(None)).limit(limit)
        async with self.db.read() as conn:
            return [user_from_row(row) for row in (await conn.execute(stmt)).all()]

    async def deletion_mode(self, user_id: str) -> AccountDeletionMode | None:
        """The mode of the account's unfinished deletion, None when none is under way."""
        stmt = select(users.c.deletion).where(users.c.id == user_id)
        async with self.db.read() as conn:
            mode = (await conn.execute(stmt)).scalar()
        return AccountDeletionMode(mode) if mode else None

    async def finish_deletion(self, user_id: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(update(users).where(users.c.id == user_id).values(deletion=None))

    async def drop_ties(self, user_id: str) -> None:
        """Friendships, friend requests and blocks either way; push subscriptions,
        preferences and queued notifications; webhooks the account made or had."""
        async with self.db.write() as conn:
            for statement in (
                delete(friendships).where(
                    or_(friendships.c.user_id == user_id, friendships.c.friend_id == user_id)
                ),
                delete(friend_requests).where(
                    or_(friend_requests.c.from_id == user_id, friend_requests.c.to_id == user_id)
                ),
                delete(blocks).where(
                    or_(blocks.c.user_id == user_id, blocks.c.blocked_id == user_id)
                ),
                delete(push_subscriptions).where(push_subscriptions.c.user_id == user_id),
                delete(push_prefs).where(push_prefs.c.user_id == user_id),
                delete(push_jobs).where(push_jobs.c.user_id == user_id),
                delete(bot_webhooks).where(bot_webhooks.c.user_id == user_id),
                delete(incoming_hooks).where(incoming_hooks.c.creator_id == user_id),
            ):
                await conn.execute(statement)

    async def content_seqs(self, conv_id: str, sender_id: str, limit: int) -> list[int]:
        """Seqs of the sender's messages in the conversation still showing content."""
        stmt = (
            select(messages.c.seq)
            .where(
                messages.c.conv_id == conv_id,
                messages.c.sender_id == sender_id,
                messages.c.recalled.is_(False),
                messages.c.kind.not_in(_NOT_CONTENT),
            )
            .order_by(messages.c.seq)
            .limit(limit)
        )
        async with self.db.read() as conn:
            return list((await conn.execute(stmt)).scalars())

    async def append_recalls(self, batch: Sequence[NewMessage]) -> list[AppendOutcome]:
        """Store the deleted account's recall entries (marked ``on_behalf``: member or
        not any more)."""
        async with self.db.write() as conn:
            return await append_in_transaction(conn, batch)

    async def owned_file_ids(self, owner_id: str) -> list[str]:
        stmt = select(files.c.id).where(files.c.owner_id == owner_id).order_by(files.c.created_at)
        async with self.db.read() as conn:
            return list((await conn.execute(stmt)).scalars())

    # --- reads for deletion and export

    async def memberships(self, user_id: str) -> list[tuple[ConversationRecord, MemberRecord]]:
        """Every conversation the user is or was in, with their member row, oldest first."""
        stmt = (
            select(members)
            .where(members.c.user_id == user_id)
            .order_by(members.c.joined_at, members.c.conv_id)
        )
        async with self.db.read() as conn:
            rows = [member_from_row(row) for row in (await conn.execute(stmt)).all()]
            wanted = [m.conv_id for m in rows]
            convs = (
                await conn.execute(select(conversations).where(conversations.c.id.in_(wanted)))
            ).all()
        found = {row.id: conversation_from_row(row) for row in convs}
        return [(found[m.conv_id], m) for m in rows if m.conv_id in found]

    async def longest_standing(self, conv_id: str, exclude: str) -> MemberRecord | None:
        """The active member (admins first, then members) who joined earliest."""
        stmt = (
            select(members)
            .where(
                members.c.conv_id == conv_id,
                members.c.state == MemberState.ACTIVE,
                members.c.user_id != exclude,
                members.c.role.in_((Role.ADMIN, Role.MEMBER)),
            )
            .order_by(members.c.role != Role.ADMIN, members.c.joined_at, members.c.user_id)
            .limit(1)
        )
        async with self.db.read() as conn:
            row = (await conn.execute(stmt)).first()
        return member_from_row(row) if row else None

    async def readable_messages(
        self, member: MemberRecord, after: int, limit: int
    ) -> list[MessageRecord]:
        """The member's readable messages (their window) after ``after``, by seq."""
        low, high = member.visible_range
        conditions = [messages.c.conv_id == member.conv_id, messages.c.seq > max(low, after)]
        if high is not None:
            conditions.append(messages.c.seq <= high)
        stmt = select(messages).where(and_(*conditions)).order_by(messages.c.seq).limit(limit)
        async with self.db.read() as conn:
            return [message_from_row(row) for row in (await conn.execute(stmt)).all()]

    async def contacts(self, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """Friends, friend requests and blocks, as stored (for the export)."""
        async with self.db.read() as conn:
            friends = (
                await conn.execute(select(friendships).where(friendships.c.user_id == user_id))
            ).all()
            requests = (
                await conn.execute(
                    select(friend_requests).where(
                        or_(
                            friend_requests.c.from_id == user_id,
                            friend_requests.c.to_id == user_id,
                        )
                    )
                )
            ).all()
            blocked = (await conn.execute(select(blocks).where(blocks.c.user_id == user_id))).all()
        return {
            "friends": [{"user": r.friend_id, "since": r.created_at} for r in friends],
            "friend_requests": [
                {
                    "id": r.id,
                    "from": r.from_id,
                    "to": r.to_id,
                    "note": r.note,
                    "status": r.status,
                    "created_at": r.created_at,
                }
                for r in requests
            ],
            "blocked": [{"user": r.blocked_id, "since": r.created_at} for r in blocked],
        }
