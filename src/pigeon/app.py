"""Composition root: builds every backend and service from one ``Settings``.

Nothing else in the package constructs a backend or reads configuration; the
objects built here are handed down explicitly (no module-level singletons).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import secrets
import signal
import socket
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from pigeon.api.app import create_api
from pigeon.bots.outgoing import BotWebhookProvider
from pigeon.bots.service import BotService
from pigeon.bots.store import BotStore
from pigeon.broker.base import Broker, Presence
from pigeon.broker.memory import MemoryBroker, MemoryPresence
from pigeon.broker.redis_common import RedisMode, require_mode
from pigeon.config import Settings
from pigeon.core.access import ConversationAccess
from pigeon.core.accounts import AccountService
from pigeon.core.admin import AdminDeps, AdminService
from pigeon.core.audit import AuditLog
from pigeon.core.bodies import BodyLimits
from pigeon.core.clock import Clock, SystemClock
from pigeon.core.committer import GroupCommitter
from pigeon.core.conversations import ConversationService
from pigeon.core.export import DataExport, ExportLimits
from pigeon.core.groups import GroupLimits, GroupService
from pigeon.core.guests import GuestService
from pigeon.core.lifecycle import AccountDeletion
from pigeon.core.logincache import LoginCache
from pigeon.core.marks import MarkLimits
from pigeon.core.messaging import MessagingService
from pigeon.core.paging import Paging
from pigeon.core.passwords import Passwords
from pigeon.core.permissions import PostingCache
from pigeon.core.presence import PresenceService
from pigeon.core.ratelimit import KeyedLimiter, LoginGuard
from pigeon.core.receipts import ReceiptService
from pigeon.core.retention import RetentionLimits, RetentionService
from pigeon.core.search import SearchLimits, SearchService
from pigeon.core.social import SocialService
from pigeon.core.tokens import TokenService
from pigeon.core.typing_indicators import TypingService
from pigeon.files.decoder import ImageDecoder
from pigeon.files.http import FileHandlers
from pigeon.files.local import LocalBlobStore
from pigeon.files.service import FileLimits, FileService
from pigeon.files.signing import UrlSigner
from pigeon.gateway.hub import Hub
from pigeon.gateway.linemode import LineLimits, LineListener
from pigeon.gateway.lineoutput import NickCache
from pigeon.gateway.linesession import LineServices
from pigeon.gateway.machine import MachineLimits
from pigeon.gateway.runner import Gateway
from pigeon.gateway.tcp import TcpGateway
from pigeon.gateway.websocket import Compression, WebSocketGateway
from pigeon.listener import (
    GuardedSite,
    Listener,
    ListenerLimits,
    ListenFailed,
    derived_max_connections,
    server_tls_context,
)
from pigeon.metrics import Backend, BackendErrorKind, LoopLagProbe, Metrics
from pigeon.metrics_http import MetricsListener, Profiler, ops_routes
from pigeon.protocol.closecodes import CloseCode
from pigeon.push.service import PushService
from pigeon.push.webhook import SignedPoster
from pigeon.server import build_http_app
from pigeon.services import Services
from pigeon.store.facade import Store
from pigeon.store.files import FileStore
from pigeon.store.lifecycle import LifecycleStore
from pigeon.store.records import Appended, AppendOutcome, NewMessage
from pigeon.tracing import TracedBroker, build_tracer

log = logging.getLogger("pigeon")


def resolve_jwt_secret(settings: Settings) -> str:
    """The configured secret, else one generated once and kept in the data dir."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = settings.jwt_secret_file or settings.data_dir / "jwt-secret"
    if settings.jwt_secret_file is None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return Path(path).read_text().strip()


def default_node_id() -> str:
    return f"{socket.gethostname()[:20]}-{secrets.token_hex(2)}"


