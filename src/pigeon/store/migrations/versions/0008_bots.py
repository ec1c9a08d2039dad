"""Bots and integrations: the ``bot`` mark on users, bot tokens, bots' outgoing
webhooks and incoming webhooks of conversations.

Only hashes of bot tokens and incoming-webhook secrets are stored. The outgoing
webhook's signing secret is kept as is: signing needs the key itself.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("bot", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "bot_tokens",
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "bot_webhooks",
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.String(80), nullable=False),
        sa.Column("events", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "incoming_hooks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("conv_id", sa.String(32), nullable=False),
        sa.Column("creator_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("disabled_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_incoming_hooks_conv", "incoming_hooks", ["conv_id"])


def downgrade() -> None:
    op.drop_index("ix_incoming_hooks_conv", "incoming_hooks")
    op.drop_table("incoming_hooks")
    op.drop_table("bot_webhooks")
    op.drop_table("bot_tokens")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("bot")
