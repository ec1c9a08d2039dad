"""Table definitions used to build queries (migrations live in ``migrations/``)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(128), nullable=False),
    Column("avatar", Text, nullable=True),
    Column("password_hash", Text, nullable=False),
    Column("dm_policy", String(16), nullable=False, server_default="anyone"),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=True),
    # Set only for guest accounts (line mode): when the guest is retired unless renewed.
    Column("guest_expires_at", BigInteger, nullable=True, index=True),
    # A bot account (bots/): signs in with a bot token, never a password.
    Column("bot", Boolean, nullable=False, server_default="0"),
    # A server admin (core/admin.py): may use /api/v1/admin. Granted from the CLI only.
    Column("admin", Boolean, nullable=False, server_default="0"),
    # Account deletion (core/lifecycle.py): when it began, and while it is unfinished
    # the mode it runs in (keep/remove); NULL again once every step is done.
    Column("deleted_at", BigInteger, nullable=True),
    Column("deletion", String(16), nullable=True),
)

logins = Table(
    "logins",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(32), nullable=False, index=True),
    Column("device", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("login_id", String(32), nullable=False, index=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("spent_at", BigInteger, nullable=True),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("title", String(128), nullable=True),
    Column("avatar", Text, nullable=True),
    Column("pair_key", String(80), nullable=True, unique=True),
    Column("owner_id", String(32), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False, server_default="0"),
    Column("last_ts", BigInteger, nullable=False),
    Column("change_id", BigInteger, nullable=False, server_default="0"),
    Column("announcement", Text, nullable=True),
    Column("visibility", String(16), nullable=False, server_default="private"),
    Column("member_count", BigInteger, nullable=False, server_default="0"),
    Column("dissolved_at", BigInteger, nullable=True),
    # Retention (core/retention.py): days to keep messages, NULL = the server's setting,
    # 0 = forever; every message with seq <= pruned_seq was removed as expired.
    Column("retention_days", Integer, nullable=True),
    Column("pruned_seq", BigInteger, nullable=False, server_default="0"),
)

members = Table(
    "members",
    metadata,
    Column("conv_id", String(32), primary_key=True),
    Column("user_id", String(32), primary_key=True),
    Column("role", String(16), nullable=False, server_default="member"),
    Column("state", String(16), nullable=False, server_default="active"),
    Column("joined_at", BigInteger, nullable=False),
    Column("join_seq", BigInteger, nullable=False, server_default="0"),
    Column("read_seq", BigInteger, nullable=False, server_default="0"),
    Column("recv_seq", BigInteger, nullable=False, server_default="0"),
    Column("muted", Boolean, nullable=False, server_default="0"),
    Column("pinned", Boolean, nullable=False, server_default="0"),
    Column("muted_until", BigInteger, nullable=True),
    Column("change_id", BigInteger, nullable=False, server_default="0"),
    Column("left_seq", BigInteger, nullable=True),
    Index("ix_members_user", "user_id", "state"),
)

messages = Table(
    "messages",
    metadata,
    Column("conv_id", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("sender_id", String(32), nullable=False),
    Column("cid", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("reply_to", BigInteger, nullable=True),
    Column("mentions", Text, nullable=True),
    Column("edited_at", BigInteger, nullable=True),
    Column("recalled", Boolean, nullable=False, server_default="0"),
    # A forwarded copy: the original's sender and time (never its conversation).
    Column("fwd_from", String(32), nullable=True),
    Column("fwd_ts", BigInteger, nullable=True),
    UniqueConstraint("sender_id", "cid", name="uq_messages_sender_cid"),
)

# The searchable text of each message (migration 0006, store/search.py). On SQLite an
# FTS5 table ``message_text_fts`` mirrors it through triggers; on PostgreSQL a
# pg_trgm GIN index covers ``text``. Neither is described here: queries reach the
# FTS5 table through ``search.py`` only.
message_text = Table(
    "message_text",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("conv_id", String(32), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("sender_id", String(32), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
    UniqueConstraint("conv_id", "seq", name="uq_message_text_conv_seq"),
    Index("ix_message_text_conv_id", "conv_id", "id"),
)

friendships = Table(
    "friendships",
    metadata,
    Column("user_id", String(32), primary_key=True),
    Column("friend_id", String(32), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)

friend_requests = Table(
    "friend_requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("from_id", String(32), nullable=False, index=True),
    Column("to_id", String(32), nullable=False, index=True),
    Column("note", String(256), nullable=True),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

blocks = Table(
    "blocks",
    metadata,
    Column("user_id", String(32), primary_key=True),
    Column("blocked_id", String(32), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# The one counter every sync cursor is drawn from; see SqlStore.next_change_id.
CHANGE_COUNTER = "change"

# --- files (files/, store/files.py)

files = Table(
    "files",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner_id", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("length", BigInteger, nullable=True),
    Column("name", String(255), nullable=False),
    Column("mime", String(128), nullable=True),
    Column("blob_key", String(96), nullable=True),
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    Column("animated", Boolean, nullable=False, server_default="0"),
    Column("thumb_key", String(96), nullable=True),
    Column("thumb_mime", String(64), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("touched_at", BigInteger, nullable=False),
    Index("ix_files_owner", "owner_id"),
    Index("ix_files_touched", "touched_at"),
    Index("ix_files_blob", "blob_key"),
    Index("ix_files_thumb", "thumb_key"),
)

file_refs = Table(
    "file_refs",
    metadata,
    Column("file_id", String(32), primary_key=True),
    Column("conv_id", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
)

# --- offline push (push/)

push_cursors = Table(
    "push_cursors",
    metadata,
    Column("conv_id", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

push_jobs = Table(
    "push_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(32), nullable=False),
    Column("conv_id", String(32), nullable=False),
    Column("target", String(40), nullable=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("mention", Boolean, nullable=False),
    Column("state", String(8), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("due_at", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_error", Text, nullable=True),
    Index("ix_push_jobs_due", "state", "due_at"),
    Index("ix_push_jobs_collapse", "conv_id", "user_id", "state"),
)

push_prefs = Table(
    "push_prefs",
    metadata,
    Column("user_id", String(32), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("preview", Boolean, nullable=False),
    Column("dnd_start", Integer, nullable=True),
    Column("dnd_end", Integer, nullable=True),
    Column("time_zone", String(64), nullable=False),
)

push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(32), nullable=False, index=True),
    Column("endpoint", Text, nullable=False, unique=True),
    Column("p256dh", Text, nullable=False),
    Column("auth", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# --- bots and webhooks (bots/)

bot_tokens = Table(
    "bot_tokens",
    metadata,
    Column("user_id", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

bot_webhooks = Table(
    "bot_webhooks",
    metadata,
    Column("user_id", String(32), primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", String(80), nullable=False),
    Column("events", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

incoming_hooks = Table(
    "incoming_hooks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("conv_id", String(32), nullable=False),
    Column("creator_id", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("disabled_at", BigInteger, nullable=True),
    Index("ix_incoming_hooks_conv", "conv_id"),
)

# --- administration (core/admin.py, migration 0012)

# Who may not join, be invited to or be added back to a group or channel.
group_bans = Table(
    "group_bans",
    metadata,
    Column("conv_id", String(32), primary_key=True),
    Column("user_id", String(32), primary_key=True),
    Column("actor_id", String(32), nullable=True),
    Column("reason", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

# Append-only: rows are inserted and read, never updated or deleted (store/audit.py).
audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("ts", BigInteger, nullable=False),
    Column("actor_id", String(32), nullable=True),  # None: the operator's command line
    Column("action", String(32), nullable=False),
    Column("target_user", String(32), nullable=True),
    Column("target_conv", String(32), nullable=True),
    Column("target_message", String(32), nullable=True),
    Column("detail", Text, nullable=False),
    Column("request_id", String(64), nullable=True),
    Index("ix_audit_log_actor", "actor_id", "id"),
    Index("ix_audit_log_action", "action", "id"),
)

# --- reactions and pins (store/marks.py). Both are kept by the stream entries that
# change them (``react``, ``pin``, ``unpin``), in the transaction that stores the entry.

reactions = Table(
    "reactions",
    metadata,
    Column("conv_id", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("emoji", String(64), primary_key=True),
    Column("user_id", String(32), primary_key=True),
    # The seq of the ``react`` entry that added it: orders emojis by first use.
    Column("entry_seq", BigInteger, nullable=False),
)

pins = Table(
    "pins",
    metadata,
    Column("conv_id", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("pinned_by", String(32), nullable=False),
    Column("pinned_at", BigInteger, nullable=False),
    # The seq of the ``pin`` entry: the list is newest pin first.
    Column("entry_seq", BigInteger, nullable=False),
)
