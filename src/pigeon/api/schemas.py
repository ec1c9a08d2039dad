"""Request and response bodies of the REST API (shapes per docs/protocol.md, "REST conventions").

Coarse bounds here stop oversized input early; the domain's own rules (username
format, password length, message kinds) are checked by the core with their own
error codes. Every text field carries its ``protocol.text`` rule and every
client integer its range (the same validators the WebSocket codec uses); a
violation keeps its own error code through ``api.errors``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from pigeon.protocol.cursors import MAX_CLIENT_INT
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.text import TextKind, TextViolation, check, check_body

_COARSE = 1024
#: The ``ctx`` key under which a validation error carries its Pigeon error code.
ERROR_CODE_KEY = "pigeon_code"


def _refuse(violation: TextViolation) -> PydanticCustomError:
    return PydanticCustomError(
        "pigeon_rule", "{reason}", {"reason": violation.reason, ERROR_CODE_KEY: int(violation.code)}
    )


def _text_rule(kind: TextKind) -> AfterValidator:
    def validate(value: str) -> str:
        violation = check(kind, value)
        if violation is not None:
            raise _refuse(violation)
        return value

    return AfterValidator(validate)


def _body_rule(value: dict[str, Any]) -> dict[str, Any]:
    violation = check_body(value)
    if violation is not None:
        raise _refuse(violation)
    return value


def _int_rule(minimum: int) -> AfterValidator:
    def validate(value: int) -> int:
        if not minimum <= value <= MAX_CLIENT_INT:
            raise PydanticCustomError(
                "pigeon_rule",
                "{reason}",
                {
                    "reason": f"must be between {minimum} and {MAX_CLIENT_INT}",
                    ERROR_CODE_KEY: int(ErrorCode.NUMBER_OUT_OF_RANGE),
                },
            )
        return value

    return AfterValidator(validate)


Identifier = Annotated[str, Field(min_length=1, max_length=64), _text_rule(TextKind.IDENTIFIER)]
Name = Annotated[str, _text_rule(TextKind.NAME)]
Prose = Annotated[str, _text_rule(TextKind.PROSE)]
DeviceName = Annotated[str, Field(min_length=1, max_length=64), _text_rule(TextKind.NAME)]
Reference = Annotated[str, _text_rule(TextKind.IDENTIFIER)]  # avatar: a file id or URL
# The core's own format check answers usernames (INVALID_USERNAME at sign-up, wrong
# credentials at login); the edge only keeps control characters out.
Username = Annotated[str, Field(max_length=_COARSE), _text_rule(TextKind.LINE)]
Body = Annotated[dict[str, Any], AfterValidator(_body_rule)]
#: A non-negative integer a client sends (seqs, timestamps), within JSON's exact range.
ClientInt = Annotated[int, _int_rule(0)]
PositiveClientInt = Annotated[int, _int_rule(1)]


class UserOut(BaseModel):
    id: str
    username: str
    display_name: str
    avatar: str | None = None


class MeOut(UserOut):
    dm_policy: str


class RegisterIn(BaseModel):
    username: Username
    password: str = Field(max_length=_COARSE)
    display_name: Name | None = Field(None, max_length=_COARSE)
    device: DeviceName | None = None


class LoginIn(BaseModel):
    username: Username
    password: str = Field(max_length=_COARSE)
    device: DeviceName | None = None


class RefreshIn(BaseModel):
    refresh_token: Reference = Field(min_length=1, max_length=_COARSE)


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
    display_name: Name | None = Field(None, max_length=_COARSE)
    avatar: Reference | None = Field(None, max_length=4096)
    dm_policy: Literal["anyone", "friends"] | None = None


class DeviceOut(BaseModel):
    device: str
    session: str
    last_seen: int
    online: bool


class DirectIn(BaseModel):
    user_id: Identifier


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
    cid: Identifier
    kind: Identifier = Field(max_length=32)
    body: Body
    reply_to: PositiveClientInt | None = None
    mentions: list[Identifier] | None = Field(None, max_length=100)


class AckOut(BaseModel):
    conv: str
    seq: int
    id: str
    ts: int
    cid: str


class ReadIn(BaseModel):
    seq: ClientInt


class WatermarksOut(BaseModel):
    conv: str
    read_seq: int
    recv_seq: int


class ConfigOut(BaseModel):
    ws_url: str
    version: str
    limits: dict[str, Any]
    features: list[str]
    push: dict[str, Any] = Field(
        default_factory=dict,
        description="vapid_public_key: applicationServerKey for pushManager.subscribe",
    )
