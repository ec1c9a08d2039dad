"""Accounts: registration, login, token rotation, logout, profiles and devices."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pigeon.broker.base import Broker, Kick, Presence
from pigeon.core.avatars import claim_avatar
from pigeon.core.errors import CoreError
from pigeon.core.ids import IdPrefix, new_id, now_ms
from pigeon.core.logincache import LoginCache
from pigeon.core.passwords import Passwords
from pigeon.core.permissions import PostingCache
from pigeon.core.tokens import TokenService, hash_refresh_token, new_refresh_token
from pigeon.protocol import text
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.text import TextKind
from pigeon.store.facade import Store
from pigeon.store.files import FileStore
from pigeon.store.records import LoginRecord, UserRecord

USERNAME_MIN, USERNAME_MAX = 3, 32
#: A username as sent: ASCII letters in either case, digits, '_', '.', '-' (stored
#: lower case). Also the REST schema's ``pattern``, so it is written for both Python
#: and ECMA-262 regexes.
USERNAME_PATTERN = f"^[A-Za-z0-9_.\\-]{{{USERNAME_MIN},{USERNAME_MAX}}}$"
USERNAME_RE = re.compile(USERNAME_PATTERN)
MIN_PASSWORD, MAX_PASSWORD = 8, 128
MAX_DISPLAY_NAME = 64
DM_POLICIES = ("anyone", "friends")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user, through one login (session) on one device."""

    user_id: str
    login_id: str
    device: str
    bot: bool = False


@dataclass(frozen=True, slots=True)
class Grant:
    user: UserRecord
    access_token: str
    refresh_token: str
    expires_in: int
    login_id: str
    device: str


def normalize_username(username: str) -> str:
    """The stored form (lower case) of a well-formed username, else INVALID_USERNAME.

    The format is checked before lower-casing: ``str.lower`` maps some non-ASCII
    letters to ASCII ones (KELVIN SIGN to ``k``), which must not alias a username.
    """
    if not USERNAME_RE.fullmatch(username):
        raise CoreError(ErrorCode.INVALID_USERNAME)
    return username.lower()


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise CoreError(ErrorCode.WEAK_PASSWORD)


