"""Conversations and memberships: direct pairs, per-member watermarks and settings,
the conversation list and the sync feed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, case, false, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from pigeon.protocol.membership import ConversationKind, MemberState, Role, Visibility
from pigeon.store.changes import allocate_change_ids, current_change_id
from pigeon.store.engine import Database
from pigeon.store.files import shown_avatar
from pigeon.store.records import ConversationRecord, ConversationView, MemberRecord
from pigeon.store.schema import conversations, members, messages

# Entries that change other messages or narrate the conversation: not "unread" on their own.
CONTROL_KINDS = ("recall", "edit", "system", "react", "pin", "unpin")


def conversation_from_row(row: Any) -> ConversationRecord:
    return ConversationRecord(
        id=row.id,
        kind=ConversationKind(row.kind),
        title=row.title,
        avatar=shown_avatar(row.avatar),
        owner_id=row.owner_id,
        created_at=row.created_at,
        last_seq=row.last_seq,
        last_ts=row.last_ts,
        announcement=row.announcement,
        visibility=Visibility(row.visibility),
        member_count=row.member_count,
        dissolved_at=row.dissolved_at,
        retention_days=row.retention_days,
        pruned_seq=row.pruned_seq,
    )


def member_from_row(row: Any) -> MemberRecord:
    return MemberRecord(
        conv_id=row.conv_id,
        user_id=row.user_id,
        role=Role(row.role),
        state=MemberState(row.state),
        joined_at=row.joined_at,
        join_seq=row.join_seq,
        read_seq=row.read_seq,
        recv_seq=row.recv_seq,
        muted=bool(row.muted),
        pinned=bool(row.pinned),
        muted_until=row.muted_until,
        left_seq=row.left_seq,
    )


@dataclass(frozen=True, slots=True)
class Watermarks:
    read_seq: int
    recv_seq: int
    read_moved: bool
    recv_moved: bool
    previous_read: int = 0
    previous_recv: int = 0


# A row is in the sync feed exactly when this key is above the cursor (see changed_since):
# a departed member's key ignores the conversation's later changes, or paging would skip it.
_change_key = case(
    (
        and_(
            members.c.state == MemberState.ACTIVE, conversations.c.change_id > members.c.change_id
        ),
        conversations.c.change_id,
    ),
    else_=members.c.change_id,
).label("change_key")

_unread = (
    select(func.count())
    .select_from(messages)
    .where(
        messages.c.conv_id == members.c.conv_id,
        messages.c.seq > members.c.read_seq,
        messages.c.sender_id != members.c.user_id,
        messages.c.kind.not_in(CONTROL_KINDS),
    )
    .scalar_subquery()
    .label("unread")
)

_mentioned = (
    select(messages.c.seq)
    .where(
        messages.c.conv_id == members.c.conv_id,
        messages.c.seq > members.c.read_seq,
        messages.c.sender_id != members.c.user_id,
        messages.c.recalled.is_(False),
        or_(
            messages.c.mentions.like('%"' + members.c.user_id + '"%'),
            messages.c.mentions.like('%"@all"%'),
        ),
    )
    .exists()
    .label("mentioned")
)

_member_columns = [
    members.c.conv_id,
    members.c.user_id,
    members.c.role,
    members.c.state,
    members.c.joined_at,
    members.c.join_seq,
    members.c.read_seq,
    members.c.recv_seq,
    members.c.muted,
    members.c.pinned,
    members.c.muted_until,
    members.c.left_seq,
]

_view_select = select(conversations, *_member_columns, _change_key, _unread, _mentioned).join_from(
    members, conversations, members.c.conv_id == conversations.c.id
)


# Hot statements, built once: constructing SQLAlchemy expressions per call costs more
# than running them (measured on the connect path).
_MEMBERSHIP = select(members).where(
    members.c.conv_id == bindparam("conv"), members.c.user_id == bindparam("user")
)
_WITH_MEMBER = (
    select(conversations, *_member_columns)
    .select_from(
        conversations.outerjoin(
            members,
            and_(members.c.conv_id == conversations.c.id, members.c.user_id == bindparam("user")),
        )
    )
    .where(conversations.c.id == bindparam("conv"))
)
_mine = members.alias("mine")
_other = members.alias("other")
_DIRECT_PEERS = (
    select(_other.c.user_id)
    .join_from(_mine, conversations, conversations.c.id == _mine.c.conv_id)
    .join(_other, _other.c.conv_id == _mine.c.conv_id)
    .where(
        _mine.c.user_id == bindparam("user"),
        conversations.c.kind == ConversationKind.DIRECT,
        _other.c.user_id != _mine.c.user_id,
    )
)


def _view_from_row(row: Any) -> ConversationView:
    return ConversationView(
        conversation=conversation_from_row(row),
        member=member_from_row(row),
        change_id=int(row.change_key),
        unread=int(row.unread),
        mentioned=bool(row.mentioned),
    )


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def direct(self, conv_id: str, user_a: str, user_b: str, now: int) -> ConversationRecord:
        """The direct conversation of a pair, created with both memberships if new."""
        return (await self.open_direct(conv_id, user_a, user_b, now))[0]

    async def open_direct(
        self, conv_id: str, user_a: str, user_b: str, now: int
    ) -> tuple[ConversationRecord, bool]:
        """The direct conversation of a pair, and whether this call created it (with
        both memberships: the caller announces them)."""
        pair_key = ":".join(sorted((user_a, user_b)))
        people = sorted({user_a, user_b})
        found = await self._by_pair(pair_key)
        if found:
            return found, False
        try:
            async with self.db.write() as conn:
                change_id = await allocate_change_ids(conn)
                await conn.execute(
                    insert(conversations).values(
                        id=conv_id,
                        kind=ConversationKind.DIRECT,
                        pair_key=pair_key,
                        created_at=now,
                        last_seq=0,
                        last_ts=now,
                        change_id=change_id,
                        member_count=len(people),
                    )
                )
                await conn.execute(
                    insert(members),
                    [
                        {
                            "conv_id": conv_id,
                            "user_id": user,
                            "role": Role.MEMBER,
                            "state": MemberState.ACTIVE,
                            "joined_at": now,
                            "change_id": change_id,
                        }
                        for user in people
                    ],
                )
        except IntegrityError:
            pass  # created concurrently; read the winner below
        found = await self._by_pair(pair_key)
        assert found is not None
        return found, found.id == conv_id

    async def _by_pair(self, pair_key: str) -> ConversationRecord | None:
        stmt = select(conversations).where(conversations.c.pair_key == pair_key)
        async with self.db.read() as conn:
            row = (await conn.execute(stmt)).first()
        return conversation_from_row(row) if row else None

    async def conversation(self, conv_id: str) -> ConversationRecord | None:
        stmt = select(conversations).where(conversations.c.id == conv_id)
        async with self.db.read() as conn:
            row = (await conn.execute(stmt)).first()
        return conversation_from_row(row) if row else None

    async def membership(self, conv_id: str, user_id: str) -> MemberRecord | None:
        """The user's membership row in any state (active, left, removed)."""
        async with self.db.read() as conn:
            row = (await conn.execute(_MEMBERSHIP, {"conv": conv_id, "user": user_id})).first()
        return member_from_row(row) if row else None

    async def with_member(
        self, conv_id: str, user_id: str
    ) -> tuple[ConversationRecord, MemberRecord | None] | None:
        """The conversation and the user's membership in it (any state), in one query."""
        async with self.db.read() as conn:
            row = (await conn.execute(_WITH_MEMBER, {"conv": conv_id, "user": user_id})).first()
        if row is None:
            return None
        member = member_from_row(row) if row.user_id is not None else None
        return conversation_from_row(row), member

    async def direct_peers(self, user_id: str) -> list[str]:
        """Everyone ``user_id`` shares a direct conversation with."""
        async with self.db.read() as conn:
            return list((await conn.execute(_DIRECT_PEERS, {"user": user_id})).scalars())

    async def direct_peers_who_wrote(
        self, user_id: str, among: Sequence[str] | None = None, *, writer_is_peer: bool = True
    ) -> set[str]:
        """Direct-conversation peers of ``user_id`` where someone has written: the peer
        (``writer_is_peer``) or ``user_id`` itself. Opening a direct conversation
        costs nothing; writing in it is what shows the two are in touch."""
        writer = _other.c.user_id if writer_is_peer else _mine.c.user_id
        wrote = (
            select(messages.c.seq)
            .where(messages.c.conv_id == _mine.c.conv_id, messages.c.sender_id == writer)
            .exists()
        )
        stmt = _DIRECT_PEERS.where(wrote)
        if among is not None:
            if not among:
                return set()
            stmt = stmt.where(_other.c.user_id.in_(among))
        async with self.db.read() as conn:
            return set((await conn.execute(stmt, {"user": user_id})).scalars())

    async def group_peers(self, user_id: str, among: Sequence[str]) -> set[str]:
        """Which of ``among`` are active members with ``user_id`` of a live group
        (not a channel: its subscribers do not share a room)."""
        if not among:
            return set()
        stmt = (
            select(_other.c.user_id)
            .join_from(_mine, conversations, conversations.c.id == _mine.c.conv_id)
            .join(_other, _other.c.conv_id == _mine.c.conv_id)
            .where(
                _mine.c.user_id == user_id,
                _mine.c.state == MemberState.ACTIVE,
                conversations.c.kind == "group",
                conversations.c.dissolved_at.is_(None),
                _other.c.state == MemberState.ACTIVE,
                _other.c.user_id.in_(among),
            )
            .distinct()
        )
        async with self.db.read() as conn:
            return set((await conn.execute(stmt)).scalars())

    async def receipt_counts(
        self, conv_id: str, seq: int, sender_id: str, with_names: bool
    ) -> dict[str, Any]:
        """How many active members other than the sender read / received up to ``seq``."""
        others = and_(
            members.c.conv_id == conv_id,
            members.c.state == MemberState.ACTIVE,
            members.c.user_id != sender_id,
        )
        stmt = select(
            func.count(),
            func.count(case((members.c.read_seq >= seq, 1))),
            func.count(case((members.c.recv_seq >= seq, 1))),
        ).where(others)
        async with self.db.read() as conn:
            total, read, delivered = (await conn.execute(stmt)).one()
            out: dict[str, Any] = {"members": total, "read": read, "delivered": delivered}
            if with_names:
                rows = (
                    await conn.execute(
                        select(members.c.user_id, members.c.read_seq, members.c.recv_seq).where(
                            others, members.c.recv_seq >= seq
                        )
                    )
                ).all()
                out["read_by"] = sorted(r.user_id for r in rows if r.read_seq >= seq)
                out["delivered_to"] = sorted(r.user_id for r in rows)
        return out

    async def active_among(self, conv_id: str, user_ids: Sequence[str]) -> set[str]:
        """Which of ``user_ids`` are active members."""
        stmt = select(members.c.user_id).where(
            members.c.conv_id == conv_id,
            members.c.state == MemberState.ACTIVE,
            members.c.user_id.in_(list(user_ids)),
        )
        async with self.db.read() as conn:
            return set((await conn.execute(stmt)).scalars())

    async def active_conversation_ids(self, user_id: str) -> set[str]:
        """Every conversation ``user_id`` is an active member of (index ix_members_user)."""
        stmt = select(members.c.conv_id).where(
            members.c.user_id == user_id, members.c.state == MemberState.ACTIVE
        )
        async with self.db.read() as conn:
            return set((await conn.execute(stmt)).scalars())

    async def active_member_ids(self, conv_id: str) -> list[str]:
        stmt = select(members.c.user_id).where(
            members.c.conv_id == conv_id, members.c.state == MemberState.ACTIVE
        )
        async with self.db.read() as conn:
            return list((await conn.execute(stmt)).scalars().all())

    async def active_group_ids(self, user_id: str) -> list[str]:
        """The live groups and channels ``user_id`` is an active member of."""
        stmt = (
            select(members.c.conv_id)
            .join(conversations, conversations.c.id == members.c.conv_id)
            .where(
                members.c.user_id == user_id,
                members.c.state == MemberState.ACTIVE,
                conversations.c.kind != ConversationKind.DIRECT,
                conversations.c.dissolved_at.is_(None),
            )
            .order_by(members.c.conv_id)
        )
        async with self.db.read() as conn:
            return list((await conn.execute(stmt)).scalars().all())

    async def peers(self, conv_ids: Sequence[str], user_id: str) -> dict[str, MemberRecord]:
        """For direct conversations: the other member of each (with their watermarks)."""
        if not conv_ids:
            return {}
        stmt = select(members).where(members.c.conv_id.in_(conv_ids), members.c.user_id != user_id)
        async with self.db.read() as conn:
            return {row.conv_id: member_from_row(row) for row in (await conn.execute(stmt)).all()}

    async def advance_watermarks(
        self, conv_id: str, user_id: str, *, read: int | None = None, recv: int | None = None
    ) -> Watermarks | None:
        """Move read/delivered watermarks forward only, never past ``last_seq``.

        Reading implies delivery, so ``recv_seq`` never trails ``read_seq``. Returns
        None when the user is not an active member.
        """
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(members.c.read_seq, members.c.recv_seq, conversations.c.last_seq)
                    .join_from(members, conversations, members.c.conv_id == conversations.c.id)
                    .where(
                        members.c.conv_id == conv_id,
                        members.c.user_id == user_id,
                        members.c.state == MemberState.ACTIVE,
                    )
                )
            ).first()
            if row is None:
                return None
            new_read = min(max(row.read_seq, read or 0), row.last_seq)
            new_recv = min(max(row.recv_seq, recv or 0, new_read), row.last_seq)
            marks = Watermarks(
                new_read,
                new_recv,
                new_read != row.read_seq,
                new_recv != row.recv_seq,
                row.read_seq,
                row.recv_seq,
            )
            if marks.read_moved or marks.recv_moved:
                values: dict[str, Any] = {"read_seq": new_read, "recv_seq": new_recv}
                if marks.read_moved:  # sync reports read watermarks, not delivery
                    values["change_id"] = await allocate_change_ids(conn)
                await conn.execute(
                    update(members)
                    .where(members.c.conv_id == conv_id, members.c.user_id == user_id)
                    .values(**values)
                )
        return marks

    async def update_settings(self, conv_id: str, user_id: str, **settings: Any) -> bool:
        async with self.db.write() as conn:
            change_id = await allocate_change_ids(conn)
            result = await conn.execute(
                update(members)
                .where(
                    members.c.conv_id == conv_id,
                    members.c.user_id == user_id,
                    members.c.state == MemberState.ACTIVE,
                )
                .values(change_id=change_id, **settings)
            )
        return bool(result.rowcount)

    async def list_for_user(
        self, user_id: str, limit: int, after: tuple[bool, int, str] | None
    ) -> tuple[list[ConversationView], bool]:
        """Active conversations: pinned first, then by last activity, newest first.

        ``after`` is the (pinned, last_ts, id) of the last item of the previous page.
        """
        conditions: list[ColumnElement[bool]] = [
            members.c.user_id == user_id,
            members.c.state == MemberState.ACTIVE,
        ]
        if after is not None:
            pinned, last_ts, conv_id = after
            conditions.append(
                or_(
                    # SQL booleans take no '<': after a pinned row come the unpinned ones
                    members.c.pinned.is_(False) if pinned else false(),
                    and_(members.c.pinned == pinned, conversations.c.last_ts < last_ts),
                    and_(
                        members.c.pinned == pinned,
                        conversations.c.last_ts == last_ts,
                        conversations.c.id < conv_id,
                    ),
                )
            )
        stmt = (
            _view_select.where(*conditions)
            .order_by(
                members.c.pinned.desc(), conversations.c.last_ts.desc(), conversations.c.id.desc()
            )
            .limit(limit + 1)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_view_from_row(row) for row in rows[:limit]], len(rows) > limit

    async def list_views(self, user_id: str, conv_ids: Sequence[str]) -> list[ConversationView]:
        stmt = _view_select.where(members.c.user_id == user_id, members.c.conv_id.in_(conv_ids))
        async with self.db.read() as conn:
            return [_view_from_row(row) for row in (await conn.execute(stmt)).all()]

    async def changed_since(
        self, user_id: str, since: int | None, limit: int
    ) -> tuple[list[ConversationView], int, bool]:
        """The sync feed: conversations whose stream, membership or this member's
        watermark/settings changed after change id ``since`` (all active ones when None).

        Returns (views in change order, the cursor to pass next time, more).
        """
        conditions: list[ColumnElement[bool]] = [members.c.user_id == user_id]
        if since is None:
            conditions.append(members.c.state == MemberState.ACTIVE)
        else:
            conditions.append(
                or_(
                    members.c.change_id > since,
                    and_(members.c.state == MemberState.ACTIVE, conversations.c.change_id > since),
                )
            )
        stmt = _view_select.where(*conditions).order_by(_change_key.asc()).limit(limit + 1)
        async with self.db.read() as conn:
            ceiling = await current_change_id(conn)  # read first: see changes.py
            rows = (await conn.execute(stmt)).all()
        views = [_view_from_row(row) for row in rows[:limit]]
        more = len(rows) > limit
        cursor = views[-1].change_id if more else max(ceiling, since or 0)
        return views, cursor, more
