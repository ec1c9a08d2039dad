"""Signing up and in: validation messages by error code, the language switch, signing out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from e2e.webui import PASSWORD, new_page, wait_online
from harness import ServerProcess, unique_name


def test_validation_errors_language_and_logout(
    browser: Any, web_server: ServerProcess, screenshots: Path
) -> None:
    context, page = new_page(browser)
    try:
        page.goto(web_server.base_url + "/")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.screenshot(path=screenshots / "login.png")
        error = page.locator(".form-error")
        submit = page.locator("form.login-form button[type=submit]")

        submit.click()
        expect(error).to_have_text("Please fill in Username.")

        page.fill("#f-username", unique_name("ghost"))
        page.fill("#f-password", "not-the-password")
        submit.click()
        expect(error).to_have_text("The username or password is incorrect.")

        page.get_by_role("button", name="Create account").click()
        username = unique_name("carol")
        page.fill("#f-username", username)
        page.fill("#f-password", "short")
        submit.click()
        expect(error).to_have_text("Password must be 8–128 characters.")  # noqa: RUF001

        page.fill("#f-username", "x")
        page.fill("#f-password", PASSWORD)
        submit.click()
        expect(error).to_contain_text("Username must be 3–32 characters")  # noqa: RUF001

        # Switch to Simplified Chinese: labels and known errors follow.
        page.get_by_label("Language").select_option("zh")
        expect(page.get_by_role("heading", name="注册账号")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(error).to_have_text("用户名须为 3–32 个字符：字母、数字、_ . -")  # noqa: RUF001
        page.fill("#f-username", username)
        page.fill("#f-password", "short")
        submit.click()
        expect(error).to_have_text("密码长度须为 8–128 个字符。")  # noqa: RUF001
        page.screenshot(path=screenshots / "login-zh.png")

        page.fill("#f-password", PASSWORD)
        page.fill("#f-display_name", "卡罗尔")
        submit.click()
        wait_online(page)
        expect(page.get_by_role("tab", name="聊天", exact=True)).to_be_visible()
        expect(page.locator(".side-head .conn")).to_have_text("在线")
        page.screenshot(path=screenshots / "list-zh.png")

        # The choice survives a reload; signing out returns to the form and forgets the tokens.
        page.reload()
        wait_online(page)
        expect(page.locator(".me-name")).to_have_text("卡罗尔")
        page.get_by_role("button", name="设置", exact=True).click()
        page.get_by_role("button", name="退出登录").click()
        page.locator(".dialog.confirm").get_by_role("button", name="退出登录").click()
        expect(page.get_by_role("heading", name="登录")).to_be_visible()
        assert page.evaluate("localStorage.getItem('pigeon.auth')") is None

        # And signing back in works with the same account.
        page.fill("#f-username", username)
        page.fill("#f-password", PASSWORD)
        submit.click()
        wait_online(page)
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()
