"""Full-text message search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from pigeon.api.deps import PrincipalDep, ServicesDep
from pigeon.api.envelope import ERROR_RESPONSES, Envelope, Page, ok
from pigeon.api.schemas import Identifier, UrlText
from pigeon.core.search import SearchFilters
from pigeon.protocol.text import TextKind, schema_pattern

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


def declare_query_limit(operation: dict[str, Any], max_chars: int) -> None:
    """State ``search_max_query_chars`` (a setting, unknown when the route is declared)
    in the operation's OpenAPI entry: ``q`` is required, has a visible character and
    at most that many characters."""
    for parameter in operation.get("parameters", []):
        if parameter.get("name") == "q":
            parameter["required"] = True
            parameter["schema"].pop("default", None)
            parameter["schema"]["pattern"] = schema_pattern(TextKind.LINE, 1)
            parameter["schema"]["maxLength"] = max_chars


@router.get("/messages", response_model=Envelope[Page[SearchHitOut]])
async def search_messages(
    principal: PrincipalDep,
    services: ServicesDep,
    q: UrlText = "",
    conv: Annotated[UrlText | None, Query(max_length=64)] = None,
    from_: Annotated[Identifier | None, Query(alias="from")] = None,
    before: TimeQuery = None,
    after: TimeQuery = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    cursor: Annotated[UrlText | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Messages the caller may read whose text (or image caption) contains ``q``,
    newest first, each with a snippet (plain-text parts; the odd ones are the
    matches). ``before``/``after`` bound the send time (ms). A blank ``q`` is 40050,
    one longer than ``search_max_query_chars`` 40051; ``conv`` must be a conversation
    the caller can read (40402) and ``cursor`` one this server issued (40008)."""
    filters = SearchFilters(conv_id=conv, sender_id=from_, before_ts=before, after_ts=after)
    page = await services.search.messages(principal.user_id, q, filters, cursor=cursor, limit=limit)
    return ok(page)
