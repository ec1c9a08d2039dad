"""Full-text message search: the searchable text of each message and its index.

``message_text`` holds one row per message that has searchable text (a text
message's text, an image's caption) and is neither recalled nor an amendment
entry. The store writes it in the transaction that appends, recalls or edits the
message (store/search.py), so the index never disagrees with history.

The index over it differs per backend; both answer a substring of three or more
characters from the index, for any script, since trigrams are taken per character:

- SQLite: an FTS5 table with the ``trigram`` tokenizer over ``message_text``
  (external content, so the text is stored once), kept in step by triggers.
- PostgreSQL: a GIN ``gin_trgm_ops`` index of the ``pg_trgm`` extension, used by
  ``ILIKE``. The database's LC_CTYPE must class CJK characters as letters
  (C.UTF-8 or any UTF-8 locale does; plain "C" does not).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SQLITE_INDEX = (
    "CREATE VIRTUAL TABLE message_text_fts USING fts5("
    "text, content='message_text', content_rowid='id', tokenize='trigram')"
)
# The FTS5 documentation's recipe for an external-content table: an update is a
# delete of the old text followed by an insert of the new.
_SQLITE_TRIGGERS = (
    """CREATE TRIGGER message_text_ai AFTER INSERT ON message_text BEGIN
         INSERT INTO message_text_fts(rowid, text) VALUES (new.id, new.text);
       END""",
    """CREATE TRIGGER message_text_ad AFTER DELETE ON message_text BEGIN
         INSERT INTO message_text_fts(message_text_fts, rowid, text)
         VALUES ('delete', old.id, old.text);
       END""",
    """CREATE TRIGGER message_text_au AFTER UPDATE ON message_text BEGIN
         INSERT INTO message_text_fts(message_text_fts, rowid, text)
         VALUES ('delete', old.id, old.text);
         INSERT INTO message_text_fts(rowid, text) VALUES (new.id, new.text);
       END""",
)
# Existing messages, oldest first so ids follow the order they were stored in.
_BACKFILL = {
    "sqlite": """INSERT INTO message_text (conv_id, seq, sender_id, ts, text)
        SELECT conv_id, seq, sender_id, ts,
               COALESCE(json_extract(body, '$.text'), json_extract(body, '$.caption'))
        FROM messages
        WHERE kind IN ('text', 'image') AND NOT recalled
          AND COALESCE(json_extract(body, '$.text'), json_extract(body, '$.caption')) <> ''
        ORDER BY ts, conv_id, seq""",
    "postgresql": """INSERT INTO message_text (conv_id, seq, sender_id, ts, text)
        SELECT conv_id, seq, sender_id, ts,
               COALESCE(body::jsonb ->> 'text', body::jsonb ->> 'caption')
        FROM messages
        WHERE kind IN ('text', 'image') AND NOT recalled
          AND COALESCE(body::jsonb ->> 'text', body::jsonb ->> 'caption') <> ''
        ORDER BY ts, conv_id, seq""",
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "message_text",
        # INTEGER PRIMARY KEY on SQLite: the rowid itself, which FTS5 refers to.
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("conv_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("sender_id", sa.String(32), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.UniqueConstraint("conv_id", "seq", name="uq_message_text_conv_seq"),
    )
    # Short queries scan the newest rows of the caller's conversations (store/search.py).
    op.create_index("ix_message_text_conv_id", "message_text", ["conv_id", "id"])
    if dialect == "sqlite":
        op.execute(_SQLITE_INDEX)
        for trigger in _SQLITE_TRIGGERS:
            op.execute(trigger)
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_message_text_trgm ON message_text USING gin (text gin_trgm_ops)"
        )
    op.execute(_BACKFILL[dialect])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("message_text_ai", "message_text_ad", "message_text_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS message_text_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_message_text_trgm")
    op.drop_index("ix_message_text_conv_id", "message_text")
    op.drop_table("message_text")
