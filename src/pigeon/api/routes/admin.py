"""The server-admin API (docs/protocol.md, "Administration"): every route needs a
server admin (``policy.server_admin_refusal``: 40350 for anyone else, 40301 for a
disabled account), and every act lands in the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from pigeon.api.deps import PrincipalDep, ServicesDep
from pigeon.api.envelope import ERROR_RESPONSES, Envelope, Page, ok
from pigeon.api.routes.groups import MAX_REASON, BanIn
from pigeon.api.schemas import Identifier, MessageSeq, UrlText
from pigeon.core.accounts import Principal
from pigeon.protocol.audit import AuditAction
from pigeon.protocol.views import AdminUserView, AuditView, BanView, StatsView
from pigeon.store.audit import AuditQuery

router = APIRouter(prefix="/admin", tags=["admin"], responses=ERROR_RESPONSES)


async def require_admin(principal: PrincipalDep, services: ServicesDep) -> Principal:
    """The caller, once they are an enabled server admin."""
    await services.admin.require_admin(principal.user_id)
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]
CursorQuery = Annotated[UrlText | None, Query(max_length=200)]
LimitQuery = Annotated[int | None, Query(ge=1)]


ReasonIn = BanIn  # a reason, written to the audit log


class EndedOut(BaseModel):
    logins: int


@router.get("/stats", response_model=Envelope[StatsView])
async def stats(admin: AdminDep, services: ServicesDep) -> dict[str, Any]:
    """Counts over the whole server: accounts, who is signed in and online now,
    conversations by kind (dissolved groups left out), messages, stored files."""
    return ok(await services.admin.stats())


@router.get("/users", response_model=Envelope[Page[AdminUserView]])
async def users(
    admin: AdminDep,
    services: ServicesDep,
    q: Annotated[UrlText, Query(max_length=64)] = "",
    cursor: CursorQuery = None,
    limit: LimitQuery = None,
) -> dict[str, Any]:
    """Every account (disabled ones too) whose username or display name starts with
    ``q``, by username; ``cursor`` continues a page (40008 if it is not one we issued)."""
    items, next_cursor, more = await services.admin.users(q, cursor, limit)
    return ok({"items": items, "cursor": next_cursor, "more": more})


@router.post("/users/{user_id}/disable", response_model=Envelope[AdminUserView])
async def disable(
    user_id: UrlText, body: ReasonIn, admin: AdminDep, services: ServicesDep
) -> dict[str, Any]:
    """Disable (ban) an account: sign-in refused, every login revoked, its sockets
    closed (4003). Not the caller's own (40011)."""
    return ok(await services.admin.set_disabled(admin.user_id, user_id, True, body.reason))


@router.post("/users/{user_id}/enable", response_model=Envelope[AdminUserView])
async def enable(
    user_id: UrlText, body: ReasonIn, admin: AdminDep, services: ServicesDep
) -> dict[str, Any]:
    """Let a disabled account sign in again (its old logins stay revoked)."""
    return ok(await services.admin.set_disabled(admin.user_id, user_id, False, body.reason))


@router.post("/users/{user_id}/logout", response_model=Envelope[EndedOut])
async def logout(user_id: UrlText, admin: AdminDep, services: ServicesDep) -> dict[str, Any]:
    """End every session of the account without disabling it (sockets close with 4003)."""
    return ok({"logins": await services.admin.end_sessions(admin.user_id, user_id)})


@router.delete("/conversations/{conv_id}/messages/{seq}", response_model=Envelope[None])
async def delete_message(
    conv_id: UrlText,
    seq: MessageSeq,
    admin: AdminDep,
    services: ServicesDep,
    reason: Annotated[UrlText | None, Query(max_length=MAX_REASON)] = None,
) -> dict[str, Any]:
    """Delete any message: members see it recalled, by a ``recall`` entry whose body
    says ``"by": "server_admin"`` (40403 no such message, 40900 recalled already)."""
    await services.admin.delete_message(admin.user_id, conv_id, seq, reason)
    return ok()


@router.delete("/groups/{conv_id}", response_model=Envelope[None])
async def dissolve(
    conv_id: UrlText,
    admin: AdminDep,
    services: ServicesDep,
    reason: Annotated[UrlText | None, Query(max_length=MAX_REASON)] = None,
) -> dict[str, Any]:
    """Dissolve any group or channel, as its owner would."""
    await services.admin.dissolve(admin.user_id, conv_id, reason)
    return ok()


@router.get("/groups/{conv_id}/bans", response_model=Envelope[Page[BanView]])
async def list_bans(
    conv_id: UrlText,
    admin: AdminDep,
    services: ServicesDep,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    items, next_cursor, more = await services.groups.bans(
        admin.user_id, conv_id, cursor, limit, operator=True
    )
    return ok({"items": items, "cursor": next_cursor, "more": more})


@router.post("/groups/{conv_id}/bans/{user_id}", response_model=Envelope[None])
async def ban(
    conv_id: UrlText, user_id: UrlText, body: BanIn, admin: AdminDep, services: ServicesDep
) -> dict[str, Any]:
    """Ban a user from any group or channel (removed if present); not its owner (40300)."""
    await services.admin.ban(admin.user_id, conv_id, user_id, body.reason)
    return ok()


@router.delete("/groups/{conv_id}/bans/{user_id}", response_model=Envelope[None])
async def unban(
    conv_id: UrlText, user_id: UrlText, admin: AdminDep, services: ServicesDep
) -> dict[str, Any]:
    await services.admin.unban(admin.user_id, conv_id, user_id)
    return ok()


@router.get("/audit", response_model=Envelope[Page[AuditView]])
async def audit(
    admin: AdminDep,
    services: ServicesDep,
    actor: Annotated[Identifier | None, Query()] = None,
    action: AuditAction | None = None,
    target: Annotated[Identifier | None, Query()] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = None,
) -> dict[str, Any]:
    """The audit log, newest first: filter by who acted, the action, or a target
    (a user, conversation or message id)."""
    items, next_cursor, more = await services.admin.audit_page(
        AuditQuery(actor=actor, action=action, target=target), cursor, limit
    )
    return ok({"items": items, "cursor": next_cursor, "more": more})
