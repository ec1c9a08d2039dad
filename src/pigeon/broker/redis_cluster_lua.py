"""Key layout and Lua scripts of the Redis Cluster presence (``pigeon.broker.redis_cluster``).

Every key carries a hash tag, so each script touches one slot:

- ``{P}:nodes`` (zset node -> expiry, ms) with the channels every node reads,
  ``{P}:routes`` and ``{P}:all``, in the slot of ``{P}``;
- ``{P:u:<user>}:conns`` (hash conn -> "node\\tlogin") and ``{P:u:<user>}:seen``
  (last seen, ms), in the user's slot;
- ``{P:n:<node>}:conns`` (set of "user\\tconn"), in the node's slot;
- ``{P:to:<node>}``, the node's inbox channel, in a slot of its own.

A per-user script cannot read the node set (another slot), so the caller hands it
its view of the nodes: ARGV[1] is how many nodes follow, then pairs of node and
expiry (ms). Connections on a node whose expiry has passed are dropped by the
script (the node is dead), and when it was last known alive becomes the user's
last seen. A node missing from the view counts as alive: it joined after the view
was read.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pigeon.broker.redis_common import text


class ClusterKeys:
    """Every key and channel name, under one prefix, each with its hash tag."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes = f"{{{prefix}}}:nodes"
        self.routes = f"{{{prefix}}}:routes"  # sharded channel of route events
        self.broadcast = f"{{{prefix}}}:all"  # sharded channel every node reads

    def user_conns(self, user_id: str) -> str:
        return f"{{{self.prefix}:u:{user_id}}}:conns"

    def user_seen(self, user_id: str) -> str:
        return f"{{{self.prefix}:u:{user_id}}}:seen"

    def node(self, node_id: str) -> str:
        return f"{{{self.prefix}:n:{node_id}}}:conns"

    def inbox(self, node_id: str) -> str:
        return f"{{{self.prefix}:to:{node_id}}}"


class NodeView:
    """Each node's expiry (ms, Redis clock) as last read from ``{prefix}:nodes``."""

    def __init__(self, self_id: str) -> None:
        self.self_id = self_id
        self.expiries: dict[str, int] = {}
        self.now_ms = 0
        self.read_at = float("-inf")  # monotonic

    def update(self, redis_now: int, zset: Sequence[Any]) -> None:
        fresh = {text(zset[i]): int(float(zset[i + 1])) for i in range(0, len(zset), 2)}
        for node in self.expiries:  # vanished (reaped, or the zset was lost): dead
            fresh.setdefault(node, 0)
        self.expiries, self.now_ms, self.read_at = fresh, redis_now, time.monotonic()

    @property
    def age_s(self) -> float:
        return time.monotonic() - self.read_at

    def estimated_now(self) -> int:
        return self.now_ms + int(self.age_s * 1000)

    def alive(self, node: str, at_ms: int) -> bool:
        return node == self.self_id or self.expiries.get(node, at_ms) >= at_ms

    def dead(self) -> list[str]:
        return [n for n, e in self.expiries.items() if 0 < e < self.now_ms and n != self.self_id]

    def script_args(self) -> list[str | int]:
        """ARGV head of a per-user script; this node counts as alive whatever it read."""
        args: list[str | int] = [len(self.expiries)]
        for node, expiry in self.expiries.items():
            args += [node, 2**62 if node == self.self_id else expiry]
        return args


# KEYS: user conns, user seen. ARGV: view (count, node, expiry...), ttl_ms, own args.
USER_COMMON = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local count = tonumber(ARGV[1])
local expiry = {}
for i = 0, count - 1 do expiry[ARGV[2 + 2 * i]] = tonumber(ARGV[3 + 2 * i]) end
local A = 2 + 2 * count -- the script's own arguments start here
local ttl = tonumber(ARGV[A])
-- The user's logins with a connection on a live node; connections on dead nodes go,
-- and their last refresh becomes the user's last seen.
local function live_logins()
  local out, expired = {}, 0
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    local v = all[i + 1]
    local tab = string.find(v, '\\t', 1, true)
    local e = expiry[string.sub(v, 1, tab - 1)]
    if e == nil or e >= now then
      table.insert(out, string.sub(v, tab + 1))
    else
      redis.call('HDEL', KEYS[1], all[i])
      if e > expired then expired = e end
    end
  end
  if expired > 0 then
    local seen = tonumber(redis.call('GET', KEYS[2]) or '0')
    if expired - ttl > seen then redis.call('SET', KEYS[2], expired - ttl) end
  end
  return out
end
"""

# own ARGV: node, conn, login -> 1 if the user was offline until now
CONNECT = (
    USER_COMMON
    + """
local before = #live_logins()
redis.call('HSET', KEYS[1], ARGV[A + 2], ARGV[A + 1] .. '\\t' .. ARGV[A + 3])
return before == 0 and 1 or 0
"""
)

# own ARGV: conn -> {was registered, was the user's last live connection}
DISCONNECT = (
    USER_COMMON
    + """
if redis.call('HDEL', KEYS[1], ARGV[A + 1]) == 0 then return {0, 0} end
if #live_logins() > 0 then return {1, 0} end
redis.call('SET', KEYS[2], now)
return {1, 1}
"""
)

# Drop the user's connections on the dead nodes of the view. -> live logins left
PURGE = (
    USER_COMMON
    + """
return #live_logins()
"""
)

# KEYS: nodes. ARGV: node, ttl_ms (empty: only read) -> {node was unknown, now, zset}
NODES = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local fresh = 0
if ARGV[2] ~= '' then
  fresh = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
end
return {fresh, now, redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')}
"""

# KEYS: nodes. ARGV: node -> 1 if it was expired and is now forgotten
FORGET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry or tonumber(expiry) >= now then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""
