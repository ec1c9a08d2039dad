"""Guest accounts (line mode): retirement times, renewal, retirement, renaming."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets

from contract.storekit import login_record, make_direct, make_user, user_record
from pigeon.core.ids import new_id, now_ms
from pigeon.core.tokens import hash_refresh_token, new_refresh_token
from pigeon.store.facade import Store
from pigeon.store.groups import MembershipChange, NewConversation
from pigeon.store.records import UserRecord

HOUR_MS = 3_600_000


async def make_guest(store: Store, expires_at: int) -> UserRecord:
    guest = dataclasses.replace(user_record(), guest_expires_at=expires_at, password_hash="!")
    assert await store.accounts.create_user(guest)
    return guest


async def expiry_of(store: Store, user_id: str) -> int | None:
    found = await store.accounts.user_by_id(user_id)
    assert found is not None
    return found.guest_expires_at


async def test_a_guest_round_trips_with_its_expiry(store: Store) -> None:
    expires = now_ms() + HOUR_MS
    guest = await make_guest(store, expires)
    found = await store.accounts.user_by_id(guest.id)
    assert found is not None
    assert found.guest
    assert found.guest_expires_at == expires
    account = await make_user(store)
    found = await store.accounts.user_by_id(account.id)
    assert found is not None
    assert not found.guest
    assert found.guest_expires_at is None


async def test_renewal_moves_only_live_guests(store: Store) -> None:
    guest = await make_guest(store, now_ms())
    account = await make_user(store)
    later = now_ms() + 2 * HOUR_MS
    await store.accounts.renew_guests([guest.id, account.id, "u_missing"], later)
    assert await expiry_of(store, guest.id) == later
    assert await expiry_of(store, account.id) is None  # an account never becomes a guest
    await store.accounts.renew_guests([], later)  # nothing to renew is fine


async def test_expired_guests_are_those_past_their_time(store: Store) -> None:
    now = now_ms()
    gone = await make_guest(store, now - 1)
    edge = await make_guest(store, now)
    live = await make_guest(store, now + HOUR_MS)
    await make_user(store)
    found = {g.id for g in await store.accounts.expired_guests(now, 10_000)}
    assert {gone.id, edge.id} <= found
    assert live.id not in found
    assert all(g.guest for g in await store.accounts.expired_guests(now, 10_000))


async def test_retiring_disables_renames_and_revokes(store: Store) -> None:
    now = now_ms()
    guest = await make_guest(store, now - 1)
    login = login_record(guest, device="line")
    await store.accounts.create_login(login, hash_refresh_token(new_refresh_token()))
    freed = f"{guest.username}~{secrets.token_hex(3)}"
    assert await store.accounts.retire_guest(guest.id, freed, now) == [login.id]
    found = await store.accounts.user_by_id(guest.id)
    assert found is not None
    assert found.disabled
    assert found.username == freed
    assert found.display_name == guest.display_name  # old messages keep their name
    assert await store.accounts.revoked_among([login.id]) == {login.id}
    # The nickname is free for a newcomer; the retired guest is no longer "expired".
    assert await store.accounts.create_user(user_record(guest.username))
    assert guest.id not in {g.id for g in await store.accounts.expired_guests(now, 10_000)}
    assert await store.accounts.retire_guest(guest.id, freed + "x", now) is None


async def test_a_renewed_guest_is_not_retired(store: Store) -> None:
    now = now_ms()
    guest = await make_guest(store, now - 1)
    await store.accounts.renew_guests([guest.id], now + HOUR_MS)
    assert await store.accounts.retire_guest(guest.id, guest.username + "~1", now) is None
    found = await store.accounts.user_by_id(guest.id)
    assert found is not None
    assert (found.disabled, found.username) == (False, guest.username)


async def test_an_account_is_never_retired(store: Store) -> None:
    account = await make_user(store)
    assert await store.accounts.retire_guest(account.id, account.username + "~1", now_ms()) is None
    found = await store.accounts.user_by_id(account.id)
    assert found is not None
    assert not found.disabled


async def test_rename_keeps_usernames_unique(store: Store) -> None:
    first, second = await make_user(store), await make_user(store)
    assert not await store.accounts.rename_user(second.id, first.username)
    found = await store.accounts.user_by_id(second.id)
    assert found is not None
    assert found.username == second.username
    name = f"n{secrets.token_hex(5)}"
    assert await store.accounts.rename_user(second.id, name, display_name=name)
    found = await store.accounts.user_by_id(second.id)
    assert found is not None
    assert (found.username, found.display_name) == (name, name)
    assert await store.accounts.user_by_username(second.username) is None


async def test_active_group_ids_lists_live_groups_only(store: Store) -> None:
    user, other = await make_user(store), await make_user(store)
    await make_direct(store, user, other)
    now = now_ms()
    rooms = []
    for title in ("stays", "left", "dissolved"):
        conv = NewConversation(new_id("c_"), "group", title, None, "public", now)
        assert await store.groups.ensure_room(conv)
        await store.groups.apply(MembershipChange(conv.id, now, add=[user.id]))
        rooms.append(conv.id)
    await store.groups.apply(MembershipChange(rooms[1], now, leave=[user.id]))
    await store.groups.apply(
        MembershipChange(rooms[2], now, conversation={"dissolved_at": now}, dissolve=True)
    )
    assert await store.conversations.active_group_ids(user.id) == [rooms[0]]
    assert await store.conversations.active_group_ids(other.id) == []


async def test_rooms_ensured_together_are_created_once(store: Store) -> None:
    """Nodes starting together each ensure the lobby: one creates it, none fails."""
    conv = NewConversation(new_id("c_"), "group", "lobby", None, "public", now_ms())
    created = await asyncio.gather(*(store.groups.ensure_room(conv) for _ in range(8)))
    assert sorted(created) == [False] * 7 + [True]
