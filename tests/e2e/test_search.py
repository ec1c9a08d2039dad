"""Message search in the web client: the sidebar's search box, snippets shown as text,
and a click that opens the conversation at the found message, loading older pages."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from e2e.test_features import require_feature
from e2e.webui import new_page, register, register_rest, rest
from harness import ServerProcess


def test_search_box_finds_a_chinese_word_and_opens_the_old_message(
    browser: Any, web_server: ServerProcess
) -> None:
    require_feature(web_server, "search")
    _, grant = register_rest(web_server, "Frank")
    context, page = new_page(browser, height=700)
    try:
        reader = register(page, web_server, "Gina")
        token = grant["access_token"]
        found = rest(web_server, token, "GET", f"/users?q={reader}")["items"]
        conv = rest(web_server, token, "POST", "/conversations/direct", {"user_id": found[0]["id"]})
        path = f"/conversations/{conv['id']}/messages"
        total = 120  # the hit is older than the first two pages the chat loads
        for n in range(1, total + 1):
            words = "<b>端午</b> 一起去看龙舟吧" if n == 3 else f"line {n}"
            rest(
                web_server,
                token,
                "POST",
                path,
                {"cid": f"s-{n}", "kind": "text", "body": {"text": words}},
            )

        page.fill(".search-input", "龙舟")
        hit = page.locator("button.found-hit")
        expect(hit).to_have_count(1)
        expect(hit.locator("mark")).to_have_text("龙舟")
        expect(hit.locator(".found-snippet")).to_contain_text("<b>端午</b> 一起去看龙舟吧")
        expect(hit.locator(".found-snippet b")).to_have_count(0)  # markup stays text

        page.fill(".search-input", "没有这句话")
        expect(page.locator(".found", has_text="No messages found.")).to_have_count(1)

        page.fill(".search-input", "龙舟")
        page.locator("button.found-hit").click()
        expect(page.locator(".chat-title h2")).to_have_text("Frank")
        target = page.locator('.msgs-inner .row[data-seq="3"]')
        expect(target).to_be_in_viewport()
        expect(target).to_contain_text("<b>端午</b>")
        expect(page.locator(".search-input")).to_have_value("")
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()
