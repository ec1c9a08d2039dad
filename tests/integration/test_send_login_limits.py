"""Rate limits that must not be sidestepped: sends per user across sockets and REST,
and login guessing that is slowed without letting strangers lock the owner out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from harness import ServerProcess, unique_name

from .wsclient import PASSWORD, Rest, WsClient, assert_error, connect, direct, register

BAD_CREDENTIALS = 40101
RATE_LIMITED, SEND_RATE_LIMITED, LOGIN_SLOWED = 42900, 42910, 42911

# A per-user budget that refills once per 100 s: a send past the burst inside a
# test is always refused, however slow the machine. Per-connection budgets stay at
# their defaults, far above it.
USER_BURST = 3
SLOW_SENDS = {"PIGEON_USER_SEND_RATE_PER_S": "0.01", "PIGEON_USER_SEND_BURST": str(USER_BURST)}


def _send_frame(conv: str) -> dict[str, Any]:
    return {
        "t": "send",
        "cid": unique_name("c"),
        "conv": conv,
        "kind": "text",
        "body": {"text": "x"},
    }


def _send_body() -> dict[str, Any]:
    return {"cid": unique_name("c"), "kind": "text", "body": {"text": "x"}}


def _assert_retry_after(reply: Any, status: int, code: int) -> None:
    assert_error(reply, status, code)
    assert int(reply.headers["Retry-After"]) >= 1


async def test_rest_sends_are_limited_per_user_at_the_burst_edge(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    rest = Rest(http, server_factory(env=SLOW_SENDS))
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    path = f"conversations/{conv}/messages"
    for _ in range(USER_BURST):
        await rest.ok("POST", path, token=alice.access, json=_send_body())
    refused = await rest.call("POST", path, token=alice.access, json=_send_body())
    _assert_retry_after(refused, 429, SEND_RATE_LIMITED)
    # Bob's budget is his own.
    await rest.ok("POST", path, token=bob.access, json=_send_body())
    items = (await rest.ok("GET", path, token=alice.access))["items"]
    assert len(items) == USER_BURST + 1


async def test_many_sockets_and_rest_share_one_budget(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory(env=SLOW_SENDS)
    rest = Rest(http, server)
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    sockets: list[WsClient] = []
    try:
        for _ in range(USER_BURST):
            client, _ = await connect(http, server, alice)
            sockets.append(client)
        for client in sockets:  # one send each: the user's whole burst
            await client.send_text(conv, "ok")
        for client in sockets:  # each socket is far inside its own budget, the user is not
            refused = await client.request(_send_frame(conv))
            assert refused["t"] == "error", refused
            assert refused["code"] == SEND_RATE_LIMITED, refused
            assert refused["retry_after"] >= 1, refused
        reply = await rest.call(
            "POST", f"conversations/{conv}/messages", token=alice.access, json=_send_body()
        )
        _assert_retry_after(reply, 429, SEND_RATE_LIMITED)
    finally:
        for client in sockets:
            await client.close()
    items = (await rest.ok("GET", f"conversations/{conv}/messages", token=bob.access))["items"]
    assert len(items) == USER_BURST


# --- login guessing

# Two attempts per minute per address (and per username and address); three failed
# attempts per minute per username from addresses that never signed in to it.
GUARDED = {
    "PIGEON_AUTH_RATE_PER_MIN": "2",
    "PIGEON_LOGIN_FAILURES_PER_MIN": "3",
    "PIGEON_TRUSTED_PROXIES": "127.0.0.1",
}


def _from(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


async def _attempt(rest: Rest, username: str, password: str, ip: str) -> Any:
    body = {"username": username, "password": password}
    return await rest.call("POST", "auth/login", json=body, headers=_from(ip))


async def test_guessing_is_slowed_but_the_owner_still_signs_in_from_a_known_address(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    rest = Rest(http, server_factory(env=GUARDED))
    name = unique_name("owner")
    body = {"username": name, "password": PASSWORD}
    await rest.ok("POST", "auth/register", status=201, json=body, headers=_from("10.1.0.1"))
    # The owner's phone signs in once: its address is now known for this account.
    await rest.ok("POST", "auth/login", json=body, headers=_from("10.1.0.2"))

    # One attacking address: two wrong guesses, then its (username, address) budget is spent.
    for _ in range(2):
        assert_error(await _attempt(rest, name, "wrong-password", "10.9.0.1"), 401, BAD_CREDENTIALS)
    _assert_retry_after(await _attempt(rest, name, "wrong-password", "10.9.0.1"), 429, RATE_LIMITED)
    # A second address: its one failure spends the username's last failure token.
    assert_error(await _attempt(rest, name, "wrong-password", "10.9.0.2"), 401, BAD_CREDENTIALS)
    # Now every unknown address is slowed, even with the right password.
    for ip in ("10.9.0.3", "10.9.0.4"):
        _assert_retry_after(await _attempt(rest, name, PASSWORD, ip), 429, LOGIN_SLOWED)

    # The owner, from the address that signed in before, gets in during the attack.
    grant = await rest.ok("POST", "auth/login", json=body, headers=_from("10.1.0.2"))
    assert grant["user"]["username"] == name


async def test_failures_against_one_account_do_not_slow_another(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    rest = Rest(http, server_factory(env=GUARDED))
    victim, other = unique_name("v"), unique_name("o")
    for n, name in enumerate((victim, other)):
        body = {"username": name, "password": PASSWORD}
        await rest.ok("POST", "auth/register", status=201, json=body, headers=_from(f"10.2.0.{n}"))
    for n in range(3):
        reply = await _attempt(rest, victim, "wrong-password", f"10.8.0.{n}")
        assert_error(reply, 401, BAD_CREDENTIALS)
    _assert_retry_after(await _attempt(rest, victim, PASSWORD, "10.8.1.1"), 429, LOGIN_SLOWED)
    # A fresh address signs in to another account at once; the victim's owner on a
    # fresh address waits, which is a slow-down, not a lockout by the attacker's choice.
    grant = await rest.ok(
        "POST",
        "auth/login",
        json={"username": other, "password": PASSWORD},
        headers=_from("10.8.1.2"),
    )
    assert grant["user"]["username"] == other
