"""Friendships, friend requests and blocks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update

from pigeon.store.engine import Conn, Database
from pigeon.store.schema import blocks, friend_requests, friendships, members, users


@dataclass(frozen=True, slots=True)
class FriendRequestRecord:
    id: str
    from_id: str
    to_id: str
    note: str | None
    status: str  # pending | accepted | declined | cancelled
    created_at: int
    updated_at: int

    def public(self, viewer: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": self.from_id,
            "to": self.to_id,
            "note": self.note,
            "status": self.status,
            "direction": "out" if self.from_id == viewer else "in",
            "created_at": self.created_at,
        }


def _request_from_row(row: Any) -> FriendRequestRecord:
    return FriendRequestRecord(
        row.id, row.from_id, row.to_id, row.note, row.status, row.created_at, row.updated_at
    )


def _pair(a: str, b: str) -> Any:
    return or_(
        and_(friend_requests.c.from_id == a, friend_requests.c.to_id == b),
        and_(friend_requests.c.from_id == b, friend_requests.c.to_id == a),
    )


class SocialStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- blocks

    async def blocked_ids(self, user_id: str) -> list[str]:
        """Whom ``user_id`` has blocked, most recent first."""
        async with self.db.read() as conn:
            return list((await conn.execute(_BLOCKED_IDS, {"user": user_id})).scalars())

    async def blockers_of(self, user_id: str, among: list[str]) -> set[str]:
        """Which of ``among`` have blocked ``user_id``."""
        if not among:
            return set()
        stmt = select(blocks.c.user_id).where(
            blocks.c.blocked_id == user_id, blocks.c.user_id.in_(among)
        )
        async with self.db.read() as conn:
            return set((await conn.execute(stmt)).scalars())

    async def has_blocked(self, user_id: str, target_id: str) -> bool:
        return bool(await self.blockers_of(target_id, [user_id]))

    async def block(self, user_id: str, target_id: str, now: int) -> None:
        """Block ``target_id``; pending requests between the two are declined."""
        async with self.db.write() as conn:
            exists = await conn.execute(
                select(blocks.c.user_id).where(
                    blocks.c.user_id == user_id, blocks.c.blocked_id == target_id
                )
            )
            if exists.first() is None:
                await conn.execute(
                    insert(blocks).values(user_id=user_id, blocked_id=target_id, created_at=now)
                )
            await conn.execute(
                update(friend_requests)
                .where(_pair(user_id, target_id), friend_requests.c.status == "pending")
                .values(status="declined", updated_at=now)
            )

    async def unblock(self, user_id: str, target_id: str) -> bool:
        async with self.db.write() as conn:
            result = await conn.execute(
                delete(blocks).where(blocks.c.user_id == user_id, blocks.c.blocked_id == target_id)
            )
        return bool(result.rowcount)

    # --- friendships

    async def friend_ids(self, user_id: str) -> list[str]:
        async with self.db.read() as conn:
            return list((await conn.execute(_FRIEND_IDS, {"user": user_id})).scalars())

    async def are_friends(self, a: str, b: str) -> bool:
        stmt = select(friendships.c.user_id).where(
            friendships.c.user_id == a, friendships.c.friend_id == b
        )
        async with self.db.read() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def unfriend(self, a: str, b: str) -> bool:
        async with self.db.write() as conn:
            result = await conn.execute(
                delete(friendships).where(
                    or_(
                        and_(friendships.c.user_id == a, friendships.c.friend_id == b),
                        and_(friendships.c.user_id == b, friendships.c.friend_id == a),
                    )
                )
            )
        return bool(result.rowcount)

    async def _befriend(self, conn: Conn, a: str, b: str, now: int) -> None:
        existing = await conn.execute(
            select(friendships.c.user_id).where(
                friendships.c.user_id.in_((a, b)), friendships.c.friend_id.in_((a, b))
            )
        )
        present: set[str] = set(existing.scalars())
        rows = [
            {"user_id": user, "friend_id": friend, "created_at": now}
            for user, friend in ((a, b), (b, a))
            if user not in present
        ]
        if rows:
            await conn.execute(insert(friendships), rows)

    async def direct_gate(self, conv_id: str, sender_id: str) -> DirectGate | None:
        return await direct_gate(self.db, conv_id, sender_id)

    # --- requests

    async def pending_between(self, a: str, b: str) -> FriendRequestRecord | None:
        stmt = select(friend_requests).where(_pair(a, b), friend_requests.c.status == "pending")
        async with self.db.read() as conn:
            row = (await conn.execute(stmt)).first()
        return _request_from_row(row) if row else None

    async def create_request(self, request: FriendRequestRecord) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                insert(friend_requests).values(
                    id=request.id,
                    from_id=request.from_id,
                    to_id=request.to_id,
                    note=request.note,
                    status=request.status,
                    created_at=request.created_at,
                    updated_at=request.updated_at,
                )
            )

    async def request(self, request_id: str) -> FriendRequestRecord | None:
        stmt = select(friend_requests).where(friend_requests.c.id == request_id)
        async with self.db.read() as conn:
            row = (await conn.execute(stmt)).first()
        return _request_from_row(row) if row else None

    async def answer(self, request_id: str, accept: bool, now: int) -> FriendRequestRecord | None:
        """Accept or decline a pending request; None if it is no longer pending."""
        async with self.db.write() as conn:
            result = await conn.execute(
                update(friend_requests)
                .where(friend_requests.c.id == request_id, friend_requests.c.status == "pending")
                .values(status="accepted" if accept else "declined", updated_at=now)
                .returning(*friend_requests.c)
            )
            row = result.first()
            if row is None:
                return None
            if accept:
                await self._befriend(conn, row.from_id, row.to_id, now)
        return _request_from_row(row)

    async def requests_of(self, user_id: str, limit: int) -> list[FriendRequestRecord]:
        """Pending requests to and from ``user_id``, newest first."""
        stmt = (
            select(friend_requests)
            .where(
                or_(friend_requests.c.from_id == user_id, friend_requests.c.to_id == user_id),
                friend_requests.c.status == "pending",
            )
            .order_by(friend_requests.c.created_at.desc())
            .limit(limit)
        )
        async with self.db.read() as conn:
            return [_request_from_row(r) for r in (await conn.execute(stmt)).all()]


@dataclass(frozen=True, slots=True)
class DirectGate:
    """Everything deciding whether ``sender`` may write in a direct conversation."""

    peer_id: str
    dm_policy: str
    peer_blocked_sender: bool
    sender_blocked_peer: bool
    friends: bool


def _exists(left: Any, left_value: Any, right: Any, right_value: Any) -> Any:
    return select(left).where(left == left_value, right == right_value).exists()


# Built once: these run on every connect (presence) and on direct sends.
_peer = members.alias("peer")
_sender: Any = bindparam("sender")
_DIRECT_GATE = (
    select(
        _peer.c.user_id,
        users.c.dm_policy,
        _exists(blocks.c.user_id, _peer.c.user_id, blocks.c.blocked_id, _sender).label("pb"),
        _exists(blocks.c.user_id, _sender, blocks.c.blocked_id, _peer.c.user_id).label("sb"),
        _exists(friendships.c.user_id, _sender, friendships.c.friend_id, _peer.c.user_id).label(
            "fr"
        ),
    )
    .join_from(_peer, users, users.c.id == _peer.c.user_id)
    .where(_peer.c.conv_id == bindparam("conv"), _peer.c.user_id != _sender)
)
_FRIEND_IDS = (
    select(friendships.c.friend_id)
    .where(friendships.c.user_id == bindparam("user"))
    .order_by(friendships.c.created_at.desc())
)
_BLOCKED_IDS = (
    select(blocks.c.blocked_id)
    .where(blocks.c.user_id == bindparam("user"))
    .order_by(blocks.c.created_at.desc())
)


async def direct_gate(db: Database, conv_id: str, sender_id: str) -> DirectGate | None:
    """One query for the direct-message checks; None for a conversation with oneself."""
    async with db.read() as conn:
        row = (await conn.execute(_DIRECT_GATE, {"conv": conv_id, "sender": sender_id})).first()
    if row is None:
        return None
    return DirectGate(row[0], row[1], bool(row.pb), bool(row.sb), bool(row.fr))
