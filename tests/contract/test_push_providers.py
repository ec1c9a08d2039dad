"""Each push provider against a real local receiver: what it sends, how it reads the
answer, and which addresses it refuses (pigeon.push.base states the contract)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pigeon.push.base import Notification, Outcome
from pigeon.push.store import Subscription
from pigeon.push.webhook import WebhookProvider, sign
from pigeon.push.webpush import WebPushProvider, application_server_key, load_or_create_vapid
from pushkit import WEBHOOK_SECRET, PushServiceReceiver, WebhookReceiver, unb64url

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)
TIMEOUT_S = 30.0

NOTE = Notification(
    user_id="u_reader",
    conv_id="c_chat",
    conv_kind="group",
    title="crew",
    first_seq=4,
    last_seq=6,
    count=3,
    mention=True,
    sender_id="u_writer",
    sender_name="Writer",
    message_kind="text",
    preview="see you at 8",
    ts=1_700_000_000_000,
)


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookReceiver]:
    receiver = await WebhookReceiver().start()
    yield receiver
    await receiver.close()


# --- webhook


async def test_webhook_posts_the_signed_payload(webhook: WebhookReceiver) -> None:
    provider = WebhookProvider(webhook.url, WEBHOOK_SECRET, LOOPBACK, TIMEOUT_S)
    try:
        result = await provider.deliver("webhook", NOTE)
    finally:
        await provider.close()
    assert result.outcome is Outcome.DELIVERED
    assert webhook.problems == []
    [received] = webhook.received
    assert received.payload == NOTE.payload()
    assert received.headers["Idempotency-Key"] == "u_reader:c_chat:6"


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # A fixed vector, so receivers in any language can check their implementation.
    # The same vector is in docs/push.md.
    assert sign("k" * 32, "1700000000", b'{"a":1}') == (
        "v1=6935b796c0fec66e5dee52c86c7fd1218a424c32f1adb239ff2893c31e54f033"
    )


async def test_webhook_answers_decide_retry_or_dead_letter(webhook: WebhookReceiver) -> None:
    provider = WebhookProvider(webhook.url, WEBHOOK_SECRET, LOOPBACK, TIMEOUT_S)
    wrong_key = WebhookProvider(webhook.url, "x" * 32, LOOPBACK, TIMEOUT_S)
    nobody = WebhookProvider(
        f"http://127.0.0.1:{closed_port()}/hook", WEBHOOK_SECRET, LOOPBACK, TIMEOUT_S
    )
    try:
        webhook.refusing = True
        assert (await provider.deliver("webhook", NOTE)).outcome is Outcome.RETRY  # 503
        assert (await wrong_key.deliver("webhook", NOTE)).outcome is Outcome.REFUSED  # 401
        assert (await nobody.deliver("webhook", NOTE)).outcome is Outcome.RETRY
    finally:
        for p in (provider, wrong_key, nobody):
            await p.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "10.1.2.3", "169.254.1.1"])
async def test_webhook_refuses_private_addresses_unless_allowed(
    webhook: WebhookReceiver, host: str
) -> None:
    url = webhook.url.replace("127.0.0.1", host)
    provider = WebhookProvider(url, WEBHOOK_SECRET, (), TIMEOUT_S)
    try:
        result = await provider.deliver("webhook", NOTE)
    finally:
        await provider.close()
    assert result.outcome is Outcome.REFUSED, result
    assert webhook.received == []


# --- Web Push


class Browsers:
    """Subscriptions as the store would hold them, made by the receiver's browsers."""

    def __init__(self, receiver: PushServiceReceiver) -> None:
        self.receiver = receiver
        self.stored: dict[str, Subscription] = {}

    async def load(self, sub_id: str) -> Subscription | None:
        return self.stored.get(sub_id)

    def add(self) -> str:
        body = self.receiver.new_subscription()
        sub_id = f"w_{len(self.stored)}"
        keys = body["keys"]
        self.stored[sub_id] = Subscription(
            sub_id, "u_reader", body["endpoint"], keys["p256dh"], keys["auth"], 0
        )
        return sub_id

    def token(self, sub_id: str) -> str:
        return self.stored[sub_id].endpoint.rsplit("/", 1)[1]


PushKit = tuple[PushServiceReceiver, Browsers, WebPushProvider]


@pytest.fixture
async def push_service(tmp_path: Path) -> AsyncIterator[PushKit]:
    vapid = load_or_create_vapid(tmp_path)
    receiver = await PushServiceReceiver(application_server_key(vapid)).start()
    browsers = Browsers(receiver)
    provider = WebPushProvider(vapid, "mailto:ops@example.org", browsers.load, LOOPBACK, TIMEOUT_S)
    yield receiver, browsers, provider
    await provider.close()
    await receiver.close()


async def test_web_push_is_encrypted_for_the_browser_and_signed_with_vapid(
    push_service: PushKit,
) -> None:
    receiver, browsers, provider = push_service
    result = await provider.deliver(browsers.add(), NOTE)
    assert result.outcome is Outcome.DELIVERED, result
    assert receiver.problems == []
    [received] = receiver.received
    assert received.payload == {**NOTE.payload(), "title": "crew", "url": "/#/c/c_chat"}
    assert received.headers["Urgency"] == "high"  # a mention


async def test_web_push_answers_decide_gone_retry_or_refused(
    push_service: PushKit,
) -> None:
    receiver, browsers, provider = push_service
    expired = browsers.add()
    receiver.gone.add(browsers.token(expired))
    assert (await provider.deliver(expired, NOTE)).outcome is Outcome.GONE  # 410
    assert (await provider.deliver("w_deleted", NOTE)).outcome is Outcome.GONE
    receiver.refusing = True
    assert (await provider.deliver(browsers.add(), NOTE)).outcome is Outcome.RETRY  # 503


async def test_web_push_refuses_endpoints_at_private_addresses(tmp_path: Path) -> None:
    vapid = load_or_create_vapid(tmp_path)
    receiver = await PushServiceReceiver(application_server_key(vapid)).start()
    body = receiver.new_subscription()
    sub = Subscription(
        "w_1", "u", body["endpoint"], body["keys"]["p256dh"], body["keys"]["auth"], 0
    )

    async def load(_: str) -> Subscription:
        return sub

    provider = WebPushProvider(vapid, "mailto:ops@example.org", load, (), TIMEOUT_S)
    try:
        assert (await provider.deliver("w_1", NOTE)).outcome is Outcome.REFUSED
    finally:
        await provider.close()
        await receiver.close()
    assert receiver.received == []


def test_the_vapid_key_is_made_once_and_kept(tmp_path: Path) -> None:
    first = application_server_key(load_or_create_vapid(tmp_path))
    assert application_server_key(load_or_create_vapid(tmp_path)) == first
    assert len(unb64url(first)) == 65
    assert (tmp_path / "vapid-private.pem").stat().st_mode & 0o077 == 0
