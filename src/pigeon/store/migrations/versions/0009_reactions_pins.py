"""Reactions and pinned messages: who reacted with which emoji to which message, and
which messages of a conversation are pinned.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reactions",
        sa.Column("conv_id", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("emoji", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("entry_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "pins",
        sa.Column("conv_id", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("pinned_by", sa.String(32), nullable=False),
        sa.Column("pinned_at", sa.BigInteger, nullable=False),
        sa.Column("entry_seq", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pins")
    op.drop_table("reactions")
