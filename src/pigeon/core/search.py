"""Message search over the conversations a user may read (GET /search/messages)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pigeon.core.errors import CoreError
from pigeon.core.snippets import snippet
from pigeon.protocol.cursors import decode_search_cursor, encode_search_cursor
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.text import TextKind, check
from pigeon.store.facade import Store
from pigeon.store.records import MemberRecord
from pigeon.store.search import SearchHit, SearchQuery

#: (conv_id, user_id) -> the caller's readable membership, or CONVERSATION_NOT_FOUND.
ReadableCheck = Callable[[str, str], Awaitable[MemberRecord]]


@dataclass(frozen=True, slots=True)
class SearchLimits:
    """From settings (``search_*``); published in /api/v1/config."""

    max_query_chars: int
    default_results: int
    max_results: int
    short_scan_rows: int


@dataclass(frozen=True, slots=True)
class SearchFilters:
    conv_id: str | None = None
    sender_id: str | None = None
    before_ts: int | None = None
    after_ts: int | None = None


class SearchService:
    def __init__(self, store: Store, readable: ReadableCheck, limits: SearchLimits) -> None:
        self.store = store
        self.readable = readable
        self.limits = limits

    async def messages(
        self,
        user_id: str,
        raw_query: str,
        filters: SearchFilters,
        *,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """A page of the caller's readable messages containing the query, newest first.

        Longer than ``max_query_chars`` as sent is SEARCH_QUERY_TOO_LONG (40051), a
        control character INVALID_CHARACTERS; then the query is trimmed, and blank is
        SEARCH_QUERY_EMPTY (40050). ``conv`` names a conversation the caller can read
        (else CONVERSATION_NOT_FOUND, as for history). ``limit`` is clamped.
        """
        text = self._checked_query(raw_query)
        if filters.conv_id is not None:
            await self.readable(filters.conv_id, user_id)
        if filters.sender_id is not None:
            self._check_identifier(filters.sender_id)
        wanted = self.limits.default_results if limit is None else limit
        query = SearchQuery(
            user_id=user_id,
            text=text,
            conv_id=filters.conv_id,
            sender_id=filters.sender_id,
            before_ts=filters.before_ts,
            after_ts=filters.after_ts,
            below_id=decode_search_cursor(cursor) if cursor else None,
            limit=max(1, min(wanted, self.limits.max_results)),
            scan_rows=self.limits.short_scan_rows,
        )
        page = await self.store.search.search(query)
        return {
            "items": [_item(hit, text) for hit in page.hits],
            "cursor": encode_search_cursor(page.below) if page.below is not None else None,
            "more": page.more,
        }

    def _checked_query(self, raw: str) -> str:
        # Counted as sent, before trimming: the rule /openapi.json states (maxLength).
        if len(raw) > self.limits.max_query_chars:
            raise CoreError(
                ErrorCode.SEARCH_QUERY_TOO_LONG,
                f"q must be at most {self.limits.max_query_chars} characters",
                {"max_chars": self.limits.max_query_chars},
            )
        violation = check(TextKind.LINE, raw)
        if violation is not None:
            raise CoreError(violation.code, f"q {violation.reason}")
        text = raw.strip()
        if not text:
            raise CoreError(ErrorCode.SEARCH_QUERY_EMPTY)
        return text

    @staticmethod
    def _check_identifier(value: str) -> None:
        if len(value) > 64 or check(TextKind.IDENTIFIER, value) is not None:
            raise CoreError(ErrorCode.BAD_REQUEST, "from must be a user id")


def _item(hit: SearchHit, query: str) -> dict[str, Any]:
    return {
        "conv": hit.conv_id,
        "seq": hit.seq,
        "from": hit.sender_id,
        "ts": hit.ts,
        "snippet": snippet(hit.text, query),
    }
