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
from collections.abc import Callable
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


Notes = list[dict[str, Any]]


def shown(
    context: BrowserContext, page: Page, ready: Callable[[Notes], bool], within_s: float
) -> Notes:
    """The notifications on screen, once ``ready`` says they are what was expected."""
    [worker] = context.service_workers
    deadline = time.monotonic() + within_s
    found: Notes = []
    while time.monotonic() < deadline:
        found = sorted(worker.evaluate(NOTIFICATIONS), key=lambda n: n["tag"])
        if ready(found):
            return found
        page.wait_for_timeout(50)
    raise AssertionError(f"the notifications were not as expected within {within_s}s: {found}")


def delivered(
    context: BrowserContext,
    page: Page,
    driver: PushDriver,
    pushes: Notes,
    ready: Callable[[Notes], bool],
) -> Notes:
    """Push each payload and return the notifications once ``ready``. DevTools now and
    then drops a push it hands to a worker it is still attaching to, so an unanswered
    round is pushed again (same tags: a repeat replaces, never adds)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        for data in pushes:
            driver.push(data)
        try:
            return shown(context, page, ready, within_s=5.0)
        except AssertionError:
            if time.monotonic() > deadline:
                raise


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
        pushes = [
            payload(group, preview="dinner at 8?", count=2),
            payload(direct, count=3),
            payload(muted, mention=True),
        ]
        notes = delivered(context, elsewhere, driver, pushes, lambda found: len(found) == 3)
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
        newer = payload(group, preview="make it 9", last_seq=4, id="u_reader:c_a_group:4")
        expected = ["Alice: make it 9", "3 new messages", "Alice mentioned you"]
        notes = delivered(
            context,
            elsewhere,
            driver,
            [newer],
            lambda found: [n["body"] for n in found] == expected,
        )
        assert len(notes) == 3
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
