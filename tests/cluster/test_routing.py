"""Cross-node live delivery: every push kind, kicks and presence reach the node
holding the recipient, whichever node the sender is on, and membership changes
reach the other nodes' conversation indexes."""

from __future__ import annotations

import asyncio

import aiohttp

from harness import WAIT_S
from integration.live import in_touch
from integration.wireclient import Wire, WireClient
from integration.wsclient import (
    Rest,
    WsClient,
    connect,
    direct,
    eventually,
    register,
)

from .conftest import START_TIMEOUT_S, NodeFactory


async def test_direct_and_group_chat_across_nodes(
    node_factory: NodeFactory, http: aiohttp.ClientSession
) -> None:
    node_a, node_b, node_c = node_factory("a"), node_factory("b"), node_factory("c")
    rest_a, rest_b = Rest(http, node_a), Rest(http, node_b)
    alice, bob, carol = (
        await register(rest_a, "al"),
        await register(rest_b, "bo"),
        await register(rest_a, "ca"),
    )
    ws_a, _ = await connect(http, node_a, alice)
    ws_b, _ = await connect(http, node_b, bob)
    ws_c, _ = await connect(http, node_c, carol)

    # friend request: made on A, pushed to B
    request = await rest_a.ok(
        "POST", "friends/requests", status=201, token=alice.access, json={"user_id": bob.id}
    )
    await ws_b.expect("friend_request", id=request["id"])

    conv = await direct(rest_a, alice, bob)
    ack = await ws_a.send_text(conv, "hello from a")
    got = await ws_b.expect("msg", conv=conv, seq=ack["seq"])
    assert got["body"] == {"text": "hello from a"}
    assert got["from"] == alice.id
    # receipt and typing from B reach A
    await ws_b.send({"t": "read", "conv": conv, "seq": ack["seq"]})
    await ws_a.expect("receipt", conv=conv, user=bob.id, read=ack["seq"])
    reply = await ws_b.send_text(conv, "hello from b")
    await ws_a.expect("msg", conv=conv, seq=reply["seq"])
    await ws_b.send({"t": "typing", "conv": conv, "on": True})
    await ws_a.expect("typing", conv=conv, user=bob.id, on=True)

    # a group spanning three nodes
    group = await rest_b.ok(
        "POST",
        "groups",
        status=201,
        token=bob.access,
        json={"title": "three nodes", "members": [alice.id, carol.id]},
    )
    sent = await ws_c.send_text(group["id"], "from c")
    for ws in (ws_a, ws_b):
        frame = await ws.expect("msg", conv=group["id"], seq=sent["seq"])
        assert frame["from"] == carol.id
    await ws_c.barrier()
    assert not [f for f in ws_c.backlog if f.get("t") == "msg" and f["seq"] == sent["seq"]]

    # Removed on B: the notice reaches A, and nothing B posts after it does (one node's
    # events arrive in order; the membership change travels between them).
    await rest_b.ok("DELETE", f"groups/{group['id']}/members/{alice.id}", token=bob.access)
    await ws_a.expect("msg", lambda f: f["body"].get("event") == "member_removed", conv=group["id"])
    after = await ws_b.send_text(group["id"], "alice has gone")
    await ws_c.expect("msg", conv=group["id"], seq=after["seq"])
    await ws_a.barrier()
    assert not [f for f in ws_a.backlog if f.get("t") == "msg" and f["seq"] >= after["seq"]]
    for ws in (ws_a, ws_b, ws_c):
        await ws.close()


