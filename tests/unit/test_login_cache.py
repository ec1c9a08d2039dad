"""The connect cache of verified logins: how long it trusts, and what a kick clears."""

from __future__ import annotations

from pigeon.broker.base import Kick, Push
from pigeon.core.logincache import LoginCache
from pigeon.protocol.closecodes import CloseCode


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _cache(ttl_s: float = 5.0) -> tuple[LoginCache, Clock]:
    clock = Clock()
    return LoginCache(ttl_s, clock), clock


def test_a_login_is_trusted_for_the_ttl_and_not_a_moment_longer() -> None:
    cache, clock = _cache()
    cache.remember("s_1", "u_1", "phone", False, cache.generation)
    clock.now += 4.9
    entry = cache.get("s_1")
    assert entry is not None
    assert (entry.user_id, entry.device, entry.bot) == ("u_1", "phone", False)
    clock.now += 0.1
    assert cache.get("s_1") is None


def test_a_kick_forgets_the_logins_it_names_and_every_login_of_a_user_it_names() -> None:
    cache, _ = _cache()
    for login, user in (("s_1", "u_1"), ("s_2", "u_1"), ("s_3", "u_2"), ("s_4", "u_3")):
        cache.remember(login, user, "d", False, cache.generation)
    cache.on_event(Kick(CloseCode.REVOKED, login_ids=("s_3",)))
    cache.on_event(Kick(CloseCode.REVOKED, user_id="u_1"))
    assert [cache.get(s) is None for s in ("s_1", "s_2", "s_3", "s_4")] == [
        True,
        True,
        True,
        False,
    ]


def test_a_lookup_that_overlapped_a_kick_is_not_kept() -> None:
    cache, _ = _cache()
    generation = cache.generation  # the database read starts
    cache.on_event(Kick(CloseCode.REVOKED, login_ids=("s_other",)))  # meanwhile
    cache.remember("s_1", "u_1", "d", False, generation)
    assert cache.get("s_1") is None
    cache.on_event(Push(("u_1",), {"t": "msg"}, None))  # pushes change nothing
    cache.remember("s_1", "u_1", "d", False, cache.generation)
    assert cache.get("s_1") is not None


def test_a_ttl_of_zero_keeps_nothing() -> None:
    cache, _ = _cache(0.0)
    cache.remember("s_1", "u_1", "d", False, cache.generation)
    assert cache.get("s_1") is None
