"""The push feature as the rest of the server sees it: built from settings, started
and stopped with the node, told about commits, and serving the REST endpoints for
preferences and Web Push subscriptions."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from prometheus_client import CollectorRegistry

from pigeon.broker.base import Presence
from pigeon.config import Settings
from pigeon.core.errors import CoreError
from pigeon.core.ids import new_id, now_ms
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.membership import ConversationKind
from pigeon.push.base import PREVIEW_CHARS, Notification, Provider
from pigeon.push.dispatcher import WEBHOOK_TARGET, Dispatcher, RetryPolicy
from pigeon.push.metrics import PushMetrics
from pigeon.push.planner import BOT_TARGET, Planner
from pigeon.push.prefs import Preferences, parse_clock, valid_time_zone
from pigeon.push.store import Job, PushStore, Subscription
from pigeon.push.webhook import WebhookProvider
from pigeon.push.webpush import WebPushProvider, load_or_create_vapid
from pigeon.store.accounts import AccountStore
from pigeon.store.engine import Database
from pigeon.store.records import MessageRecord

SUBSCRIPTION_PREFIX = "w_"
MAX_SUBSCRIPTIONS_PER_USER = 20
MAX_ENDPOINT_CHARS = 2048
_P256DH_BYTES = 65  # an uncompressed P-256 point
_AUTH_BYTES = 16


def _b64url(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CoreError(ErrorCode.PUSH_SUBSCRIPTION_INVALID, "keys must be base64url") from exc


def _vapid_subject(settings: Settings) -> str:
    if settings.push_vapid_subject:
        return settings.push_vapid_subject
    if settings.public_url and settings.public_url.startswith("https://"):
        return settings.public_url
    return "mailto:postmaster@localhost"


class PushService:
    def __init__(
        self,
        settings: Settings,
        store: PushStore,
        accounts: AccountStore,
        presence: Presence,
        providers: Mapping[str, Provider],
        webpush: WebPushProvider | None,
        metrics: PushMetrics,
    ) -> None:
        self.settings = settings
        self.store = store
        self.accounts = accounts
        self.providers = providers
        self.webpush = webpush
        self.metrics = metrics
        self.dispatcher = Dispatcher(
            store,
            providers,
            self.compose,
            RetryPolicy(
                settings.push_max_attempts, settings.push_retry_base_s, settings.push_retry_max_s
            ),
            lease_ms=int(settings.push_lease_s * 1000),
            batch=settings.push_batch,
            poll_s=settings.push_poll_s,
            observe=metrics.attempted,
        )
        self.planner = Planner(
            store,
            presence,
            self.targets_for,
            first_delay_ms=int(settings.push_first_delay_s * 1000),
            scan_s=settings.push_scan_s,
            on_planned=self._planned,
        )

    def _planned(self, count: int) -> None:
        self.metrics.planned.inc(count)
        self.dispatcher.wake()

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        accounts: AccountStore,
        presence: Presence,
        registry: CollectorRegistry,
        bots: Provider | None = None,
    ) -> PushService:
        """Providers from settings: the webhook when its URL is set; Web Push always
        (it costs nothing until a browser subscribes); ``bots`` delivers bots'
        outgoing webhooks (bots/outgoing.py), which share this outbox."""
        allow = settings.push_allowed_networks
        providers: dict[str, Provider] = {}
        if bots is not None:
            providers[BOT_TARGET] = bots
        if settings.push_webhook_url and settings.push_webhook_secret:
            providers[WEBHOOK_TARGET] = WebhookProvider(
                settings.push_webhook_url,
                settings.push_webhook_secret,
                allow,
                settings.push_request_timeout_s,
            )
        store = PushStore(db)
        webpush = WebPushProvider(
            load_or_create_vapid(settings.data_dir),
            _vapid_subject(settings),
            store.subscription,
            allow,
            settings.push_request_timeout_s,
        )
        providers["webpush"] = webpush
        return cls(settings, store, accounts, presence, providers, webpush, PushMetrics(registry))

    # --- lifecycle

    def start(self) -> None:
        if self.settings.push_enabled:
            self.planner.start()
            self.dispatcher.start()

    def committed(self, conv_ids: Iterable[str]) -> None:
        """Messages were just committed in ``conv_ids`` on this node."""
        if self.settings.push_enabled:
            self.planner.notice(conv_ids)

    async def close(self) -> None:
        await self.planner.close()
        await self.dispatcher.close()
        for provider in self.providers.values():
            await provider.close()

    # --- planning and composing

    async def targets_for(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        """Where each user is reached: the webhook (when configured) and each of
        their Web Push subscriptions."""
        subscriptions = await self.store.subscriptions(user_ids) if self.webpush else {}
        webhook = [WEBHOOK_TARGET] if WEBHOOK_TARGET in self.providers else []
        return {u: webhook + [s.id for s in subscriptions.get(u, [])] for u in user_ids}

    async def compose(self, jobs: Sequence[Job]) -> dict[int, Notification | None]:
        """What to send for each job, from the stored newest message it covers."""
        found, convs = await self.store.context((j.conv_id, j.last_seq) for j in jobs)
        senders = {m.sender_id for m in found.values()}
        users = await self.accounts.users_by_ids(sorted(senders))
        prefs = await self.store.preferences(j.user_id for j in jobs)
        notes: dict[int, Notification | None] = {}
        for job in jobs:
            message = found.get((job.conv_id, job.last_seq))
            conv = convs.get(job.conv_id)
            if message is None or conv is None:
                notes[job.id] = None
                continue
            sender = users.get(message.sender_id)
            sender_name = sender.display_name if sender else message.sender_id
            show_text = self.settings.push_preview and prefs[job.user_id].preview
            notes[job.id] = Notification(
                user_id=job.user_id,
                conv_id=conv.id,
                conv_kind=conv.kind,
                title=sender_name if conv.kind is ConversationKind.DIRECT else conv.title,
                first_seq=job.first_seq,
                last_seq=job.last_seq,
                count=job.count,
                mention=job.mention,
                sender_id=message.sender_id,
                sender_name=sender_name,
                message_kind=message.kind,
                preview=_preview(message) if show_text else None,
                ts=message.ts,
            )
        return notes

    # --- preferences

    async def preferences(self, user_id: str) -> Preferences:
        return (await self.store.preferences([user_id]))[user_id]

    async def update_preferences(self, user_id: str, changes: Mapping[str, Any]) -> Preferences:
        """Apply a partial update; ``dnd`` null clears the window."""
        prefs = await self.preferences(user_id)
        try:
            prefs = _apply(prefs, changes)
        except ValueError as exc:
            raise CoreError(ErrorCode.INVALID_NOTIFICATION_SETTINGS, str(exc)) from exc
        await self.store.save_preferences(user_id, prefs)
        return prefs

    # --- subscriptions

    def public_key(self) -> str | None:
        return self.webpush.public_key if self.webpush else None

    async def subscribe(self, user_id: str, endpoint: str, p256dh: str, auth: str) -> Subscription:
        if not endpoint.startswith(("https://", "http://")) or len(endpoint) > MAX_ENDPOINT_CHARS:
            raise CoreError(ErrorCode.PUSH_SUBSCRIPTION_INVALID, "endpoint must be an http(s) URL")
        key, secret = _b64url(p256dh), _b64url(auth)
        if len(key) != _P256DH_BYTES or key[0] != 4 or len(secret) != _AUTH_BYTES:
            raise CoreError(
                ErrorCode.PUSH_SUBSCRIPTION_INVALID, "p256dh or auth has the wrong size"
            )
        mine = (await self.store.subscriptions([user_id])).get(user_id, [])
        if len(mine) >= MAX_SUBSCRIPTIONS_PER_USER and all(s.endpoint != endpoint for s in mine):
            raise CoreError(ErrorCode.TOO_MANY_PUSH_SUBSCRIPTIONS)
        fresh = Subscription(new_id(SUBSCRIPTION_PREFIX), user_id, endpoint, p256dh, auth, now_ms())
        return await self.store.add_subscription(fresh)

    async def unsubscribe(self, user_id: str, sub_id: str) -> None:
        if not await self.store.remove_subscription(user_id, sub_id):
            raise CoreError(ErrorCode.PUSH_SUBSCRIPTION_NOT_FOUND)

    async def list_subscriptions(self, user_id: str) -> list[Subscription]:
        return (await self.store.subscriptions([user_id])).get(user_id, [])


def _preview(message: MessageRecord) -> str | None:
    if message.kind != "text" or message.recalled:
        return None
    text = message.body.get("text")
    return text[:PREVIEW_CHARS] if isinstance(text, str) else None


def _apply(prefs: Preferences, changes: Mapping[str, Any]) -> Preferences:
    if "enabled" in changes and changes["enabled"] is not None:
        prefs = replace(prefs, enabled=bool(changes["enabled"]))
    if "preview" in changes and changes["preview"] is not None:
        prefs = replace(prefs, preview=bool(changes["preview"]))
    if changes.get("time_zone") is not None:
        zone = str(changes["time_zone"])
        if not valid_time_zone(zone):
            raise ValueError(f"unknown time zone {zone!r} (use an IANA name such as Europe/Paris)")
        prefs = replace(prefs, time_zone=zone)
    if "dnd" in changes:
        window = changes["dnd"]
        if window is None:
            prefs = replace(prefs, dnd_start=None, dnd_end=None)
        else:
            prefs = replace(
                prefs, dnd_start=parse_clock(window["start"]), dnd_end=parse_clock(window["end"])
            )
    return prefs
