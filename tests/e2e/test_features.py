"""Screens for features the server may or may not offer yet: groups, images, long history."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import FilePayload, expect

from e2e.webui import (
    access_token,
    bubbles,
    features,
    new_page,
    open_conversation,
    open_direct,
    register,
    register_rest,
    rest,
    send,
)
from harness import ServerProcess


def require_feature(server: ServerProcess, name: str) -> None:
    """Skip unless /api/v1/config lists the feature (as the client reads it: "recall-edit" has both)."""
    offered = features(server)
    if not any(f == name or name in re.split(r"[-_/+.: ]", f) for f in offered):
        pytest.skip(f"the server does not list the {name!r} feature yet")


def png(width: int, height: int) -> bytes:
    """A small gradient PNG, built by hand so the tests need no imaging library."""
    raw = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 200)) for x in range(width))
        for y in range(height)
    )

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_group_create_members_and_chat(
    browser: Any, web_server: ServerProcess, screenshots: Path
) -> None:
    require_feature(web_server, "groups")
    ctx_a, alice = new_page(browser)
    ctx_b, bob = new_page(browser)
    try:
        register(alice, web_server, "Alice")
        bob_name = register(bob, web_server, "Bob")

        alice.get_by_role("button", name="New group").first.click()
        dialog = alice.get_by_role("dialog")
        dialog.get_by_label("Group name").fill("Pigeon fanciers")
        dialog.get_by_label("Add members").fill(bob_name)
        dialog.locator("button.person.pick", has_text=f"@{bob_name}").click()
        expect(dialog.locator(".chip")).to_have_count(1)
        dialog.get_by_role("button", name="Create").click()
        expect(alice.locator(".chat-title h2")).to_have_text("Pigeon fanciers")
        expect(alice.locator(".chat-sub")).to_have_text("2 members")

        send(alice, "Welcome to the loft")
        open_conversation(bob, "Pigeon fanciers")
        message = bubbles(bob, "Welcome to the loft")
        expect(message).to_have_count(1)
        expect(message.locator(".sender")).to_have_text("Alice")
        expect(bob.locator(".system-row").first).to_contain_text("Alice")
        send(bob, "Thanks!")
        expect(bubbles(alice, "Thanks!")).to_have_count(1)
        alice.screenshot(path=screenshots / "group-chat.png")

        alice.get_by_role("button", name="Details").first.click()
        info = alice.get_by_role("dialog")
        expect(info.locator("li.person", has_text="Alice")).to_contain_text("Owner")
        expect(info.locator("li.person", has_text="Bob")).to_be_visible()
        alice.screenshot(path=screenshots / "group-info.png")
        assert alice.errors == []  # type: ignore[attr-defined]
        assert bob.errors == []  # type: ignore[attr-defined]
    finally:
        ctx_a.close()
        ctx_b.close()


def test_image_upload_preview_and_viewer(
    browser: Any, web_server: ServerProcess, screenshots: Path
) -> None:
    require_feature(web_server, "files")
    peer, _ = register_rest(web_server, "Dora")
    context, page = new_page(browser)
    try:
        register(page, web_server, "Eve")
        open_direct(page, peer)
        picture = FilePayload(name="loft.png", mimeType="image/png", buffer=png(160, 120))
        page.locator(".composer input[type=file]").set_input_files(files=[picture])
        page.get_by_role("dialog").get_by_role("button", name="Send").click()
        row = page.locator(".msgs-inner .row.own", has=page.locator(".image"))
        expect(row).to_have_attribute("data-state", "sent")
        image = row.locator(".image-btn img")
        expect(image).to_have_attribute("src", re.compile(r"\S+"))
        assert page.evaluate("img => img.naturalWidth", image.element_handle()) > 0
        page.screenshot(path=screenshots / "chat-image.png")

        row.locator(".image-btn").click()
        viewer = page.get_by_role("dialog")
        expect(viewer.locator("img.viewer-img")).to_be_visible()
        page.keyboard.press("Escape")
        expect(viewer).to_have_count(0)
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()


def test_history_scrolls_back_to_the_beginning(browser: Any, web_server: ServerProcess) -> None:
    """Older pages load as the reader scrolls up; every message shows exactly once."""
    _, grant = register_rest(web_server, "Frank")
    context, page = new_page(browser, height=700)
    try:
        reader = register(page, web_server, "Gina")
        token = grant["access_token"]
        found = rest(web_server, token, "GET", f"/users?q={reader}")["items"]
        conv = rest(web_server, token, "POST", "/conversations/direct", {"user_id": found[0]["id"]})
        total = 105  # three pages of 50
        for n in range(1, total + 1):
            body = {"cid": f"seed-{n}", "kind": "text", "body": {"text": f"history line {n}"}}
            rest(web_server, token, "POST", f"/conversations/{conv['id']}/messages", body)
        open_conversation(page, "Frank")
        expect(bubbles(page, f"history line {total}")).to_have_count(1)
        rows = page.locator(".msgs-inner .row[data-seq]")
        log = page.locator(".messages")
        for _ in range(20):
            if page.locator(".log-note", has_text="beginning of the conversation").count():
                break
            log.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
            page.wait_for_function(
                "([n]) => document.querySelectorAll('.msgs-inner .row[data-seq]').length > n"
                " || document.querySelector('.log-note')?.textContent.includes('beginning')",
                arg=[rows.count()],
            )
        expect(page.locator(".log-note")).to_contain_text("beginning of the conversation")
        seqs = rows.evaluate_all("els => els.map(e => Number(e.dataset.seq))")
        assert seqs == list(range(1, total + 1))
        assert access_token(page)
    finally:
        context.close()


def test_friend_request_accept(browser: Any, web_server: ServerProcess, screenshots: Path) -> None:
    require_feature(web_server, "friends")
    ctx_a, alice = new_page(browser)
    ctx_b, bob = new_page(browser)
    try:
        register(alice, web_server, "Alice")
        bob_name = register(bob, web_server, "Bob")
        alice.fill(".search-input", bob_name)
        alice.get_by_role("button", name="View profile: Bob").click()
        alice.get_by_role("dialog").get_by_role("button", name="Add friend").click()
        expect(alice.locator(".toast")).to_contain_text("Request sent")
        alice.keyboard.press("Escape")

        bob.get_by_role("tab", name="Contacts").click()
        request = bob.locator("li.person", has_text="Alice")
        request.get_by_role("button", name="Accept").click()
        expect(bob.locator(".friends-list li.person", has_text="Alice")).to_have_count(1)
        expect(bob.get_by_role("button", name="Accept")).to_have_count(0)
        bob.screenshot(path=screenshots / "contacts.png")

        alice.fill(".search-input", "")
        alice.get_by_role("tab", name="Contacts").click()
        friend = alice.locator(".friends-list li.person", has_text="Bob")
        expect(friend).to_have_count(1)
        friend.locator(".person-open").click()
        expect(alice.locator(".chat-title h2")).to_have_text("Bob")
    finally:
        ctx_a.close()
        ctx_b.close()


def test_edit_and_recall(browser: Any, web_server: ServerProcess) -> None:
    require_feature(web_server, "edit")
    require_feature(web_server, "recall")
    ctx_a, alice = new_page(browser)
    ctx_b, bob = new_page(browser)
    try:
        register(alice, web_server, "Alice")
        bob_name = register(bob, web_server, "Bob")
        open_direct(alice, bob_name)
        send(alice, "see you at noun")
        send(alice, "oops, wrong chat")
        open_conversation(bob, "Alice")
        expect(bubbles(bob, "wrong chat")).to_have_count(1)

        row = bubbles(alice, "see you at noun")
        row.hover()
        row.get_by_role("button", name="Edit").click()
        box = alice.locator(".chat textarea")
        expect(box).to_have_value("see you at noun")
        box.fill("see you at noon")
        box.press("Enter")
        edited = bubbles(bob, "see you at noon")
        expect(edited).to_have_count(1)
        expect(edited.locator(".edited")).to_have_text("edited")

        row = bubbles(alice, "wrong chat")
        row.hover()
        row.get_by_role("button", name="Recall").click()
        alice.get_by_role("dialog").get_by_role("button", name="Recall").click()
        expect(bubbles(bob, "wrong chat")).to_have_count(0)
        expect(bob.locator(".recalled-text")).to_have_count(1)
        bob.reload()
        expect(bubbles(bob, "see you at noon").locator(".edited")).to_have_count(1)
        expect(bob.locator(".recalled-text")).to_have_count(1)
    finally:
        ctx_a.close()
        ctx_b.close()
