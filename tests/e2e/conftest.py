"""Browser fixtures: Debian's headless Chromium driven by Playwright against a real server.

The browser comes from the system package (no downloads at test time). When Chromium
or Playwright is missing the tests skip, unless PIGEON_REQUIRE_SERVICES=1 demands them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import ServerProcess, require_service

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def chromium_path() -> str | None:
    configured = os.environ.get("PIGEON_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the whole run; each test opens its own isolated contexts."""
    executable = chromium_path()
    require_service("Chromium", executable is not None, "install Debian's `chromium` package")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("Chromium", False, "the `playwright` Python package is not installed")
        raise
    from playwright.sync_api import expect

    from e2e.webui import TIMEOUT_MS

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the browser tests that need no isolation (each registers new users)."""
    server = ServerProcess(tmp_path_factory.mktemp("web"))
    server.start()
    yield server
    server.stop()
