"""Account deletion and data export rules in process (tests/corekit.py): the export's
size bound and rate limit exactly at their edges, who inherits a group, and a
deletion that fails half way being finished by a retry."""

from __future__ import annotations

import base64
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from corekit import CoreKit, core_kit
from pigeon.core.errors import CoreError
from pigeon.core.export import DataExport, ExportLimits
from pigeon.core.ratelimit import RateLimited
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.lifecycle import AccountDeletionMode
from pigeon.protocol.membership import MemberState, Role

INTERVAL_S = 600


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[CoreKit]:
    async with core_kit(tmp_path, export_interval_s=INTERVAL_S) as started:
        yield started


def _exporter(kit: CoreKit, max_bytes: int) -> DataExport:
    """The wired export with other limits (no interval: the same user again and again)."""
    wired = kit.services.export
    return DataExport(
        wired.store, wired.lifecycle, wired.stored_files, ExportLimits(max_bytes, 0), kit.clock
    )


def _entry_bytes(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


async def test_an_export_of_exactly_the_bound_passes_and_one_byte_less_refuses(
    kit: CoreKit,
) -> None:
    me, peer = await kit.user("me"), await kit.user("peer")
    conv = await kit.group(peer, me)
    for n in range(5):
        await kit.send(peer, conv, f"message {n}")
    size = _entry_bytes(await _exporter(kit, 10**9).export(me))

    assert _entry_bytes(await _exporter(kit, size).export(me)) == size
    with pytest.raises(CoreError) as refused:
        await _exporter(kit, size - 1).export(me)
    assert refused.value.code is ErrorCode.EXPORT_TOO_LARGE
    assert refused.value.details == {"max_bytes": size - 1}


async def test_one_export_per_interval_to_the_millisecond(kit: CoreKit) -> None:
    me = await kit.user("me")
    await kit.services.export.export(me)
    kit.clock.advance(INTERVAL_S - 0.001)
    with pytest.raises(RateLimited) as limited:
        await kit.services.export.export(me)
    assert limited.value.code is ErrorCode.EXPORT_RATE_LIMITED
    assert limited.value.retry_after == 1
    kit.clock.advance(0.001)
    await kit.services.export.export(me)
    await kit.services.export.export(await kit.user("other"))  # per user


async def test_an_admin_inherits_before_an_earlier_member(kit: CoreKit) -> None:
    owner, early, admin = await kit.user("o"), await kit.user("e"), await kit.user("a")
    conv = await kit.group(owner, early)
    kit.clock.advance(1)
    await kit.services.groups.add_members(owner, conv, [admin])
    await kit.services.groups.update_member(owner, conv, admin, {"role": "admin"})
    await kit.services.deletion.delete(owner, AccountDeletionMode.KEEP)
    group = await kit.services.groups.get(early, conv)
    assert group["owner"] == admin


async def test_without_admins_the_longest_standing_member_inherits(kit: CoreKit) -> None:
    owner, first, second = await kit.user("o"), await kit.user("f"), await kit.user("s")
    conv = await kit.group(owner, first)
    kit.clock.advance(1)
    await kit.services.groups.add_members(owner, conv, [second])
    await kit.services.deletion.delete(owner, AccountDeletionMode.KEEP)
    assert (await kit.services.groups.get(first, conv))["owner"] == first


async def test_a_deletion_that_failed_half_way_is_finished_by_a_retry(
    kit: CoreKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    me, peer = await kit.user("me"), await kit.user("peer")
    conv = await kit.group(peer, me)
    said = await kit.send(me, conv, "erase me")
    groups = kit.services.groups

    async def store_away(user_id: str, conv_id: str) -> None:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(groups, "leave", store_away)
    with pytest.raises(ConnectionError):
        await kit.services.deletion.delete(me, AccountDeletionMode.REMOVE)
    lifecycle = kit.services.deletion.lifecycle
    assert await lifecycle.deletion_mode(me) is AccountDeletionMode.REMOVE
    monkeypatch.undo()

    # a retry asking less (keep) still finishes the stronger deletion that began
    assert await kit.services.deletion.resume_unfinished() == 1
    assert await lifecycle.deletion_mode(me) is None
    member = await kit.services.store.conversations.membership(conv, me)
    assert member is not None
    assert member.state is MemberState.LEFT
    assert member.role is Role.MEMBER
    target = await kit.services.store.messages.message_at(conv, said.seq)
    assert target is not None
    assert target.recalled
    user = await kit.services.store.accounts.user_by_id(me)
    assert user is not None
    assert user.deleted_at is not None
    assert user.disabled
    assert await kit.services.deletion.resume_unfinished() == 0


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_friends_requests_blocks_subscriptions_and_webhooks_go_with_the_account(
    kit: CoreKit,
) -> None:
    me, friend, asker, blocker = [await kit.user(p) for p in ("me", "f", "a", "b")]
    social, push = kit.services.social, kit.services.push
    sent = await social.request_friend(me, friend, None)
    await social.answer(friend, sent["id"], accept=True)
    await social.request_friend(asker, me, None)
    await social.block(blocker, me)
    key = _b64url(b"\x04" + bytes(64))
    await push.subscribe(me, "https://push.example/endpoint", key, _b64url(bytes(16)))
    conv = await kit.group(friend, me)
    await kit.services.bots.create_hook(me, conv, "CI")

    await kit.services.deletion.delete(me, AccountDeletionMode.KEEP)

    assert [u.id for u in await social.friends(friend)] == []
    assert await social.requests(asker) == []
    assert [u.id for u in await social.blocked(blocker)] == []
    assert await push.list_subscriptions(me) == []
    assert await kit.services.bots.hooks(friend, conv) == []
