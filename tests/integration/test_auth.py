"""Sign-up, sign-in, token rotation, sign-out, devices and token checks (docs/protocol.md: Auth, Connecting)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import jwt
import pytest

from harness import JWT_SECRET, ServerProcess, unique_name

from .wsclient import (
    PASSWORD,
    Account,
    Rest,
    WsClient,
    account_from,
    assert_error,
    connect,
    eventually,
    login,
    register,
)

BAD_REQUEST, INVALID_USERNAME, WEAK_PASSWORD = 40000, 40004, 40005
NOT_AUTHENTICATED, BAD_CREDENTIALS, TOKEN_INVALID = 40100, 40101, 40102
TOKEN_EXPIRED, TOKEN_REVOKED, REFRESH_INVALID = 40103, 40104, 40105
NOT_FOUND, USERNAME_TAKEN, RATE_LIMITED = 40400, 40901, 42900
CLOSE_BAD_TOKEN, CLOSE_REVOKED = 4001, 4003


def _claims(account: Account, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": account.id,
        "sid": account.session,
        "dev": account.device,
        "typ": "access",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return claims


def _forged_tokens(account: Account) -> dict[str, tuple[str, int, int]]:
    """name → (token, REST code, WebSocket close code)."""
    now = int(time.time())
    expired = _claims(account, iat=now - 7200, exp=now - 3600)
    return {
        "malformed": ("not-a-jwt", TOKEN_INVALID, CLOSE_BAD_TOKEN),
        "truncated": (account.access[:-6], TOKEN_INVALID, CLOSE_BAD_TOKEN),
        "expired": (jwt.encode(expired, JWT_SECRET, algorithm="HS256"), TOKEN_EXPIRED, 4003),
        "wrong-secret": (
            jwt.encode(_claims(account), "another-secret-" + "y" * 40, algorithm="HS256"),
            TOKEN_INVALID,
            CLOSE_BAD_TOKEN,
        ),
        "alg-none": (
            jwt.encode(_claims(account), None, algorithm="none"),
            TOKEN_INVALID,
            CLOSE_BAD_TOKEN,
        ),
        "wrong-typ": (
            jwt.encode(_claims(account, typ="refresh"), JWT_SECRET, algorithm="HS256"),
            TOKEN_INVALID,
            CLOSE_BAD_TOKEN,
        ),
        "refresh-as-access": (account.refresh, TOKEN_INVALID, CLOSE_BAD_TOKEN),
    }


# --- registration and login


async def test_register_returns_a_grant_in_the_envelope(rest: Rest) -> None:
    name = unique_name("Reg")
    reply = await rest.call(
        "POST",
        "auth/register",
        json={"username": name, "password": PASSWORD, "display_name": "Ada L."},
    )
    assert reply.status == 201, reply.text
    data = reply.data
    assert set(data["user"]) == {"id", "username", "display_name", "avatar", "bot", "deleted"}
    assert data["user"]["bot"] is False
    assert data["user"]["username"] == name.lower()  # usernames are case-insensitive
    assert data["user"]["display_name"] == "Ada L."
    assert isinstance(data["user"]["id"], str)
    assert data["user"]["id"]
    assert isinstance(data["access_token"], str)
    assert isinstance(data["refresh_token"], str)
    assert isinstance(data["expires_in"], int)
    assert data["expires_in"] > 0
    me = await rest.ok("GET", "users/me", token=data["access_token"])
    assert me["id"] == data["user"]["id"]


async def test_display_name_defaults_to_the_username(rest: Rest) -> None:
    account = await register(rest)
    me = await rest.ok("GET", "users/me", token=account.access)
    assert me["display_name"] == account.username


@pytest.mark.parametrize(
    "username", ["ab", "x" * 33, "has space", "semi;colon", "emoji\u263a", "", "   "]
)
async def test_bad_usernames_are_refused(rest: Rest, username: str) -> None:
    await rest.fails(
        "POST",
        "auth/register",
        400,
        INVALID_USERNAME,
        json={"username": username, "password": PASSWORD},
    )


@pytest.mark.parametrize("password", ["short", "1234567", "p" * 129])
async def test_bad_passwords_are_refused(rest: Rest, password: str) -> None:
    await rest.fails(
        "POST",
        "auth/register",
        400,
        WEAK_PASSWORD,
        json={"username": unique_name(), "password": password},
    )


@pytest.mark.parametrize(
    "body", [{}, {"username": "abcdef"}, {"password": PASSWORD}, {"username": 5, "password": 6}]
)
async def test_missing_or_mistyped_fields_are_400(rest: Rest, body: dict[str, Any]) -> None:
    await rest.fails("POST", "auth/register", 400, BAD_REQUEST, json=body)


async def test_duplicate_username_is_409_whatever_the_case(rest: Rest) -> None:
    account = await register(rest, "dup")
    for username in (account.username, account.username.upper()):
        await rest.fails(
            "POST",
            "auth/register",
            409,
            USERNAME_TAKEN,
            json={"username": username, "password": PASSWORD},
        )


async def test_login_returns_a_fresh_login(rest: Rest) -> None:
    account = await register(rest)
    again = await login(rest, account)
    assert again.id == account.id
    assert again.session != account.session
    assert again.access != account.access
    assert again.refresh != account.refresh
    await rest.ok("GET", "users/me", token=again.access)
    await rest.ok("GET", "users/me", token=account.access)  # the first login is untouched


async def test_wrong_password_and_unknown_user_look_the_same(rest: Rest) -> None:
    account = await register(rest)
    wrong = await rest.fails(
        "POST",
        "auth/login",
        401,
        BAD_CREDENTIALS,
        json={"username": account.username, "password": PASSWORD + "x"},
    )
    unknown = await rest.fails(
        "POST",
        "auth/login",
        401,
        BAD_CREDENTIALS,
        json={"username": unique_name("nobody"), "password": PASSWORD},
    )
    assert wrong.body["message"] == unknown.body["message"]


# --- refresh rotation and logout


async def test_refresh_rotates_and_a_replay_revokes_the_login(
    rest: Rest, http: aiohttp.ClientSession, shared_server: ServerProcess
) -> None:
    first = await register(rest)
    grant = await rest.ok("POST", "auth/refresh", json={"refresh_token": first.refresh})
    second = account_from(grant, PASSWORD)
    assert second.refresh != first.refresh
    assert second.session == first.session
    assert second.id == first.id
    await rest.ok("GET", "users/me", token=second.access)
    socket, _ = await connect(http, shared_server, second)
    try:
        # Replaying the spent token: someone holds a stolen copy, so the whole login ends.
        await rest.fails(
            "POST", "auth/refresh", 401, REFRESH_INVALID, json={"refresh_token": first.refresh}
        )
        assert await socket.closed() == CLOSE_REVOKED
    finally:
        await socket.close()
    for token in (first.access, second.access):
        await rest.fails("GET", "users/me", 401, TOKEN_REVOKED, token=token)
    await rest.fails(
        "POST", "auth/refresh", 401, REFRESH_INVALID, json={"refresh_token": second.refresh}
    )


async def test_unknown_refresh_token_is_401(rest: Rest) -> None:
    await rest.fails(
        "POST", "auth/refresh", 401, REFRESH_INVALID, json={"refresh_token": "r_" + "z" * 43}
    )


async def test_logout_revokes_only_that_login_and_closes_its_sockets(
    rest: Rest, http: aiohttp.ClientSession, shared_server: ServerProcess
) -> None:
    phone = await register(rest, device="phone")
    laptop = await login(rest, phone, device="laptop")
    phone_socket, _ = await connect(http, shared_server, phone)
    laptop_socket, _ = await connect(http, shared_server, laptop)
    try:
        assert (await rest.call("POST", "auth/logout", token=phone.access)).data is None
        assert await phone_socket.closed() == CLOSE_REVOKED
        await laptop_socket.barrier()  # the other login keeps its socket
    finally:
        await phone_socket.close()
        await laptop_socket.close()
    await rest.fails("GET", "users/me", 401, TOKEN_REVOKED, token=phone.access)
    await rest.fails(
        "POST", "auth/refresh", 401, REFRESH_INVALID, json={"refresh_token": phone.refresh}
    )
    await rest.ok("GET", "users/me", token=laptop.access)
    await rest.fails("POST", "auth/logout", 401, NOT_AUTHENTICATED)


async def test_changing_the_password_signs_out_every_other_login(
    rest: Rest, http: aiohttp.ClientSession, shared_server: ServerProcess
) -> None:
    phone = await register(rest, device="phone")
    laptop = await login(rest, phone, device="laptop")
    path, new_password = "users/me/password", "a brand new passphrase"
    change = {"current_password": PASSWORD, "new_password": new_password}
    laptop_socket, _ = await connect(http, shared_server, laptop)
    phone_socket, _ = await connect(http, shared_server, phone)
    try:
        wrong = {**change, "current_password": "not the password"}
        await rest.fails("PUT", path, 401, BAD_CREDENTIALS, token=phone.access, json=wrong)
        weak = {**change, "new_password": "short"}
        await rest.fails("PUT", path, 400, WEAK_PASSWORD, token=phone.access, json=weak)
        await laptop_socket.barrier()  # refused changes sign nobody out

        assert (await rest.call("PUT", path, token=phone.access, json=change)).data is None
        assert await laptop_socket.closed() == CLOSE_REVOKED
        await phone_socket.barrier()  # the login that changed it keeps its socket
    finally:
        await phone_socket.close()
        await laptop_socket.close()
    await rest.ok("GET", "users/me", token=phone.access)
    await rest.fails("GET", "users/me", 401, TOKEN_REVOKED, token=laptop.access)
    await rest.fails(
        "POST", "auth/refresh", 401, REFRESH_INVALID, json={"refresh_token": laptop.refresh}
    )
    old = {"username": phone.username, "password": PASSWORD}
    await rest.fails("POST", "auth/login", 401, BAD_CREDENTIALS, json=old)
    await rest.ok("POST", "auth/login", json={**old, "password": new_password})


# --- devices


async def test_devices_list_and_revoke_one(
    rest: Rest, http: aiohttp.ClientSession, shared_server: ServerProcess
) -> None:
    phone = await register(rest, device="phone")
    laptop = await login(rest, phone, device="laptop")
    phone_socket, ready = await connect(http, shared_server, phone)
    assert ready["device"] == "phone"
    assert ready["session"] == phone.session
    laptop_socket, _ = await connect(http, shared_server, laptop)
    try:
        listed = await rest.ok("GET", "users/me/devices", token=laptop.access)
        devices = {item["device"]: item for item in listed["items"]}
        assert set(devices) == {"phone", "laptop"}
        assert devices["phone"]["session"] == phone.session
        assert devices["phone"]["online"] is True
        assert isinstance(devices["phone"]["last_seen"], int)

        await rest.ok("DELETE", "users/me/devices/phone", token=laptop.access)
        assert await phone_socket.closed() == CLOSE_REVOKED
        await laptop_socket.barrier()
    finally:
        await phone_socket.close()
        await laptop_socket.close()
    await rest.fails("GET", "users/me", 401, TOKEN_REVOKED, token=phone.access)
    await rest.ok("GET", "users/me", token=laptop.access)
    await rest.fails("DELETE", "users/me/devices/tablet", 404, NOT_FOUND, token=laptop.access)


async def test_a_device_goes_offline_when_its_socket_closes(
    rest: Rest, http: aiohttp.ClientSession, shared_server: ServerProcess
) -> None:
    account = await register(rest, device="watch")

    async def watch_online() -> bool:
        listed = await rest.ok("GET", "users/me/devices", token=account.access)
        [watch] = [d for d in listed["items"] if d["device"] == "watch"]
        return bool(watch["online"])

    assert await watch_online() is False
    client, _ = await connect(http, shared_server, account)
    assert await watch_online() is True
    await client.close()

    async def watch_offline() -> bool:
        return not await watch_online()

    await eventually(watch_offline, what="the device going offline")


async def test_a_device_of_another_user_cannot_be_revoked(rest: Rest) -> None:
    owner = await register(rest, device="shared-name")
    other = await register(rest)
    await rest.fails("DELETE", "users/me/devices/shared-name", 404, NOT_FOUND, token=other.access)
    await rest.ok("GET", "users/me", token=owner.access)


# --- token checks, REST and WebSocket


async def test_requests_without_a_token_are_401(rest: Rest) -> None:
    for path in ("users/me", "users/me/devices", "conversations"):
        await rest.fails("GET", path, 401, NOT_AUTHENTICATED)
    await rest.fails(
        "GET", "users/me", 401, NOT_AUTHENTICATED, headers={"Authorization": "Basic dTpw"}
    )


async def test_bad_tokens_are_refused_over_rest(rest: Rest) -> None:
    account = await register(rest)
    for name, (token, code, _) in _forged_tokens(account).items():
        reply = await rest.call("GET", "users/me", token=token)
        assert reply.status == 401, (name, reply.text)
        assert_error(reply, 401, code)


async def test_bad_tokens_close_the_websocket(
    rest: Rest, http: aiohttp.ClientSession, shared_server: ServerProcess
) -> None:
    account = await register(rest)
    for name, (token, code, close_code) in _forged_tokens(account).items():
        client = await WsClient.open(http, shared_server)
        try:
            answer = await client.request({"t": "auth", "token": token})
            assert answer["t"] == "error", (name, answer)
            assert answer["code"] == code, (name, answer)
            assert await client.closed() == close_code, name
        finally:
            await client.close()


async def _auth_is_refused_as_revoked(
    http: aiohttp.ClientSession, server: ServerProcess, token: str
) -> None:
    """A socket authenticating with ``token`` gets 40104 and the close 4003."""
    client = await WsClient.open(http, server)
    try:
        answer = await client.request({"t": "auth", "token": token})
        assert answer["t"] == "error", answer
        assert answer["code"] == TOKEN_REVOKED, answer
        assert await client.closed() == CLOSE_REVOKED
    finally:
        await client.close()


async def test_a_revoked_token_closes_the_websocket_with_4003(
    rest: Rest, http: aiohttp.ClientSession, shared_server: ServerProcess
) -> None:
    account = await register(rest)
    await rest.ok("POST", "auth/logout", token=account.access)
    await _auth_is_refused_as_revoked(http, shared_server, account.access)


async def test_a_login_that_just_connected_is_refused_right_after_its_logout(
    rest: Rest, http: aiohttp.ClientSession, shared_server: ServerProcess
) -> None:
    """Connects trust a login found good for a few seconds (auth_cache_s); the kick
    of a logout clears that at once, so the next connect reads the revocation."""
    account = await register(rest)
    first, _ = await connect(http, shared_server, account)
    await first.close()
    again, _ = await connect(http, shared_server, account)  # answered from the cache
    await rest.ok("POST", "auth/logout", token=account.access)
    assert await again.closed() == CLOSE_REVOKED
    await again.close()
    await _auth_is_refused_as_revoked(http, shared_server, account.access)


async def test_a_token_for_a_session_that_never_existed_is_invalid(rest: Rest) -> None:
    account = await register(rest)
    token = jwt.encode(_claims(account, sid="s_doesnotexist"), JWT_SECRET, algorithm="HS256")
    await rest.fails("GET", "users/me", 401, TOKEN_INVALID, token=token)


# --- rate limits on login and registration


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # One attempt per minute per key: a second attempt inside a test is always refused,
    # however slow the machine. Trusting 127.0.0.1 lets X-Forwarded-For pick the client
    # IP, so each test uses addresses and usernames of its own.
    server = ServerProcess(
        tmp_path_factory.mktemp("limited"),
        env={"PIGEON_AUTH_RATE_PER_MIN": "1", "PIGEON_TRUSTED_PROXIES": "127.0.0.1"},
    )
    server.start()
    yield server
    server.stop()


def _from_ip(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


def _assert_rate_limited(reply: Any) -> None:
    assert_error(reply, 429, RATE_LIMITED)
    assert int(reply.headers["Retry-After"]) >= 1


async def test_a_username_budget_spent_elsewhere_does_not_lock_out_another_address(
    http: aiohttp.ClientSession, limited_server: ServerProcess
) -> None:
    rest = Rest(http, limited_server)
    name = unique_name()
    body = {"username": name, "password": PASSWORD}
    await rest.ok("POST", "auth/register", status=201, json=body, headers=_from_ip("10.0.0.1"))
    # The same address again: its budget for this username is spent.
    _assert_rate_limited(
        await rest.call("POST", "auth/login", json=body, headers=_from_ip("10.0.0.1"))
    )
    # Another address has a budget of its own (tests/integration/test_send_login_limits.py
    # covers the username's failure budget).
    await rest.ok("POST", "auth/login", json=body, headers=_from_ip("10.0.0.2"))


async def test_auth_attempts_are_limited_per_ip(
    http: aiohttp.ClientSession, limited_server: ServerProcess
) -> None:
    rest = Rest(http, limited_server)
    first = {"username": unique_name(), "password": PASSWORD}
    await rest.ok("POST", "auth/register", status=201, json=first, headers=_from_ip("10.0.1.1"))
    second = {"username": unique_name(), "password": PASSWORD}
    _assert_rate_limited(
        await rest.call("POST", "auth/register", json=second, headers=_from_ip("10.0.1.1"))
    )
    _assert_rate_limited(
        await rest.call("POST", "auth/login", json=second, headers=_from_ip("10.0.1.1"))
    )
    # A different address and username still get in.
    await rest.ok("POST", "auth/register", status=201, json=second, headers=_from_ip("10.0.1.2"))
