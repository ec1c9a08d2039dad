"""Recall and edit: who may change which earlier message, and how.

- ``recall {seq}``: the sender within the recall window, or a group's owner or
  admin at any time (not in direct chats). The target then reads
  ``recalled: true`` with body ``{}``.
- A server admin's deletion (``plan_operator_recall``): a recall of any message,
  at any time, whose entry says ``"by": "server_admin"``.
- ``edit {seq, text}``: the sender only, text messages only, any time. The target
  then carries the new text and ``edited_at``.
Neither applies to a recalled message, to another recall/edit, or to system
messages. The entry itself takes the next seq, so offline devices catch it by sync.
"""

from __future__ import annotations

from typing import Any

from pigeon.core import policy
from pigeon.core.errors import CoreError
from pigeon.core.policy import Action, Situation
from pigeon.protocol.errors import ErrorCode
from pigeon.store.records import Amendment, ConversationRecord, MemberRecord, MessageRecord

AMENDING_KINDS = ("recall", "edit")
_UNAMENDABLE = ("recall", "edit", "system")


def plan_amendment(
    kind: str,
    body: dict[str, Any],
    actor: MemberRecord,
    conversation: ConversationRecord,
    target: MessageRecord | None,
    now: int,
    recall_window_s: int,
) -> Amendment:
    """The change a recall/edit entry makes, or a ``CoreError`` saying why not."""
    if target is None or target.seq <= actor.join_seq:
        raise CoreError(ErrorCode.MESSAGE_NOT_FOUND, "no such message to change")
    _check_amendable(target)
    own = target.sender_id == actor.user_id
    if kind == "recall":
        moderating = policy.refusal(Action.MODERATE, Situation(conversation.kind, actor.role))
        if moderating is not None:  # not a moderator here: only their own, in time
            if not own:
                raise moderating.error()
            if now - target.ts > recall_window_s * 1000:
                raise CoreError(
                    ErrorCode.FORBIDDEN, f"messages can be recalled within {recall_window_s} s"
                )
        return Amendment(target.seq, None)
    if not own:
        raise CoreError(ErrorCode.FORBIDDEN, "you can only edit your own messages")
    if target.kind != "text":
        raise CoreError(ErrorCode.INVALID_BODY, "only text messages can be edited")
    return Amendment(target.seq, {**target.body, "text": body["text"]})


def _check_amendable(target: MessageRecord) -> None:
    if target.kind in _UNAMENDABLE:
        raise CoreError(ErrorCode.MESSAGE_NOT_FOUND, "no such message to change")
    if target.recalled:
        raise CoreError(ErrorCode.CONFLICT, "that message was recalled")


def plan_operator_recall(target: MessageRecord | None) -> Amendment:
    """A server admin's deletion (core/admin.py): a recall of any message, at any time,
    by the same stream entry as any recall, so every device converges by sync."""
    if target is None:
        raise CoreError(ErrorCode.MESSAGE_NOT_FOUND, "no such message to change")
    _check_amendable(target)
    return Amendment(target.seq, None)
