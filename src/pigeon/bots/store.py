"""Bot tokens, bots' outgoing webhooks and conversations' incoming webhooks.

Bot tokens and incoming-webhook secrets are stored as SHA-256 hashes only: they are
long random strings, so a hash is enough (no slow password hash is needed) and a
copy of the database gives nobody a working token. The outgoing webhook's signing
secret is stored as is, because signing needs the key itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from pigeon.store.accounts import user_from_row, user_row
from pigeon.store.engine import Database
from pigeon.store.records import UserRecord
from pigeon.store.schema import (
    bot_tokens,
    bot_webhooks,
    incoming_hooks,
    logins,
    users,
)


class BotEvent(enum.StrEnum):
    """What a bot's outgoing webhook is sent (docs/bots.md, "Outgoing webhooks")."""

    MESSAGE = "message"  # every message in every conversation the bot is in
    MENTION = "mention"  # in groups, only messages that mention the bot (or @all)


def encode_events(events: frozenset[BotEvent]) -> str:
    return ",".join(sorted(events))


_EVENT_NAMES = frozenset(e.value for e in BotEvent)


def decode_events(value: str) -> frozenset[BotEvent]:
    return frozenset(BotEvent(v) for v in value.split(",") if v in _EVENT_NAMES)


@dataclass(frozen=True, slots=True)
class BotWebhook:
    user_id: str
    url: str
    secret: str
    events: frozenset[BotEvent]
    created_at: int

    def public(self) -> dict[str, Any]:
        """What the bot may read back: never the secret."""
        return {"url": self.url, "events": sorted(self.events), "created_at": self.created_at}


@dataclass(frozen=True, slots=True)
class IncomingHook:
    id: str
    conv_id: str
    creator_id: str
    name: str
    secret_hash: str
    created_at: int
    disabled_at: int | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conv": self.conv_id,
            "creator": self.creator_id,
            "name": self.name,
            "created_at": self.created_at,
            "active": self.active,
        }


def _webhook(row: Any) -> BotWebhook:
    return BotWebhook(row.user_id, row.url, row.secret, decode_events(row.events), row.created_at)


def _hook(row: Any) -> IncomingHook:
    return IncomingHook(
        row.id,
        row.conv_id,
        row.creator_id,
        row.name,
        row.secret_hash,
        row.created_at,
        row.disabled_at,
    )


class BotStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- bot accounts and tokens

    async def create_bot(self, user: UserRecord, token_hash: str) -> bool:
        """Insert a bot user and its token in one transaction; False when the
        username is taken."""
        try:
            async with self.db.write() as conn:
                bot = replace(user, avatar=None, password_hash="", disabled=False, bot=True)
                await conn.execute(insert(users).values(**user_row(bot)))
                await conn.execute(
                    insert(bot_tokens).values(
                        user_id=user.id, token_hash=token_hash, created_at=user.created_at
                    )
                )
        except IntegrityError:
            return False
        return True

    async def bots(self, limit: int) -> list[tuple[UserRecord, bool]]:
        """Bot accounts, oldest first, each with whether it holds a token."""
        stmt = (
            select(users, bot_tokens.c.user_id.label("token_of"))
            .select_from(users.outerjoin(bot_tokens, bot_tokens.c.user_id == users.c.id))
            .where(users.c.bot.is_(True))
            .order_by(users.c.created_at, users.c.id)
            .limit(limit)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [(user_from_row(r), r.token_of is not None) for r in rows]

    async def bot_for_token(self, token_hash: str) -> UserRecord | None:
        stmt = select(users).join(bot_tokens, bot_tokens.c.user_id == users.c.id)
        async with self.db.read() as conn:
            row = (await conn.execute(stmt.where(bot_tokens.c.token_hash == token_hash))).first()
        return user_from_row(row) if row is not None else None

    async def replace_token(self, user_id: str, token_hash: str | None, now: int) -> list[str]:
        """Set (or, with None, remove) the bot's token and revoke every login made
        with an earlier one, in one transaction; returns the revoked login ids."""
        async with self.db.write() as conn:
            await conn.execute(delete(bot_tokens).where(bot_tokens.c.user_id == user_id))
            if token_hash is not None:
                await conn.execute(
                    insert(bot_tokens).values(
                        user_id=user_id, token_hash=token_hash, created_at=now
                    )
                )
            revoked = list(
                (
                    await conn.execute(
                        select(logins.c.id).where(
                            logins.c.user_id == user_id, logins.c.revoked_at.is_(None)
                        )
                    )
                ).scalars()
            )
            if revoked:
                await conn.execute(
                    update(logins).where(logins.c.id.in_(revoked)).values(revoked_at=now)
                )
        return revoked

    # --- outgoing webhooks

    async def set_webhook(self, hook: BotWebhook) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(bot_webhooks).where(bot_webhooks.c.user_id == hook.user_id))
            await conn.execute(
                insert(bot_webhooks).values(
                    user_id=hook.user_id,
                    url=hook.url,
                    secret=hook.secret,
                    events=encode_events(hook.events),
                    created_at=hook.created_at,
                )
            )

    async def webhook(self, user_id: str) -> BotWebhook | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(bot_webhooks).where(bot_webhooks.c.user_id == user_id))
            ).first()
        return _webhook(row) if row is not None else None

    async def remove_webhook(self, user_id: str) -> bool:
        async with self.db.write() as conn:
            gone = await conn.execute(delete(bot_webhooks).where(bot_webhooks.c.user_id == user_id))
        return bool(gone.rowcount)

    # --- incoming webhooks

    async def add_hook(self, hook: IncomingHook, limit: int) -> bool:
        """Store ``hook`` unless its conversation has ``limit`` already (False).

        Counted in the insert's transaction: exact on SQLite (one writer); on
        PostgreSQL two creations racing may both pass, which only the cap's precision
        pays for."""
        async with self.db.write() as conn:
            count = (
                await conn.execute(
                    select(func.count()).where(incoming_hooks.c.conv_id == hook.conv_id)
                )
            ).scalar_one()
            if count >= limit:
                return False
            await conn.execute(
                insert(incoming_hooks).values(
                    id=hook.id,
                    conv_id=hook.conv_id,
                    creator_id=hook.creator_id,
                    name=hook.name,
                    secret_hash=hook.secret_hash,
                    created_at=hook.created_at,
                    disabled_at=hook.disabled_at,
                )
            )
        return True

    async def hook(self, hook_id: str) -> IncomingHook | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(incoming_hooks).where(incoming_hooks.c.id == hook_id))
            ).first()
        return _hook(row) if row is not None else None

    async def hooks_of(self, conv_id: str, limit: int) -> list[IncomingHook]:
        stmt = (
            select(incoming_hooks)
            .where(incoming_hooks.c.conv_id == conv_id)
            .order_by(incoming_hooks.c.created_at, incoming_hooks.c.id)
            .limit(limit)
        )
        async with self.db.read() as conn:
            return [_hook(r) for r in (await conn.execute(stmt)).all()]

    async def remove_hook(self, conv_id: str, hook_id: str) -> bool:
        async with self.db.write() as conn:
            gone = await conn.execute(
                delete(incoming_hooks).where(
                    incoming_hooks.c.id == hook_id, incoming_hooks.c.conv_id == conv_id
                )
            )
        return bool(gone.rowcount)

    async def disable_hook(self, hook_id: str, now: int) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(incoming_hooks)
                .where(incoming_hooks.c.id == hook_id, incoming_hooks.c.disabled_at.is_(None))
                .values(disabled_at=now)
            )
