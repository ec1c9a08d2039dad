"""One typed settings object: defaults → environment ``PIGEON_*`` → CLI flags.

CLI flags are passed to ``Settings(**overrides)``; pydantic-settings gives init
arguments precedence over the environment, which gives that order.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pigeon.protocol.lifecycle import AccountDeletionMode

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAX_WORKERS = 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PIGEON_", extra="ignore", frozen=True)

    # --- serving
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str | None = Field(
        None, description="externally visible base URL (e.g. behind a proxy); derives ws_url"
    )
    data_dir: Path = Path("./pigeon-data")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file in data_dir"
    )
    redis_url: str | None = None
    redis_cluster: bool = Field(
        False,
        description="redis_url is a node of a Redis Cluster (or Valkey in cluster mode): "
        "hash-tagged keys and sharded pub/sub",
    )
    redis_prefix: str = Field(
        "pigeon", min_length=1, description="key and channel prefix; clusters may share a Redis"
    )
    presence_ttl_s: float = Field(
        30.0,
        ge=1.0,
        description="with Redis: a crashed node's users go offline within this; heartbeat every third",
    )
    node_id: str | None = None
    log_level: str = "INFO"
    trusted_proxies: str = Field(
        "", description="comma-separated IPs/CIDRs allowed to set X-Forwarded-For"
    )
    tcp_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="also serve the raw TCP protocol (length-prefixed Protobuf) on this port "
        "(0 picks one); off when unset",
    )
    tls_cert: Path | None = Field(
        None, description="PEM certificate chain: serve HTTP and TCP over TLS (with tls_key)"
    )
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert")
    shutdown_grace_s: float = Field(10.0, gt=0)
    workers: int | Literal["auto"] = Field(
        1,
        description="processes serving the same ports (SO_REUSEPORT), each a node of its own; "
        "auto: one per usable core; above 1 needs PostgreSQL and Redis",
    )
    listen_backlog: int = Field(4096, ge=16, description="pending TCP connections (connect storms)")

    # --- connections (docs/operations.md, Security: Connections and sockets)
    header_timeout_s: float = Field(
        10.0, gt=0, description="a request line and headers must arrive within this"
    )
    keepalive_timeout_s: float = Field(
        75.0, gt=0, description="an idle kept-alive HTTP connection is closed after this"
    )
    max_connections: int | None = Field(
        None, ge=1, description="open sockets in total; default: the fd limit minus fd_reserve"
    )
    fd_reserve: int = Field(
        128, ge=0, description="file descriptors kept free for the database, files and logs"
    )
    max_connections_per_ip: int = Field(
        1024, ge=1, description="open sockets per client address (trusted proxies exempt)"
    )
    max_pending_per_ip: int = Field(
        64,
        ge=1,
        description="sockets per address with a request in progress or a WebSocket before auth",
    )
    max_sockets_per_user: int = Field(
        16, ge=1, description="live WebSockets per user; one more closes the oldest with 4011"
    )
    metrics_host: str = Field("127.0.0.1", description="interface of the metrics listener")
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="serve /metrics only on this port (0 picks one), not on the main one",
    )
    metrics_token: str | None = Field(
        None,
        min_length=16,
        description="bearer token /metrics and /debug/profile require, from any address",
    )
    tracing_endpoint: str | None = Field(
        None,
        pattern=r"^https?://",
        description="OTLP/HTTP traces URL (e.g. http://collector:4318/v1/traces): "
        "tracing is on when set; needs the `tracing` extra",
    )
    tracing_sample_ratio: float = Field(
        1.0, ge=0.0, le=1.0, description="share of new traces recorded when tracing is on"
    )

    # --- line mode: chat over telnet/netcat (docs/protocol.md, "Line mode")
    line_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="line-mode chat for telnet/netcat on this port (0 picks one); off when unset",
    )
    allow_guests: bool = Field(
        False, description="line mode: a nickname alone signs in, as a guest account"
    )
    guest_ttl_s: int = Field(
        600,
        ge=1,
        description="a departed guest's nickname stays taken this long, then the guest is retired",
    )
    line_max_bytes: int = Field(
        4096,
        ge=64,
        le=65536,
        description="longest line-mode input line in bytes, line ending excluded (→ 40040)",
    )
    line_login_timeout_s: float = Field(
        300.0, gt=0, description="time a line connection has to pick a nickname or /login"
    )
    line_idle_timeout_s: float = Field(
        3600.0, gt=0, description="a line connection that sends nothing this long is closed"
    )

    # --- auth
    jwt_secret: str | None = Field(None, min_length=32, repr=False)  # repr=False: never echoed
    jwt_secret_file: Path | None = None
    access_token_ttl_s: int = Field(900, ge=10)
    refresh_token_ttl_s: int = Field(30 * 24 * 3600, ge=60)
    argon2_time_cost: int = Field(2, ge=1)
    argon2_memory_kib: int = Field(19 * 1024, ge=8)
    auth_rate_per_min: int = Field(
        30, ge=1, description="login/register attempts per IP and per (username, IP)"
    )
    login_failures_per_min: int = Field(
        10,
        ge=1,
        description="failed logins per username from addresses that never signed in to it",
    )

    # --- gateway
    heartbeat_s: int = Field(25, ge=1)
    revocation_check_s: float = Field(
        30.0, gt=0, description="how often live sockets are checked against revoked logins"
    )
    auth_cache_s: float = Field(
        5.0,
        ge=0,
        description="how long a login found good is trusted on socket connects without "
        "reading the database again (revocations clear it by kick); 0 turns it off",
    )
    typing_throttle_s: float = Field(3.0, ge=0, description="least time between relayed typing-on")
    typing_expire_s: float = Field(6.0, gt=0, description="quiet time after which typing ends")
    presence_debounce_s: float = Field(
        5.0, ge=0, description="absence before 'offline' is announced"
    )
    auth_timeout_s: float = Field(10.0, gt=0)
    max_frame_bytes: int = Field(64 * 1024, ge=256)
    ws_compression: bool = Field(
        False,
        description="accept permessage-deflate when a WebSocket client offers it; off by "
        "default: each compressing socket costs an inflate window once it sends compressed "
        "messages, and each push costs a deflate per encoding",
    )
    ws_compression_min_bytes: int = Field(
        64, ge=0, description="server messages shorter than this go uncompressed"
    )
    send_queue_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        description="bytes a client may leave unread before it is closed as too slow (4009)",
    )
    pipeline_depth: int = Field(
        32,
        ge=1,
        description="commands of one connection answered or in flight before reading it "
        "pauses (sends overlap; replies keep arrival order)",
    )
    send_rate_per_s: float = Field(20.0, gt=0)
    send_burst: int = Field(40, ge=1)
    rate_violations_before_close: int = Field(20, ge=1)
    user_send_rate_per_s: float = Field(
        40.0, gt=0, description="sends per user across all sockets and REST, on one node"
    )
    user_send_burst: int = Field(80, ge=1, description="burst of the per-user send budget")

    # --- messages
    max_text_chars: int = Field(4000, ge=1)
    max_body_bytes: int = Field(16 * 1024, ge=64)
    max_page: int = Field(200, ge=1, description="largest page a list/pull returns")
    default_page: int = Field(50, ge=1)
    commit_batch: int = Field(512, ge=1, description="most messages committed in one transaction")
    recall_window_s: int = Field(120, ge=0)
    max_reactions_per_message: int = Field(
        20, ge=1, le=1000, description="different emojis one message may carry"
    )
    reaction_max_chars: int = Field(
        16, ge=1, le=64, description="longest reaction emoji, in code points (ZWJ sequences)"
    )
    max_pins_per_conversation: int = Field(
        50, ge=1, le=1000, description="messages one conversation may have pinned at once"
    )
    permission_cache_s: float = Field(
        2.0, ge=0, description="how long another node's membership/block change may lag for sends"
    )
    receipt_push_max_members: int = Field(
        100, ge=2, description="largest group whose senders get receipt pushes"
    )
    receipt_detail_max_members: int = Field(
        100, ge=2, description="largest group whose receipts endpoint names the readers"
    )

    # --- limits of later features, published in /api/v1/config
    max_upload_bytes: int = Field(25 * 1024 * 1024, ge=1)
    max_group_members: int = Field(5000, ge=2)
    max_channel_members: int = Field(1_000_000, ge=2)
    max_request_bytes: int = Field(1024 * 1024, ge=1024, description="largest REST JSON body")
    user_search_min_chars: int = Field(
        2, ge=1, le=64, description="shortest user search query, in characters (→ 40032)"
    )
    user_search_max_results: int = Field(
        20, ge=1, le=100, description="most users one search returns"
    )
    search_max_query_chars: int = Field(
        100, ge=1, le=1000, description="longest message search query, in characters (→ 40051)"
    )
    search_default_results: int = Field(
        20, ge=1, description="message search results per page when limit is not given"
    )
    search_max_results: int = Field(
        50, ge=1, le=200, description="most message search results one page returns"
    )
    search_short_scan_rows: int = Field(
        20_000,
        ge=100,
        description="1-2 character searches scan this many of the caller's newest messages "
        "per page (no trigram index applies)",
    )

    # --- retention (docs/operations.md, "Message retention")
    retention_days: int = Field(
        0,
        ge=0,
        le=36500,
        description="days messages are kept, then removed with the files only they showed; "
        "0 keeps them forever; groups and channels may override",
    )
    retention_max_days: int = Field(
        36500, ge=1, le=36500, description="longest retention a group or channel may set"
    )
    retention_interval_s: float = Field(
        3600.0, gt=0, description="how often the retention job looks for expired messages"
    )
    retention_batch: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="most messages one transaction of the retention job removes, and one "
        "run in total",
    )

    # --- files (docs/files.md)
    max_image_pixels: int = Field(
        16_000_000,
        ge=1,
        le=89_478_485,
        description="most pixels decoded for a thumbnail (after JPEG draft scaling); "
        "larger images are plain attachments",
    )
    image_workers: int = Field(
        1, ge=1, le=16, description="processes decoding images at once (each is recycled)"
    )
    upload_rate_per_min: int = Field(30, ge=1, description="uploads a user may start per minute")
    upload_quota_bytes: int = Field(
        1024 * 1024 * 1024,
        ge=1,
        description="bytes a user may keep stored, unfinished uploads counted at their length",
    )
    max_pending_uploads: int = Field(
        10, ge=1, description="unfinished tus uploads a user may have at once"
    )
    pending_upload_ttl_s: int = Field(
        3600, ge=1, description="an unfinished upload untouched this long is deleted"
    )
    thumbnail_px: int = Field(320, ge=16, le=2048, description="longest side of a thumbnail")
    file_url_ttl_s: int = Field(3600, ge=1, description="lifetime of a signed file URL")
    unreferenced_file_ttl_s: int = Field(
        24 * 3600, ge=1, description="uploads no message references are deleted after this"
    )
    file_gc_interval_s: float = Field(
        600.0, gt=0, description="how often unreferenced files are collected"
    )

    # --- offline push (docs/push.md)
    push_enabled: bool = Field(
        True, description="notify users with no live connection (webhook and Web Push)"
    )
    push_first_delay_s: float = Field(
        2.0,
        ge=0,
        description="wait before a new notification's first attempt; messages arriving "
        "meanwhile collapse into it",
    )
    push_max_attempts: int = Field(
        8, ge=1, le=100, description="attempts before a notification is dead-lettered"
    )
    push_retry_base_s: float = Field(
        2.0, gt=0, description="first retry delay; doubled per attempt up to push_retry_max_s"
    )
    push_retry_max_s: float = Field(600.0, gt=0, description="longest delay between attempts")
    push_lease_s: float = Field(
        60.0,
        gt=0,
        description="a claimed notification is someone else's to retry after this (a node died)",
    )
    push_poll_s: float = Field(
        1.0, gt=0, description="how often due notifications are looked for without a wake-up"
    )
    push_scan_s: float = Field(
        30.0,
        gt=0,
        description="how often every conversation is checked for messages no node planned "
        "notifications for (a node died between commit and planning)",
    )
    push_batch: int = Field(200, ge=1, le=5000, description="notifications claimed at once")
    push_preview: bool = Field(
        True, description="message text in notification payloads; off: never, whatever users ask"
    )
    push_webhook_url: str | None = Field(
        None, description="POST every notification here (the operator's app server)"
    )
    push_webhook_secret: str | None = Field(
        None,
        min_length=32,
        repr=False,
        description="HMAC-SHA256 key of the webhook's signature; required with the URL",
    )
    push_allow_private: str = Field(
        "",
        description="comma-separated IPs/CIDRs the webhook and Web Push endpoints may "
        "resolve to although they are private, loopback or link-local",
    )
    push_request_timeout_s: float = Field(
        10.0, gt=0, description="one webhook or Web Push request, in total"
    )
    push_vapid_subject: str | None = Field(
        None,
        description="VAPID contact (mailto: or https:); default: public_url, else a "
        "mailto: at localhost",
    )

    # --- bots and integrations (docs/bots.md)
    hook_rate_per_min: float = Field(
        30.0,
        gt=0,
        description="posts per minute one incoming webhook may make (the burst is as many); "
        "kept per node",
    )
    hook_max_body_bytes: int = Field(
        16384, ge=64, le=1_048_576, description="largest request body an incoming webhook takes"
    )
    max_hooks_per_conversation: int = Field(
        20, ge=1, le=1000, description="incoming webhooks one conversation may have"
    )

    # --- account lifecycle: deletion and data export (docs/operations.md)
    account_deletion: AccountDeletionMode = Field(
        AccountDeletionMode.KEEP,
        description="what a deleted account's messages become: keep (shown as from a "
        "deleted user) or remove (recalled everywhere, their files deleted)",
    )
    export_max_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        description="largest data export, counted as the bytes of its entries before "
        "compression; a bigger one is refused (40090)",
    )
    export_interval_s: float = Field(
        600.0,
        ge=0,
        description="a user may export their data once per this many seconds (42920); "
        "kept per node",
    )

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator("workers", mode="before")
    @classmethod
    def _check_workers(cls, value: Any) -> Any:
        # One message for every wrong value, rather than one per member of the union.
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        try:
            count = int(value)
        except (TypeError, ValueError):
            count = 0
        if isinstance(value, bool) or not 1 <= count <= MAX_WORKERS:
            raise ValueError(f"must be auto or a number from 1 to {MAX_WORKERS}")
        return count

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            ipaddress.ip_network(part, strict=False)
        return value

    @field_validator("push_allow_private")
    @classmethod
    def _check_allow_private(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            ipaddress.ip_network(part, strict=False)
        return value

    @field_validator("push_webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _check_webhook_secret(self) -> Settings:
        if self.push_webhook_url and not self.push_webhook_secret:
            raise ValueError("push_webhook_url needs push_webhook_secret (32+ characters)")
        return self

    @model_validator(mode="after")
    def _check_tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        return self

    @property
    def worker_count(self) -> int:
        """``workers`` as a number: ``auto`` is the cores this process may run on."""
        if self.workers == "auto":
            return max(1, len(os.sched_getaffinity(0)))
        return self.workers

    @property
    def tls(self) -> bool:
        """Whether the listeners speak TLS."""
        return self.tls_cert is not None

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        parts = filter(None, (p.strip() for p in self.trusted_proxies.split(",")))
        return tuple(ipaddress.ip_network(p, strict=False) for p in parts)

    @property
    def push_allowed_networks(self) -> tuple[IPNetwork, ...]:
        parts = filter(None, (p.strip() for p in self.push_allow_private.split(",")))
        return tuple(ipaddress.ip_network(p, strict=False) for p in parts)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'pigeon.db').resolve()}"

    def public_limits(self) -> dict[str, Any]:
        return {
            "max_frame_bytes": self.max_frame_bytes,
            "max_text_chars": self.max_text_chars,
            "max_body_bytes": self.max_body_bytes,
            "max_upload_bytes": self.max_upload_bytes,
            "max_image_pixels": self.max_image_pixels,
            "upload_rate_per_min": self.upload_rate_per_min,
            "upload_quota_bytes": self.upload_quota_bytes,
            "max_pending_uploads": self.max_pending_uploads,
            "user_send_rate_per_s": self.user_send_rate_per_s,
            "user_send_burst": self.user_send_burst,
            "max_group_members": self.max_group_members,
            "max_channel_members": self.max_channel_members,
            "recall_window_s": self.recall_window_s,
            "max_reactions_per_message": self.max_reactions_per_message,
            "reaction_max_chars": self.reaction_max_chars,
            "max_pins_per_conversation": self.max_pins_per_conversation,
            "send_rate_per_s": self.send_rate_per_s,
            "send_burst": self.send_burst,
            "max_page": self.max_page,
            "heartbeat_s": self.heartbeat_s,
            "user_search_min_chars": self.user_search_min_chars,
            "user_search_max_results": self.user_search_max_results,
            "search_max_query_chars": self.search_max_query_chars,
            "search_max_results": self.search_max_results,
            "max_sockets_per_user": self.max_sockets_per_user,
            "retention_days": self.retention_days,
            "retention_max_days": self.retention_max_days,
        }
