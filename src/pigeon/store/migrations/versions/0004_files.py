"""Files (uploads, content keys, image facts) and the messages referencing them.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("length", sa.BigInteger, nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("mime", sa.String(128), nullable=True),
        sa.Column("blob_key", sa.String(96), nullable=True),
        sa.Column("width", sa.Integer, nullable=True),
        sa.Column("height", sa.Integer, nullable=True),
        sa.Column("animated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("thumb_key", sa.String(96), nullable=True),
        sa.Column("thumb_mime", sa.String(64), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("touched_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_files_owner", "files", ["owner_id"])
    op.create_index("ix_files_touched", "files", ["touched_at"])
    op.create_index("ix_files_blob", "files", ["blob_key"])
    op.create_index("ix_files_thumb", "files", ["thumb_key"])
    op.create_table(
        "file_refs",
        sa.Column("file_id", sa.String(32), primary_key=True),
        sa.Column("conv_id", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("file_refs")
    op.drop_index("ix_files_thumb", "files")
    op.drop_index("ix_files_blob", "files")
    op.drop_index("ix_files_touched", "files")
    op.drop_index("ix_files_owner", "files")
    op.drop_table("files")