def build_broker_and_presence(
    settings: Settings, node_id: str, metrics: Metrics
) -> tuple[Broker, Presence]:
    """In-memory for one node; Redis (routing and presence) when ``redis_url`` is set,
    on one Redis or, with ``redis_cluster``, on a Redis Cluster."""
    if not settings.redis_url:
        return MemoryBroker(), MemoryPresence()
    from pigeon.broker.redis import RedisBroker, RedisPresence

    metrics.declare_backend(Backend.REDIS)

    def on_error(kind: BackendErrorKind) -> None:
        metrics.backend_error(Backend.REDIS, kind)

    prefix = settings.redis_prefix
    if settings.redis_cluster:
        from pigeon.broker.redis_cluster import RedisClusterBroker, RedisClusterPresence

        return (
            RedisClusterBroker(settings.redis_url, node_id, prefix=prefix, on_error=on_error),
            RedisClusterPresence(
                settings.redis_url,
                node_id,
                settings.presence_ttl_s,
                prefix=prefix,
                on_error=on_error,
            ),
        )
    return (
        RedisBroker(settings.redis_url, node_id, prefix=prefix, on_error=on_error),
        RedisPresence(
            settings.redis_url,
            node_id,
            settings.presence_ttl_s,
            prefix=prefix,
            on_error=on_error,
        ),
    )


def count_database_errors(store: Store, metrics: Metrics) -> None:
    backend = Backend.SQLITE if store.db.is_sqlite else Backend.POSTGRESQL
    metrics.declare_backend(backend)
    store.db.observe_errors(lambda kind: metrics.backend_error(backend, kind))


