"""Account deletion: ``users.deleted_at`` (when the account was deleted) and
``users.deletion`` (the mode of a deletion still in progress, so a retry finishes it).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("deleted_at", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("deletion", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("deletion")
        batch.drop_column("deleted_at")
