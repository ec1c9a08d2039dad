"""The conversation list, direct conversations, history, sending and read marks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from pigeon.api.deps import PrincipalDep, ServicesDep
from pigeon.api.envelope import ERROR_RESPONSES, Envelope, Page, ok
from pigeon.api.schemas import (
    DirectIn,
    ForwardIn,
    ReadIn,
    RetentionIn,
    SendIn,
    SettingsIn,
    UrlText,
    WatermarksOut,
)
from pigeon.protocol.frames import Forward, Send
from pigeon.protocol.views import AckView, ConversationItemView, MessageView, RetentionView

router = APIRouter(prefix="/conversations", tags=["conversations"], responses=ERROR_RESPONSES)

SeqQuery = Annotated[int | None, Query(ge=0, le=2**53)]
SeqPath = Annotated[int, Path(ge=1, le=2**53)]


class HistoryOut(Page[MessageView]):
    # Set when retention removed older messages the reader could have seen: the
    # oldest seq still kept.
    first_seq: int | None = None


@router.get("", response_model=Envelope[Page[ConversationItemView]])
async def list_conversations(
    principal: PrincipalDep,
    services: ServicesDep,
    cursor: Annotated[UrlText | None, Query(max_length=200)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    items, next_cursor, more = await services.conversations.page(principal.user_id, cursor, limit)
    return ok({"items": items, "cursor": next_cursor, "more": more})


@router.post("/direct", response_model=Envelope[ConversationItemView])
async def open_direct(
    body: DirectIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """The direct conversation with ``user_id``, created on first use. ``user_id`` may
    be the caller: that conversation is a private notebook."""
    conversation = await services.conversations.open_direct(principal.user_id, body.user_id)
    return ok(await services.conversations.item(principal.user_id, conversation.id))


@router.patch("/{conv_id}", response_model=Envelope[ConversationItemView])
async def update_settings(
    conv_id: UrlText, body: SettingsIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    settings = body.model_dump(exclude_none=True)
    return ok(await services.conversations.update_settings(principal.user_id, conv_id, settings))


@router.get(
    "/{conv_id}/messages",
    response_model=Envelope[HistoryOut],
    response_model_exclude_none=True,
)
async def history(
    conv_id: UrlText,
    principal: PrincipalDep,
    services: ServicesDep,
    before: SeqQuery = None,
    after: SeqQuery = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    page = await services.messaging.history(
        principal.user_id, conv_id, before=before, after=after, limit=limit
    )
    out: dict[str, Any] = {"items": [m.public() for m in page.items], "more": page.more}
    if page.first_seq is not None:
        out["first_seq"] = page.first_seq
    return ok(out)


@router.post("/{conv_id}/messages", response_model=Envelope[AckView])
async def send(
    conv_id: UrlText, body: SendIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    request = Send(
        cid=body.cid,
        conv=conv_id,
        kind=body.kind,
        body=body.body,
        reply_to=body.reply_to,
        mentions=tuple(dict.fromkeys(body.mentions)) if body.mentions else None,
    )
    message = await services.messaging.send(principal.user_id, request)
    return ok(message.ack())


@router.post("/{conv_id}/messages/{seq}/forward", response_model=Envelope[AckView])
async def forward(
    conv_id: UrlText, seq: SeqPath, body: ForwardIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Copy message ``seq`` into conversation ``to``, attributed to its author. A resend
    with the same ``cid`` answers the first copy's ack."""
    request = Send(cid=body.cid, conv=body.to, kind="", body={}, forward=Forward(conv_id, seq))
    message = await services.messaging.send(principal.user_id, request)
    return ok(message.ack())


@router.get("/{conv_id}/retention", response_model=Envelope[RetentionView])
async def get_retention(
    conv_id: UrlText, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """How long this conversation keeps messages, and how far they were removed."""
    return ok(await services.retention.describe(principal.user_id, conv_id))


@router.put("/{conv_id}/retention", response_model=Envelope[RetentionView])
async def set_retention(
    conv_id: UrlText, body: RetentionIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Override the server's retention for a group or channel (owner and admins)."""
    return ok(await services.retention.set_days(principal.user_id, conv_id, body.days))


@router.put("/{conv_id}/read", response_model=Envelope[WatermarksOut])
async def mark_read(
    conv_id: UrlText, body: ReadIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    marks = await services.receipts.mark(principal.user_id, conv_id, read=body.seq)
    return ok({"conv": conv_id, "read_seq": marks.read_seq, "recv_seq": marks.recv_seq})


class ReceiptsOut(BaseModel):
    conv: str
    seq: int
    members: int
    read: int
    delivered: int
    read_by: list[str] | None = None
    delivered_to: list[str] | None = None


@router.get("/{conv_id}/messages/{seq}/receipts", response_model=Envelope[ReceiptsOut])
async def receipts(
    conv_id: UrlText,
    seq: SeqPath,
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """How many members read / received a message; who, in groups up to a size."""
    return ok(await services.receipts.counts(principal.user_id, conv_id, seq))
