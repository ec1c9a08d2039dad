"""Forwarding in the web client: Forward on a message, a conversation picked from the
list, and the copy shown as "Forwarded from" its author in the target conversation."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from e2e.webui import bubbles, new_page, open_conversation, register, register_rest, rest
from harness import ServerProcess


def test_forward_a_message_to_another_chat_shows_its_author(
    browser: Any, web_server: ServerProcess
) -> None:
    _, frank = register_rest(web_server, "Frank")
    _, carol = register_rest(web_server, "Carol")
    context, page = new_page(browser)
    try:
        alice = register(page, web_server, "Alice")
        alice_id = rest(web_server, frank["access_token"], "GET", f"/users?q={alice}")["items"][0]
        chats = {}
        for name, grant in (("Frank", frank), ("Carol", carol)):
            conv = rest(
                web_server,
                grant["access_token"],
                "POST",
                "/conversations/direct",
                {"user_id": alice_id["id"]},
            )
            chats[name] = conv["id"]
        rest(
            web_server,
            frank["access_token"],
            "POST",
            f"/conversations/{chats['Frank']}/messages",
            {"cid": "fw-1", "kind": "text", "body": {"text": "the plan for Friday"}},
        )
        rest(
            web_server,
            carol["access_token"],
            "POST",
            f"/conversations/{chats['Carol']}/messages",
            {"cid": "fw-2", "kind": "text", "body": {"text": "hi Alice"}},
        )

        open_conversation(page, "Frank")
        row = bubbles(page, "the plan for Friday")
        row.hover()
        row.get_by_role("button", name="Forward").click()
        dialog = page.locator(".forward-dialog")
        expect(dialog).to_be_visible()
        dialog.locator("button.forward-target", has_text="Carol").click()
        expect(dialog).to_have_count(0)

        open_conversation(page, "Carol")
        copy = bubbles(page, "the plan for Friday")
        expect(copy.locator(".forwarded")).to_have_text("Forwarded from Frank")
        stored = rest(
            web_server, carol["access_token"], "GET", f"/conversations/{chats['Carol']}/messages"
        )["items"][-1]
        assert stored["forwarded"]["from"] == frank["user"]["id"]
        assert stored["from"] == alice_id["id"]
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()
