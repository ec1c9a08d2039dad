"""Users, logins and rotating refresh tokens."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets

from contract.storekit import login_record, make_user, make_users, user_record
from pigeon.core.ids import now_ms
from pigeon.core.tokens import hash_refresh_token, new_refresh_token
from pigeon.store.facade import Store
from pigeon.store.records import LoginRecord, UserRecord

# --- users


async def test_username_is_unique(store: Store) -> None:
    first = await make_user(store)
    twin = user_record(first.username, "Someone Else")
    assert not await store.accounts.create_user(twin)
    assert await store.accounts.user_by_id(twin.id) is None
    found = await store.accounts.user_by_username(first.username)
    assert found is not None
    assert found.id == first.id


async def test_user_round_trips(store: Store) -> None:
    user = await make_user(store, display_name="Ada Lovelace")
    found = await store.accounts.user_by_id(user.id)
    assert found is not None
    assert dataclasses.replace(found, last_seen=None) == user
    assert await store.accounts.user_by_id("u_missing") is None
    assert await store.accounts.user_by_username("nobody-" + secrets.token_hex(4)) is None


async def test_users_by_ids_returns_only_those_that_exist(store: Store) -> None:
    alice, bob = await make_users(store, 2)
    found = await store.accounts.users_by_ids([alice.id, bob.id, alice.id, "u_missing"])
    assert set(found) == {alice.id, bob.id}
    assert await store.accounts.users_by_ids([]) == {}


async def test_update_user(store: Store) -> None:
    user = await make_user(store)
    avatar = "/api/v1/avatars/f_1"
    await store.accounts.update_user(user.id, display_name="New Name", avatar=avatar)
    found = await store.accounts.user_by_id(user.id)
    assert found is not None
    assert (found.display_name, found.avatar) == ("New Name", avatar)
    await store.accounts.update_user(user.id)  # nothing to change is fine


async def test_an_avatar_link_elsewhere_reads_as_none(store: Store) -> None:
    """Stored before avatars were limited to uploads: never shown (it would leak viewers)."""
    user = await make_user(store)
    await store.accounts.update_user(user.id, avatar="https://tracker.example/p.png")
    found = await store.accounts.user_by_id(user.id)
    assert found is not None
    assert found.avatar is None


async def test_search_matches_username_or_display_name_prefix(store: Store) -> None:
    tag = secrets.token_hex(3)
    zed = await make_user(store, f"zed{tag}", "Zed Zebra")
    amy = await make_user(store, f"amy{tag}", f"Qux{tag} Amy")
    await make_user(store, f"bob{tag}", "Bob")
    assert [u.id for u in await store.accounts.search_users(f"zed{tag}", 10)] == [zed.id]
    # Display names match from their start, in any case.
    assert [u.id for u in await store.accounts.search_users(f"qux{tag}", 10)] == [amy.id]
    assert [u.id for u in await store.accounts.search_users(f"QUX{tag}".lower(), 10)] == [amy.id]
    # Only prefixes: the tag sits in the middle of these usernames.
    assert await store.accounts.search_users(tag, 10) == []


async def test_search_treats_wildcards_literally(store: Store) -> None:
    tag = secrets.token_hex(3)
    plain = await make_user(store, f"w{tag}xa")
    underscored = await make_user(store, f"w{tag}_a")
    assert [u.id for u in await store.accounts.search_users(f"w{tag}_", 10)] == [underscored.id]
    assert await store.accounts.search_users(f"w{tag}%", 10) == []
    both = await store.accounts.search_users(f"w{tag}", 10)
    assert {u.id for u in both} == {plain.id, underscored.id}


async def test_search_leaves_out_disabled_users_and_pages(store: Store) -> None:
    tag = secrets.token_hex(3)
    users = [await make_user(store, f"p{tag}{i}") for i in range(5)]
    await store.accounts.update_user(users[2].id, disabled=True)
    first = await store.accounts.search_users(f"p{tag}", 2)
    second = await store.accounts.search_users(f"p{tag}", 2, offset=2)
    third = await store.accounts.search_users(f"p{tag}", 2, offset=4)
    names = [u.username for u in first + second + third]
    assert names == sorted(u.username for u in users if u.id != users[2].id)


# --- logins and refresh tokens


async def _login(
    store: Store, user: UserRecord, ttl_ms: int = 3_600_000
) -> tuple[LoginRecord, str]:
    login = login_record(user, ttl_ms=ttl_ms)
    token = new_refresh_token()
    await store.accounts.create_login(login, hash_refresh_token(token))
    return login, token


async def _rotate(store: Store, token: str) -> tuple[str, bool, bool]:
    """Spend ``token``; returns (the new token, succeeded, replay detected)."""
    fresh = new_refresh_token()
    now = now_ms()
    outcome = await store.accounts.rotate_refresh(
        hash_refresh_token(token), hash_refresh_token(fresh), now, now + 3_600_000
    )
    succeeded = outcome.login is not None and not outcome.replayed
    return fresh, succeeded, outcome.replayed


async def test_login_round_trips(store: Store) -> None:
    user = await make_user(store)
    login, _ = await _login(store, user)
    assert await store.accounts.login_by_id(login.id) == login
    assert await store.accounts.logins_of_user(user.id) == [login]


async def test_rotation_spends_the_old_token_and_issues_a_new_one(store: Store) -> None:
    user = await make_user(store)
    login, token = await _login(store, user)
    second, ok, replayed = await _rotate(store, token)
    assert ok
    assert not replayed
    _, ok, _ = await _rotate(store, second)
    assert ok
    stored = await store.accounts.login_by_id(login.id)
    assert stored is not None
    assert stored.active


async def test_replaying_a_spent_token_revokes_the_login(store: Store) -> None:
    user = await make_user(store)
    login, token = await _login(store, user)
    current, ok, _ = await _rotate(store, token)
    assert ok
    _, ok, replayed = await _rotate(store, token)  # the stolen copy comes back
    assert not ok
    assert replayed
    stored = await store.accounts.login_by_id(login.id)
    assert stored is not None
    assert stored.revoked_at is not None
    _, ok, _ = await _rotate(store, current)  # the legitimate holder is out too
    assert not ok
    assert await store.accounts.logins_of_user(user.id) == []


async def test_unknown_and_expired_tokens_fail_quietly(store: Store) -> None:
    user = await make_user(store)
    _, ok, replayed = await _rotate(store, new_refresh_token())
    assert (ok, replayed) == (False, False)
    login, token = await _login(store, user, ttl_ms=-1)  # already expired
    _, ok, replayed = await _rotate(store, token)
    assert (ok, replayed) == (False, False)
    stored = await store.accounts.login_by_id(login.id)
    assert stored is not None
    assert stored.active


async def test_concurrent_rotation_of_one_token_lets_at_most_one_succeed(store: Store) -> None:
    user = await make_user(store)
    _, token = await _login(store, user)
    results = await asyncio.gather(*(_rotate(store, token) for _ in range(8)))
    winners = [fresh for fresh, ok, _ in results if ok]
    assert len(winners) == 1
    for fresh, ok, _ in results:
        if not ok:  # a loser's new token was never stored
            assert not (await _rotate(store, fresh))[1]


async def test_revoked_login_cannot_refresh(store: Store) -> None:
    user = await make_user(store)
    login, token = await _login(store, user)
    assert await store.accounts.revoke_login(login.id, now_ms())
    assert not await store.accounts.revoke_login(login.id, now_ms())  # once only
    _, ok, replayed = await _rotate(store, token)
    assert (ok, replayed) == (False, False)


async def test_revoke_every_login_of_a_user(store: Store) -> None:
    user, other = await make_users(store, 2)
    logins = [(await _login(store, user))[0] for _ in range(3)]
    others_login, _ = await _login(store, other)
    await store.accounts.revoke_login(logins[0].id, now_ms())
    revoked = await store.accounts.revoke_user_logins(user.id, now_ms())
    assert sorted(revoked) == sorted(login.id for login in logins[1:])
    assert await store.accounts.logins_of_user(user.id) == []
    assert await store.accounts.logins_of_user(other.id) == [others_login]


async def test_touch_login_updates_last_seen(store: Store) -> None:
    user = await make_user(store)
    login, _ = await _login(store, user)
    await store.accounts.touch_login(login.id, login.last_seen + 5000)
    stored = await store.accounts.login_by_id(login.id)
    assert stored is not None
    assert stored.last_seen == login.last_seen + 5000
