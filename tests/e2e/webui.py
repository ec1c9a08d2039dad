"""What a person does in the web client, as Playwright steps shared by the browser tests."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, expect

from harness import WAIT_S, ServerProcess, unique_name

PASSWORD = "correct-horse-battery"
TIMEOUT_MS = int(WAIT_S * 1000)  # Playwright's bound for every action and expectation
PHONE = {"width": 390, "height": 844}  # a phone's viewport, for checks at that width


def new_page(
    browser: Browser, width: int = 1200, height: int = 780, **options: Any
) -> tuple[BrowserContext, Page]:
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="en-US", **options
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    return context, page


def register(page: Page, server: ServerProcess, display_name: str) -> str:
    """Create an account through the sign-up form; returns the username."""
    username = unique_name(display_name.lower()[:6])
    page.goto(server.base_url + "/")
    page.get_by_role("button", name="Create account").click()
    page.fill("#f-username", username)
    page.fill("#f-password", PASSWORD)
    page.fill("#f-display_name", display_name)
    page.locator("form.login-form button[type=submit]").click()
    wait_online(page)
    return username


def sign_in(page: Page, server: ServerProcess, username: str) -> None:
    """Sign in through the form (a fresh browser context is a new device)."""
    page.goto(server.base_url + "/")
    page.fill("#f-username", username)
    page.fill("#f-password", PASSWORD)
    page.locator("form.login-form button[type=submit]").click()
    wait_online(page)


def wait_online(page: Page) -> None:
    expect(page.locator(".side-head .conn")).to_have_attribute("data-state", "online")


def open_direct(page: Page, username: str) -> None:
    """Find a person by name and open the direct chat with them."""
    page.fill(".search-input", username)
    person = page.locator(f"li.person[data-user]:has-text('@{username}') .person-open")
    person.click()
    expect(page.locator(".chat textarea")).to_be_visible()
    expect(page.locator(".search-input")).to_have_value("")


def open_conversation(page: Page, title: str) -> None:
    page.locator("button.conv", has_text=title).first.click()
    expect(page.locator(".chat-title h2")).to_have_text(title)


def send(page: Page, text: str) -> None:
    box = page.locator(".chat textarea")
    box.fill(text)
    box.press("Enter")


def bubbles(page: Page, text: str) -> Any:
    """Message rows showing `text` (pending or stored)."""
    return page.locator(".msgs-inner .row", has_text=text)


def fits(page: Page, locator: Any) -> None:
    """Inside the viewport (a dialog on a phone), so nothing needs a sideways scroll."""
    box = locator.bounding_box()
    view = page.viewport_size
    assert box is not None
    assert view is not None
    assert box["x"] >= 0, box
    assert box["y"] >= 0, box
    assert box["x"] + box["width"] <= view["width"] + 0.5, (box, view)
    assert box["y"] + box["height"] <= view["height"] + 0.5, (box, view)


def access_token(page: Page) -> str:
    auth = page.evaluate("localStorage.getItem('pigeon.auth')")
    return str(json.loads(auth)["access_token"])


def rest(server: ServerProcess, token: str, method: str, path: str, body: Any = None) -> Any:
    """A REST call beside the browser, to check what the server stored."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{server.base_url}/api/v1{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=WAIT_S) as response:
        return json.loads(response.read())["data"]


def features(server: ServerProcess) -> list[str]:
    with urllib.request.urlopen(f"{server.base_url}/api/v1/config", timeout=WAIT_S) as response:
        return list(json.loads(response.read())["data"]["features"])


def register_rest(server: ServerProcess, display_name: str) -> tuple[str, dict[str, Any]]:
    """Create an account without a browser; returns (username, grant)."""
    username = unique_name(display_name.lower()[:6])
    body = {"username": username, "password": PASSWORD, "display_name": display_name}
    request = urllib.request.Request(
        f"{server.base_url}/api/v1/auth/register",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=WAIT_S) as response:
        return username, json.loads(response.read())["data"]


def conversation_texts(server: ServerProcess, token: str, conv_id: str) -> list[str]:
    """Every stored text message of a conversation, oldest first."""
    texts: list[str] = []
    after = 0
    for _ in range(50):
        page = rest(
            server, token, "GET", f"/conversations/{conv_id}/messages?after={after}&limit=200"
        )
        texts += [m["body"].get("text", "") for m in page["items"] if m["kind"] == "text"]
        if not page["items"] or not page["more"]:
            break
        after = page["items"][-1]["seq"]
    return texts
