"""Request and response bodies of the REST API (shapes per docs/protocol.md, "REST conventions").

The schema declares every rule the server applies, from the constant that defines
it (``core.accounts``, ``core.groups``, ``core.social``, ``protocol.text``), so a
client generated from /openapi.json validates as the server does. Rules the core
checks with an error code of its own (username format 40004, password length
40005) are only declared here (``Declared``); the core enforces them. Every text
field carries its ``protocol.text`` rule and every client integer its range (the
same validators the WebSocket codec uses); a violation keeps its own error code
through ``api.errors``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from pigeon.core.accounts import (
    MAX_DISPLAY_NAME,
    MAX_PASSWORD,
    MIN_PASSWORD,
    USERNAME_MAX,
    USERNAME_MIN,
    USERNAME_PATTERN,
)
from pigeon.core.bodies import CLIENT_KINDS
from pigeon.protocol.cursors import FIRST_SEQ, MAX_CLIENT_INT
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.text import TextKind, TextViolation, check, check_body, schema_pattern
from pigeon.protocol.views import UserView

_COARSE = 1024
#: The ``ctx`` key under which a validation error carries its Pigeon error code.
ERROR_CODE_KEY = "pigeon_code"


def _refuse(violation: TextViolation) -> PydanticCustomError:
    return PydanticCustomError(
        "pigeon_rule", "{reason}", {"reason": violation.reason, ERROR_CODE_KEY: int(violation.code)}
    )


@dataclass(frozen=True, slots=True)
class Declared:
    """JSON Schema keywords added to a field's schema without pydantic enforcing them:
    the rule is checked elsewhere (the core, a text rule) with its own error code."""

    keywords: tuple[tuple[str, Any], ...]  # hashable: typing hashes Annotated metadata

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        # Tuples keep the metadata hashable; JSON Schema wants arrays.
        schema.update((k, list(v) if isinstance(v, tuple) else v) for k, v in self.keywords)
        return schema


def declared(**keywords: Any) -> Declared:
    return Declared(tuple(keywords.items()))


def text_pattern(kind: TextKind) -> Declared:
    """The ``protocol.text`` rule of ``kind`` as a ``pattern`` (enforced by ``check``)."""
    return declared(pattern=schema_pattern(kind))


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


def _text(kind: TextKind) -> tuple[AfterValidator, Declared]:
    return _text_rule(kind), text_pattern(kind)


_IDENTIFIER_RULE, _IDENTIFIER_PATTERN = _text(TextKind.IDENTIFIER)
_NAME_RULE, _NAME_PATTERN = _text(TextKind.NAME)
_LINE_RULE, _LINE_PATTERN = _text(TextKind.LINE)
_PROSE_RULE, _PROSE_PATTERN = _text(TextKind.PROSE)

Identifier = Annotated[
    str, Field(min_length=1, max_length=64), _IDENTIFIER_RULE, _IDENTIFIER_PATTERN
]
Name = Annotated[str, _NAME_RULE, _NAME_PATTERN]
Prose = Annotated[str, _PROSE_RULE, _PROSE_PATTERN]
#: A path or query parameter: ``api.bridge`` applies the one-line rule to every URL
#: before routing, so here it is only declared.
UrlText = Annotated[str, _LINE_PATTERN]
DeviceName = Annotated[str, Field(min_length=1, max_length=64), _NAME_RULE, _NAME_PATTERN]
Reference = Annotated[str, _IDENTIFIER_RULE, _IDENTIFIER_PATTERN]  # avatar: a file id or URL
# The core's format check answers usernames (INVALID_USERNAME at sign-up, wrong
# credentials at login); the edge keeps control characters out and declares the format.
Username = Annotated[
    str,
    Field(max_length=_COARSE),
    _LINE_RULE,
    declared(pattern=USERNAME_PATTERN, minLength=USERNAME_MIN, maxLength=USERNAME_MAX),
]
#: A new password: its length is the core's rule (WEAK_PASSWORD), declared here.
NewPassword = Annotated[
    str,
    Field(max_length=_COARSE),
    declared(minLength=MIN_PASSWORD, maxLength=MAX_PASSWORD),
]
#: A display name as sent; the core trims it, so a raw value within the limit fits.
DisplayName = Annotated[
    str,
    # No min_length: an empty name is BLANK_TEXT (40007) like a blank one, which the
    # name rule's pattern already declares.
    Field(
        max_length=MAX_DISPLAY_NAME,
        description="Shown to others. Trimmed; must keep a visible character (40007).",
    ),
    _NAME_RULE,
    _NAME_PATTERN,
]
Body = Annotated[dict[str, Any], AfterValidator(_body_rule)]
#: A non-negative integer a client sends (seqs, timestamps), within JSON's exact range.
ClientInt = Annotated[int, _int_rule(0), declared(minimum=0, maximum=MAX_CLIENT_INT)]
#: A seq that names a message: seqs start at ``FIRST_SEQ``.
MessageSeq = Annotated[
    int, _int_rule(FIRST_SEQ), declared(minimum=FIRST_SEQ, maximum=MAX_CLIENT_INT)
]


class RegisterIn(BaseModel):
    username: Username
    password: NewPassword
    display_name: DisplayName | None = None
    device: DeviceName | None = None


class PasswordChangeIn(BaseModel):
    current_password: str = Field(max_length=_COARSE)
    new_password: NewPassword


class AccountDeleteIn(BaseModel):
    password: str = Field(max_length=_COARSE)


class LoginIn(BaseModel):
    username: Username
    password: str = Field(max_length=_COARSE)
    device: DeviceName | None = None


class RefreshIn(BaseModel):
    refresh_token: Reference = Field(min_length=1, max_length=_COARSE)


class GrantOut(BaseModel):
    user: UserView
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret
    session: str
    device: str


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    display_name: DisplayName | None = None
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


class SendIn(BaseModel):
    cid: Identifier
    # The core answers an unknown kind with INVALID_BODY (40003), as over the WebSocket.
    kind: Annotated[Identifier, declared(enum=CLIENT_KINDS)] = Field(
        description="The body's shape depends on the kind: docs/protocol.md, "
        "'Message kinds' (a body that does not fit: 40003).",
    )
    body: Body
    reply_to: MessageSeq | None = None
    mentions: list[Identifier] | None = Field(None, max_length=100)


class ForwardIn(BaseModel):
    """Forward the message in the path into conversation ``to`` (docs/protocol.md, Forwarding)."""

    cid: Identifier
    to: Identifier


class RetentionIn(BaseModel):
    """``days`` to keep messages; 0 keeps them forever, null follows the server."""

    # Required, may be null; the upper bound is the retention_max_days setting (40009).
    days: ClientInt | None


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
