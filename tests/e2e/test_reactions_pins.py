"""Reactions and pins in the browser: Bob reacts from the picker and Alice's chip appears
live; Alice adds hers by clicking the chip; Bob pins the message and both see the bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from e2e.webui import bubbles, new_page, open_conversation, open_direct, register, send
from harness import ServerProcess


def _row(page: Any, text: str) -> Any:
    return page.locator(".row", has=page.locator(".bubble", has_text=text))


def test_a_reaction_shows_live_and_a_pin_shows_in_the_bar(
    browser: Any, web_server: ServerProcess, screenshots: Path
) -> None:
    ctx_a, alice = new_page(browser)
    ctx_b, bob = new_page(browser)
    try:
        register(alice, web_server, "Alice")
        bob_name = register(bob, web_server, "Bob")
        open_direct(alice, bob_name)
        send(alice, "Lunch at noon?")
        expect(bubbles(alice, "Lunch at noon?")).to_have_attribute("data-state", "sent")
        open_conversation(bob, "Alice")
        row = _row(bob, "Lunch at noon?")
        expect(row).to_have_count(1)

        # Bob opens the picker on the message and chooses 👍.
        row.hover()
        row.locator("button.react-btn").click()
        bob.locator(".emoji-picker button.emoji-choice[data-emoji='👍']").click()
        chip = bubbles(alice, "Lunch at noon?").locator("button.reaction[data-emoji='👍']")
        expect(chip).to_contain_text("1")
        expect(chip).to_have_attribute("aria-pressed", "false")
        bob_chip = bubbles(bob, "Lunch at noon?").locator("button.reaction[data-emoji='👍']")
        expect(bob_chip).to_have_attribute("aria-pressed", "true")

        # Alice clicks the chip: hers too; Bob's count follows live.
        chip.click()
        expect(chip).to_have_attribute("aria-pressed", "true")
        expect(bob_chip).to_contain_text("2")
        alice.screenshot(path=screenshots / "reactions.png")

        # Bob pins it (either party of a direct chat): the bar shows on both sides, and the
        # entry reads as a notice in the log.
        row.hover()
        row.locator("button.pin-msg-btn").click()
        for page in (alice, bob):
            bar = page.locator(".pinned-bar")
            expect(bar).to_be_visible()
            expect(bar.locator(".pinned-text")).to_have_text("Lunch at noon?")
        expect(alice.locator(".system-row", has_text="pinned a message")).to_have_count(1)
        bob.screenshot(path=screenshots / "pinned.png")

        # Alice unpins from the bar: it goes away for both.
        alice.locator(".pinned-bar button.pinned-unpin").click()
        for page in (alice, bob):
            expect(page.locator(".pinned-bar")).to_be_hidden()
    finally:
        ctx_a.close()
        ctx_b.close()
