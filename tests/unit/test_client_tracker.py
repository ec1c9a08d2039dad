"""Per-conversation ordering and dedup of the SDK: each (conv, seq) once, in seq order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pigeon.client.events import Message
from pigeon.client.tracker import StreamTracker


def msg(seq: int, conv: str = "c1") -> Message:
    return Message(conv, seq, f"m{seq}", "u1", "text", {"text": str(seq)}, seq, f"cid{seq}")


def seqs(messages: list[Message]) -> list[int]:
    return [m.seq for m in messages]


def test_in_order_arrivals_pass_straight_through_and_repeats_are_dropped() -> None:
    tracker = StreamTracker()
    assert seqs(tracker.offer(msg(1))) == [1]
    assert seqs(tracker.offer(msg(2))) == [2]
    assert tracker.offer(msg(2)) == []
    assert tracker.offer(msg(1)) == []
    assert tracker.delivered("c1") == 2


def test_a_gap_holds_later_messages_until_it_fills() -> None:
    tracker = StreamTracker({"c1": 3})
    assert tracker.offer(msg(6)) == []
    assert tracker.offer(msg(5)) == []
    assert tracker.has_gap("c1")
    assert tracker.holds("c1", 6)
    assert seqs(tracker.offer(msg(4))) == [4, 5, 6]
    assert not tracker.has_gap("c1")


def test_acked_own_messages_are_settled_without_being_delivered() -> None:
    tracker = StreamTracker({"c1": 1})
    assert tracker.note_known("c1", 3) == []
    assert tracker.has_gap("c1")
    assert seqs(tracker.offer(msg(2))) == [2]  # 3 is the application's own
    assert tracker.delivered("c1") == 3
    assert tracker.offer(msg(3)) == []


def test_a_page_starting_above_the_gap_settles_invisible_seqs() -> None:
    tracker = StreamTracker()
    assert tracker.offer(msg(12)) == []  # joined at seq 10: 1..10 are not visible
    page = [msg(11), msg(12), msg(13)]
    assert seqs(tracker.offer_page("c1", 0, page)) == [11, 12, 13]
    assert tracker.delivered("c1") == 13


def test_baseline_skips_history_and_only_moves_forward() -> None:
    tracker = StreamTracker()
    tracker.set_baseline("c1", 5)
    assert tracker.offer(msg(5)) == []
    assert seqs(tracker.offer(msg(6))) == [6]
    tracker.set_baseline("c1", 2)
    assert tracker.delivered("c1") == 6


def test_release_hands_out_what_is_held_in_order() -> None:
    tracker = StreamTracker({"c1": 1})
    tracker.offer(msg(5))
    tracker.offer(msg(3))
    assert seqs(tracker.release("c1")) == [3, 5]
    assert tracker.offer(msg(4)) == []
    assert seqs(tracker.offer(msg(6))) == [6]


def test_conversations_are_independent_and_forgettable() -> None:
    tracker = StreamTracker()
    assert seqs(tracker.offer(msg(1, "a"))) == [1]
    assert tracker.offer(msg(2, "b")) == []
    assert tracker.snapshot() == {"a": 1, "b": 0}
    tracker.forget("b")
    assert not tracker.knows("b")
    assert tracker.behind("a", 2)
    assert not tracker.behind("a", 1)


@given(
    st.lists(st.integers(min_value=1, max_value=30), max_size=120),
    st.sets(st.integers(min_value=1, max_value=30), max_size=5),
)
def test_any_arrival_order_yields_each_seq_once_ascending(
    arrivals: list[int], own: set[int]
) -> None:
    tracker = StreamTracker()
    out: list[int] = []
    for seq in sorted(own):
        out += seqs(tracker.note_known("c1", seq))
    for seq in arrivals:
        out += seqs(tracker.offer(msg(seq)))
    # Then a full pull fills every gap, as the connection does.
    out += seqs(tracker.offer_page("c1", tracker.delivered("c1"), [msg(s) for s in range(1, 31)]))
    assert out == sorted(set(out))
    assert out == [s for s in range(1, 31) if s not in own]
    assert tracker.delivered("c1") == 30
