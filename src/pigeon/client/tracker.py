"""Per-conversation ordering and deduplication of messages (pure, no I/O).

Messages reach a client by several paths — live pushes, catch-up pulls after a
reconnect, gap-filling pulls — and each path may repeat or overtake another.
``StreamTracker`` turns those arrivals into one stream per conversation that is
in seq order and has no duplicates, relying on the server's guarantee that every
conversation's seqs are 1, 2, 3, … with no gap.

For each conversation it keeps ``delivered``: every seq at or below it has
been handed out (or is known to the application another way, e.g. as the ack
of its own send). A message above ``delivered + 1`` is held back until the seqs
before it arrive; ``has_gap`` tells the caller to fetch them with
``pull after=delivered``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pigeon.client.events import Message


class _Stream:
    __slots__ = ("delivered", "held", "known")

    def __init__(self, delivered: int) -> None:
        self.delivered = delivered
        self.held: dict[int, Message] = {}
        self.known: set[int] = set()

    def drain(self) -> list[Message]:
        """Hand out everything now contiguous with ``delivered``."""
        out: list[Message] = []
        while True:
            following = self.delivered + 1
            message = self.held.pop(following, None)
            if message is not None:
                out.append(message)
            elif following in self.known:
                self.known.discard(following)
            else:
                return out
            self.delivered = following

    def advance_to(self, seq: int) -> list[Message]:
        """Declare every seq up to ``seq`` settled; held ones among them go out in order."""
        out = [self.held.pop(s) for s in sorted(s for s in self.held if s <= seq)]
        self.known = {s for s in self.known if s > seq}
        self.delivered = max(self.delivered, seq)
        return out


class StreamTracker:
    """Ordering and dedup state for many conversations.

    Guarantee: across all calls, each ``(conv, seq)`` is returned at most once,
    and the messages returned for one conversation are in ascending seq order.
    Every method returns the messages that became deliverable, in order.
    """

    def __init__(self, delivered: Mapping[str, int] | None = None) -> None:
        self._streams: dict[str, _Stream] = {
            conv: _Stream(seq) for conv, seq in (delivered or {}).items()
        }

    def _stream(self, conv: str) -> _Stream:
        stream = self._streams.get(conv)
        if stream is None:
            # A conversation first seen now: everything it holds is new to us.
            stream = self._streams[conv] = _Stream(0)
        return stream

    def knows(self, conv: str) -> bool:
        return conv in self._streams

    def delivered(self, conv: str) -> int:
        """Highest seq up to which this conversation is settled (0 if unknown)."""
        stream = self._streams.get(conv)
        return stream.delivered if stream else 0

    def set_baseline(self, conv: str, seq: int) -> list[Message]:
        """Treat seqs up to ``seq`` as history the application already has (or does not want).

        Only moves forward; held messages at or below ``seq`` are discarded.
        """
        stream = self._stream(conv)
        if seq > stream.delivered:
            stream.held = {s: m for s, m in stream.held.items() if s > seq}
            stream.known = {s for s in stream.known if s > seq}
            stream.delivered = seq
        return stream.drain()

    def offer(self, message: Message) -> list[Message]:
        """One arrival by any path; a duplicate or already-delivered seq yields nothing."""
        stream = self._stream(message.conv)
        if message.seq <= stream.delivered or message.seq in stream.known:
            return []
        stream.held.setdefault(message.seq, message)
        return stream.drain()

    def offer_page(self, conv: str, after: int, items: Iterable[Message]) -> list[Message]:
        """The items of ``pull after=<after>``, ascending.

        The server returns every visible message above ``after`` without gaps, so
        seqs between ``after`` and the first item are not visible to this user
        (e.g. sent before they joined) and are settled without being delivered.
        """
        stream = self._stream(conv)
        page = [m for m in items if m.conv == conv]
        out: list[Message] = []
        if page and after <= stream.delivered < page[0].seq - 1:
            out.extend(stream.advance_to(page[0].seq - 1))
        for message in page:
            out.extend(self.offer(message))
        return out

    def note_known(self, conv: str, seq: int) -> list[Message]:
        """The application knows ``seq`` already (its own acked send): settle it, don't deliver it."""
        stream = self._stream(conv)
        if seq > stream.delivered:
            stream.held.pop(seq, None)
            stream.known.add(seq)
        return stream.drain()

    def has_gap(self, conv: str) -> bool:
        """Whether messages above a missing seq are waiting for it."""
        stream = self._streams.get(conv)
        return stream is not None and bool(stream.held or stream.known)

    def holds(self, conv: str, seq: int) -> bool:
        """Whether ``seq`` arrived but waits for a gap before it."""
        stream = self._streams.get(conv)
        return stream is not None and seq in stream.held

    def behind(self, conv: str, last_seq: int) -> bool:
        """Whether the server's ``last_seq`` says there is something to pull."""
        return last_seq > self.delivered(conv) or self.has_gap(conv)

    def release(self, conv: str) -> list[Message]:
        """Give up waiting for a gap the server says it cannot fill: hand out what is held."""
        stream = self._streams.get(conv)
        if stream is None:
            return []
        top = max([*stream.held, *stream.known], default=stream.delivered)
        return stream.advance_to(top)

    def forget(self, conv: str) -> None:
        """Drop a conversation the user is no longer in."""
        self._streams.pop(conv, None)

    def snapshot(self) -> dict[str, int]:
        """``delivered`` per conversation — enough to resume later without repeats."""
        return {conv: stream.delivered for conv, stream in self._streams.items()}
