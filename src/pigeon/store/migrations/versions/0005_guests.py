"""Guest accounts (line mode): the time a guest is retired unless renewed.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("guest_expires_at", sa.BigInteger, nullable=True))
    op.create_index("ix_users_guest_expires_at", "users", ["guest_expires_at"])


def downgrade() -> None:
    op.drop_index("ix_users_guest_expires_at", "users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("guest_expires_at")
