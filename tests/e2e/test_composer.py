"""Writing and reading at the edges: the text limit, images with a caption, colour emoji,
and a long history that stays light in the DOM."""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from playwright.sync_api import FilePayload, expect

from e2e.test_features import png
from e2e.webui import (
    PHONE,
    fits,
    new_page,
    open_conversation,
    open_direct,
    register,
    register_rest,
    rest,
)
from harness import WAIT_S, ServerProcess

HISTORY = 2_000
# The client keeps at most 240 messages in the DOM (WINDOW_ROWS in views/chat.js).
DOM_BOUND = 240


def max_text_chars(server: ServerProcess) -> int:
    with urllib.request.urlopen(f"{server.base_url}/api/v1/config", timeout=WAIT_S) as response:
        return int(json.loads(response.read())["data"]["limits"]["max_text_chars"])


def test_text_limit_image_preview_and_emoji_fonts(browser: Any, web_server: ServerProcess) -> None:
    peer, grant = register_rest(web_server, "Quinn")
    limit = max_text_chars(web_server)
    context, page = new_page(browser)
    try:
        register(page, web_server, "Rosa")
        open_direct(page, peer)

        fonts = page.evaluate("getComputedStyle(document.body).fontFamily")
        generic = fonts.index("sans-serif")
        for emoji in ('"Apple Color Emoji"', '"Segoe UI Emoji"', '"Noto Color Emoji"'):
            assert fonts.index(emoji) < generic, fonts

        # One over the limit: kept whole, explained, and not sent.
        box = page.locator(".chat textarea")
        counter = page.locator(".text-counter")
        send_button = page.locator(".send-btn")
        box.fill("x" * (limit + 1))
        assert len(box.input_value()) == limit + 1
        expect(counter).to_be_visible()
        expect(counter).to_have_class("text-counter over")
        expect(counter).to_contain_text(f"Too long: {limit + 1:,} of {limit:,} characters")
        expect(send_button).to_be_disabled()
        box.press("Enter")
        expect(page.locator(".msgs-inner .row")).to_have_count(0)
        assert len(box.input_value()) == limit + 1
        page.set_viewport_size(PHONE)
        fits(page, counter)
        expect(send_button).to_be_in_viewport()
        page.set_viewport_size({"width": 1200, "height": 780})

        # Exactly the limit goes out, as typed; astral characters count once, as on the server.
        text = "😀" + "y" * (limit - 1)
        box.fill(text)
        expect(counter).to_have_text(f"0 of {limit:,} characters left")
        expect(send_button).to_be_enabled()
        box.press("Enter")
        row = page.locator(".msgs-inner .row.own")
        expect(row).to_have_attribute("data-state", "sent")
        expect(counter).to_be_hidden()
        conv = page.evaluate("decodeURIComponent(location.hash.slice(4))")
        items = rest(web_server, grant["access_token"], "GET", f"/conversations/{conv}/messages")
        assert [m["body"]["text"] for m in items["items"]] == [text]

        # An image waits for Send: Cancel sends nothing, Send goes with the caption.
        files = page.locator(".composer input[type=file]")
        picture = FilePayload(name="loft.png", mimeType="image/png", buffer=png(160, 120))
        files.set_input_files(files=[picture])
        preview = page.get_by_role("dialog")
        expect(preview.locator("img.preview-img")).to_be_visible()
        preview.get_by_role("button", name="Cancel").click()
        expect(preview).to_have_count(0)
        expect(page.locator(".msgs-inner .row.own")).to_have_count(1)

        page.set_viewport_size(PHONE)
        files.set_input_files(files=[picture])
        expect(preview.locator("img.preview-img")).to_be_visible()
        fits(page, preview)
        expect(preview.get_by_role("button", name="Send")).to_be_in_viewport()
        caption = preview.get_by_label("Add a caption (optional)")
        caption.fill("z" * (limit + 1))
        preview.get_by_role("button", name="Send").click()
        expect(preview.get_by_role("alert")).to_contain_text("Too long")
        assert len(caption.input_value()) == limit + 1
        caption.fill("Our loft at dawn")
        expect(preview.get_by_role("alert")).to_be_hidden()
        preview.get_by_role("button", name="Send").click()
        image = page.locator(".msgs-inner .row.own", has=page.locator(".image"))
        expect(image).to_have_attribute("data-state", "sent")
        expect(image.locator("figcaption")).to_have_text("Our loft at dawn")
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()


