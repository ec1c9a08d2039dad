"""The web client and the API docs run under their Content-Security-Policy, offline."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import ConsoleMessage, Page, Request, expect

from harness import ServerProcess

from .webui import bubbles, new_page, open_direct, register, send


def _watch(page: Page, base_url: str) -> tuple[list[str], list[str]]:
    """Collect policy violations and any request that leaves the server's origin."""
    violations: list[str] = []
    foreign: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            violations.append(message.text)

    def on_request(request: Request) -> None:
        url = request.url
        if not url.startswith((base_url, "data:", "blob:", "ws://127.0.0.1")):
            foreign.append(url)

    page.on("console", on_console)
    page.on("request", on_request)
    return violations, foreign


def test_the_web_client_works_under_its_policy(browser: Any, web_server: ServerProcess) -> None:
    context, page = new_page(browser)
    peer_context, peer = new_page(browser)
    try:
        violations, foreign = _watch(page, web_server.base_url)
        register(page, web_server, "Policy")
        peer_name = register(peer, web_server, "Peer")
        open_direct(page, peer_name)
        send(page, "under a strict policy")
        expect(bubbles(page, "under a strict policy")).to_have_attribute("data-state", "sent")
        expect(peer.locator("button.conv", has_text="Policy")).to_be_visible()
        assert not violations, violations
        assert not foreign, foreign
        assert not page.errors  # type: ignore[attr-defined]
    finally:
        context.close()
        peer_context.close()


def test_the_api_docs_render_from_local_assets(browser: Any, web_server: ServerProcess) -> None:
    context, page = new_page(browser)
    try:
        violations, foreign = _watch(page, web_server.base_url)
        page.goto(web_server.base_url + "/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Pigeon")
        expect(page.locator(".opblock-tag").first).to_be_visible()
        assert not violations, violations
        assert not foreign, foreign
        assert not page.errors  # type: ignore[attr-defined]
    finally:
        context.close()
