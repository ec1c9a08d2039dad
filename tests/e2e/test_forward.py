"""Forwarding and retention in the web client: Forward on a message, a conversation
picked from the list, the copy shown as "Forwarded from" its author in the target
conversation; a chat whose start expired says older messages were removed."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from typing import Any

from playwright.sync_api import expect

from e2e.webui import bubbles, new_page, open_conversation, register, register_rest, rest
from harness import WAIT_S, ServerProcess


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


def test_a_chat_whose_start_expired_says_older_messages_were_removed(
    browser: Any, server_factory: Any
) -> None:
    server = server_factory(
        "retention",
        env={"PIGEON_RETENTION_DAYS": "1", "PIGEON_RETENTION_INTERVAL_S": "0.2"},
    )
    _, frank = register_rest(server, "Frank")
    context, page = new_page(browser)
    try:
        alice = register(page, server, "Alice")
        alice_id = rest(server, frank["access_token"], "GET", f"/users?q={alice}")["items"][0]
        conv = rest(
            server,
            frank["access_token"],
            "POST",
            "/conversations/direct",
            {"user_id": alice_id["id"]},
        )["id"]
        path = f"/conversations/{conv}/messages"
        for n, words in enumerate(("long ago", "also long ago")):
            body = {"cid": f"old-{n}", "kind": "text", "body": {"text": words}}
            rest(server, frank["access_token"], "POST", path, body)
        _age(server, conv, days=2)

        def removed() -> bool:
            view = rest(server, frank["access_token"], "GET", f"/conversations/{conv}/retention")
            return int(view["first_seq"]) == 3

        _poll(removed)
        rest(
            server,
            frank["access_token"],
            "POST",
            path,
            {"cid": "new-1", "kind": "text", "body": {"text": "fresh news"}},
        )
        open_conversation(page, "Frank")
        expect(bubbles(page, "fresh news")).to_have_count(1)
        expect(page.locator(".log-note.top-begin")).to_have_text(
            "Older messages were removed: this conversation keeps messages for a limited time."
        )
        expect(bubbles(page, "long ago")).to_have_count(0)
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()


def _age(server: ServerProcess, conv: str, days: int) -> None:
    """Move the conversation's messages ``days`` into the past (the server's SQLite file;
    a plain connection: Playwright's loop is running in this thread)."""
    with contextlib.closing(sqlite3.connect(server.data_dir / "pigeon.db", timeout=30)) as db:
        db.execute("UPDATE messages SET ts = ts - ? WHERE conv_id = ?", (days * 86_400_000, conv))
        db.commit()


def _poll(condition: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "retention did not remove the old messages"
        time.sleep(0.1)
