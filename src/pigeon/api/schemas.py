"""Request and response bodies of the REST API (shapes per docs/protocol.md, "REST conventions").

Coarse bounds here stop oversized input early; the domain's own rules (username
format, password length, message kinds) are checked by the core with their own
error codes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_COARSE = 1024


class UserOut(BaseModel):
    id: str
    username: str
    display_name: str
    avatar: str | None = None


class MeOut(UserOut):
    dm_policy: str


class RegisterIn(BaseModel):
    username: str = Field(max_length=_COARSE)
    password: str = Field(max_length=_COARSE)
    display_name: str | None = Field(None, max_length=_COARSE)
    device: str | None = Field(None, min_length=1, max_length=64)


class LoginIn(BaseModel):
    username: str = Field(max_length=_COARSE)
    password: str = Field(max_length=_COARSE)
    device: str | None = Field(None, min_length=1, max_length=64)


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=_COARSE)


class GrantOut(BaseModel):
    user: UserOut
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret
    session: str
    device: str


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    display_name: str | None = Field(None, max_length=_COARSE)
    avatar: str | None = Field(None, max_length=4096)
    dm_policy: Literal["anyone", "friends"] | None = None


class DeviceOut(BaseModel):
    device: str
    session: str
    last_seen: int
    online: bool


class DirectIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=64)


class SettingsIn(BaseModel):
    muted: bool | None = None
    pinned: bool | None = None


class MessageOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    conv: str
    seq: int
    id: str
    from_: str = Field(alias="from", serialization_alias="from")
    kind: str
    body: dict[str, Any]
    ts: int
    cid: str
    reply_to: int | None = None
    mentions: list[str] | None = None
    edited_at: int | None = None
    recalled: bool | None = None


class ConversationOut(BaseModel):
    id: str
    kind: str
    title: str | None
    avatar: str | None
    last_message: dict[str, Any] | None
    last_seq: int
    read_seq: int
    unread: int
    mentioned: bool
    muted: bool
    pinned: bool
    member_count: int
    last_ts: int
    peer: UserOut | None = None
    peer_read_seq: int | None = None
    peer_recv_seq: int | None = None


class SendIn(BaseModel):
    cid: str = Field(min_length=1, max_length=64)
    kind: str = Field(min_length=1, max_length=32)
    body: dict[str, Any]
    reply_to: int | None = Field(None, ge=1)
    mentions: list[str] | None = Field(None, max_length=100)


class AckOut(BaseModel):
    conv: str
    seq: int
    id: str
    ts: int
    cid: str


class ReadIn(BaseModel):
    seq: int = Field(ge=0)


class WatermarksOut(BaseModel):
    conv: str
    read_seq: int
    recv_seq: int


class ConfigOut(BaseModel):
    ws_url: str
    version: str
    limits: dict[str, Any]
    features: list[str]