def check_display_name(name: str) -> str:
    """The display-name rule for every way in (REST, CLI): length, then the name text rule."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_DISPLAY_NAME:
        raise CoreError(
            ErrorCode.BAD_REQUEST, f"display_name must be 1-{MAX_DISPLAY_NAME} characters"
        )
    violation = text.check(TextKind.NAME, name)
    if violation is not None:
        raise CoreError(violation.code, f"display_name {violation.reason}")
    return name


class AccountService:
    def __init__(
        self,
        store: Store,
        tokens: TokenService,
        passwords: Passwords,
        broker: Broker,
        refresh_ttl_s: int,
        permissions: PostingCache | None = None,
        avatar_files: FileStore | None = None,
        login_cache: LoginCache | None = None,
    ) -> None:
        self.permissions = permissions
        self.login_cache = login_cache
        self.avatar_files = avatar_files
        self.store = store
        self.tokens = tokens
        self.passwords = passwords
        self.broker = broker
        self.refresh_ttl_s = refresh_ttl_s

    # --- sign-up and sign-in

    async def create_user(
        self, username: str, password: str, display_name: str | None = None
    ) -> UserRecord:
        name = normalize_username(username)
        check_password(password)
        user = UserRecord(
            id=new_id(IdPrefix.USER),
            username=name,
            display_name=check_display_name(display_name) if display_name else name,
            avatar=None,
            dm_policy="anyone",
            disabled=False,
            created_at=now_ms(),
            password_hash=await self.passwords.hash(password),
        )
        if not await self.store.accounts.create_user(user):
            raise CoreError(ErrorCode.USERNAME_TAKEN)
        return user

    async def register(
        self, username: str, password: str, display_name: str | None, device: str | None
    ) -> Grant:
        user = await self.create_user(username, password, display_name)
        return await self._grant(user, device)

    async def login(self, username: str, password: str, device: str | None) -> Grant:
        user = (
            await self.store.accounts.user_by_username(username.lower())
            if USERNAME_RE.fullmatch(username)
            else None
        )
        # A guest has no password (core/guests.py), nor has a bot (bots/): it is
        # verified like an unknown name, so it costs the same time and is refused the
        # same way.
        passwordless = user is None or user.guest or user.bot
        stored = None if user is None or passwordless else user.password_hash
        if not await self.passwords.verify(stored, password):
            raise CoreError(ErrorCode.BAD_CREDENTIALS)
        assert user is not None
        if user.disabled:
            raise CoreError(ErrorCode.ACCOUNT_DISABLED)
        return await self._grant(user, device)

    async def grant(self, user: UserRecord, device: str | None) -> Grant:
        """Tokens for a user the caller has already verified some other way (a bot's
        token): the same login a password sign-in makes."""
        if user.disabled:
            raise CoreError(ErrorCode.ACCOUNT_DISABLED)
        return await self._grant(user, device)

    async def open_login(self, user: UserRecord, device: str) -> Principal:
        """A login for a user the caller has already verified (a line-mode guest): the
        same login row a sign-in makes, whose tokens nobody is ever given."""
        grant = await self._grant(user, device)
        return Principal(user_id=user.id, login_id=grant.login_id, device=grant.device)

    async def _grant(self, user: UserRecord, device: str | None) -> Grant:
        now = now_ms()
        login = LoginRecord(
            id=new_id(IdPrefix.LOGIN),
            user_id=user.id,
            device=device or new_id(IdPrefix.DEVICE),
            created_at=now,
            last_seen=now,
            expires_at=now + self.refresh_ttl_s * 1000,
            revoked_at=None,
        )
        refresh = new_refresh_token()
        await self.store.accounts.create_login(login, hash_refresh_token(refresh))
        return self._tokens_for(user, login.id, login.device, refresh, now)

    def _tokens_for(
        self, user: UserRecord, login_id: str, device: str, refresh: str, now: int
    ) -> Grant:
        access = self.tokens.issue_access(user.id, login_id, device, now // 1000)
        return Grant(user, access, refresh, self.tokens.access_ttl_s, login_id, device)

    async def refresh(self, refresh_token: str) -> Grant:
        now = now_ms()
        new_token = new_refresh_token()
        outcome = await self.store.accounts.rotate_refresh(
            hash_refresh_token(refresh_token),
            hash_refresh_token(new_token),
            now,
            now + self.refresh_ttl_s * 1000,
        )
        if outcome.replayed and outcome.login:
            await self.broker.publish(Kick(CloseCode.REVOKED, login_ids=(outcome.login.id,)))
        if outcome.login is None or outcome.replayed:
            raise CoreError(ErrorCode.REFRESH_INVALID)
        user = await self.store.accounts.user_by_id(outcome.login.user_id)
        if user is None or user.disabled:
            raise CoreError(ErrorCode.ACCOUNT_DISABLED)
        return self._tokens_for(user, outcome.login.id, outcome.login.device, new_token, now)

    async def authenticate(self, token: str, *, cached: bool = False) -> Principal:
        """Check an access token and that its login and user are still good.

        ``cached`` (socket connects): a login found good within ``auth_cache_s`` is
        taken from the ``LoginCache`` instead of the database; the token itself is
        always verified (signature, expiry)."""
        claims = self.tokens.verify_access(token)
        cache = self.login_cache if cached else None
        if cache is not None:
            known = cache.get(claims.login_id)
            if known is not None and known.user_id == claims.user_id:
                return Principal(claims.user_id, claims.login_id, known.device, known.bot)
        generation = cache.generation if cache is not None else 0
        found = await self.store.accounts.login_with_user(claims.login_id)
        if found is None or found[0].user_id != claims.user_id:
            raise CoreError(ErrorCode.TOKEN_INVALID)
        login, user = found
        # A disabled account says why (disabling also revokes the login); a deleted one
        # is simply signed out: there is no account left to speak of.
        if user.disabled and user.deleted_at is None:
            raise CoreError(ErrorCode.ACCOUNT_DISABLED)
        if not login.active:
            raise CoreError(ErrorCode.TOKEN_REVOKED)
        if cache is not None:
            cache.remember(login.id, user.id, login.device, user.bot, generation)
        return Principal(user_id=user.id, login_id=login.id, device=login.device, bot=user.bot)

    async def logout(self, principal: Principal) -> None:
        await self.revoke_login(principal.login_id)

    async def revoke_login(self, login_id: str) -> None:
        await self.store.accounts.revoke_login(login_id, now_ms())
        await self.broker.publish(Kick(CloseCode.REVOKED, login_ids=(login_id,)))

    async def change_password(self, principal: Principal, current: str, new: str) -> None:
        """Replace the caller's password; every other login of theirs is signed out.

        The login asking keeps working, so the device that changed the password
        is not thrown out by its own change.
        """
        user = await self.store.accounts.user_by_id(principal.user_id)
        stored = user.password_hash if user is not None and not user.guest else None
        if not await self.passwords.verify(stored, current):
            raise CoreError(ErrorCode.BAD_CREDENTIALS, "the current password is wrong")
        assert user is not None
        await self._set_password(user, new, keep=principal.login_id)

    async def reset_password(self, username: str, new: str) -> UserRecord:
        """An operator's reset: a new password, and every login signed out."""
        user = await self.store.accounts.user_by_username(normalize_username(username))
        if user is None or user.guest:
            raise CoreError(ErrorCode.USER_NOT_FOUND)
        await self._set_password(user, new, keep=None)
        return user

    async def _set_password(self, user: UserRecord, new: str, keep: str | None) -> None:
        check_password(new)
        await self.store.accounts.update_user(user.id, password_hash=await self.passwords.hash(new))
        revoked = await self.store.accounts.revoke_user_logins(user.id, now_ms(), keep=keep)
        if revoked:
            await self.broker.publish(Kick(CloseCode.REVOKED, login_ids=tuple(revoked)))

    async def set_disabled(self, username: str, disabled: bool) -> UserRecord:
        user = await self.store.accounts.user_by_username(normalize_username(username))
        if user is None:
            raise CoreError(ErrorCode.USER_NOT_FOUND)
        await self.store.accounts.update_user(user.id, disabled=disabled)
        if disabled:
            await self.sign_out_everywhere(user.id)
        return user

    async def sign_out_everywhere(self, user_id: str) -> int:
        """Revoke every login of the user and close their sockets; how many were active."""
        revoked = await self.store.accounts.revoke_user_logins(user_id, now_ms())
        if revoked:
            await self.broker.publish(Kick(CloseCode.REVOKED, login_ids=tuple(revoked)))
        return len(revoked)

    # --- profiles

    async def user(self, user_id: str) -> UserRecord:
        user = await self.store.accounts.user_by_id(user_id)
        if user is None:
            raise CoreError(ErrorCode.USER_NOT_FOUND)
        return user

    async def search(self, query: str, limit: int) -> list[UserRecord]:
        return await self.store.accounts.search_users(query.strip().lower(), limit)

    async def update_profile(self, user_id: str, changes: dict[str, Any]) -> UserRecord:
        fields: dict[str, Any] = {}
        if changes.get("display_name") is not None:
            fields["display_name"] = check_display_name(changes["display_name"])
        if "avatar" in changes:
            fields["avatar"] = await claim_avatar(self.avatar_files, user_id, changes["avatar"])
        if changes.get("dm_policy") is not None:
            if changes["dm_policy"] not in DM_POLICIES:
                raise CoreError(ErrorCode.BAD_REQUEST, "dm_policy must be 'anyone' or 'friends'")
            fields["dm_policy"] = changes["dm_policy"]
        await self.store.accounts.update_user(user_id, **fields)
        if "dm_policy" in fields and self.permissions is not None:
            self.permissions.invalidate()
        return await self.user(user_id)

    # --- devices

    async def devices(self, user_id: str, presence: Presence) -> list[dict[str, Any]]:
        live = await presence.online_logins(user_id)
        return [
            {
                "device": login.device,
                "session": login.id,
                "last_seen": login.last_seen,
                "online": login.id in live,
            }
            for login in await self.store.accounts.logins_of_user(user_id)
        ]

    async def revoke_device(self, user_id: str, device: str) -> None:
        logins = [
            login
            for login in await self.store.accounts.logins_of_user(user_id)
            if login.device == device
        ]
        if not logins:
            raise CoreError(ErrorCode.NOT_FOUND, "no such device")
        for login in logins:
            await self.revoke_login(login.id)
