"""Browser tests: the web client in headless Chromium against a real server."""

from __future__ import annotations
