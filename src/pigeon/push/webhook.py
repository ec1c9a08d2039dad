"""Webhook provider: a signed JSON POST to the operator's app server.

The app server relays to FCM, APNs or any other service; Pigeon never holds those
credentials. Each request carries (docs/push.md, "Webhook"):

- ``X-Pigeon-Timestamp``: Unix seconds when this attempt was signed;
- ``X-Pigeon-Signature``: ``v1=`` + hex HMAC-SHA256 of ``"<timestamp>." + body`` under
  ``push_webhook_secret``; a receiver rejects timestamps outside its replay window;
- ``Idempotency-Key``: ``Notification.key``, the same on every retry.

A 2xx answer is delivery. 408, 425, 429 and 5xx answers, timeouts and connection
failures are retried; any other answer is the receiver refusing this request for
good, which dead-letters it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import aiohttp
import orjson

from pigeon.push.addresses import (
    TRANSPORT_ERRORS,
    GuardedResolver,
    IPNetwork,
    check_url_host,
    transport_failure,
)
from pigeon.push.base import Notification, Outcome, Result

SIGNATURE_VERSION = "v1"
_RETRYABLE_STATUS = frozenset({408, 425, 429})


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Pigeon-Signature`` value for ``body`` signed at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status >= 500 or status in _RETRYABLE_STATUS:
        return Outcome.RETRY
    return Outcome.REFUSED


class SignedPoster:
    """Signed JSON POSTs to receivers outside this server: the push webhook and bots'
    outgoing webhooks (docs/bots.md) share it, so both sign, check addresses and
    classify answers the same way."""

    def __init__(self, allow: Sequence[IPNetwork], timeout_s: float) -> None:
        self._allow = tuple(allow)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # created on the loop that delivers
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._allow), limit=64)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def post(self, url: str, secret: str, key: str, body: bytes) -> Result:
        """POST ``body`` to ``url`` signed with ``secret``; ``key`` is the
        ``Idempotency-Key``, the same on every attempt."""
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Pigeon-Timestamp": timestamp,
            "X-Pigeon-Signature": sign(secret, timestamp, body),
            "Idempotency-Key": key,
        }
        try:
            check_url_host(urlsplit(url).hostname, self._allow)
            async with self._client().post(url, data=body, headers=headers) as response:
                await response.read()
                return Result(classify(response.status), f"HTTP {response.status}")
        except TRANSPORT_ERRORS as exc:
            return transport_failure(exc)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class WebhookProvider:
    def __init__(self, url: str, secret: str, allow: Sequence[IPNetwork], timeout_s: float) -> None:
        self.url = url
        self._secret = secret
        self._poster = SignedPoster(allow, timeout_s)

    async def deliver(self, target: str, notification: Notification) -> Result:
        body = orjson.dumps(notification.payload())
        return await self._poster.post(self.url, self._secret, notification.key, body)

    async def close(self) -> None:
        await self._poster.close()
