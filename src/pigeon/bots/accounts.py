"""Bot accounts as the shell manages them (``pigeon bot create|list|token|revoke``).

Kept apart from the serving code so the CLI opens only the store: a bot is a user
row marked ``bot`` plus the SHA-256 hash of its token. A token change revokes the
logins made with the old token in the same transaction; running servers close those
logins' sockets (4003) at their next revocation check (``revocation_check_s``), as
for any revoked login.
"""

from __future__ import annotations

import secrets

from pigeon.bots.store import BotStore
from pigeon.core.accounts import check_display_name, normalize_username
from pigeon.core.errors import CoreError
from pigeon.core.ids import IdPrefix, new_id, now_ms
from pigeon.core.tokens import hash_refresh_token
from pigeon.protocol.errors import ErrorCode
from pigeon.store.accounts import AccountStore
from pigeon.store.records import UserRecord

BOT_TOKEN_PREFIX = "pgb_"  # noqa: S105 - a prefix, not a secret


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """SHA-256 hex: enough for long random secrets (the refresh tokens' hash)."""
    return hash_refresh_token(secret)


class BotAccounts:
    def __init__(self, bots: BotStore, accounts: AccountStore) -> None:
        self.bots = bots
        self.accounts = accounts

    async def create(self, name: str, display_name: str | None) -> tuple[UserRecord, str]:
        """A new bot account and its token (shown once: only its hash is kept)."""
        token = new_secret(BOT_TOKEN_PREFIX)
        username = normalize_username(name)
        user = UserRecord(
            id=new_id(IdPrefix.USER),
            username=username,
            display_name=check_display_name(display_name) if display_name else username,
            avatar=None,
            dm_policy="anyone",
            disabled=False,
            created_at=now_ms(),
            bot=True,
        )
        if not await self.bots.create_bot(user, hash_secret(token)):
            raise CoreError(ErrorCode.USERNAME_TAKEN)
        return user, token

    async def listed(self, limit: int) -> list[tuple[UserRecord, bool]]:
        """Bots, oldest first, each with whether it holds a token."""
        return await self.bots.bots(limit)

    async def _named(self, name: str) -> UserRecord:
        user = await self.accounts.user_by_username(normalize_username(name))
        if user is None or not user.bot:
            raise CoreError(ErrorCode.USER_NOT_FOUND, f"no bot named {name}")
        return user

    async def rotate(self, name: str) -> str:
        """A new token for the bot; the old one and every login made with it stop."""
        bot = await self._named(name)
        token = new_secret(BOT_TOKEN_PREFIX)
        await self.bots.replace_token(bot.id, hash_secret(token), now_ms())
        return token

    async def revoke(self, name: str) -> None:
        """No token at all: the bot cannot sign in until ``rotate``."""
        await self.bots.replace_token((await self._named(name)).id, None, now_ms())
