"""Full-text message search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from pigeon.api.deps import PrincipalDep, ServicesDep
from pigeon.api.envelope import ERROR_RESPONSES, Envelope, Page, ok
from pigeon.core.search import SearchFilters

router = APIRouter(prefix="/search", tags=["search"], responses=ERROR_RESPONSES)

TimeQuery = Annotated[int | None, Query(ge=0, le=2**53)]


class SearchHitOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    conv: str
    seq: int
    from_: str = Field(alias="from", serialization_alias="from")
    ts: int
    snippet: list[str] = Field(
        description="plain text parts; odd indexes are the matches (never HTML)"
    )


@router.get("/messages", response_model=Envelope[Page[SearchHitOut]])
async def search_messages(
    principal: PrincipalDep,
    services: ServicesDep,
    q: str = "",
    conv: Annotated[str | None, Query(max_length=64)] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    before: TimeQuery = None,
    after: TimeQuery = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Messages the caller may read whose text (or image caption) contains ``q``,
    newest first, each with a snippet. ``before``/``after`` bound the send time (ms)."""
    filters = SearchFilters(conv_id=conv, sender_id=from_, before_ts=before, after_ts=after)
    page = await services.search.messages(principal.user_id, q, filters, cursor=cursor, limit=limit)
    return ok(page)
