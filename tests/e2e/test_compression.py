"""The web client on a server with ``ws_compression`` on: Chromium offers permessage-deflate
by itself, so its socket is compressed both ways, and chatting works as ever."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from e2e.webui import bubbles, new_page, open_direct, register, send
from harness import ServerProcess


@pytest.fixture(scope="module")
def deflating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("deflate-web"), {"PIGEON_WS_COMPRESSION": "true"}
    )
    server.start()
    yield server
    server.stop()


NEGOTIATED = """async (url) => {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  const agreed = ws.extensions;
  ws.close();
  return agreed;
}"""


def test_browser_chats_over_compressed_sockets(browser: Any, deflating: ServerProcess) -> None:
    ctx_a, alice = new_page(browser)
    ctx_b, bob = new_page(browser)
    try:
        register(alice, deflating, "Alice")
        bob_name = register(bob, deflating, "Bob")
        assert "permessage-deflate" in alice.evaluate(NEGOTIATED, deflating.ws_url)
        open_direct(alice, bob_name)
        long = "A longer message, long enough to be compressed on its way. " * 5
        send(alice, long.strip())
        send(alice, "short")
        bob.locator("button.conv", has_text="Alice").click()
        expect(bubbles(bob, "A longer message")).to_have_count(1)
        expect(bubbles(bob, "short")).to_have_count(1)
        send(bob, "Got both, " + "thanks " * 20)
        expect(bubbles(alice, "Got both")).to_have_count(1)
        assert alice.errors == []  # type: ignore[attr-defined]
        assert bob.errors == []  # type: ignore[attr-defined]
    finally:
        ctx_a.close()
        ctx_b.close()
