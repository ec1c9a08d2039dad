"""Web Push provider (RFC 8030 delivery, RFC 8291 payload encryption, RFC 8292 VAPID).

Encryption and VAPID signing are pywebpush's (with http_ece and py_vapid): they are
the reference implementation of these RFCs in Python, and getting the key
derivation wrong fails silently in browsers. This module keeps the VAPID key pair,
turns pywebpush's answers into outcomes, and sends through a session whose
resolver refuses private addresses, because subscription endpoints come from
users' browsers.

The VAPID private key is generated once and kept in ``<data_dir>/vapid-private.pem``
(mode 0600); every node of a cluster must share it, as browsers bind a subscription
to the public key it was made with.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import orjson
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush_async

from pigeon.push.addresses import (
    TRANSPORT_ERRORS,
    GuardedResolver,
    IPNetwork,
    check_url_host,
    transport_failure,
)
from pigeon.push.base import Notification, Outcome, Result
from pigeon.push.store import Subscription

VAPID_KEY_FILE = "vapid-private.pem"
TTL_S = 24 * 3600  # a push service keeps an undelivered notification this long
_GONE_STATUS = frozenset({404, 410})
_RETRYABLE_STATUS = frozenset({408, 425, 429})

LoadSubscription = Callable[[str], Awaitable[Subscription | None]]


def load_or_create_vapid(data_dir: Path) -> Vapid02:
    """The node's VAPID key, generated at the first start."""
    path = data_dir / VAPID_KEY_FILE
    if not path.exists():
        vapid = Vapid02()
        vapid.generate_keys()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(vapid.private_pem())
    return Vapid02.from_file(str(path))


def application_server_key(vapid: Vapid02) -> str:
    """The public key as browsers want it for ``pushManager.subscribe``: the
    uncompressed P-256 point, base64url without padding."""
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def notification_payload(note: Notification) -> bytes:
    """What the service worker receives: the common payload plus display fields."""
    payload = note.payload()
    payload["title"] = note.title or note.sender_name
    payload["url"] = f"/#/c/{note.conv_id}"
    return orjson.dumps(payload)


class WebPushProvider:
    def __init__(
        self,
        vapid: Vapid02,
        subject: str,
        load: LoadSubscription,
        allow: Sequence[IPNetwork],
        timeout_s: float,
    ) -> None:
        self.vapid = vapid
        self.subject = subject
        self._load = load
        self._allow = tuple(allow)
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    @property
    def public_key(self) -> str:
        return application_server_key(self.vapid)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._allow), limit=64)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def deliver(self, target: str, notification: Notification) -> Result:
        subscription = await self._load(target)
        if subscription is None:
            return Result(Outcome.GONE, "subscription deleted")
        info: dict[str, str | bytes | dict[str, str | bytes]] = {
            "endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
        }
        try:
            check_url_host(urlsplit(subscription.endpoint).hostname, self._allow)
            await webpush_async(
                info,
                data=notification_payload(notification).decode(),
                vapid_private_key=self.vapid,
                vapid_claims={"sub": self.subject},  # fresh each time: pywebpush adds aud/exp
                ttl=TTL_S,
                timeout=self._timeout_s,
                headers={"Urgency": "high" if notification.mention else "normal"},
                aiohttp_session=self._client(),
            )
        except WebPushException as exc:
            return Result(_classify(exc.status_code), str(exc).splitlines()[0])
        except TRANSPORT_ERRORS as exc:
            return transport_failure(exc)
        return Result(Outcome.DELIVERED)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _classify(status: int | None) -> Outcome:
    if status in _GONE_STATUS:
        return Outcome.GONE
    if status is None or status >= 500 or status in _RETRYABLE_STATUS:
        return Outcome.RETRY
    return Outcome.REFUSED
