"""Losing the connection: nothing is lost, nothing is shown twice, queued messages go out once."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from e2e.webui import (
    TIMEOUT_MS,
    access_token,
    bubbles,
    conversation_texts,
    new_page,
    open_conversation,
    open_direct,
    register,
    send,
    wait_online,
)
from harness import ServerProcess


def outbox(page: Any) -> list[dict[str, Any]]:
    stored = page.evaluate(
        "Object.keys(localStorage).filter(k => k.startsWith('pigeon.outbox.'))"
        ".map(k => localStorage.getItem(k))"
    )
    return [item for value in stored for item in json.loads(value)]


def conv_id(page: Any) -> str:
    return str(page.evaluate("decodeURIComponent(location.hash.slice(4))"))


def test_offline_peer_catches_up_exactly_once(browser: Any, web_server: ServerProcess) -> None:
    server = web_server
    ctx_a, alice = new_page(browser)
    ctx_b, bob = new_page(browser)
    try:
        register(alice, server, "Alice")
        bob_name = register(bob, server, "Bob")
        open_direct(alice, bob_name)
        send(alice, "before the tunnel")
        open_conversation(bob, "Alice")
        expect(bubbles(bob, "before the tunnel")).to_have_count(1)

        ctx_b.set_offline(True)
        expect(bob.locator(".side-head .conn")).not_to_have_attribute("data-state", "online")
        expect(bob.locator(".conn-banner")).to_be_visible()

        # Typed while offline: a pending bubble, kept in localStorage with its cid.
        send(bob, "written in the tunnel")
        pending = bubbles(bob, "written in the tunnel")
        expect(pending).to_have_attribute("data-state", "queued")
        queued = outbox(bob)
        assert [item["body"]["text"] for item in queued] == ["written in the tunnel"]
        cid = queued[0]["cid"]

        missed = [f"missed {n}" for n in range(1, 4)]
        for text in missed:
            send(alice, text)
            expect(bubbles(alice, text)).to_have_attribute("data-state", "sent")

        ctx_b.set_offline(False)
        wait_online(bob)
        for text in missed:
            expect(bubbles(bob, text)).to_have_count(1)
        expect(pending).to_have_attribute("data-state", "sent")
        expect(pending).to_have_attribute("data-cid", cid)
        expect(bubbles(bob, "written in the tunnel")).to_have_count(1)
        expect(bubbles(alice, "written in the tunnel")).to_have_count(1)
        assert outbox(bob) == []

        stored = conversation_texts(server, access_token(alice), conv_id(alice))
        assert stored == ["before the tunnel", *missed, "written in the tunnel"]
        assert bob.locator(".msgs-inner .row").count() == len(stored)
    finally:
        ctx_a.close()
        ctx_b.close()


def test_server_crash_reconnects_and_flushes_the_outbox(
    browser: Any, server: ServerProcess
) -> None:
    ctx_a, alice = new_page(browser)
    ctx_b, bob = new_page(browser)
    try:
        register(alice, server, "Alice")
        bob_name = register(bob, server, "Bob")
        open_direct(alice, bob_name)
        send(alice, "first")
        open_conversation(bob, "Alice")
        expect(bubbles(bob, "first")).to_have_count(1)

        server.kill()
        expect(bob.locator(".side-head .conn")).to_have_attribute("data-state", "reconnecting")
        send(bob, "sent during the outage")
        expect(bubbles(bob, "sent during the outage")).to_have_attribute("data-state", "queued")

        server.start()
        # Backoff may be waiting out a long jitter; the banner's button skips the wait.
        for page in (alice, bob):
            retry = page.locator(".conn-banner .link")
            if retry.is_visible():
                with contextlib.suppress(PlaywrightTimeoutError):
                    retry.click(timeout=2_000)
        wait_online(bob)
        wait_online(alice)
        expect(bubbles(bob, "sent during the outage")).to_have_attribute("data-state", "sent")
        expect(bubbles(alice, "sent during the outage")).to_have_count(1)
        send(alice, "after the restart")
        expect(bubbles(bob, "after the restart")).to_have_count(1)

        stored = conversation_texts(server, access_token(alice), conv_id(alice))
        assert stored == ["first", "sent during the outage", "after the restart"]
        assert bob.locator(".msgs-inner .row").count() == len(stored)
    finally:
        ctx_a.close()
        ctx_b.close()


def test_short_lived_tokens_are_refreshed_without_interrupting(
    browser: Any, server_factory: Any
) -> None:
    """Access tokens that expire every few seconds: the client rotates them and keeps going."""
    server = server_factory("short-tokens", env={"PIGEON_ACCESS_TOKEN_TTL_S": "10"})
    ctx_a, alice = new_page(browser)
    ctx_b, bob = new_page(browser)
    try:
        register(alice, server, "Alice")
        bob_name = register(bob, server, "Bob")
        first_refresh = refresh_token(alice)
        first_expiry = auth_field(alice, "expires_at")
        open_direct(alice, bob_name)
        send(alice, "before expiry")
        alice.wait_for_function(
            "([old]) => JSON.parse(localStorage.getItem('pigeon.auth')).refresh_token !== old",
            arg=[first_refresh],
            timeout=TIMEOUT_MS,
        )
        # Past the first token's lifetime: REST and the socket both still work.
        alice.wait_for_function(
            "([t]) => Date.now() > t + 500", arg=[first_expiry], timeout=TIMEOUT_MS
        )
        send(alice, "after expiry")
        open_conversation(bob, "Alice")
        expect(bubbles(bob, "after expiry")).to_have_count(1)
        expect(bubbles(alice, "after expiry")).to_have_attribute("data-state", "sent")
        wait_online(alice)
        assert alice.locator("form.login-form").count() == 0
    finally:
        ctx_a.close()
        ctx_b.close()


def auth_field(page: Any, name: str) -> Any:
    return json.loads(page.evaluate("localStorage.getItem('pigeon.auth')"))[name]


def refresh_token(page: Any) -> str:
    return str(auth_field(page, "refresh_token"))
