"""Bots and integrations as the rest of the server sees them (docs/bots.md).

- **Bot accounts** are users marked ``bot``, made from the shell (``bots/accounts.py``).
  A bot signs in by exchanging its long-lived token for the ordinary token pair
  (``exchange``), so every transport (REST, WebSocket, TCP) authenticates it as it
  does a person, and revoking the token revokes those logins, which closes the
  bot's sockets (4003) by the usual revocation path.
- **Outgoing webhooks**: a bot subscribes its own URL; events are planned and sent
  by the notification outbox (``bots/outgoing.py``).
- **Incoming webhooks**: a secret URL that posts text into one conversation in the
  name of the member who made it, each message marked ``via`` the webhook.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from pigeon.bots.accounts import hash_secret, new_secret
from pigeon.bots.store import BotEvent, BotStore, BotWebhook, IncomingHook
from pigeon.core import policy
from pigeon.core.access import ConversationAccess
from pigeon.core.accounts import (
    AccountService,
    Grant,
    Principal,
    check_display_name,
)
from pigeon.core.errors import CoreError
from pigeon.core.ids import IdPrefix, new_id, now_ms
from pigeon.core.messaging import MessagingService
from pigeon.core.policy import Action, Situation
from pigeon.core.ratelimit import KeyedLimiter
from pigeon.protocol.audit import AuditAction
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.frames import Send
from pigeon.protocol.text import TextKind, check, check_body
from pigeon.push.addresses import ForbiddenAddress, IPNetwork, check_url_host
from pigeon.push.service import MAX_ENDPOINT_CHARS
from pigeon.store.records import MessageRecord

WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
BOT_DEVICE = "bot"  # the device name of a bot's logins unless it names one


@dataclass(frozen=True, slots=True)
class HookPost:
    """What one incoming-webhook request asks to post."""

    text: str
    name: str | None


def parse_hook_body(raw: bytes) -> HookPost:
    """``{"text": …, "name"?: …}`` or ``HOOK_PAYLOAD_INVALID``; the text rules apply."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise CoreError(ErrorCode.HOOK_PAYLOAD_INVALID, "body is not JSON") from None
    if not isinstance(value, dict):
        raise CoreError(ErrorCode.HOOK_PAYLOAD_INVALID, "body is not a JSON object")
    text, name = value.get("text"), value.get("name")
    if not isinstance(text, str) or not text.strip():
        raise CoreError(ErrorCode.HOOK_PAYLOAD_INVALID, "text must be a non-empty string")
    if name is not None and not isinstance(name, str):
        raise CoreError(ErrorCode.HOOK_PAYLOAD_INVALID, "name must be a string")
    return HookPost(text, check_display_name(name) if name is not None else None)


def check_webhook_url(url: str, allow: Sequence[IPNetwork]) -> str:
    parts = urlsplit(url)
    if (
        len(url) > MAX_ENDPOINT_CHARS
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or check(TextKind.IDENTIFIER, url) is not None
    ):
        raise CoreError(ErrorCode.BOT_WEBHOOK_INVALID, "url must be an http(s) URL")
    try:
        check_url_host(parts.hostname, allow)  # names are checked again at each delivery
    except ForbiddenAddress as exc:
        raise CoreError(ErrorCode.BOT_WEBHOOK_INVALID, str(exc)) from None
    return url


def check_events(events: Sequence[str]) -> frozenset[BotEvent]:
    known = {e.value for e in BotEvent}
    if not events or any(e not in known for e in events):
        raise CoreError(ErrorCode.BOT_WEBHOOK_INVALID, "events must be some of: message, mention")
    return frozenset(BotEvent(e) for e in events)