def seed_history(server: ServerProcess, token: str, conv_id: str, count: int) -> None:
    """`count` messages over REST, a few requests at a time (bounded by count and WAIT_S each)."""

    def post(n: int) -> None:
        body = {"cid": f"long-{n}", "kind": "text", "body": {"text": f"history line {n}"}}
        rest(server, token, "POST", f"/conversations/{conv_id}/messages", body)

    # One at a time would take minutes on a busy machine; the order of seqs does not matter here.
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(post, range(1, count + 1)))


def rendered(page: Any) -> int:
    return int(page.locator(".msgs-inner .row[data-seq]").count())


def test_long_history_keeps_the_dom_bounded(browser: Any, web_server: ServerProcess) -> None:
    _, grant = register_rest(web_server, "Sam")
    context, page = new_page(browser, height=700)
    try:
        reader = register(page, web_server, "Tess")
        token = grant["access_token"]
        found = rest(web_server, token, "GET", f"/users?q={reader}")["items"]
        conv = rest(web_server, token, "POST", "/conversations/direct", {"user_id": found[0]["id"]})
        seed_history(web_server, token, conv["id"], HISTORY)
        newest = rest(web_server, token, "GET", f"/conversations/{conv['id']}/messages?limit=1")
        last_seq = newest["items"][-1]["seq"]
        open_conversation(page, "Sam")
        rows = page.locator(".msgs-inner .row[data-seq]")
        expect(rows.last).to_have_attribute("data-seq", str(last_seq))

        log = page.locator(".messages")
        most = 0
        drift = 0.0
        # Up to the beginning: each step shows older rows (or the beginning), never more than
        # the bound, and the row at the top of the screen stays where the reader sees it.
        for _ in range(200):
            if page.locator(".log-note", has_text="beginning of the conversation").count():
                break
            seen = log.evaluate(
                """el => {
                  el.scrollTop = 0;
                  const row = el.querySelector('.msgs-inner .row[data-seq]');
                  const top = row.getBoundingClientRect().top;
                  el.dispatchEvent(new Event('scroll'));
                  return { seq: row.dataset.seq, top };
                }"""
            )
            page.wait_for_function(
                "([s]) => document.querySelector('.msgs-inner .row[data-seq]')?.dataset.seq !== s"
                " || document.querySelector('.log-note')?.textContent.includes('beginning')",
                arg=[seen["seq"]],
            )
            page.wait_for_function(
                "() => new Promise((done) => requestAnimationFrame(() => done(true)))"
            )
            now = page.locator(f".msgs-inner .row[data-seq='{seen['seq']}']").bounding_box()
            assert now is not None, seen
            drift = max(drift, abs(now["y"] - seen["top"]))
            most = max(most, rendered(page))
        expect(page.locator(".log-note").first).to_contain_text("beginning of the conversation")
        expect(rows.first).to_have_attribute("data-seq", str(last_seq - HISTORY + 1))
        assert 0 < most <= DOM_BOUND, most
        assert drift <= 2, drift

        # Down to the newest: the window moves back, the DOM stays bounded.
        for _ in range(200):
            if not page.locator(".log-note.newer").count():
                break
            last = page.locator(".msgs-inner .row[data-seq]").last.get_attribute("data-seq")
            log.evaluate(
                "el => { el.scrollTop = el.scrollHeight; el.dispatchEvent(new Event('scroll')); }"
            )
            page.wait_for_function(
                "([s]) => document.querySelector('.msgs-inner .row[data-seq]:last-of-type')"
                "?.dataset.seq !== s || !document.querySelector('.log-note.newer')",
                arg=[last],
            )
            most = max(most, rendered(page))
        expect(rows.last).to_have_attribute("data-seq", str(last_seq))
        assert most <= DOM_BOUND, most
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()
