"""Which connections may have gone silent: a timer wheel, so idle costs nothing.

A connection is closed once it has been silent for two heartbeats (docs/protocol.md).
Looking at every connection on every sweep makes an idle server's CPU grow with its
connection count. Instead each connection is filed once, in the slot of the moment
it would be overdue if nothing arrived meanwhile. Arriving frames only move its
``last_seen`` (a plain assignment, no re-filing); when its slot comes round, a
connection that was heard from in between is simply filed again further on. A
sweep therefore touches only the connections due in the slots that have passed:
none, on a server whose clients are all heard from well within their heartbeat.

Slots are ``granularity_s`` wide; a connection is closed within one slot of its
deadline, as with the periodic sweep this replaces.
"""

from __future__ import annotations

import time

from pigeon.gateway.connection import Connection


class SilenceWheel:
    """Connections filed by the slot in which they would be overdue. One event loop."""

    __slots__ = ("_next", "_slots", "granularity_s")

    def __init__(self, granularity_s: float, now: float | None = None) -> None:
        self.granularity_s = granularity_s
        self._slots: dict[int, set[Connection]] = {}
        # The first slot no sweep has taken yet; slot n is due from n * granularity_s.
        self._next = self._slot_at(time.monotonic() if now is None else now)

    def __len__(self) -> int:
        return sum(len(conns) for conns in self._slots.values())

    def _slot_at(self, moment: float) -> int:
        return int(moment // self.granularity_s)

    def watch(self, conn: Connection) -> None:
        """File ``conn`` under the first slot after its silence deadline."""
        machine = conn.machine
        deadline = machine.last_seen + machine.limits.silence_s
        # Strictly after the deadline (the machine closes only when it has passed),
        # and never in a slot already swept.
        slot = max(self._next, self._slot_at(deadline) + 1)
        conn.silence_slot = slot
        self._slots.setdefault(slot, set()).add(conn)

    def forget(self, conn: Connection) -> None:
        """``conn`` left the hub: drop it now rather than when its slot comes round."""
        conns = self._slots.get(conn.silence_slot)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._slots[conn.silence_slot]

    def sweep(self, now: float) -> int:
        """Tick the connections whose slots are due at ``now``; those still open are
        filed again by their ``last_seen``. Returns how many were looked at."""
        due = self._take_due(now)
        for conn in due:
            if conn.closed:
                continue
            conn.tick(now)  # its machine closes it after two silent heartbeats
            if not conn.closed:
                self.watch(conn)
        return len(due)

    def _take_due(self, now: float) -> list[Connection]:
        last = self._slot_at(now)
        due: list[Connection] = []
        # Usually one slot per sweep; after a long stall, only the slots that hold any.
        if last - self._next < len(self._slots):
            slots: list[int] = list(range(self._next, last + 1))
        else:
            slots = [slot for slot in self._slots if slot <= last]
        for slot in slots:
            due.extend(self._slots.pop(slot, ()))
        self._next = max(self._next, last + 1)
        return due

    def seconds_to_next(self, now: float) -> float:
        """How long until the next slot is due."""
        return max(0.0, self._next * self.granularity_s - now)
