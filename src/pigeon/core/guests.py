"""Guest accounts: a nickname without a password, for line mode (docs/protocol.md, "Line mode").

A guest is an ordinary user row (so its messages are ordinary messages that every
client shows) with a retirement time, ``guest_expires_at``. The rules, in one place:

- A guest has no password: ``AccountService.login`` refuses every password for it
  (after the same work as for a wrong one), so a guest name cannot be signed in to
  over REST, and nothing else ever hands out a guest's tokens.
- While its connection lives, the line listener renews the guest every
  ``ttl_s / 3``, so its retirement time stays in the future.
- When the connection ends the guest leaves every room it was in (the rooms see
  the usual ``member_left`` notice) and its retirement is set ``ttl_s`` away. The
  nickname stays taken until then, so nobody can pose as the person who just left.
- Once retired (by the sweeper here, on any node) the account is disabled, renamed
  to ``<nick>~<random>`` — a name no sign-up can take, since ``~`` is not allowed in
  usernames — and its logins are revoked. Its messages stay, under that name and
  its unchanged display name; the nickname is free again.

A node that dies with guests connected stops renewing them; they are retired one
``ttl_s`` after its last renewal, rooms left then, by whichever node sweeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import Iterable

from pigeon.broker.base import Broker, Kick
from pigeon.core.accounts import normalize_username
from pigeon.core.errors import CoreError
from pigeon.core.groups import GroupService
from pigeon.core.ids import IdPrefix, new_id, now_ms
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.errors import ErrorCode
from pigeon.store.facade import Store
from pigeon.store.records import UserRecord

log = logging.getLogger(__name__)

#: Not an Argon2 hash: no password verifies against it (and login refuses guests first).
NO_PASSWORD = "!guest"  # noqa: S105 - a marker that matches no password
_SWEEP_BATCH = 100  # guests retired per pass; the next pass takes the rest


class GuestService:
    def __init__(self, store: Store, broker: Broker, groups: GroupService, ttl_s: int) -> None:
        self.store = store
        self.broker = broker
        self.groups = groups
        self.ttl_s = ttl_s
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def renew_every_s(self) -> float:
        """How often a live guest must be renewed to keep it well inside its time."""
        return max(0.5, self.ttl_s / 3)

    def _expiry(self) -> int:
        return now_ms() + self.ttl_s * 1000

    async def create(self, nick: str) -> UserRecord:
        """A new guest named ``nick`` (the username rules apply; 40004, 40901 when taken)."""
        name = normalize_username(nick)
        user = UserRecord(
            id=new_id(IdPrefix.USER),
            username=name,
            display_name=name,
            avatar=None,
            dm_policy="anyone",
            disabled=False,
            created_at=now_ms(),
            password_hash=NO_PASSWORD,
            guest_expires_at=self._expiry(),
        )
        if not await self.store.accounts.create_user(user):
            raise CoreError(ErrorCode.USERNAME_TAKEN, f"the name {name} is taken")
        return user

    async def rename(self, user: UserRecord, nick: str) -> UserRecord:
        """Give a guest another nickname. Accounts keep theirs: a username is how
        their owner signs in, so it is changed nowhere by a nickname command."""
        if not user.guest:
            raise CoreError(ErrorCode.FORBIDDEN, "only guests change their name here")
        name = normalize_username(nick)
        if name == user.username:
            return user
        if not await self.store.accounts.rename_user(user.id, name, display_name=name):
            raise CoreError(ErrorCode.USERNAME_TAKEN, f"the name {name} is taken")
        return dataclasses.replace(user, username=name, display_name=name)

    async def renew(self, user_ids: Iterable[str]) -> None:
        """Keep connected guests alive for another ``ttl_s``."""
        await self.store.accounts.renew_guests(user_ids, self._expiry())

    async def departed(self, user_id: str) -> None:
        """The guest's connection ended: leave its rooms now, retire it after ``ttl_s``."""
        await self._leave_rooms(user_id)
        await self.store.accounts.renew_guests([user_id], self._expiry())

    async def _leave_rooms(self, user_id: str) -> None:
        for conv_id in await self.store.conversations.active_group_ids(user_id):
            try:
                await self.groups.leave(user_id, conv_id)
            except CoreError:  # an owner cannot leave; a guest never owns a group
                log.warning("guest could not leave", extra={"user": user_id, "conv": conv_id})

    async def retire_expired(self) -> list[str]:
        """Retire every guest whose time has run out; returns their ids."""
        retired: list[str] = []
        now = now_ms()
        for guest in await self.store.accounts.expired_guests(now, _SWEEP_BATCH):
            freed = f"{guest.username}~{secrets.token_hex(3)}"
            logins = await self.store.accounts.retire_guest(guest.id, freed, now)
            if logins is None:
                continue  # renewed meanwhile, or retired by another node
            if logins:
                await self.broker.publish(Kick(CloseCode.REVOKED, login_ids=tuple(logins)))
            await self._leave_rooms(guest.id)  # after a crash its rooms were never left
            retired.append(guest.id)
        if retired:
            log.info("guests retired", extra={"count": len(retired)})
        return retired

    # --- the sweeper

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep(), name="guest-sweeper")

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every_s)
            try:
                await self.retire_expired()
            except Exception:  # the store is away: try again on the next pass
                log.exception("retiring guests failed")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
