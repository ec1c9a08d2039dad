"""Group, channel and room membership changes, each atomic with its system message.

Every change runs in one transaction: membership rows, the conversation row and
the ``system`` message narrating the change commit together, so a client that
syncs sees either all of it or none of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update

from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.membership import ConversationKind, MemberState, Role, Visibility
from pigeon.store.audit import AuditEntry, insert_entries
from pigeon.store.bans import BanRecord, banned_among, lift_ban, write_ban
from pigeon.store.changes import allocate_change_ids, lock_change_counter
from pigeon.store.conversations import conversation_from_row, member_from_row
from pigeon.store.engine import LIKE_ESCAPE, Conn, Database, StoreError, escape_like
from pigeon.store.messages import append_in_transaction
from pigeon.store.records import Appended, ConversationRecord, MemberRecord, NewMessage
from pigeon.store.schema import conversations, members


class GroupFull(StoreError):
    def __init__(self, limit: int) -> None:
        super().__init__(ErrorCode.GROUP_FULL, f"a group holds at most {limit} members")


@dataclass(frozen=True, slots=True)
class NewConversation:
    id: str
    kind: ConversationKind
    title: str
    owner_id: str | None
    visibility: Visibility
    created_at: int
    avatar: str | None = None
    announcement: str | None = None


@dataclass(frozen=True, slots=True)
class MembershipChange:
    """What one administrative action does to a conversation.

    Applied in this order: ``add`` (active again, history visible from now on),
    ``roles`` / ``muted_until`` / ``conversation`` updates, the ``system``
    message (delivered to everyone still present, the departing included), then
    ``remove`` / ``leave`` (they keep read access up to that message). ``ban`` and
    ``unban`` change the group's bans, and ``audit`` rows are appended, in the same
    transaction; adding anyone banned refuses the whole change (``BANNED``).
    """

    conv_id: str
    now: int
    add: Sequence[str] = ()
    remove: Sequence[str] = ()
    leave: Sequence[str] = ()
    roles: Mapping[str, Role] = field(default_factory=dict)
    muted_until: Mapping[str, int | None] = field(default_factory=dict)
    conversation: Mapping[str, Any] = field(default_factory=dict)
    system: NewMessage | None = None
    max_members: int | None = None
    dissolve: bool = False
    ban: Sequence[BanRecord] = ()
    unban: Sequence[str] = ()
    audit: Sequence[AuditEntry] = ()


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """``joined`` became active members, ``departed`` stopped being ones."""

    conversation: ConversationRecord
    system: Appended | None
    departed: tuple[str, ...]
    joined: tuple[str, ...] = ()


def _changes_more_than_members(change: MembershipChange) -> bool:
    return bool(
        change.remove
        or change.leave
        or change.roles
        or change.muted_until
        or change.conversation
        or change.dissolve
        or change.ban
        or change.unban
        or change.audit
    )


class GroupStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        conv: NewConversation,
        member_ids: Sequence[str],
        system: NewMessage | None,
        max_members: int | None,
    ) -> ChangeResult:
        """Create a group or channel with its owner (as ``owner``) and first members."""
        async with self.db.write() as conn:
            change_id = await allocate_change_ids(conn)
            await conn.execute(
                insert(conversations).values(
                    id=conv.id,
                    kind=conv.kind,
                    title=conv.title,
                    avatar=conv.avatar,
                    announcement=conv.announcement,
                    owner_id=conv.owner_id,
                    visibility=conv.visibility,
                    created_at=conv.created_at,
                    last_seq=0,
                    last_ts=conv.created_at,
                    change_id=change_id,
                    member_count=0,
                )
            )
            change = MembershipChange(
                conv.id,
                conv.created_at,
                add=list(dict.fromkeys(member_ids)),
                roles={conv.owner_id: Role.OWNER} if conv.owner_id else {},
                system=system,
                max_members=max_members,
            )
            return await self._apply(conn, change)

    async def ensure_room(self, conv: NewConversation) -> bool:
        """Create an ownerless public room unless one with that id exists. True if created.
        Nodes starting together race here: the counter lock makes the second one see the
        first one's room instead of inserting it again."""
        async with self.db.write() as conn:
            await lock_change_counter(conn)
            found = await conn.execute(
                select(conversations.c.id).where(conversations.c.id == conv.id)
            )
            if found.first() is not None:
                return False
            await self._insert_room(conn, conv)
        return True

    async def _insert_room(self, conn: Conn, conv: NewConversation) -> None:
        await conn.execute(
            insert(conversations).values(
                id=conv.id,
                kind=conv.kind,
                title=conv.title,
                owner_id=None,
                visibility=conv.visibility,
                created_at=conv.created_at,
                last_seq=0,
                last_ts=conv.created_at,
                change_id=await allocate_change_ids(conn),
                member_count=0,
            )
        )

    async def apply(self, change: MembershipChange) -> ChangeResult:
        async with self.db.write() as conn:
            return await self._apply(conn, change)

    async def _apply(self, conn: Conn, change: MembershipChange) -> ChangeResult:
        row = (
            await conn.execute(select(conversations).where(conversations.c.id == change.conv_id))
        ).first()
        if row is None:
            raise StoreError(ErrorCode.CONVERSATION_NOT_FOUND)
        current = {
            r.user_id: r
            for r in (
                await conn.execute(
                    select(members).where(
                        members.c.conv_id == change.conv_id,
                        members.c.user_id.in_(
                            [
                                *change.add,
                                *change.remove,
                                *change.leave,
                                *change.roles,
                                *change.muted_until,
                            ]
                        ),
                    )
                )
            ).all()
        }
        member_change = await allocate_change_ids(conn)
        joined = [
            u for u in change.add if u not in current or current[u].state != MemberState.ACTIVE
        ]
        if change.max_members is not None and row.member_count + len(joined) > change.max_members:
            raise GroupFull(change.max_members)
        banned = await banned_among(conn, change.conv_id, joined)
        if banned:
            raise StoreError(
                ErrorCode.BANNED, "banned from this group until unbanned", {"user_ids": banned}
            )
        if not joined and not _changes_more_than_members(change):
            # Adding nobody, or only people who are members already, changes nothing:
            # no notice in the stream.
            return ChangeResult(conversation_from_row(row), None, ())
        await self._add(conn, change, joined, current, row.last_seq, member_change)
        await self._update_members(conn, change, member_change)
        await self._bans(conn, change)
        if change.conversation:
            await conn.execute(
                update(conversations)
                .where(conversations.c.id == change.conv_id)
                .values(change_id=await allocate_change_ids(conn), **change.conversation)
            )
        system = None
        if change.system is not None:
            outcome = (await append_in_transaction(conn, [change.system]))[0]
            if isinstance(outcome, Appended):
                system = outcome
        departed = await self._depart(conn, change, system, member_change)
        await insert_entries(conn, change.audit)
        delta = len(joined) - len(departed)
        result = await conn.execute(
            update(conversations)
            .where(conversations.c.id == change.conv_id)
            .values(member_count=conversations.c.member_count + delta)
            .returning(*conversations.c)
        )
        return ChangeResult(
            conversation_from_row(result.one()), system, tuple(departed), tuple(joined)
        )

    async def _add(
        self,
        conn: Conn,
        change: MembershipChange,
        joined: Sequence[str],
        current: Mapping[str, Any],
        last_seq: int,
        change_id: int,
    ) -> None:
        values = {
            "state": MemberState.ACTIVE,
            "role": Role.MEMBER,
            "joined_at": change.now,
            "join_seq": last_seq,
            "read_seq": last_seq,
            "recv_seq": last_seq,
            "left_seq": None,
            "muted_until": None,
            "change_id": change_id,
        }
        returning = [u for u in joined if u in current]
        fresh = [u for u in joined if u not in current]
        if returning:
            await conn.execute(
                update(members)
                .where(members.c.conv_id == change.conv_id, members.c.user_id.in_(returning))
                .values(**values)
            )
        if fresh:
            await conn.execute(
                insert(members),
                [{"conv_id": change.conv_id, "user_id": u, **values} for u in fresh],
            )

    async def _update_members(self, conn: Conn, change: MembershipChange, change_id: int) -> None:
        for user_id, role in change.roles.items():
            await self._set(conn, change.conv_id, user_id, role=role, change_id=change_id)
        for user_id, until in change.muted_until.items():
            await self._set(conn, change.conv_id, user_id, muted_until=until, change_id=change_id)

    async def _bans(self, conn: Conn, change: MembershipChange) -> None:
        for ban in change.ban:
            await write_ban(conn, ban)
        for user_id in change.unban:
            if not await lift_ban(conn, change.conv_id, user_id):
                raise StoreError(ErrorCode.NOT_FOUND, "that user is not banned here")

    async def _set(self, conn: Conn, conv_id: str, user_id: str, **values: Any) -> None:
        await conn.execute(
            update(members)
            .where(members.c.conv_id == conv_id, members.c.user_id == user_id)
            .values(**values)
        )

    async def _depart(
        self,
        conn: Conn,
        change: MembershipChange,
        system: Appended | None,
        change_id: int,
    ) -> list[str]:
        """Apply remove/leave/dissolve; returns who was active and is gone now."""
        leaving: dict[str, MemberState] = {u: MemberState.REMOVED for u in change.remove}
        leaving.update({u: MemberState.LEFT for u in change.leave})
        active = members.c.state == MemberState.ACTIVE
        where_conv = members.c.conv_id == change.conv_id
        if change.dissolve:
            query = select(members.c.user_id).where(where_conv, active)
            everyone: list[str] = list((await conn.execute(query)).scalars())
            for user_id in everyone:
                leaving.setdefault(user_id, MemberState.REMOVED)
        if not leaving:
            return []
        query = select(members.c.user_id).where(
            where_conv, active, members.c.user_id.in_(list(leaving))
        )
        gone: list[str] = list((await conn.execute(query)).scalars())
        left_seq = (
            system.message.seq
            if system is not None
            else (
                await conn.execute(
                    select(conversations.c.last_seq).where(conversations.c.id == change.conv_id)
                )
            ).scalar_one()
        )
        for state in (MemberState.REMOVED, MemberState.LEFT):
            users: list[str] = [u for u in gone if leaving[u] == state]
            if users:
                await conn.execute(
                    update(members)
                    .where(where_conv, members.c.user_id.in_(users))
                    .values(state=state, left_seq=left_seq, change_id=change_id)
                )
        return gone

    # --- reads

    async def member_page(
        self, conv_id: str, after: tuple[int, str] | None, limit: int
    ) -> tuple[list[MemberRecord], bool]:
        """Active members in join order; ``after`` is the (joined_at, user_id) of the last one."""
        conditions = [members.c.conv_id == conv_id, members.c.state == MemberState.ACTIVE]
        if after is not None:
            conditions.append(
                or_(
                    members.c.joined_at > after[0],
                    and_(members.c.joined_at == after[0], members.c.user_id > after[1]),
                )
            )
        stmt = (
            select(members)
            .where(*conditions)
            .order_by(members.c.joined_at, members.c.user_id)
            .limit(limit + 1)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [member_from_row(r) for r in rows[:limit]], len(rows) > limit

    async def directory(self, query: str, limit: int, offset: int) -> list[ConversationRecord]:
        """Public groups and channels, biggest first, matching ``query`` in the title."""
        stmt = select(conversations).where(
            conversations.c.visibility == "public",
            conversations.c.kind.in_((ConversationKind.GROUP, ConversationKind.CHANNEL)),
            conversations.c.dissolved_at.is_(None),
        )
        if query:
            pattern = f"%{escape_like(query.lower())}%"
            stmt = stmt.where(func.lower(conversations.c.title).like(pattern, escape=LIKE_ESCAPE))
        stmt = stmt.order_by(conversations.c.member_count.desc(), conversations.c.id).limit(limit)
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt.offset(offset))).all()
        return [conversation_from_row(r) for r in rows]