async def test_tcp_and_protobuf_connections_chat_across_nodes(
    node_factory: NodeFactory, http: aiohttp.ClientSession
) -> None:
    """A TCP client on one node, WebSocket clients (JSON and Protobuf) on another: the
    pushes, receipts and kicks between them are the same as between WebSockets."""
    node_a, node_b = node_factory("a"), node_factory("b")
    rest_a = Rest(http, node_a)
    alice, bob = await register(rest_a, "tj"), await register(rest_a, "tp")
    conv = await direct(rest_a, alice, bob)
    on_tcp = await WireClient.open(Wire.TCP_PROTO, http, node_b, node_b.tcp_port)
    on_proto = await WireClient.open(Wire.WS_PROTO, http, node_b, node_b.tcp_port)
    on_json = await WireClient.open(Wire.WS_JSON, http, node_a, node_a.tcp_port)
    try:
        await on_tcp.auth(bob.access)
        await on_proto.auth(bob.access)
        await on_json.auth(alice.access)

        ack = await on_json.request(
            {"t": "send", "cid": "x1", "conv": conv, "kind": "text", "body": {"text": "to tcp"}},
            reply="ack",
        )
        for client in (on_tcp, on_proto):
            got = await client.expect("msg", conv=conv, seq=ack["seq"])
            assert (got["from"], got["body"]) == (alice.id, {"text": "to tcp"})
        await on_tcp.send({"t": "read", "conv": conv, "seq": ack["seq"]})
        await on_json.expect("receipt", conv=conv, user=bob.id, read=ack["seq"])
        reply = await on_tcp.request(
            {"t": "send", "cid": "x2", "conv": conv, "kind": "text", "body": {"text": "back"}},
            reply="ack",
        )
        await on_json.expect("msg", conv=conv, seq=reply["seq"])
        await on_proto.expect("msg", conv=conv, seq=reply["seq"])  # bob's other device

        # Logging out on node A closes bob's TCP socket on node B with a close frame.
        await Rest(http, node_a).ok("POST", "auth/logout", token=bob.access)
        assert await on_tcp.closed() == 4003
        assert await on_proto.closed() == 4003
    finally:
        for client in (on_tcp, on_proto, on_json):
            await client.close()


async def test_logout_on_one_node_closes_the_socket_on_another(
    node_factory: NodeFactory, http: aiohttp.ClientSession
) -> None:
    node_a, node_b = node_factory("a"), node_factory("b")
    rest_a = Rest(http, node_a)
    alice = await register(rest_a, "lo")
    ws_b, _ = await connect(http, node_b, alice)
    await rest_a.ok("POST", "auth/logout", token=alice.access)
    assert await ws_b.closed() == 4003
    await ws_b.close()
    # Node B had just verified this login (it trusts it for auth_cache_s); the kick
    # from node A cleared that, so a reconnect there is refused at once.
    again = await WsClient.open(http, node_b)
    try:
        answer = await again.request({"t": "auth", "token": alice.access})
        assert (answer["t"], answer["code"]) == ("error", 40104), answer
        assert await again.closed() == 4003
    finally:
        await again.close()


async def test_presence_spans_nodes_and_expires_with_a_dead_node(
    node_factory: NodeFactory, http: aiohttp.ClientSession
) -> None:
    node_a, node_b = node_factory("a"), node_factory("b")
    rest_a = Rest(http, node_a)
    alice, bob = await register(rest_a, "pa"), await register(rest_a, "pb")
    await in_touch(rest_a, alice, bob)  # bob wrote to alice: she sees his presence
    ws_a, _ = await connect(http, node_a, alice)
    ws_b, _ = await connect(http, node_b, bob)
    await ws_a.expect("presence", user=bob.id, online=True)

    async def bob_online() -> bool:
        found = await rest_a.ok("GET", "presence", token=alice.access, params={"users": bob.id})
        return bool(found["items"][0]["online"])

    assert await bob_online()
    node_b.kill()
    # offline within one TTL (plus a heartbeat to notice); the deadline bounds the wait
    await eventually(lambda: _negate(bob_online), timeout=WAIT_S, what="bob offline")
    seen = await rest_a.ok("GET", "presence", token=alice.access, params={"users": bob.id})
    assert seen["items"][0]["last_seen"] is not None
    await ws_a.close()
    await ws_b.close()


async def _negate(check: object) -> bool:
    assert callable(check)
    return not await check()


async def test_nodes_starting_together_share_one_migrated_schema(
    node_factory: NodeFactory, http: aiohttp.ClientSession
) -> None:
    nodes = [node_factory(name, start=False) for name in ("s1", "s2", "s3")]
    await asyncio.gather(*(asyncio.to_thread(node.start, START_TIMEOUT_S) for node in nodes))
    accounts = [await register(Rest(http, node), "st") for node in nodes]
    for node in nodes:
        async with http.get(node.base_url + "/readyz") as response:
            assert response.status == 200
    conv = await direct(Rest(http, nodes[0]), accounts[0], accounts[2])
    ws, _ = await connect(http, nodes[2], accounts[2])
    sender, _ = await connect(http, nodes[1], accounts[0])
    ack = await sender.send_text(conv, "after a concurrent start")
    await ws.expect("msg", conv=conv, seq=ack["seq"])
    await ws.close()
    await sender.close()
