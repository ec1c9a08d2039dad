"""What the web client tells people about state: ticks, member counts, friend requests,
confirmations, errors in their language, devices by name, dialogs that follow the language."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import expect

from e2e.webui import (
    PASSWORD,
    PHONE,
    bubbles,
    fits,
    new_page,
    open_conversation,
    open_direct,
    register,
    register_rest,
    send,
    sign_in,
)
from harness import ServerProcess


def tick(page: Any, text: str) -> Any:
    return bubbles(page, text).locator(".tick")


def expect_tick(page: Any, text: str, state: str, label: str, glyph: str) -> None:
    """The state as the DOM states it: data attribute, accessible name and glyph."""
    mark = tick(page, text)
    expect(mark).to_have_attribute("data-tick", state)
    expect(mark).to_have_attribute("aria-label", label)
    expect(mark).to_have_attribute("title", label)
    expect(mark.locator("svg")).to_have_attribute("data-icon", glyph)


def colour(locator: Any) -> str:
    return str(locator.evaluate("el => getComputedStyle(el).color"))


def test_ticks_differ_and_a_new_device_derives_them(
    browser: Any, web_server: ServerProcess
) -> None:
    ctx_a, alice = new_page(browser)
    ctx_b, bob = new_page(browser)
    ctx_c, fresh = new_page(browser)
    try:
        alice_name = register(alice, web_server, "Alice")
        bob_name = register(bob, web_server, "Bob")
        open_direct(alice, bob_name)
        send(alice, "first words")
        expect_tick(alice, "first words", "delivered", "Delivered", "checks")
        delivered = colour(tick(alice, "first words"))

        open_conversation(bob, "Alice")
        expect_tick(alice, "first words", "read", "Read", "checksRead")
        assert colour(tick(alice, "first words")) != delivered

        # Nobody of Bob's is online: one tick.
        ctx_b.close()
        send(alice, "into the void")
        expect_tick(alice, "into the void", "sent", "Sent", "check")

        # A fresh sign-in has no receipts of its own: it asks the server, not its memory.
        sign_in(fresh, web_server, alice_name)
        open_conversation(fresh, "Bob")
        expect_tick(fresh, "first words", "read", "Read", "checksRead")
        expect_tick(fresh, "into the void", "sent", "Sent", "check")
        assert fresh.errors == []  # type: ignore[attr-defined]
    finally:
        ctx_a.close()
        ctx_b.close()
        ctx_c.close()


def test_member_count_and_friend_requests_are_live(browser: Any, web_server: ServerProcess) -> None:
    carol, _ = register_rest(web_server, "Carol")
    ctx_a, alice = new_page(browser)
    ctx_b, bob = new_page(browser)
    try:
        register(alice, web_server, "Alice")
        bob_name = register(bob, web_server, "Bob")

        alice.get_by_role("button", name="New group").first.click()
        dialog = alice.get_by_role("dialog")
        dialog.get_by_label("Group name").fill("Lofts")
        dialog.get_by_label("Add members").fill(bob_name)
        dialog.locator("button.person.pick", has_text=f"@{bob_name}").click()
        dialog.get_by_role("button", name="Create").click()
        expect(alice.locator(".chat-sub")).to_have_text("2 members")
        open_conversation(bob, "Lofts")
        expect(bob.locator(".chat-sub")).to_have_text("2 members")

        alice.get_by_role("button", name="Details").first.click()
        info = alice.get_by_role("dialog")
        info.get_by_label("Add members").fill(carol)
        info.locator("button.person.pick", has_text=f"@{carol}").click()
        info.locator(".add-members").get_by_role("button", name="Add members").click()
        expect(info.locator("li.person", has_text="Carol")).to_have_count(1)
        alice.keyboard.press("Escape")
        # Both headers follow the membership notice, the adder's and the other member's.
        expect(alice.locator(".chat-sub")).to_have_text("3 members")
        expect(bob.locator(".chat-sub")).to_have_text("3 members")

        # A friend request: the receiver hears of it at once, the sender sees it went out.
        contacts = bob.get_by_role("tab", name=re.compile("Contacts"))
        expect(contacts.locator(".tab-badge")).to_be_hidden()
        # Bob reads the group on a phone: the list is hidden, the notice is not.
        bob.set_viewport_size(PHONE)
        expect(bob.locator(".sidebar")).to_be_hidden()
        alice.fill(".search-input", bob_name)
        alice.get_by_role("button", name="View profile: Bob").click()
        profile = alice.get_by_role("dialog")
        profile.get_by_role("button", name="Add friend").click()
        expect(profile.locator(".friend-btn")).to_have_text("Request sent")
        expect(profile.locator(".friend-btn")).to_be_disabled()
        notice = bob.locator(".toast", has_text="Alice sent you a friend request")
        expect(notice).to_be_visible()
        fits(bob, notice)
        notice.get_by_role("button", name="View").click()
        expect(bob.locator(".sidebar")).to_be_visible()
        expect(contacts).to_have_attribute("aria-selected", "true")
        expect(
            bob.locator("li.person", has_text="Alice").get_by_role("button", name="Accept")
        ).to_be_in_viewport()
        expect(contacts.locator(".tab-badge")).to_have_text("1")
        expect(contacts).to_have_attribute("aria-label", re.compile("1 friend requests waiting"))
        alice.keyboard.press("Escape")
        alice.get_by_role("button", name="View profile: Bob").click()
        expect(alice.get_by_role("dialog").locator(".friend-btn")).to_have_text("Request sent")
        alice.keyboard.press("Escape")

        bob.locator("li.person", has_text="Alice").get_by_role("button", name="Accept").click()
        expect(bob.locator(".friends-list li.person", has_text="Alice")).to_have_count(1)
        expect(contacts.locator(".tab-badge")).to_be_hidden()
        alice.get_by_role("button", name="View profile: Bob").click()
        expect(alice.get_by_role("dialog").locator(".friend-btn")).to_have_text("Friends")
        assert alice.errors == []  # type: ignore[attr-defined]
        assert bob.errors == []  # type: ignore[attr-defined]
    finally:
        ctx_a.close()
        ctx_b.close()


def test_sign_in_errors_are_cleared_and_translated(browser: Any, web_server: ServerProcess) -> None:
    name, _ = register_rest(web_server, "Nina")
    context, page = new_page(browser)
    try:
        page.goto(web_server.base_url + "/")
        page.locator("form.login-form button[type=submit]").click()
        error = page.locator(".form-error")
        expect(error).to_have_text("Please fill in Username.")
        page.fill("#f-username", name)
        expect(error).to_have_count(0)

        # A known code reads the same way in every language, from the client's own table.
        page.fill("#f-password", "not-the-password")
        page.locator("form.login-form button[type=submit]").click()
        expect(error).to_have_text("The username or password is incorrect.")
        page.locator("select.lang-select").select_option("zh")
        expect(error).to_have_text("用户名或密码错误。")

        # Every language has every text, and every error code has every language.
        report = page.evaluate(
            """async () => {
              const i18n = await import("/static/js/i18n.js");
              const { ERRORS } = await import("/static/js/lang/errors.js");
              const dicts = i18n.dictionaries();
              const keys = Object.keys(dicts.en).sort().join();
              return {
                languages: i18n.LANGUAGES,
                incomplete: i18n.LANGUAGES.filter((l) => Object.keys(dicts[l]).sort().join() !== keys),
                codes: Object.entries(ERRORS)
                  .filter(([, row]) => i18n.LANGUAGES.some((l) => !row[l])).map(([c]) => c),
                unknown: i18n.errorText({ code: 49999, message: "the server's words" }),
              };
            }"""
        )
        assert report["languages"] == ["en", "zh"]
        assert report["incomplete"] == []
        assert report["codes"] == []
        assert report["unknown"] == "the server's words"
        page.locator("select.lang-select").select_option("en")
        page.fill("#f-password", PASSWORD)
        page.locator("form.login-form button[type=submit]").click()
        expect(page.locator(".side-head .conn")).to_have_attribute("data-state", "online")
    finally:
        context.close()


def test_recall_and_logout_confirm_in_the_current_language(
    browser: Any, web_server: ServerProcess
) -> None:
    peer, _ = register_rest(web_server, "Omar")
    context, page = new_page(browser)
    try:
        register(page, web_server, "Pia")
        open_direct(page, peer)
        send(page, "take this back")
        row = bubbles(page, "take this back")
        expect(row).to_have_attribute("data-state", "sent")
        row.hover()
        reply = row.get_by_role("button", name="Reply")
        recall = row.get_by_role("button", name="Recall")
        assert recall.get_attribute("title") != reply.get_attribute("title")
        assert recall.locator("svg").get_attribute("data-icon") == "recall"
        assert reply.locator("svg").get_attribute("data-icon") == "reply"

        recall.click()
        confirm = page.get_by_role("dialog")
        expect(confirm).to_contain_text("Recall this message for everyone?")
        expect(confirm).to_contain_text("take this back")
        confirm.get_by_role("button", name="Cancel").click()
        expect(page.locator(".recalled-text")).to_have_count(0)
        row.hover()
        recall.click()
        page.set_viewport_size(PHONE)
        fits(page, confirm)
        confirm.get_by_role("button", name="Recall").click()
        expect(page.locator(".recalled-text")).to_have_count(1)
        page.set_viewport_size({"width": 1200, "height": 780})

        # Offline: a person's words, not the transport's.
        context.set_offline(True)
        page.fill(".search-input", peer[:4])
        expect(page.locator(".people")).to_contain_text("You're offline — reconnecting…")
        assert "network" not in page.locator(".people").inner_text()
        context.set_offline(False)
        page.fill(".search-input", "")
        expect(page.locator(".side-head .conn")).to_have_attribute("data-state", "online")

        # Settings: devices by name; a language change redraws the open dialog.
        page.get_by_role("button", name="Settings").first.click()
        settings = page.locator(".dialog.wide", has=page.locator("button.logout"))
        device = settings.locator("li.device", has=page.locator(".this-device"))
        expect(device.locator(".device-name")).to_have_text("Chrome on Linux")
        expect(device.locator(".person-sub")).to_have_text(re.compile(r"\S"))
        assert not re.search(r"\bweb-[a-z2-7]+", settings.inner_text())
        settings.locator("select.lang-select").select_option("zh")
        expect(settings.locator("h2")).to_have_text("设置")
        expect(settings.locator("button.logout")).to_contain_text("退出登录")
        expect(device.locator(".device-name")).to_have_text("Linux 上的 Chrome")
        settings.locator("button.logout").click()
        ask = page.locator(".dialog.confirm")
        expect(ask).to_contain_text("确定在此浏览器上退出 Pigeon")
        ask.get_by_role("button", name="取消").click()
        expect(page.locator("form.login-form")).to_have_count(0)
        settings.locator("select.lang-select").select_option("en")
        expect(settings.locator("h2")).to_have_text("Settings")

        page.set_viewport_size(PHONE)
        fits(page, settings)
        settings.locator("button.logout").click()
        fits(page, ask)
        expect(ask).to_contain_text("Log out of Pigeon in this browser?")
        ask.get_by_role("button", name="Log out").click()
        expect(page.locator("form.login-form")).to_be_visible()
        assert (
            json.loads(page.evaluate("JSON.stringify(localStorage.getItem('pigeon.auth'))")) is None
        )
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()
