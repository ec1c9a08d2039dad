"""Users, logins (one per signed-in device) and rotating refresh tokens."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from pigeon.store.engine import LIKE_ESCAPE, Database, escape_like
from pigeon.store.files import shown_avatar
from pigeon.store.records import LoginRecord, UserRecord
from pigeon.store.schema import logins, refresh_tokens, users


def name_starts_with(query: str) -> ColumnElement[bool]:
    """A user whose username or display name starts with ``query``, in any case."""
    pattern = escape_like(query.lower()) + "%"
    return or_(
        users.c.username.like(pattern, escape=LIKE_ESCAPE),
        func.lower(users.c.display_name).like(pattern, escape=LIKE_ESCAPE),
    )


def user_from_row(row: Any) -> UserRecord:
    return UserRecord(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        avatar=shown_avatar(row.avatar),
        dm_policy=row.dm_policy,
        disabled=bool(row.disabled),
        created_at=row.created_at,
        password_hash=row.password_hash,
        last_seen=row.last_seen,
        guest_expires_at=row.guest_expires_at,
        bot=bool(row.bot),
        admin=bool(row.admin),
        deleted_at=row.deleted_at,
    )


def _login_from_row(row: Any) -> LoginRecord:
    return LoginRecord(
        id=row.id,
        user_id=row.user_id,
        device=row.device,
        created_at=row.created_at,
        last_seen=row.last_seen,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


_LOGIN_WITH_USER = (
    select(
        users,
        logins.c.id.label("login_id"),
        logins.c.user_id,
        logins.c.device,
        logins.c.created_at.label("login_created_at"),
        logins.c.last_seen.label("login_last_seen"),
        logins.c.expires_at,
        logins.c.revoked_at,
    )
    .join_from(logins, users, users.c.id == logins.c.user_id)
    .where(logins.c.id == bindparam("login"))
)


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """Result of spending a refresh token.

    ``login`` is set when the token was valid and unspent (it is now spent and the
    new one stored). ``replayed`` is true when an already spent token was presented:
    the whole login has been revoked.
    """

    login: LoginRecord | None
    replayed: bool = False


def user_row(user: UserRecord) -> dict[str, Any]:
    """A new user's row, as every kind of account is inserted (people, guests, bots)."""
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "avatar": user.avatar,
        "password_hash": user.password_hash,
        "dm_policy": user.dm_policy,
        "disabled": user.disabled,
        "created_at": user.created_at,
        "guest_expires_at": user.guest_expires_at,
        "bot": user.bot,
        "admin": user.admin,
    }


class AccountStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_user(self, user: UserRecord) -> bool:
        """Insert a user; False when the username is taken."""
        try:
            async with self.db.write() as conn:
                await conn.execute(insert(users).values(**user_row(user)))
        except IntegrityError:
            return False
        return True

    async def rename_user(
        self, user_id: str, username: str, *, display_name: str | None = None
    ) -> bool:
        """Give a user another (already normalised) username, and display name when
        given; False when the username is taken (then nothing changed)."""
        values = {"username": username}
        if display_name is not None:
            values["display_name"] = display_name
        try:
            async with self.db.write() as conn:
                await conn.execute(update(users).where(users.c.id == user_id).values(**values))
        except IntegrityError:
            return False
        return True

    # --- guests (core/guests.py)

    async def renew_guests(self, user_ids: Iterable[str], expires_at: int) -> None:
        """Move the retirement of these live guests to ``expires_at`` (never of a real
        account, nor of a guest already retired)."""
        wanted = list(set(user_ids))
        if not wanted:
            return
        async with self.db.write() as conn:
            await conn.execute(
                update(users)
                .where(
                    users.c.id.in_(wanted),
                    users.c.guest_expires_at.is_not(None),
                    users.c.disabled.is_(False),
                )
                .values(guest_expires_at=expires_at)
            )

    async def expired_guests(self, now: int, limit: int) -> list[UserRecord]:
        """Live guests whose time ran out at ``now``, oldest first, at most ``limit``."""
        stmt = (
            select(users)
            .where(users.c.guest_expires_at <= now, users.c.disabled.is_(False))
            .order_by(users.c.guest_expires_at)
            .limit(limit)
        )
        async with self.db.read() as conn:
            return [user_from_row(row) for row in (await conn.execute(stmt)).all()]

    async def retire_guest(self, user_id: str, freed_name: str, now: int) -> list[str] | None:
        """Retire an expired guest in one transaction: disable it, rename it to
        ``freed_name`` (so its nickname is free again) and revoke its logins.

        Returns the revoked login ids, or None when the guest was renewed or retired
        meanwhile (or ``freed_name`` is taken): nothing was changed then.
        """
        try:
            async with self.db.write() as conn:
                done = await conn.execute(
                    update(users)
                    .where(
                        users.c.id == user_id,
                        users.c.guest_expires_at <= now,
                        users.c.disabled.is_(False),
                    )
                    .values(disabled=True, username=freed_name)
                )
                if not done.rowcount:
                    return None
                query = select(logins.c.id).where(
                    logins.c.user_id == user_id, logins.c.revoked_at.is_(None)
                )
                ids: list[str] = list((await conn.execute(query)).scalars().all())
                if ids:
                    await conn.execute(
                        update(logins).where(logins.c.id.in_(ids)).values(revoked_at=now)
                    )
        except IntegrityError:
            return None
        return ids

    async def user_by_username(self, username: str) -> UserRecord | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(users).where(users.c.username == username))).first()
        return user_from_row(row) if row else None

    async def user_by_id(self, user_id: str) -> UserRecord | None:
        found = await self.users_by_ids([user_id])
        return found.get(user_id)

    async def users_by_ids(self, user_ids: Iterable[str]) -> dict[str, UserRecord]:
        wanted = list(set(user_ids))
        if not wanted:
            return {}
        async with self.db.read() as conn:
            rows = (await conn.execute(select(users).where(users.c.id.in_(wanted)))).all()
        return {row.id: user_from_row(row) for row in rows}

    async def search_users(self, query: str, limit: int, offset: int = 0) -> list[UserRecord]:
        """Enabled users whose username or display name starts with ``query`` (any case)."""
        stmt = select(users).where(users.c.disabled.is_(False))
        if query:
            stmt = stmt.where(name_starts_with(query))
        stmt = stmt.order_by(users.c.username).limit(limit).offset(offset)
        async with self.db.read() as conn:
            return [user_from_row(row) for row in (await conn.execute(stmt)).all()]

    async def list_users(self, limit: int, offset: int = 0) -> list[UserRecord]:
        stmt = select(users).order_by(users.c.created_at, users.c.id).limit(limit).offset(offset)
        async with self.db.read() as conn:
            return [user_from_row(row) for row in (await conn.execute(stmt)).all()]

    async def update_user(self, user_id: str, **fields: Any) -> None:
        if fields:
            async with self.db.write() as conn:
                await conn.execute(update(users).where(users.c.id == user_id).values(**fields))

    async def revoke_user_logins(
        self, user_id: str, now: int, *, keep: str | None = None
    ) -> list[str]:
        """Revoke every active login of a user but ``keep``; returns their ids."""
        async with self.db.write() as conn:
            query = select(logins.c.id).where(
                logins.c.user_id == user_id, logins.c.revoked_at.is_(None)
            )
            if keep is not None:
                query = query.where(logins.c.id != keep)
            ids: list[str] = list((await conn.execute(query)).scalars().all())
            if ids:
                await conn.execute(
                    update(logins).where(logins.c.id.in_(ids)).values(revoked_at=now)
                )
        return ids

    # --- logins and refresh tokens

    async def create_login(self, login: LoginRecord, refresh_hash: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                insert(logins).values(
                    id=login.id,
                    user_id=login.user_id,
                    device=login.device,
                    created_at=login.created_at,
                    last_seen=login.last_seen,
                    expires_at=login.expires_at,
                    revoked_at=None,
                )
            )
            await conn.execute(
                insert(refresh_tokens).values(
                    token_hash=refresh_hash,
                    login_id=login.id,
                    created_at=login.created_at,
                    expires_at=login.expires_at,
                    spent_at=None,
                )
            )

    async def login_with_user(self, login_id: str) -> tuple[LoginRecord, UserRecord] | None:
        """A login and its user in one query (the authentication hot path)."""
        async with self.db.read() as conn:
            row = (await conn.execute(_LOGIN_WITH_USER, {"login": login_id})).first()
        if row is None:
            return None
        login = LoginRecord(
            id=row.login_id,
            user_id=row.user_id,
            device=row.device,
            created_at=row.login_created_at,
            last_seen=row.login_last_seen,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )
        return login, user_from_row(row)

    async def login_by_id(self, login_id: str) -> LoginRecord | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(logins).where(logins.c.id == login_id))).first()
        return _login_from_row(row) if row else None

    async def logins_of_user(self, user_id: str) -> Sequence[LoginRecord]:
        stmt = (
            select(logins)
            .where(logins.c.user_id == user_id, logins.c.revoked_at.is_(None))
            .order_by(logins.c.created_at)
        )
        async with self.db.read() as conn:
            return [_login_from_row(row) for row in (await conn.execute(stmt)).all()]

    async def set_last_seen(self, seen: dict[str, int]) -> None:
        """Record when each user was last online (one transaction for all)."""
        async with self.db.write() as conn:
            await conn.execute(
                update(users)
                .where(users.c.id == bindparam("uid"))
                .values(last_seen=bindparam("ts")),
                [{"uid": user, "ts": ts} for user, ts in seen.items()],
            )

    async def revoked_among(self, login_ids: Iterable[str]) -> set[str]:
        """Which of ``login_ids`` are revoked (or unknown)."""
        wanted = list(set(login_ids))
        if not wanted:
            return set()
        stmt = select(logins.c.id).where(logins.c.id.in_(wanted), logins.c.revoked_at.is_(None))
        async with self.db.read() as conn:
            active: set[str] = set((await conn.execute(stmt)).scalars())
        return set(wanted) - active

    async def revoke_login(self, login_id: str, now: int) -> bool:
        async with self.db.write() as conn:
            result = await conn.execute(
                update(logins)
                .where(logins.c.id == login_id, logins.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return bool(result.rowcount)

    async def touch_login(self, login_id: str, now: int) -> None:
        async with self.db.write() as conn:
            await conn.execute(update(logins).where(logins.c.id == login_id).values(last_seen=now))

    async def rotate_refresh(
        self, old_hash: str, new_hash: str, now: int, expires_at: int
    ) -> RefreshOutcome:
        """Spend ``old_hash`` and store ``new_hash`` for the same login, atomically."""
        async with self.db.write() as conn:
            token = (
                await conn.execute(
                    select(refresh_tokens).where(refresh_tokens.c.token_hash == old_hash)
                )
            ).first()
            if token is None:
                return RefreshOutcome(None)
            login_row = (
                await conn.execute(select(logins).where(logins.c.id == token.login_id))
            ).first()
            if login_row is None or login_row.revoked_at is not None:
                return RefreshOutcome(None)
            if token.spent_at is not None:
                # A spent token came back: someone holds a stolen copy. End the login.
                await conn.execute(
                    update(logins).where(logins.c.id == token.login_id).values(revoked_at=now)
                )
                return RefreshOutcome(_login_from_row(login_row), replayed=True)
            if token.expires_at <= now:
                return RefreshOutcome(None)
            spent = await conn.execute(
                update(refresh_tokens)
                .where(refresh_tokens.c.token_hash == old_hash, refresh_tokens.c.spent_at.is_(None))
                .values(spent_at=now)
            )
            if not spent.rowcount:  # lost a race with another refresh of the same token
                return RefreshOutcome(None)
            await conn.execute(
                insert(refresh_tokens).values(
                    token_hash=new_hash,
                    login_id=token.login_id,
                    created_at=now,
                    expires_at=expires_at,
                    spent_at=None,
                )
            )
            await conn.execute(
                update(logins)
                .where(logins.c.id == token.login_id)
                .values(last_seen=now, expires_at=expires_at)
            )
        return RefreshOutcome(_login_from_row(login_row))