class BotService:
    def __init__(
        self,
        store: BotStore,
        accounts: AccountService,
        messaging: MessagingService,
        access: ConversationAccess,
        allow: Sequence[IPNetwork],
        hook_limiter: KeyedLimiter,
        max_hooks: int,
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.messaging = messaging
        self.access = access
        self.allow = tuple(allow)
        self.hook_limiter = hook_limiter  # per incoming webhook id
        self.max_hooks = max_hooks  # per conversation

    async def exchange(self, token: str, device: str | None) -> Grant:
        """The bot's token for an access and refresh token pair (``POST /auth/bot``)."""
        bot = await self.store.bot_for_token(hash_secret(token))
        if bot is None:
            raise CoreError(ErrorCode.BOT_TOKEN_INVALID)
        return await self.accounts.grant(bot, device or BOT_DEVICE)

    # --- outgoing webhooks (the bot itself)

    async def set_webhook(
        self, principal: Principal, url: str, events: Sequence[str]
    ) -> dict[str, Any]:
        """Subscribe (or resubscribe) the calling bot; a new signing secret each time,
        shown in this answer only."""
        if not principal.bot:
            raise CoreError(ErrorCode.NOT_A_BOT)
        hook = BotWebhook(
            principal.user_id,
            check_webhook_url(url, self.allow),
            new_secret(WEBHOOK_SECRET_PREFIX),
            check_events(events),
            now_ms(),
        )
        await self.store.set_webhook(hook)
        return {**hook.public(), "secret": hook.secret}

    async def webhook(self, principal: Principal) -> dict[str, Any]:
        if not principal.bot:
            raise CoreError(ErrorCode.NOT_A_BOT)
        hook = await self.store.webhook(principal.user_id)
        if hook is None:
            raise CoreError(ErrorCode.NOT_FOUND, "no webhook is set")
        return hook.public()

    async def remove_webhook(self, principal: Principal) -> None:
        if not principal.bot:
            raise CoreError(ErrorCode.NOT_A_BOT)
        if not await self.store.remove_webhook(principal.user_id):
            raise CoreError(ErrorCode.NOT_FOUND, "no webhook is set")

    # --- incoming webhooks

    async def create_hook(
        self, user_id: str, conv_id: str, name: str | None
    ) -> tuple[IncomingHook, str]:
        """A new incoming webhook of ``conv_id``; needs the right to post there."""
        await self.access.posting_rights(conv_id, user_id, fresh=True)
        secret = new_secret("")
        hook = IncomingHook(
            id=new_id(IdPrefix.INCOMING_HOOK),
            conv_id=conv_id,
            creator_id=user_id,
            name=check_display_name(name) if name else "webhook",
            secret_hash=hash_secret(secret),
            created_at=now_ms(),
            disabled_at=None,
        )
        if not await self.store.add_hook(hook, self.max_hooks):
            raise CoreError(ErrorCode.TOO_MANY_HOOKS, details={"max_hooks": self.max_hooks})
        return hook, secret

    async def hooks(self, user_id: str, conv_id: str) -> list[IncomingHook]:
        await self.access.member(conv_id, user_id)
        return await self.store.hooks_of(conv_id, self.max_hooks)

    async def remove_hook(self, user_id: str, conv_id: str, hook_id: str) -> None:
        conv, member = await self.access.active_member(conv_id, user_id)
        hook = await self.store.hook(hook_id)
        if hook is None or hook.conv_id != conv_id:
            raise CoreError(ErrorCode.HOOK_NOT_FOUND)
        mine = hook.creator_id == user_id
        policy.require(Action.REMOVE_WEBHOOK, Situation(conv.kind, member.role, on_self=mine))
        await self.store.remove_hook(conv_id, hook_id)
        if not mine:  # a moderator's act, logged once it is done
            await self.messaging.audit.record(
                user_id,
                AuditAction.WEBHOOK_DELETED,
                user=hook.creator_id,
                conv=conv_id,
                hook=hook_id,
            )

    async def admit_hook(self, hook_id: str, secret: str) -> IncomingHook:
        """The active webhook ``hook_id`` if ``secret`` is its secret and it has
        budget left (``HOOK_RATE_LIMITED``). Any other case is the same 404, so a URL
        cannot be probed."""
        hook = await self.store.hook(hook_id)
        given = hash_secret(secret).encode()
        expected = hook.secret_hash.encode() if hook is not None else b"-" * len(given)
        if not hmac.compare_digest(given, expected) or hook is None or not hook.active:
            raise CoreError(ErrorCode.HOOK_NOT_FOUND)
        self.hook_limiter.check(hook.id, ErrorCode.HOOK_RATE_LIMITED)
        return hook

    async def post_hook(self, hook: IncomingHook, post: HookPost) -> MessageRecord:
        """Post as the hook's creator, marked ``via`` the hook. A creator who may no
        longer post there (left, removed, a channel role lost) disables the hook."""
        body: dict[str, Any] = {
            "text": post.text,
            "via": {"hook": hook.id, "name": post.name or hook.name},
        }
        violation = check_body(body)
        if violation is not None:
            raise CoreError(violation.code, f"text {violation.reason}")
        try:
            await self.access.posting_rights(hook.conv_id, hook.creator_id, fresh=True)
        except CoreError as exc:
            if exc.code in (ErrorCode.CONVERSATION_NOT_FOUND, ErrorCode.FORBIDDEN):
                await self.store.disable_hook(hook.id, now_ms())
                raise CoreError(ErrorCode.HOOK_NOT_FOUND) from None
            raise
        send = Send(new_id("hook-"), hook.conv_id, "text", body)
        return await self.messaging.send(hook.creator_id, send)
