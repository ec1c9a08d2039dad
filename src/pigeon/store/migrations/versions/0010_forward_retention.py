"""Forwarded messages and message retention.

A forwarded copy records its original's sender and time (``fwd_from``, ``fwd_ts``).
A conversation may override the server's retention (``retention_days``; NULL
follows the server) and remembers how far expired messages were removed
(``pruned_seq``: every seq at or below it is gone).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("fwd_from", sa.String(32), nullable=True))
        batch.add_column(sa.Column("fwd_ts", sa.BigInteger, nullable=True))
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("retention_days", sa.Integer, nullable=True))
        batch.add_column(sa.Column("pruned_seq", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("pruned_seq")
        batch.drop_column("retention_days")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("fwd_ts")
        batch.drop_column("fwd_from")
