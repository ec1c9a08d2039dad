"""Settings → your account: downloading one's data and deleting the account, with the
password asked for, a wrong one refused in place, and every device signed out."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from e2e.webui import PASSWORD, new_page, register, sign_in
from harness import WAIT_S, ServerProcess


def _sign_in_refused(server: ServerProcess, username: str) -> int:
    body = json.dumps({"username": username, "password": PASSWORD}).encode()
    request = urllib.request.Request(
        f"{server.base_url}/api/v1/auth/login",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=WAIT_S):
            return 0
    except urllib.error.HTTPError as refused:
        return int(json.loads(refused.read())["code"])


def test_download_data_then_delete_the_account(
    browser: Any, web_server: ServerProcess, screenshots: Path
) -> None:
    context, page = new_page(browser)
    other_context, other = new_page(browser)
    try:
        username = register(page, web_server, "Dora")
        sign_in(other, web_server, username)  # a second device
        page.get_by_role("button", name="Settings", exact=True).click()

        with page.expect_download() as download:
            page.get_by_role("button", name="Download my data").click()
        archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
        assert json.loads(archive.read("profile.json"))["username"] == username
        assert "README.txt" in archive.namelist()

        page.get_by_role("button", name="Delete account").click()
        dialog = page.locator(".dialog.delete-account-dialog")
        expect(dialog).to_be_visible()
        page.screenshot(path=screenshots / "delete-account.png")
        dialog.locator("#delete-password").fill("not the password")
        dialog.get_by_role("button", name="Delete my account").click()
        expect(dialog.locator(".form-error")).to_have_text("The username or password is incorrect.")

        dialog.locator("#delete-password").fill(PASSWORD)
        dialog.get_by_role("button", name="Delete my account").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(page.locator(".form-error")).to_have_text("Your account has been deleted.")
        assert page.evaluate("localStorage.getItem('pigeon.auth')") is None
        # the other device is signed out too, and the name signs in to nothing
        expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
        assert _sign_in_refused(web_server, username) == 40101
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        other_context.close()
        context.close()