class PigeonApp:
    """One node: store, broker, services, gateway and HTTP server, with their lifecycle.

    ``reuse_port`` listens with SO_REUSEPORT, so several processes share the ports
    (the workers of ``pigeon serve --workers``, pigeon/supervisor.py); ``migrate``
    False leaves the schema to whoever started them, which already brought it up to date.
    """

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        *,
        reuse_port: bool = False,
        migrate: bool = True,
    ) -> None:
        self.settings = settings
        self.reuse_port = reuse_port
        self.migrate = migrate
        clock = clock or SystemClock()
        self.node_id = settings.node_id or default_node_id()
        self.metrics = Metrics()
        self.loop_lag = LoopLagProbe(self.metrics.loop_lag)
        self.profiler = Profiler()
        self.tracer = build_tracer(
            settings.tracing_endpoint, self.node_id, settings.tracing_sample_ratio
        )
        self.store = Store.open(settings.effective_database_url)
        count_database_errors(self.store, self.metrics)
        self.broker, self.presence = build_broker_and_presence(settings, self.node_id, self.metrics)
        if settings.tracing_endpoint:
            self.broker = TracedBroker(self.broker, self.tracer)
        self.hub = Hub(
            self.metrics,
            settings.heartbeat_s,
            self.store.accounts.revoked_among,
            settings.revocation_check_s,
            settings.max_sockets_per_user,
            self.store.conversations.active_conversation_ids,
        )
        self.listener = Listener(
            ListenerLimits(
                header_timeout_s=settings.header_timeout_s,
                max_connections=settings.max_connections
                or derived_max_connections(settings.fd_reserve),
                max_per_ip=settings.max_connections_per_ip,
                max_pending_per_ip=settings.max_pending_per_ip,
                trusted=settings.trusted_proxy_networks,
            )
        )
        self.tls_context = (
            server_tls_context(settings.tls_cert, settings.tls_key)
            if settings.tls_cert is not None and settings.tls_key is not None
            else None
        )
        # Built before the committer: every commit tells it which conversations grew.
        bot_store = BotStore(self.store.db)
        self.push = PushService.build(
            settings,
            self.store.db,
            self.store.accounts,
            self.presence,
            self.metrics.registry,
            bots=BotWebhookProvider(
                bot_store,
                self.store.messages,
                self.store.accounts,
                SignedPoster(settings.push_allowed_networks, settings.push_request_timeout_s),
            ),
        )
        self.committer = GroupCommitter(
            self._append_counted, settings.commit_batch, self._observe_commit, self.tracer
        )
        jwt_secret = resolve_jwt_secret(settings)
        self.login_cache = LoginCache(settings.auth_cache_s)
        tokens = TokenService(jwt_secret, settings.access_token_ttl_s)
        passwords = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib)
        permissions = PostingCache(settings.permission_cache_s)
        file_store = FileStore(self.store.db)
        accounts = AccountService(
            self.store,
            tokens,
            passwords,
            self.broker,
            settings.refresh_token_ttl_s,
            permissions,
            avatar_files=file_store,
            login_cache=self.login_cache,
        )
        social = SocialService(self.store, self.broker, permissions)
        files = FileService(
            file_store,
            LocalBlobStore(settings.data_dir / "files"),
            UrlSigner(jwt_secret),
            FileLimits(
                max_upload_bytes=settings.max_upload_bytes,
                thumbnail_px=settings.thumbnail_px,
                url_ttl_s=settings.file_url_ttl_s,
                unreferenced_ttl_s=settings.unreferenced_file_ttl_s,
                gc_interval_s=settings.file_gc_interval_s,
                quota_bytes=settings.upload_quota_bytes,
                max_pending=settings.max_pending_uploads,
                pending_ttl_s=settings.pending_upload_ttl_s,
            ),
            ImageDecoder(settings.image_workers, settings.max_image_pixels, settings.thumbnail_px),
            KeyedLimiter(settings.upload_rate_per_min),
        )
        access = ConversationAccess(self.store, social, permissions, clock)
        audit = AuditLog(self.store.audit, clock)
        paging = Paging(settings.default_page, settings.max_page)
        typing = TypingService(
            self.store, self.broker, access, settings.typing_throttle_s, settings.typing_expire_s
        )
        messaging = MessagingService(
            self.store,
            self.broker,
            self.committer,
            BodyLimits(settings.max_text_chars, settings.max_body_bytes),
            paging,
            access,
            typing,
            settings.recall_window_s,
            MarkLimits(
                settings.max_reactions_per_message,
                settings.reaction_max_chars,
                settings.max_pins_per_conversation,
            ),
            files.check_attachment,
            KeyedLimiter(settings.user_send_rate_per_s * 60, burst=settings.user_send_burst),
            clock,
            files.check_forwarded,
            audit,
        )
        retention = RetentionService(
            self.store,
            access,
            RetentionLimits(
                default_days=settings.retention_days,
                max_days=settings.retention_max_days,
                interval_s=settings.retention_interval_s,
                batch=settings.retention_batch,
            ),
            clock,
            files.release,
        )
        receipts = ReceiptService(
            self.store,
            self.broker,
            access,
            settings.receipt_push_max_members,
            settings.receipt_detail_max_members,
        )
        presence_service = PresenceService(
            self.store, self.broker, self.presence, settings.presence_debounce_s
        )
        groups = GroupService(
            self.store,
            self.broker,
            presence_service,
            GroupLimits(settings.max_group_members, settings.max_channel_members),
            permissions,
            file_store,
            clock,
            audit,
        )
        lifecycle = LifecycleStore(self.store.db)
        self.services = Services(
            settings=settings,
            store=self.store,
            broker=self.broker,
            metrics=self.metrics,
            accounts=accounts,
            conversations=ConversationService(
                self.store, access, social, paging, clock, self.broker
            ),
            messaging=messaging,
            typing=typing,
            groups=groups,
            receipts=receipts,
            social=social,
            online=self.presence,
            presence=presence_service,
            auth_by_ip=KeyedLimiter(settings.auth_rate_per_min),
            login_guard=LoginGuard(settings.auth_rate_per_min, settings.login_failures_per_min),
            files=files,
            search=SearchService(
                self.store,
                lambda conv_id, user_id: access.member(conv_id, user_id, readable=True),
                SearchLimits(
                    max_query_chars=settings.search_max_query_chars,
                    default_results=settings.search_default_results,
                    max_results=settings.search_max_results,
                    short_scan_rows=settings.search_short_scan_rows,
                ),
            ),
            push=self.push,
            retention=retention,
            bots=BotService(
                bot_store,
                accounts,
                messaging,
                access,
                settings.push_allowed_networks,
                KeyedLimiter(settings.hook_rate_per_min),
                settings.max_hooks_per_conversation,
            ),
            admin=AdminService(
                AdminDeps(
                    self.store,
                    accounts,
                    groups,
                    self.committer,
                    self.broker,
                    self.presence,
                    audit,
                    paging,
                    clock,
                )
            ),
            deletion=AccountDeletion(
                self.store,
                lifecycle,
                groups,
                files.delete,
                self.broker,
                passwords,
                permissions,
                settings.account_deletion,
                clock,
            ),
            export=DataExport(
                self.store,
                lifecycle,
                files.stored,
                ExportLimits(settings.export_max_bytes, settings.export_interval_s),
                clock,
            ),
        )
        self.gateway = Gateway(
            node_id=self.node_id,
            accounts=accounts,
            messaging=messaging,
            typing=typing,
            receipts=receipts,
            presence=self.services.presence,
            hub=self.hub,
            metrics=self.metrics,
            limits=MachineLimits(
                auth_timeout_s=settings.auth_timeout_s,
                heartbeat_s=settings.heartbeat_s,
                send_rate_per_s=settings.send_rate_per_s,
                send_burst=settings.send_burst,
                frame_rate_per_s=max(50.0, settings.send_rate_per_s * 5),
                frame_burst=max(100, settings.send_burst * 5),
                violations_before_close=settings.rate_violations_before_close,
            ),
            send_queue_bytes=settings.send_queue_bytes,
            pipeline_depth=settings.pipeline_depth,
            tracer=self.tracer,
        )
        self.websocket = WebSocketGateway(
            self.gateway,
            settings.max_frame_bytes,
            self.listener,
            Compression(settings.ws_compression, settings.ws_compression_min_bytes),
        )
        self.guests = GuestService(self.store, self.broker, groups, settings.guest_ttl_s)
        self.line = self._build_line_mode() if settings.line_port is not None else None
        self.line_port: int | None = None
        self.tcp = TcpGateway(self.gateway, self.listener, settings.max_frame_bytes)
        self._runner: web.AppRunner | None = None
        self._site: web.BaseSite | None = None
        self._metrics_listener: MetricsListener | None = None
        self.port: int | None = None

    def _build_line_mode(self) -> LineListener:
        """The telnet/netcat listener (docs/protocol.md, "Line mode"), on the same services,
        machine rules and hub as every other transport."""
        settings, services = self.settings, self.services
        return LineListener(
            node_id=self.node_id,
            services=LineServices(
                accounts=services.accounts,
                guests=self.guests,
                groups=services.groups,
                conversations=services.conversations,
                messaging=services.messaging,
                login_guard=services.login_guard,
                auth_by_ip=services.auth_by_ip,
                names=NickCache(self.store.accounts),
                allow_guests=settings.allow_guests,
            ),
            hub=self.hub,
            listener=self.listener,
            presence=services.presence,
            receipts=services.receipts,
            messaging=services.messaging,
            typing=services.typing,
            guests=self.guests,
            metrics=self.metrics,
            # A person signs in and falls silent at human pace: its own deadline and
            # silence rule (two "heartbeats" make line_idle_timeout_s), the same budgets.
            machine_limits=dataclasses.replace(
                self.gateway.limits,
                auth_timeout_s=settings.line_login_timeout_s,
                heartbeat_s=settings.line_idle_timeout_s / 2,
            ),
            limits=LineLimits(
                max_line_bytes=settings.line_max_bytes,
                send_queue_bytes=settings.send_queue_bytes,
            ),
        )

    def _observe_commit(self, batch: int, seconds: float) -> None:
        self.metrics.observe_commit(batch, seconds)

    async def _append_counted(self, batch: Sequence[NewMessage]) -> list[AppendOutcome]:
        """The store's append, counting only messages stored now: a retry answered with
        its original, or a rejected send, is not a stored message."""
        outcomes = await self.store.messages.append(batch)
        stored = sum(1 for o in outcomes if isinstance(o, Appended) and not o.duplicate)
        self.metrics.messages_stored.inc(stored)
        self.push.committed(
            {o.message.conv_id for o in outcomes if isinstance(o, Appended) and not o.duplicate}
        )
        return outcomes

    async def start_core(self) -> None:
        """Migrate and start the background work of the services, without listening:
        enough to call ``services`` in process (tests/corekit.py does)."""
        if self.migrate:
            await self.store.upgrade()
        await self.services.groups.ensure_lobby()
        if self.settings.redis_url:
            mode = RedisMode.CLUSTER if self.settings.redis_cluster else RedisMode.SINGLE
            await require_mode(self.settings.redis_url, mode)
        await self.broker.start()
        await self.presence.start()
        self.broker.subscribe(self.hub.on_event)
        self.broker.subscribe(self.login_cache.on_event)
        self.committer.start()
        self.push.start()
        self.loop_lag.start()
        self.hub.start()
        self.services.files.start()
        self.services.retention.start()
        self.guests.start()
        # A deletion a crash interrupted is finished now (core/lifecycle.py).
        await self.services.deletion.resume_unfinished()

    async def start(self) -> int:
        """Migrate, start background work, listen. Returns the bound port."""
        await self.start_core()
        http_app = build_http_app(
            api=create_api(self.services),
            websocket=self.websocket.handle,
            database=self.store.db,
            metrics=self.metrics,
            node_id=self.node_id,
            max_request_bytes=self.settings.max_request_bytes,
            file_routes=FileHandlers(
                self.services.files, self.services.accounts.authenticate, self.settings.public_url
            ).routes(),
            ops_routes=await self._start_metrics(),
            tracer=self.tracer,
        )
        self._runner = web.AppRunner(
            http_app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=self.settings.shutdown_grace_s,
            keepalive_timeout=self.settings.keepalive_timeout_s,
        )
        await self._runner.setup()
        self._site = GuardedSite(
            self._runner,
            self.listener,
            self.settings.host,
            self.settings.port,
            backlog=self.settings.listen_backlog,
            ssl_context=self.tls_context,
            reuse_port=self.reuse_port,
        )
        await self._site.start()
        self.port = int(self._runner.addresses[0][1])
        if self.line is not None and self.settings.line_port is not None:
            self.line_port = await self.line.start(
                self.settings.host,
                self.settings.line_port,
                self.settings.listen_backlog,
                reuse_port=self.reuse_port,
            )
        tcp_port = await self._start_tcp()
        log.info(
            "listening",
            extra={
                "host": self.settings.host,
                "port": self.port,
                "line_port": self.line_port,
                "tcp_port": tcp_port,
                "tls": self.tls_context is not None,
                "node_id": self.node_id,
            },
        )
        return self.port

    async def _start_tcp(self) -> int | None:
        """The raw TCP listener, when ``tcp_port`` is set; its bound port."""
        settings = self.settings
        if settings.tcp_port is None:
            return None
        try:
            return await self.tcp.start(
                settings.host,
                settings.tcp_port,
                backlog=settings.listen_backlog,
                ssl_context=self.tls_context,
                reuse_port=self.reuse_port,
            )
        except OSError as exc:
            raise ListenFailed("tcp_port", f"{settings.host}:{settings.tcp_port}", exc) from exc

    async def _start_metrics(self) -> Sequence[web.RouteDef]:
        """/metrics and /debug/profile for the main port, or none when a separate port
        serves them."""
        settings = self.settings
        routes = ops_routes(
            self.metrics,
            self.profiler,
            token=settings.metrics_token,
            local_only=settings.metrics_port is None,
        )
        if settings.metrics_port is None:
            return routes
        self._metrics_listener = MetricsListener(
            routes, settings.metrics_host, settings.metrics_port
        )
        await self._metrics_listener.start()
        return ()

    async def stop(self) -> None:
        """Graceful shutdown: stop accepting, commit what is queued, close sockets with 1012."""
        log.info("shutting down")
        self.gateway.accepting = False
        self.tcp.stop_accepting()
        if self._site is not None:
            await self._site.stop()
        await self.committer.close()
        await self.push.close()  # undelivered notifications stay in the outbox
        # Sends committed just now still owe their acks: let them be queued, then written.
        await self.gateway.quiesce(timeout_s=2.0)
        if self.line is not None:
            await self.line.stop(CloseCode.SERVICE_RESTART, "server restarting")
        await self.hub.close_all(CloseCode.SERVICE_RESTART, "server restarting", drain_s=2.0)
        await self.tcp.close(timeout_s=self.settings.shutdown_grace_s)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._metrics_listener is not None:
            await self._metrics_listener.stop()
        self.services.typing.close()
        await self.guests.close()
        await self.services.retention.close()
        await self.services.files.close()
        await self.services.presence.close()
        await self.presence.close()
        await self.broker.close()
        await self.store.close()
        await self.loop_lag.close()
        # Blocking, bounded by the exporter's timeout: the last spans leave before exit.
        await asyncio.to_thread(self.tracer.shutdown)
        log.info("stopped")

    async def serve_forever(self) -> None:
        """Run until SIGTERM or SIGINT, then shut down gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
