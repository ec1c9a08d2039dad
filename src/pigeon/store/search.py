"""Message search: the searchable-text index and the one query over it.

Index maintenance runs inside the caller's transaction (the group commit that
appends, recalls or edits), so a committed message is searchable at once, a
recalled one never again, and an edited one by its current text only. On SQLite
the FTS5 mirror of ``message_text`` follows by triggers (migration 0006), so the
code here writes one table on both backends.

The query is one SQLAlchemy statement with one dialect branch, in how a query of
``INDEXED_MIN_CHARS`` or more characters is matched:

- SQLite: the FTS5 trigram table, as a quoted phrase (a case-insensitive substring);
- PostgreSQL: ``ILIKE '%…%'``, which the pg_trgm GIN index answers.

A shorter query has no trigram to look up on either backend. It is matched with
``LIKE`` over a bounded candidate set instead: the newest ``scan_rows``
indexed messages of the caller's conversations below the cursor
(``SearchQuery.scan_rows``). When that
window is used up before the page fills, the page says ``more`` and its cursor
continues below the window, so cost per request stays bounded and a client can
keep paging back (docs/architecture.md, "Message search").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    column,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    table,
    text,
    update,
)

from pigeon.protocol.membership import MemberState
from pigeon.store.engine import LIKE_ESCAPE, Conn, Database, escape_like
from pigeon.store.records import MessageRecord
from pigeon.store.schema import members, message_text, messages

#: Queries this long or longer are answered from the trigram index.
INDEXED_MIN_CHARS = 3

# The body field holding a kind's searchable text; other kinds are not searched.
_SEARCHABLE_FIELD = {"text": "text", "image": "caption"}
_fts = table("message_text_fts", column("rowid"))
# For this transaction only (the read transaction of one search).
_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")


class MatchPath(Enum):
    """How a query is matched (reported by the bench; chosen by length alone)."""

    INDEXED = "indexed"
    SHORT_SCAN = "short_scan"


def searchable_text(kind: str, body: dict[str, Any]) -> str | None:
    """The text a message of ``kind`` is found by, or None when it has none."""
    field = _SEARCHABLE_FIELD.get(kind)
    value = body.get(field) if field else None
    return value if isinstance(value, str) and value else None


def match_path(query: str) -> MatchPath:
    return MatchPath.INDEXED if len(query) >= INDEXED_MIN_CHARS else MatchPath.SHORT_SCAN


async def index_appended(conn: Conn, records: Sequence[MessageRecord]) -> None:
    """Index freshly stored messages; call in the transaction that inserts them."""
    rows = []
    for record in records:
        found = searchable_text(record.kind, record.body)
        if found is not None:
            rows.append(
                {
                    "conv_id": record.conv_id,
                    "seq": record.seq,
                    "sender_id": record.sender_id,
                    "ts": record.ts,
                    "text": found,
                }
            )
    if rows:
        await conn.execute(insert(message_text), rows)


async def reindex(conn: Conn, conv_id: str, seq: int) -> None:
    """Make message ``seq``'s index row follow its stored state after a recall or edit.

    A recalled message loses its row; an edited one keeps its row (and so its
    place in result order) with the new text. Call in the amending transaction.
    """
    where = and_(message_text.c.conv_id == conv_id, message_text.c.seq == seq)
    stored = (
        await conn.execute(
            select(
                messages.c.kind,
                messages.c.body,
                messages.c.recalled,
                messages.c.sender_id,
                messages.c.ts,
            ).where(messages.c.conv_id == conv_id, messages.c.seq == seq)
        )
    ).first()
    found = None
    if stored is not None and not stored.recalled:
        found = searchable_text(stored.kind, orjson.loads(stored.body))
    if found is None:
        await conn.execute(delete(message_text).where(where))
        return
    result = await conn.execute(update(message_text).where(where).values(text=found))
    if result.rowcount == 0:
        row = {"conv_id": conv_id, "seq": seq, "sender_id": stored.sender_id, "ts": stored.ts}
        await conn.execute(insert(message_text).values(**row, text=found))


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """One search request, already validated by the core."""

    user_id: str
    text: str
    conv_id: str | None = None
    sender_id: str | None = None
    before_ts: int | None = None
    after_ts: int | None = None
    below_id: int | None = None  # the cursor: only index rows older than this
    limit: int = 20
    scan_rows: int = 20_000  # the short-query window (settings: search_short_scan_rows)


@dataclass(frozen=True, slots=True)
class SearchHit:
    row_id: int
    conv_id: str
    seq: int
    sender_id: str
    ts: int
    text: str


@dataclass(frozen=True, slots=True)
class SearchPage:
    """Hits newest first; ``below`` continues the search when ``more``."""

    hits: list[SearchHit]
    more: bool
    below: int | None


class SearchStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def search(self, query: SearchQuery) -> SearchPage:
        """Messages the caller may read whose current text contains ``query.text``.

        Guarantees: only conversations the caller is a member of, within their
        membership window (after joining; up to leaving, for one who left or was
        removed); never a recalled message; an edited message by its current text.
        Order is newest stored first; pages never overlap.
        """
        async with self.db.read() as conn:
            if not self.db.is_sqlite:
                # asyncpg prepares statements, and after a few runs PostgreSQL may
                # keep a generic plan that cannot see the pattern: for a one-character
                # pattern that plan scans the whole trigram index (over a second at
                # 200,000 messages, against 40 ms planned with the actual values).
                await conn.execute(_CUSTOM_PLANS)
            if match_path(query.text) is MatchPath.INDEXED:
                return await self._page(conn, self._indexed(query), query.limit, None)
            # The window is every row of the caller's conversations between its
            # oldest id and the cursor, so it is applied as an id range.
            window = self._window(query).subquery()
            counted = (await conn.execute(select(func.count(), func.min(window.c.id)))).one()
            if counted[0] == 0:
                return SearchPage([], False, None)
            lowest = int(counted[1])
            within = and_(message_text.c.id >= lowest, self._like(query))
            full = counted[0] >= query.scan_rows
            stmt = self._visible(query, within)
            return await self._page(conn, stmt, query.limit, lowest if full else None)

    @staticmethod
    async def _page(
        conn: Conn, stmt: Select[Any], limit: int, window_floor: int | None
    ) -> SearchPage:
        """The first ``limit`` rows of ``stmt`` (newest first); a full short-query
        window whose rows did not fill the page continues below ``window_floor``."""
        rows = (await conn.execute(stmt.limit(limit + 1))).all()
        hits = [_hit(row) for row in rows[:limit]]
        if len(rows) > limit:
            return SearchPage(hits, True, hits[-1].row_id)
        if window_floor is not None:
            return SearchPage(hits, True, window_floor)
        return SearchPage(hits, False, None)

    def _visible(
        self, query: SearchQuery, match: ColumnElement[bool], *, via_fts: bool = False
    ) -> Select[Any]:
        """Rows matching ``match`` that the caller may read, newest first. ``via_fts``
        drives the query from the FTS5 table in descending rowid order, so it stops
        once the page is full instead of collecting every match first."""
        member = and_(
            members.c.conv_id == message_text.c.conv_id, members.c.user_id == query.user_id
        )
        conditions = [
            message_text.c.seq > members.c.join_seq,
            or_(
                members.c.state == MemberState.ACTIVE,
                and_(members.c.left_seq.is_not(None), message_text.c.seq <= members.c.left_seq),
            ),
            *self._filters(query),
            match,
        ]
        joined: FromClause = message_text.join(members, member)
        order: ColumnElement[int] = message_text.c.id
        if via_fts:
            joined = _fts.join(joined, message_text.c.id == _fts.c.rowid)
            order = _fts.c.rowid  # the same value; ordering by it lets FTS5 walk backwards
        return (
            select(
                message_text.c.id,
                message_text.c.conv_id,
                message_text.c.seq,
                message_text.c.sender_id,
                message_text.c.ts,
                message_text.c.text,
            )
            .select_from(joined)
            .where(*conditions)
            .order_by(order.desc())
        )

    @staticmethod
    def _filters(query: SearchQuery) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if query.conv_id is not None:
            found.append(message_text.c.conv_id == query.conv_id)
        if query.sender_id is not None:
            found.append(message_text.c.sender_id == query.sender_id)
        if query.before_ts is not None:
            found.append(message_text.c.ts < query.before_ts)
        if query.after_ts is not None:
            found.append(message_text.c.ts > query.after_ts)
        if query.below_id is not None:
            found.append(message_text.c.id < query.below_id)
        return found

    def _indexed(self, query: SearchQuery) -> Select[Any]:
        if not self.db.is_sqlite:
            return self._visible(query, self._like(query))  # the pg_trgm GIN index answers
        phrase = '"' + query.text.replace('"', '""') + '"'
        match = literal_column("message_text_fts").bool_op("MATCH")(phrase)
        return self._visible(query, match, via_fts=True)

    def _like(self, query: SearchQuery) -> ColumnElement[bool]:
        """A case-insensitive substring match. SQLite's LIKE already ignores ASCII case
        (its lower() knows no more), so wrapping both sides in lower() would only
        cost a string copy per row; PostgreSQL needs ILIKE for that."""
        pattern = "%" + escape_like(query.text) + "%"
        if self.db.is_sqlite:
            return message_text.c.text.like(pattern, escape=LIKE_ESCAPE)
        return message_text.c.text.ilike(pattern, escape=LIKE_ESCAPE)

    def _window(self, query: SearchQuery) -> Select[Any]:
        """The newest ``scan_rows`` index rows of the caller's conversations
        (narrowed by the query's filters), below the cursor."""
        mine = select(members.c.conv_id).where(members.c.user_id == query.user_id)
        return (
            select(message_text.c.id)
            .where(message_text.c.conv_id.in_(mine), *self._filters(query))
            .order_by(message_text.c.id.desc())
            .limit(query.scan_rows)
        )


def _hit(row: Any) -> SearchHit:
    return SearchHit(row.id, row.conv_id, row.seq, row.sender_id, row.ts, row.text)
