"""Groups, channels and public rooms; friends, friend requests and blocks.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("announcement", sa.Text, nullable=True))
        batch.add_column(
            sa.Column("visibility", sa.String(16), nullable=False, server_default="private")
        )
        batch.add_column(
            sa.Column("member_count", sa.BigInteger, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("dissolved_at", sa.BigInteger, nullable=True))
    op.create_index("ix_conversations_directory", "conversations", ["visibility", "kind"])
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("left_seq", sa.BigInteger, nullable=True))
    # Direct conversations existing before this revision: count their members.
    op.execute(
        "UPDATE conversations SET member_count = "
        "(SELECT count(*) FROM members WHERE members.conv_id = conversations.id "
        "AND members.state = 'active')"
    )
    op.create_table(
        "friendships",
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("friend_id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "friend_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("from_id", sa.String(32), nullable=False, index=True),
        sa.Column("to_id", sa.String(32), nullable=False, index=True),
        sa.Column("note", sa.String(256), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "blocks",
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("blocked_id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_blocks_blocked", "blocks", ["blocked_id"])


def downgrade() -> None:
    op.drop_table("blocks")
    op.drop_table("friend_requests")
    op.drop_table("friendships")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("left_seq")
    op.drop_index("ix_conversations_directory", "conversations")
    with op.batch_alter_table("conversations") as batch:
        for column in ("dissolved_at", "member_count", "visibility", "announcement"):
            batch.drop_column(column)
