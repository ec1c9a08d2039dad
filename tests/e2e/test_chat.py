"""Two people chat in the browser: list, unread, typing, delivered/read ticks, reply, themes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from e2e.webui import (
    bubbles,
    new_page,
    open_conversation,
    open_direct,
    register,
    send,
    wait_online,
)
from harness import ServerProcess


def test_direct_chat_with_typing_ticks_and_reply(
    browser: Any, web_server: ServerProcess, screenshots: Path
) -> None:
    server = web_server
    ctx_a, alice = new_page(browser)
    ctx_b, bob = new_page(browser)
    try:
        register(alice, server, "Alice")
        bob_name = register(bob, server, "Bob")

        open_direct(alice, bob_name)
        send(alice, "Hello Bob 👋 how are you?")
        expect(bubbles(alice, "Hello Bob")).to_have_attribute("data-state", "sent")

        # Bob's list shows the new chat, its preview and an unread badge; his device got it.
        conv = bob.locator("button.conv", has_text="Alice")
        expect(conv.locator(".badge")).to_have_text("1")
        expect(conv.locator(".conv-preview")).to_contain_text("Hello Bob")
        expect(bob).to_have_title("(1) Pigeon")
        alice_tick = bubbles(alice, "Hello Bob").locator(".tick")
        expect(alice_tick).to_have_attribute("data-tick", "delivered")
        bob.screenshot(path=screenshots / "list.png")

        # Opening the chat reads it: Alice's tick turns to read, Bob's badge and title clear.
        open_conversation(bob, "Alice")
        expect(bubbles(bob, "Hello Bob")).to_have_count(1)
        expect(alice_tick).to_have_attribute("data-tick", "read")
        expect(conv.locator(".badge")).to_have_count(0)
        expect(bob).to_have_title("Pigeon")

        # Typing shows in Alice's chat header line and list, and stops when Bob sends.
        bob.locator(".chat textarea").fill("Great, thanks!")
        expect(alice.locator(".typing-line")).to_contain_text("Bob is typing")
        expect(alice.locator("button.conv .conv-preview.typing")).to_be_visible()
        bob.locator(".chat textarea").press("Enter")
        expect(bubbles(alice, "Great, thanks!")).to_have_count(1)
        expect(alice.locator(".typing-line")).not_to_have_class(re.compile(r"\bon\b"))

        # Shift+Enter keeps writing on a new line; Enter sends both lines as one message.
        box = alice.locator(".chat textarea")
        box.type("line one")
        box.press("Shift+Enter")
        box.type("line two")
        box.press("Enter")
        expect(bubbles(bob, "line one")).to_contain_text("line two")
        expect(bubbles(bob, "line one")).to_have_count(1)

        # Reply with a quote.
        row = bubbles(alice, "Great, thanks!")
        row.hover()
        row.get_by_role("button", name="Reply").click()
        expect(alice.locator(".compose-bar")).to_contain_text("Replying to Bob")
        send(alice, "Glad to hear")
        quoted = bubbles(bob, "Glad to hear").locator(".quote")
        expect(quoted).to_contain_text("Great, thanks!")

        # Unread count in the tab title while Alice looks at her list instead of the chat.
        alice.evaluate("location.hash = '#/'")
        expect(alice.locator(".empty-main")).to_be_visible()
        send(bob, "Are you there?")
        expect(alice).to_have_title("(1) Pigeon")
        open_conversation(alice, "Bob")
        expect(alice).to_have_title("Pigeon")
        alice.screenshot(path=screenshots / "chat.png")

        # Dark mode by the toggle, kept across a reload.
        alice.get_by_role("button", name="Toggle dark mode").first.click()
        expect(alice.locator("html")).to_have_attribute("data-theme", "dark")
        alice.reload()
        expect(alice.locator("html")).to_have_attribute("data-theme", "dark")
        expect(bubbles(alice, "Are you there?")).to_have_count(1)
        wait_online(alice)
        alice.screenshot(path=screenshots / "chat-dark.png")

        # Phone width: one column; the chat has a back button to the list.
        bob.set_viewport_size({"width": 390, "height": 780})
        expect(bob.locator(".chat-head .back")).to_be_visible()
        expect(bob.locator(".sidebar")).to_be_hidden()
        bob.screenshot(path=screenshots / "phone-chat.png")
        bob.get_by_role("button", name="Back").click()
        expect(bob.locator(".sidebar")).to_be_visible()
        bob.screenshot(path=screenshots / "phone-list.png")

        assert alice.errors == []  # type: ignore[attr-defined]
        assert bob.errors == []  # type: ignore[attr-defined]
    finally:
        ctx_a.close()
        ctx_b.close()
