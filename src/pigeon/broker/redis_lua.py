"""Key layout and the Lua scripts of the Redis presence (see ``pigeon.broker.redis``).

Every presence change runs as one script, so "first connection" and "last
connection" are decided atomically across nodes, and each change publishes its
route event on the same step, so route tables never miss a change that happened.
A node is alive while its score in the node set (an expiry, Redis clock) is in
the future; only connections on live nodes count.
"""

from __future__ import annotations


class Keys:
    """Every key and channel name, under one prefix so clusters can share a Redis."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes = f"{prefix}:nodes"  # zset node -> expiry (ms, Redis clock)
        self.seen = f"{prefix}:seen"  # hash user -> last seen (ms)
        self.routes = f"{prefix}:routes"  # channel of route events
        self.broadcast = f"{prefix}:all"  # channel every node reads

    def user(self, user_id: str) -> str:
        return f"{self.prefix}:conns:{user_id}"  # hash conn -> "node\tlogin"

    def node(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}"  # set of "user\tconn"

    def inbox(self, node_id: str) -> str:
        return f"{self.prefix}:to:{node_id}"


# --- Lua: every presence change is atomic and announces itself on the route channel.

LUA_COMMON = """
local P = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- The user's logins with a connection on a live node, and the latest expiry among
-- connections on expired nodes (not yet reaped): when they were last known alive.
local function live_logins(user)
  local out, expired = {}, 0
  local values = redis.call('HVALS', P .. ':conns:' .. user)
  for _, v in ipairs(values) do
    local tab = string.find(v, '\\t', 1, true)
    local expiry = redis.call('ZSCORE', P .. ':nodes', string.sub(v, 1, tab - 1))
    if expiry and tonumber(expiry) >= now then
      table.insert(out, string.sub(v, tab + 1))
    elseif expiry and tonumber(expiry) > expired then
      expired = tonumber(expiry)
    end
  end
  return out, expired
end
"""

# ARGV: prefix, node, ttl_ms, user, conn, login -> {was_offline, node_was_unknown}
CONNECT = (
    LUA_COMMON
    + """
local node, user, conn = ARGV[2], ARGV[4], ARGV[5]
local before = #live_logins(user)
local fresh = redis.call('ZADD', P .. ':nodes', now + tonumber(ARGV[3]), node)
redis.call('HSET', P .. ':conns:' .. user, conn, node .. '\\t' .. ARGV[6])
redis.call('SADD', P .. ':node:' .. node, user .. '\\t' .. conn)
redis.call('PUBLISH', P .. ':routes', '+\\t' .. user .. '\\t' .. node .. '\\t' .. conn)
return {before == 0 and 1 or 0, fresh}
"""
)

# ARGV: prefix, node, user, conn -> 1 if that was the user's last live connection
DISCONNECT = (
    LUA_COMMON
    + """
local node, user, conn = ARGV[2], ARGV[3], ARGV[4]
redis.call('SREM', P .. ':node:' .. node, user .. '\\t' .. conn)
if redis.call('HDEL', P .. ':conns:' .. user, conn) == 0 then return 0 end
redis.call('PUBLISH', P .. ':routes', '-\\t' .. user .. '\\t' .. node .. '\\t' .. conn)
if #live_logins(user) > 0 then return 0 end
redis.call('HSET', P .. ':seen', user, now)
return 1
"""
)

# ARGV: prefix, node, ttl_ms -> {node_was_unknown, {dead nodes}}
HEARTBEAT = (
    LUA_COMMON
    + """
local fresh = redis.call('ZADD', P .. ':nodes', now + tonumber(ARGV[3]), ARGV[2])
return {fresh, redis.call('ZRANGEBYSCORE', P .. ':nodes', '-inf', '(' .. now)}
"""
)

# Make the node's registered connections exactly ARGV[4..] ("user\tconn\tlogin" each).
# ARGV: prefix, node, ttl_ms (0: withdraw the node), entries...
SYNC_NODE = (
    LUA_COMMON
    + """
local node, ttl = ARGV[2], tonumber(ARGV[3])
local nodeset = P .. ':node:' .. node
local wanted = {}
for i = 4, #ARGV do
  local e = ARGV[i]
  local a = string.find(e, '\\t', 1, true)
  local b = string.find(e, '\\t', a + 1, true)
  wanted[string.sub(e, 1, b - 1)] = {string.sub(e, 1, a - 1), string.sub(e, a + 1, b - 1),
                                     string.sub(e, b + 1)}
end
for _, member in ipairs(redis.call('SMEMBERS', nodeset)) do
  if not wanted[member] then
    local a = string.find(member, '\\t', 1, true)
    local user, conn = string.sub(member, 1, a - 1), string.sub(member, a + 1)
    redis.call('SREM', nodeset, member)
    redis.call('HDEL', P .. ':conns:' .. user, conn)
    redis.call('PUBLISH', P .. ':routes', '-\\t' .. user .. '\\t' .. node .. '\\t' .. conn)
    if #live_logins(user) == 0 then redis.call('HSET', P .. ':seen', user, now) end
  end
end
if ttl == 0 then
  redis.call('ZREM', P .. ':nodes', node)
  redis.call('PUBLISH', P .. ':routes', 'x\\t' .. node)
  return 0
end
redis.call('ZADD', P .. ':nodes', now + ttl, node)
for member, e in pairs(wanted) do
  redis.call('HSET', P .. ':conns:' .. e[1], e[2], node .. '\\t' .. e[3])
  if redis.call('SADD', nodeset, member) == 1 then
    redis.call('PUBLISH', P .. ':routes', '+\\t' .. e[1] .. '\\t' .. node .. '\\t' .. e[2])
  end
end
return 1
"""
)

# Withdraw a node whose heartbeat expired (if it still has). ARGV: prefix, node, ttl_ms
REAP = (
    LUA_COMMON
    + """
local node = ARGV[2]
local expiry = redis.call('ZSCORE', P .. ':nodes', node)
if not expiry or tonumber(expiry) >= now then return 0 end
local last_beat = tonumber(expiry) - tonumber(ARGV[3])
local nodeset = P .. ':node:' .. node
for _, member in ipairs(redis.call('SMEMBERS', nodeset)) do
  local a = string.find(member, '\\t', 1, true)
  local user, conn = string.sub(member, 1, a - 1), string.sub(member, a + 1)
  redis.call('HDEL', P .. ':conns:' .. user, conn)
  if #live_logins(user) == 0 then redis.call('HSET', P .. ':seen', user, last_beat) end
end
redis.call('DEL', nodeset)
redis.call('ZREM', P .. ':nodes', node)
redis.call('PUBLISH', P .. ':routes', 'x\\t' .. node)
return 1
"""
)

# ARGV: prefix, ttl_ms, users... -> per user: {live logins joined by tab, last seen, count}
LOOKUP = (
    LUA_COMMON
    + """
local ttl = tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local logins, expired = live_logins(ARGV[i])
  local seen = tonumber(redis.call('HGET', P .. ':seen', ARGV[i]) or '0')
  if expired > 0 and expired - ttl > seen then seen = expired - ttl end
  table.insert(out, {table.concat(logins, '\\t'), seen, #logins})
end
return out
"""
)
