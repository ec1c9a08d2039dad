"""The web client on the JavaScript SDK: it runs under a strict Content-Security-Policy
(no inline script or style, no eval), and large files go up resumably (tus).

The policy test runs under the server's own policy; Chromium reports every refused script,
style or connection on the console, and the test fails on any.
"""

from __future__ import annotations

import urllib.request
from typing import Any

from playwright.sync_api import FilePayload, expect

from e2e.test_features import png
from e2e.webui import bubbles, new_page, open_direct, register, register_rest, rest, send
from harness import ServerProcess


def test_web_client_runs_under_a_strict_csp(browser: Any, web_server: ServerProcess) -> None:
    peer, _ = register_rest(web_server, "Hal")
    context, page = new_page(browser)
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    with urllib.request.urlopen(f"{web_server.base_url}/", timeout=30) as response:
        policy = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy
    assert "'unsafe-eval'" not in policy
    try:
        register(page, web_server, "Ivy")
        open_direct(page, peer)
        send(page, "under policy")
        expect(bubbles(page, "under policy")).to_have_attribute("data-state", "sent")
        picture = FilePayload(name="csp.png", mimeType="image/png", buffer=png(120, 90))
        page.locator(".composer input[type=file]").set_input_files(files=[picture])
        page.get_by_role("dialog").get_by_role("button", name="Send").click()
        row = page.locator(".msgs-inner .row.own", has=page.locator(".image"))
        expect(row).to_have_attribute("data-state", "sent")
        page.reload()
        expect(page.locator(".side-head .conn")).to_have_attribute("data-state", "online")
        assert page.evaluate("document.documentElement.outerHTML").count("<script>") == 0
        assert refused == []
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()


def test_large_file_goes_up_resumably_from_the_browser(
    browser: Any, web_server: ServerProcess
) -> None:
    """A file past the SDK's tus threshold is sent in PATCH chunks and arrives whole."""
    peer, grant = register_rest(web_server, "Jo")
    context, page = new_page(browser)
    patches: list[str] = []
    page.on("request", lambda r: patches.append(r.url) if r.method == "PATCH" else None)
    try:
        register(page, web_server, "Kim")
        open_direct(page, peer)
        data = bytes(range(256)) * (5 * 4096)  # 5 MiB
        payload = FilePayload(name="big.bin", mimeType="application/octet-stream", buffer=data)
        page.locator(".composer input[type=file]").set_input_files(files=[payload])
        row = page.locator(".msgs-inner .row.own", has=page.locator("a.file-card"))
        expect(row).to_have_attribute("data-state", "sent", timeout=60_000)
        assert len(patches) >= 5, patches
        conv = page.evaluate("decodeURIComponent(location.hash.slice(4))")
        token = str(grant["access_token"])
        items = rest(web_server, token, "GET", f"/conversations/{conv}/messages?limit=5")["items"]
        file_id = next(m["body"]["file_id"] for m in items if m["kind"] == "file")
        stored = rest(web_server, token, "GET", f"/files/{file_id}")
        assert stored["size"] == len(data)
        assert stored["name"] == "big.bin"
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()
