"""Web Push in the browser: the service worker's notifications, shown while no Pigeon
tab is open, and the settings that write the notification preferences.

Chromium's DevTools protocol (``ServiceWorker.deliverPushMessage``) stands in for a
push service, handing the worker the payload as the browser would after decrypting
it; the server side of Web Push (encryption, VAPID) is covered by
tests/contract/test_push_providers.py.
Clicking a notification cannot be driven from here and is not tested.
"""

from __future__ import annotations

import json
import time
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from e2e.webui import access_token, new_page, register, rest
from harness import WAIT_S, ServerProcess

NOTIFICATIONS = """self.registration.getNotifications().then(
    (list) => list.map((n) => ({title: n.title, body: n.body, tag: n.tag, data: n.data})))"""


def payload(conv: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A push payload as the server sends it (docs/push.md, "Payload")."""
    base = {
        "id": f"u_reader:{conv['id']}:3",
        "user": "u_reader",
        "conv": conv,
        "count": 1,
        "first_seq": 3,
        "last_seq": 3,
        "mention": False,
        "sender": {"id": "u_writer", "name": "Alice"},
        "kind": "text",
        "preview": None,
        "ts": 1_700_000_000_000,
        "title": conv["title"] or "Alice",
        "url": f"/#/c/{conv['id']}",
    }
    return {**base, **fields}


class PushDriver:
    """Delivers push messages to the client's service worker through DevTools."""

    def __init__(self, context: BrowserContext, page: Page, origin: str) -> None:
        self.origin = origin
        self.cdp = context.new_cdp_session(page)
        self.registrations: list[dict[str, Any]] = []
        self.cdp.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda event: self.registrations.extend(event["registrations"]),
        )
        self.cdp.send("ServiceWorker.enable")
        deadline = time.monotonic() + WAIT_S
        while not self._registration() and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert self._registration(), "the service worker was never registered"

    def _registration(self) -> str | None:
        for reg in self.registrations:
            if reg["scopeURL"] == self.origin + "/" and not reg["isDeleted"]:
                return str(reg["registrationId"])
        return None

    def push(self, data: dict[str, Any]) -> None:
        self.cdp.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": self.origin,
                "registrationId": self._registration(),
                "data": json.dumps(data),
            },
        )


WINDOWS = """self.clients.matchAll({type: "window", includeUncontrolled: true})
    .then((list) => list.length)"""


def no_tab_left(context: BrowserContext, page: Page) -> None:
    """Wait until the service worker counts no window of its origin: a closed tab can
    linger in its client list for a moment, and a push then would be shown nowhere."""
    [worker] = context.service_workers
    deadline = time.monotonic() + WAIT_S
    while worker.evaluate(WINDOWS) and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert worker.evaluate(WINDOWS) == 0, "the closed tab is still the worker's client"


def shown(context: BrowserContext, page: Page, count: int) -> list[dict[str, Any]]:
    """The notifications on screen, once there are ``count`` of them."""
    [worker] = context.service_workers
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found: list[dict[str, Any]] = worker.evaluate(NOTIFICATIONS)
        if len(found) >= count:
            return sorted(found, key=lambda n: n["tag"])
        page.wait_for_timeout(50)
    raise AssertionError(f"{count} notifications were not shown within {WAIT_S}s")


def test_the_service_worker_shows_notifications_while_no_tab_is_open(
    browser: Any, web_server: ServerProcess
) -> None:
    context, page = new_page(browser)
    try:
        context.grant_permissions(["notifications"], origin=web_server.base_url)
        register(page, web_server, "Reader")
        state = page.evaluate("navigator.serviceWorker.ready.then((r) => r.active.state)")
        assert state == "activated"
        elsewhere = context.new_page()  # keeps the browser context alive, on no origin of ours
        driver = PushDriver(context, elsewhere, web_server.base_url)
        page.close()  # now no Pigeon tab is open...
        no_tab_left(context, elsewhere)  # ...as the worker sees it, before any push

        group = {"id": "c_a_group", "kind": "group", "title": "Crew"}
        direct = {"id": "c_b_direct", "kind": "direct", "title": None}
        muted = {"id": "c_c_muted", "kind": "group", "title": "Loud room"}
        driver.push(payload(group, preview="dinner at 8?", count=2))
        driver.push(payload(direct, count=3))
        driver.push(payload(muted, mention=True))
        notes = shown(context, elsewhere, 3)
        assert notes == [
            {
                "title": "Crew",
                "body": "Alice: dinner at 8? (2 new messages)",
                "tag": "c_a_group",
                "data": {"url": "/#/c/c_a_group", "id": "u_reader:c_a_group:3"},
            },
            {
                "title": "Alice",
                "body": "3 new messages",
                "tag": "c_b_direct",
                "data": {"url": "/#/c/c_b_direct", "id": "u_reader:c_b_direct:3"},
            },
            {
                "title": "Loud room",
                "body": "Alice mentioned you",
                "tag": "c_c_muted",
                "data": {"url": "/#/c/c_c_muted", "id": "u_reader:c_c_muted:3"},
            },
        ]
        # A newer notification for a conversation replaces the one on screen.
        driver.push(payload(group, preview="make it 9", last_seq=4, id="u_reader:c_a_group:4"))

        def replaced() -> bool:
            bodies = [n["body"] for n in shown(context, elsewhere, 3) if n["tag"] == "c_a_group"]
            return bodies == ["Alice: make it 9"]

        deadline = time.monotonic() + WAIT_S
        while not replaced() and time.monotonic() < deadline:
            elsewhere.wait_for_timeout(50)
        assert replaced()
    finally:
        context.close()


def test_settings_write_the_notification_preferences(
    browser: Any, web_server: ServerProcess
) -> None:
    context, page = new_page(browser, timezone_id="Asia/Tokyo")
    try:
        register(page, web_server, "Sleeper")
        page.get_by_role("button", name="Settings").first.click()
        dialog = page.get_by_role("dialog")
        expect(dialog.locator("#push-enabled")).to_be_checked()
        expect(dialog.locator("#push-preview")).to_be_checked()
        dialog.locator("label[for=push-preview]").click()
        dialog.locator("#dnd-start").fill("23:15")
        dialog.locator("#dnd-end").fill("06:45")
        dialog.locator("label[for=dnd-toggle]").click()
        token = access_token(page)
        expected = {
            "enabled": True,
            "preview": False,
            "dnd": {"start": "23:15", "end": "06:45"},
            "time_zone": "Asia/Tokyo",
        }
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if rest(web_server, token, "GET", "/users/me/notifications") == expected:
                break
            page.wait_for_timeout(50)
        assert rest(web_server, token, "GET", "/users/me/notifications") == expected
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()
