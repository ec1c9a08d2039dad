"""Groups, channels and public rooms: lifecycle, members, roles, the online list."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from pigeon.api.deps import PrincipalDep, ServicesDep
from pigeon.api.envelope import ERROR_RESPONSES, Envelope, Page, ok
from pigeon.api.schemas import ClientInt, Identifier, Name, Prose, Reference, UrlText
from pigeon.core.groups import MAX_ADD_AT_ONCE, MAX_ANNOUNCEMENT, MAX_TITLE
from pigeon.protocol.membership import ConversationKind, Role, Visibility
from pigeon.protocol.views import BanView, GroupView, MemberView, UserView

router = APIRouter(prefix="/groups", tags=["groups"], responses=ERROR_RESPONSES)

UserIds = Annotated[list[Identifier], Field(max_length=MAX_ADD_AT_ONCE)]


class GroupIn(BaseModel):
    # The core trims the title, so a raw value within the limit fits; an empty one is
    # BLANK_TEXT (40007), declared by the name rule's pattern.
    title: Name = Field(max_length=MAX_TITLE)
    members: UserIds = []
    visibility: Visibility = Visibility.PRIVATE
    kind: Literal[ConversationKind.GROUP, ConversationKind.CHANNEL] = ConversationKind.GROUP


class GroupPatch(BaseModel):
    title: Name | None = Field(None, max_length=MAX_TITLE)
    avatar: Reference | None = Field(None, max_length=2048)
    announcement: Prose | None = Field(None, max_length=MAX_ANNOUNCEMENT)
    visibility: Visibility | None = None


class MembersIn(BaseModel):
    user_ids: UserIds


class MemberPatch(BaseModel):
    role: Literal[Role.ADMIN, Role.MEMBER] | None = None
    muted_until: ClientInt | None = None


class TransferIn(BaseModel):
    user_id: Identifier


#: The longest reason a ban (or an admin's act) may give.
MAX_REASON = 500


class BanIn(BaseModel):
    reason: Prose | None = Field(None, max_length=MAX_REASON)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Envelope[GroupView])
async def create_group(
    body: GroupIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    group = await services.groups.create(
        principal.user_id, body.title, body.members, body.visibility, body.kind
    )
    return ok(group)


@router.get("", response_model=Envelope[Page[GroupView]])
async def directory(
    principal: PrincipalDep,
    services: ServicesDep,
    q: Annotated[UrlText, Query(max_length=64)] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> dict[str, Any]:
    found = await services.groups.directory(q, limit + 1, offset)
    return ok({"items": found[:limit], "more": len(found) > limit})


@router.get("/{conv_id}", response_model=Envelope[GroupView])
async def get_group(
    conv_id: UrlText, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return ok(await services.groups.get(principal.user_id, conv_id))


@router.patch("/{conv_id}", response_model=Envelope[GroupView])
async def update_group(
    conv_id: UrlText, body: GroupPatch, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    return ok(await services.groups.update(principal.user_id, conv_id, fields))


@router.delete("/{conv_id}", response_model=Envelope[None])
async def dissolve_group(
    conv_id: UrlText, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    await services.groups.dissolve(principal.user_id, conv_id)
    return ok()


@router.get("/{conv_id}/members", response_model=Envelope[Page[MemberView]])
async def list_members(
    conv_id: UrlText,
    principal: PrincipalDep,
    services: ServicesDep,
    cursor: Annotated[UrlText | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    items, next_cursor, more = await services.groups.members(
        principal.user_id, conv_id, cursor, limit
    )
    return ok({"items": items, "cursor": next_cursor, "more": more})


@router.post("/{conv_id}/members", response_model=Envelope[GroupView])
async def add_members(
    conv_id: UrlText, body: MembersIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return ok(await services.groups.add_members(principal.user_id, conv_id, body.user_ids))


@router.delete("/{conv_id}/members/{user_id}", response_model=Envelope[None])
async def remove_member(
    conv_id: UrlText, user_id: UrlText, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    await services.groups.remove_member(principal.user_id, conv_id, user_id)
    return ok()


@router.patch("/{conv_id}/members/{user_id}", response_model=Envelope[MemberView])
async def update_member(
    conv_id: UrlText,
    user_id: UrlText,
    body: MemberPatch,
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    return ok(await services.groups.update_member(principal.user_id, conv_id, user_id, fields))


@router.post("/{conv_id}/join", response_model=Envelope[GroupView])
async def join(conv_id: UrlText, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return ok(await services.groups.join(principal.user_id, conv_id))


@router.post("/{conv_id}/leave", response_model=Envelope[None])
async def leave(conv_id: UrlText, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    await services.groups.leave(principal.user_id, conv_id)
    return ok()


@router.post("/{conv_id}/transfer", response_model=Envelope[GroupView])
async def transfer(
    conv_id: UrlText, body: TransferIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Hand the group to another member (owner only). ``user_id`` must not be the
    caller: 400 / 40011 ``SELF_TARGET``."""
    return ok(await services.groups.transfer(principal.user_id, conv_id, body.user_id))


@router.get("/{conv_id}/online", response_model=Envelope[Page[UserView]])
async def online(
    conv_id: UrlText,
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    users = await services.groups.online_members(principal.user_id, conv_id, limit + 1)
    return ok({"items": users[:limit], "more": len(users) > limit})


@router.get("/{conv_id}/bans", response_model=Envelope[Page[BanView]])
async def list_bans(
    conv_id: UrlText,
    principal: PrincipalDep,
    services: ServicesDep,
    cursor: Annotated[UrlText | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Who is banned here (owner and admins only), by user id."""
    items, next_cursor, more = await services.groups.bans(principal.user_id, conv_id, cursor, limit)
    return ok({"items": items, "cursor": next_cursor, "more": more})


@router.post("/{conv_id}/bans/{user_id}", response_model=Envelope[None])
async def ban(
    conv_id: UrlText, user_id: UrlText, body: BanIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Ban a user (owner and admins; only those below them): removed if present, and
    refused joining, invitations and being added (40351) until unbanned. Banning again
    replaces the reason."""
    await services.groups.ban(principal.user_id, conv_id, user_id, body.reason)
    return ok()


@router.delete("/{conv_id}/bans/{user_id}", response_model=Envelope[None])
async def unban(
    conv_id: UrlText, user_id: UrlText, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Lift a ban (40400 if there is none); the user is not added back."""
    await services.groups.unban(principal.user_id, conv_id, user_id)
    return ok()
