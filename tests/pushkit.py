"""Receivers for push tests: real local HTTP servers standing in for the operator's
app server (the webhook) and for a browser vendor's push service (Web Push).

Both check what a real receiver must check (the HMAC signature and timestamp; the
VAPID JWT) and record every request, accepted or not. ``refusing`` makes them answer
503, so a test decides when deliveries may succeed instead of racing them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
import orjson
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

WEBHOOK_SECRET = "webhook-secret-" + "s" * 32
REPLAY_WINDOW_S = 300  # what docs/push.md recommends receivers accept


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    payload: dict[str, Any]
    headers: Mapping[str, str]  # case-insensitive, as HTTP headers are
    accepted: bool


@dataclass
class _Receiver:
    refusing: bool = False
    secret: str = WEBHOOK_SECRET  # the webhook's signing key (a bot's own, for bots)
    received: list[Received] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # checks that failed
    runner: web.AppRunner | None = None
    port: int = 0

    async def _serve(self, app: web.Application) -> None:
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def accepted(self, user: str | None = None) -> list[dict[str, Any]]:
        return [
            r.payload
            for r in self.received
            if r.accepted and (user is None or r.payload.get("user") == user)
        ]

    def seen(self, user: str) -> list[dict[str, Any]]:
        return [r.payload for r in self.received if r.payload.get("user") == user]


class WebhookReceiver(_Receiver):
    """The operator's app server: verifies ``X-Pigeon-Signature`` like docs/push.md says."""

    async def start(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        await self._serve(app)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers.get("X-Pigeon-Timestamp", "")
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        signature = request.headers.get("X-Pigeon-Signature", "")
        if not hmac.compare_digest(signature, f"v1={expected}"):
            self.problems.append(f"bad signature {signature!r}")
            return web.Response(status=401)
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > REPLAY_WINDOW_S:
            self.problems.append(f"timestamp outside the window: {timestamp!r}")
            return web.Response(status=401)
        payload = orjson.loads(body)
        if request.headers.get("Idempotency-Key") != payload["id"]:
            self.problems.append("Idempotency-Key differs from the payload's id")
        accepted = not self.refusing
        self.received.append(Received(payload, request.headers.copy(), accepted))
        return web.Response(status=204 if accepted else 503)


class BrowserKeys:
    """What a browser keeps for one push subscription: an ECDH key pair and a secret."""

    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    def subscription(self, endpoint: str) -> dict[str, Any]:
        """``PushSubscription.toJSON()`` as a browser would post it."""
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": endpoint, "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)}}

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
        )
        value: dict[str, Any] = orjson.loads(plain)
        return value


class PushServiceReceiver(_Receiver):
    """A push service (RFC 8030): one endpoint per subscription; checks the VAPID JWT
    against the server's published key and decrypts with the browser's keys."""

    def __init__(self, vapid_public_key: str) -> None:
        super().__init__()
        self.vapid_public_key = vapid_public_key
        self.browsers: dict[str, BrowserKeys] = {}
        self.gone: set[str] = set()  # tokens answered 410, like an expired subscription

    async def start(self) -> PushServiceReceiver:
        app = web.Application()
        app.router.add_post("/push/{token}", self._push)
        await self._serve(app)
        return self

    def new_subscription(self) -> dict[str, Any]:
        token = b64url(os.urandom(9))
        self.browsers[token] = BrowserKeys()
        return self.browsers[token].subscription(f"http://127.0.0.1:{self.port}/push/{token}")

    async def _push(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token in self.gone:
            return web.Response(status=410)
        problem = self._check_vapid(request.headers.get("Authorization", ""))
        if problem:
            self.problems.append(problem)
            return web.Response(status=403)
        if request.headers.get("Content-Encoding") != "aes128gcm" or "TTL" not in request.headers:
            self.problems.append("missing Content-Encoding: aes128gcm or TTL")
            return web.Response(status=400)
        payload = self.browsers[token].decrypt(await request.read())
        accepted = not self.refusing
        self.received.append(Received(payload, request.headers.copy(), accepted))
        return web.Response(status=201 if accepted else 503)

    def _check_vapid(self, authorization: str) -> str | None:
        """RFC 8292: ``vapid t=<JWT>, k=<public key>``; the key must be the one the
        server publishes, and the JWT must be signed by it for this origin."""
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() != "vapid":
            return f"authorization scheme {scheme!r}"
        fields = dict(part.strip().split("=", 1) for part in rest.split(","))
        if fields.get("k") != self.vapid_public_key:
            return "k is not the published VAPID key"
        point = unb64url(fields["k"])
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        try:
            claims = jwt.decode(
                fields["t"],
                key=key,
                algorithms=["ES256"],
                audience=f"http://127.0.0.1:{self.port}",
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.PyJWTError as exc:
            return f"VAPID JWT rejected: {exc}"
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            return f"VAPID sub {claims['sub']!r}"
        return None
