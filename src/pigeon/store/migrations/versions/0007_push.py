"""Offline push: per-conversation planning cursors, the notification outbox,
preferences and Web Push subscriptions.

Existing conversations get a cursor at their newest message: upgrading a server
must not notify anyone about history.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_cursors",
        sa.Column("conv_id", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO push_cursors (conv_id, seq) SELECT id, last_seq FROM conversations")
    op.create_table(
        "push_jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("conv_id", sa.String(32), nullable=False),
        sa.Column("target", sa.String(40), nullable=False),
        sa.Column("first_seq", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("mention", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("due_at", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index("ix_push_jobs_due", "push_jobs", ["state", "due_at"])
    op.create_index("ix_push_jobs_collapse", "push_jobs", ["conv_id", "user_id", "state"])
    op.create_table(
        "push_prefs",
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("preview", sa.Boolean, nullable=False),
        sa.Column("dnd_start", sa.Integer, nullable=True),
        sa.Column("dnd_end", sa.Integer, nullable=True),
        sa.Column("time_zone", sa.String(64), nullable=False),
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("endpoint", sa.Text, nullable=False, unique=True),
        sa.Column("p256dh", sa.Text, nullable=False),
        sa.Column("auth", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_push_subscriptions_user_id", "push_subscriptions", ["user_id"])


def downgrade() -> None:
    op.drop_table("push_subscriptions")
    op.drop_table("push_prefs")
    op.drop_table("push_jobs")
    op.drop_table("push_cursors")
