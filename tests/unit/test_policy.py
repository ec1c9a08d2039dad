"""The whole permission matrix of core/policy.py, written out as tables.

Each cell is what the policy answers: ``.`` allowed, ``A`` refused with NOT_ADMIN
(40305: the action needs an admin), ``F`` refused with FORBIDDEN (40300: the role
is wrong for it, or the target is out of reach). Changing a rule means changing a
cell here, in plain sight.
"""

from __future__ import annotations

import itertools

import pytest

from pigeon.core import policy
from pigeon.core.errors import CoreError
from pigeon.core.policy import Action, Situation
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.membership import ConversationKind, Role, Visibility

ROLES = (Role.OWNER, Role.ADMIN, Role.MEMBER)
CELL = {None: ".", ErrorCode.NOT_ADMIN: "A", ErrorCode.FORBIDDEN: "F"}

# Actions on the conversation: one cell per actor role (owner, admin, member).
ON_CONVERSATION: dict[tuple[Action, ConversationKind], str] = {
    (Action.POST, ConversationKind.DIRECT): "...",
    (Action.POST, ConversationKind.GROUP): "...",
    (Action.POST, ConversationKind.CHANNEL): "..F",
    (Action.MENTION_ALL, ConversationKind.DIRECT): "AAA",
    (Action.MENTION_ALL, ConversationKind.GROUP): "..A",
    (Action.MENTION_ALL, ConversationKind.CHANNEL): "..A",
    (Action.MODERATE, ConversationKind.DIRECT): "FFF",
    (Action.MODERATE, ConversationKind.GROUP): "..F",
    (Action.MODERATE, ConversationKind.CHANNEL): "..F",
    (Action.EDIT_GROUP, ConversationKind.GROUP): "..A",
    (Action.EDIT_GROUP, ConversationKind.CHANNEL): "..A",
    (Action.TRANSFER, ConversationKind.GROUP): ".FF",
    (Action.TRANSFER, ConversationKind.CHANNEL): ".FF",
    (Action.DISSOLVE, ConversationKind.GROUP): ".FF",
    (Action.DISSOLVE, ConversationKind.CHANNEL): ".FF",
    (Action.LEAVE, ConversationKind.GROUP): "F..",
    (Action.LEAVE, ConversationKind.CHANNEL): "F..",
    (Action.SET_RETENTION, ConversationKind.DIRECT): "FFF",
    (Action.SET_RETENTION, ConversationKind.GROUP): "..A",
    (Action.SET_RETENTION, ConversationKind.CHANNEL): "..A",
    (Action.REACT, ConversationKind.DIRECT): "...",
    (Action.REACT, ConversationKind.GROUP): "...",
    (Action.REACT, ConversationKind.CHANNEL): "...",
    (Action.PIN, ConversationKind.DIRECT): "...",
    (Action.PIN, ConversationKind.GROUP): "..A",
    (Action.PIN, ConversationKind.CHANNEL): "..A",
}

INVITE: dict[Visibility, str] = {Visibility.PRIVATE: "..A", Visibility.PUBLIC: "..."}

# Deleting an incoming webhook: someone else's, then one's own, per actor role.
REMOVE_WEBHOOK: dict[bool, str] = {False: "..A", True: "..."}

# Actions on another member: rows are the actor, columns the target (owner, admin,
# member), then the actor acting on themself; the first cell is the check made
# before the target is known.
ON_MEMBER: dict[Action, dict[Role, str]] = {
    Action.REMOVE: {Role.OWNER: ". F.. F", Role.ADMIN: ". FF. F", Role.MEMBER: "A AAA A"},
    Action.MUTE: {Role.OWNER: ". F.. F", Role.ADMIN: ". FF. F", Role.MEMBER: "A AAA A"},
    Action.SET_ROLE: {Role.OWNER: ". F.. F", Role.ADMIN: "F FFF F", Role.MEMBER: "A AAA A"},
    Action.BAN: {Role.OWNER: ". F.. F", Role.ADMIN: ". FF. F", Role.MEMBER: "A AAA A"},
}


def _cell(action: Action, situation: Situation) -> str:
    refused = policy.refusal(action, situation)
    return CELL[refused.code if refused else None]


@pytest.mark.parametrize(("action", "kind"), list(ON_CONVERSATION))
def test_actions_on_a_conversation(action: Action, kind: ConversationKind) -> None:
    row = "".join(_cell(action, Situation(kind, role)) for role in ROLES)
    assert row == ON_CONVERSATION[(action, kind)]


@pytest.mark.parametrize(
    ("visibility", "kind"),
    list(itertools.product(Visibility, [ConversationKind.GROUP, ConversationKind.CHANNEL])),
)
def test_inviting_depends_on_visibility(visibility: Visibility, kind: ConversationKind) -> None:
    row = "".join(
        _cell(Action.INVITE, Situation(kind, role, visibility=visibility)) for role in ROLES
    )
    assert row == INVITE[visibility]


@pytest.mark.parametrize(("kind", "mine"), list(itertools.product(ConversationKind, [False, True])))
def test_webhooks_are_deleted_by_their_creator_or_an_admin(
    kind: ConversationKind, mine: bool
) -> None:
    row = "".join(
        _cell(Action.REMOVE_WEBHOOK, Situation(kind, role, on_self=mine)) for role in ROLES
    )
    assert row == REMOVE_WEBHOOK[mine]


@pytest.mark.parametrize(("action", "actor"), list(itertools.product(ON_MEMBER, ROLES)))
@pytest.mark.parametrize("kind", [ConversationKind.GROUP, ConversationKind.CHANNEL])
def test_actions_on_a_member(action: Action, actor: Role, kind: ConversationKind) -> None:
    before = _cell(action, Situation(kind, actor))
    targets = "".join(_cell(action, Situation(kind, actor, target)) for target in ROLES)
    on_self = _cell(action, Situation(kind, actor, actor, on_self=True))
    assert f"{before} {targets} {on_self}" == ON_MEMBER[action][actor]


def test_every_action_has_a_rule_and_a_row_here() -> None:
    covered = {a for a, _ in ON_CONVERSATION} | set(ON_MEMBER)
    covered |= {Action.INVITE, Action.REMOVE_WEBHOOK}
    assert covered == set(Action) == set(policy.RULES)


def test_require_raises_the_refusal_with_its_code() -> None:
    with pytest.raises(CoreError) as refused:
        policy.require(Action.POST, Situation(ConversationKind.CHANNEL, Role.MEMBER))
    assert refused.value.code is ErrorCode.FORBIDDEN
    policy.require(Action.POST, Situation(ConversationKind.CHANNEL, Role.ADMIN))


# The server-admin API: (admin mark, disabled) -> the answer.
SERVER_ADMIN: dict[tuple[bool, bool], ErrorCode | None] = {
    (True, False): None,
    (False, False): ErrorCode.NOT_SERVER_ADMIN,
    (True, True): ErrorCode.ACCOUNT_DISABLED,
    (False, True): ErrorCode.ACCOUNT_DISABLED,
}


@pytest.mark.parametrize(("admin", "disabled"), list(SERVER_ADMIN))
def test_only_enabled_server_admins_use_the_admin_api(admin: bool, disabled: bool) -> None:
    refused = policy.server_admin_refusal(admin, disabled)
    assert (refused.code if refused else None) == SERVER_ADMIN[(admin, disabled)]
    if refused is not None:
        assert refused.code.http_status == 403
        with pytest.raises(CoreError):
            policy.require_server_admin(admin, disabled)
    else:
        policy.require_server_admin(admin, disabled)
