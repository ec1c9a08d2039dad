"""Reactions and pinned messages over REST (docs/protocol.md, "Reactions and pins").

Each call makes one stream entry (``react``, ``pin``, ``unpin``) through the same
``send`` path as the WebSocket, so the answer is that entry's ack and every member's
devices see it live and by sync.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from pigeon.api.deps import PrincipalDep, ServicesDep
from pigeon.api.envelope import ERROR_RESPONSES, Envelope, Page, ok
from pigeon.api.schemas import Identifier, MessageSeq, UrlText
from pigeon.protocol.views import AckView, PinView

router = APIRouter(prefix="/conversations", tags=["reactions and pins"], responses=ERROR_RESPONSES)

SeqPath = Annotated[int, Path(ge=1, le=2**53)]
CidQuery = Annotated[
    Identifier | None,
    Query(description="dedup key of the entry, as a send's cid; made up by the server if absent"),
]


async def _react(
    services: ServicesDep,
    user_id: str,
    conv_id: str,
    seq: int,
    emoji: str,
    on: bool,
    cid: str | None,
) -> dict[str, Any]:
    body = {"seq": seq, "emoji": emoji, "on": on}
    entry = await services.messaging.mark(user_id, conv_id, "react", body, cid)
    return ok(entry.ack())


@router.post("/{conv_id}/messages/{seq}/reactions/{emoji}", response_model=Envelope[AckView])
async def add_reaction(
    conv_id: UrlText,
    seq: SeqPath,
    emoji: UrlText,
    principal: PrincipalDep,
    services: ServicesDep,
    cid: CidQuery = None,
) -> dict[str, Any]:
    """Add the caller's reaction ``emoji`` (one emoji, URL-encoded) to message ``seq``:
    a ``react`` entry with ``on: true``. Already there: 409 / 40920; not one emoji:
    40080; the message has ``max_reactions_per_message`` other emojis: 40081."""
    return await _react(services, principal.user_id, conv_id, seq, emoji, True, cid)


@router.delete("/{conv_id}/messages/{seq}/reactions/{emoji}", response_model=Envelope[AckView])
async def remove_reaction(
    conv_id: UrlText,
    seq: SeqPath,
    emoji: UrlText,
    principal: PrincipalDep,
    services: ServicesDep,
    cid: CidQuery = None,
) -> dict[str, Any]:
    """Remove the caller's reaction ``emoji``: a ``react`` entry with ``on: false``.
    Not there: 409 / 40920."""
    return await _react(services, principal.user_id, conv_id, seq, emoji, False, cid)


class PinIn(BaseModel):
    seq: MessageSeq
    cid: Identifier | None = None


@router.post("/{conv_id}/pins", response_model=Envelope[AckView])
async def pin(
    conv_id: UrlText, body: PinIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Pin message ``seq`` for everyone: a ``pin`` entry. Groups and channels: owner
    and admins (40305); direct chats: either party. Pinned already: 40921; the
    conversation has ``max_pins_per_conversation`` pins: 40082."""
    pin_body = {"seq": body.seq}
    entry = await services.messaging.mark(principal.user_id, conv_id, "pin", pin_body, body.cid)
    return ok(entry.ack())


@router.delete("/{conv_id}/pins/{seq}", response_model=Envelope[AckView])
async def unpin(
    conv_id: UrlText,
    seq: SeqPath,
    principal: PrincipalDep,
    services: ServicesDep,
    cid: CidQuery = None,
) -> dict[str, Any]:
    """Unpin message ``seq``: an ``unpin`` entry (who may: as for pinning). Not
    pinned: 404 / 40480."""
    entry = await services.messaging.mark(principal.user_id, conv_id, "unpin", {"seq": seq}, cid)
    return ok(entry.ack())


@router.get(
    "/{conv_id}/pins", response_model=Envelope[Page[PinView]], response_model_exclude_none=True
)
async def list_pins(
    conv_id: UrlText, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """The pinned messages the caller may read, newest pin first (at most
    ``max_pins_per_conversation``, so one page)."""
    found = await services.messaging.pins(principal.user_id, conv_id)
    items = [
        {"seq": p.seq, "by": p.pinned_by, "at": p.pinned_at, "message": p.message.public()}
        for p in found
    ]
    return ok({"items": items, "more": False})
