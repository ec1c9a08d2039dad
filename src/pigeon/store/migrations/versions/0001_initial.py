"""Initial schema: users, logins, conversations, members, messages, counters.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id(name: str, **kw: object) -> sa.Column[str]:
    return sa.Column(name, sa.String(32), **kw)  # type: ignore[arg-type]


def _ms(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        _id("id", primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("avatar", sa.Text, nullable=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("dm_policy", sa.String(16), nullable=False, server_default="anyone"),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        _ms("created_at"),
    )
    op.create_table(
        "logins",
        _id("id", primary_key=True),
        _id("user_id", nullable=False, index=True),
        sa.Column("device", sa.String(64), nullable=False),
        _ms("created_at"),
        _ms("last_seen"),
        _ms("expires_at"),
        _ms("revoked_at", nullable=True),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        _id("login_id", nullable=False, index=True),
        _ms("created_at"),
        _ms("expires_at"),
        _ms("spent_at", nullable=True),
    )
    op.create_table(
        "conversations",
        _id("id", primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(128), nullable=True),
        sa.Column("avatar", sa.Text, nullable=True),
        sa.Column("pair_key", sa.String(80), nullable=True, unique=True),
        _id("owner_id", nullable=True),
        _ms("created_at"),
        sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
        _ms("last_ts"),
        sa.Column("change_id", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "members",
        _id("conv_id", primary_key=True),
        _id("user_id", primary_key=True),
        sa.Column("role", sa.String(16), nullable=False, server_default="member"),
        sa.Column("state", sa.String(16), nullable=False, server_default="active"),
        _ms("joined_at"),
        sa.Column("join_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("read_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("recv_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("muted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.false()),
        _ms("muted_until", nullable=True),
        sa.Column("change_id", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_index("ix_members_user", "members", ["user_id", "state"])
    op.create_table(
        "messages",
        _id("conv_id", primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        _id("id", nullable=False, unique=True),
        _id("sender_id", nullable=False),
        sa.Column("cid", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        _ms("ts"),
        sa.Column("reply_to", sa.BigInteger, nullable=True),
        sa.Column("mentions", sa.Text, nullable=True),
        _ms("edited_at", nullable=True),
        sa.Column("recalled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("sender_id", "cid", name="uq_messages_sender_cid"),
    )
    counters = op.create_table(
        "counters",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(counters, [{"name": "change", "value": 0}])


def downgrade() -> None:
    for table in ("counters", "messages", "members", "conversations", "refresh_tokens"):
        op.drop_table(table)
    op.drop_table("logins")
    op.drop_table("users")
