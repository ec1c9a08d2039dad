"""What server admins read and change about accounts: counts, the full user list
(disabled accounts included) and the server-admin mark."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from pigeon.store.accounts import name_starts_with, user_from_row
from pigeon.store.engine import Database
from pigeon.store.files import COMPLETE
from pigeon.store.records import UserRecord
from pigeon.store.schema import conversations, files, logins, messages, users


@dataclass(frozen=True, slots=True)
class Counts:
    users: int
    disabled_users: int
    admins: int
    bots: int
    signed_in: list[str]  # users with a login neither revoked nor expired
    conversations: dict[str, int]
    messages: int
    files: int
    file_bytes: int


class AdminStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def counts(self, now: int) -> Counts:
        def count(condition: Any = None) -> Any:
            stmt = select(func.count()).select_from(users)
            return stmt if condition is None else stmt.where(condition)

        by_kind = (
            select(conversations.c.kind, func.count())
            .where(conversations.c.dissolved_at.is_(None))
            .group_by(conversations.c.kind)
        )
        signed_in = (
            select(logins.c.user_id)
            .distinct()
            .where(logins.c.revoked_at.is_(None), logins.c.expires_at > now)
        )
        stored = select(func.count(), func.coalesce(func.sum(files.c.length), 0)).where(
            files.c.state == COMPLETE
        )
        async with self.db.read() as conn:
            total = (await conn.execute(count())).scalar_one()
            disabled = (await conn.execute(count(users.c.disabled.is_(True)))).scalar_one()
            admins = (await conn.execute(count(users.c.admin.is_(True)))).scalar_one()
            bots = (await conn.execute(count(users.c.bot.is_(True)))).scalar_one()
            kinds = {row[0]: int(row[1]) for row in (await conn.execute(by_kind)).all()}
            message_count = (
                await conn.execute(select(func.count()).select_from(messages))
            ).scalar_one()
            file_count, file_bytes = (await conn.execute(stored)).one()
            active = list((await conn.execute(signed_in)).scalars())
        return Counts(
            users=int(total),
            disabled_users=int(disabled),
            admins=int(admins),
            bots=int(bots),
            signed_in=active,
            conversations=kinds,
            messages=int(message_count),
            files=int(file_count),
            file_bytes=int(file_bytes),
        )

    async def users_page(
        self, query: str, after: str | None, limit: int
    ) -> tuple[list[UserRecord], bool]:
        """Every account (disabled ones too) whose username or display name starts
        with ``query``, by username, after the username ``after``."""
        stmt = select(users)
        if query:
            stmt = stmt.where(name_starts_with(query))
        if after is not None:
            stmt = stmt.where(users.c.username > after)
        stmt = stmt.order_by(users.c.username).limit(limit + 1)
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [user_from_row(r) for r in rows[:limit]], len(rows) > limit

    async def admins(self) -> list[UserRecord]:
        stmt = select(users).where(users.c.admin.is_(True)).order_by(users.c.username)
        async with self.db.read() as conn:
            return [user_from_row(r) for r in (await conn.execute(stmt)).all()]

    async def set_admin(self, user_id: str, admin: bool) -> bool:
        """Set the mark; False when it already had that value."""
        async with self.db.write() as conn:
            result = await conn.execute(
                update(users)
                .where(users.c.id == user_id, users.c.admin.is_(not admin))
                .values(admin=admin)
            )
        return bool(result.rowcount)
