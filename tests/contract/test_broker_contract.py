"""The Broker port's guarantees (pigeon/broker/base.py), on every backend.

Each test states the guarantee it checks. Waits poll for a condition; "nothing more
arrived" is shown with a marker published after it: events from one publisher arrive
in order, so once the marker is in, anything before it that was coming has come.
"""

from __future__ import annotations

import asyncio

from harness import WAIT_S
from pigeon.broker.base import ConvPush, Event, Kick, Membership, Push, Resubscribed

from .portkit import Cluster, PortNode, kicks, kicks_flow, route_known, subscribed_again, until

USER, OTHER, NOBODY = "u_contract_1", "u_contract_2", "u_contract_3"


async def marker_through(sender: PortNode, *holders: PortNode, users: tuple[str, ...]) -> None:
    """Publish an end marker from ``sender`` and wait until every holder has it."""
    await sender.broker.publish(Push(users, {"t": "end"}))
    for holder in holders:
        await until(lambda h=holder: {"t": "end"} in h.frames(), f"the marker at {holder.node_id}")


async def test_publish_hands_the_event_to_this_nodes_subscribers_before_it_returns(
    cluster: Cluster,
) -> None:
    """This node at once, in subscription order, once each; a subscriber that raises
    does not keep the event from the others."""
    node = await cluster.node()
    calls: list[tuple[str, Event]] = []

    def failing(event: Event) -> None:
        calls.append(("failing", event))
        raise RuntimeError("a broken subscriber")

    node.broker.subscribe(failing)
    node.broker.subscribe(lambda event: calls.append(("last", event)))
    push = Push((USER, NOBODY), {"t": "msg", "n": 1}, skip_connection="conn-1")
    kick = Kick(4003, login_ids=("l1", "l2"))
    joined = Membership(USER, "c_contract", joined=True)
    conv_push = ConvPush("c_contract", {"t": "msg", "n": 2}, "conn-1", skip_user=OTHER)
    events: list[Event] = [push, kick, joined, conv_push]
    for event in events:
        await node.broker.publish(event)
    assert node.received == events  # the first subscriber, the whole event
    assert calls == [(name, e) for e in events for name in ("failing", "last")]


async def test_per_publisher_order_and_nothing_lost_while_the_backend_is_reachable(
    cluster: Cluster,
) -> None:
    """Every subscriber, on this node and on the node holding the recipient, gets the
    publisher's events in publishing order, each once, none dropped while healthy."""
    sender = await cluster.node("a")
    receivers = [sender]
    if cluster.spans_nodes:
        holder = await cluster.node("b")
        assert await holder.presence.connect(USER, "login-b", "conn-b")
        await route_known(sender, holder, USER)
        receivers.append(holder)
    sent = [{"t": "msg", "n": n} for n in range(300)]
    for frame in sent:
        await sender.broker.publish(Push((USER,), frame))
    for receiver in receivers:
        await until(lambda r=receiver: len(r.frames()) >= len(sent), "every event")
    await marker_through(sender, *receivers, users=(USER,))
    for receiver in receivers:
        assert receiver.frames() == [*sent, {"t": "end"}]


async def test_a_push_reaches_each_node_holding_a_recipient_with_only_its_users(
    cluster: Cluster,
) -> None:
    """Other nodes: a push goes to the nodes holding its users, carrying the users each
    holds, once; a node holding none of them does not get it."""
    sender, holds_user, holds_other = await cluster.nodes(3)
    assert await holds_user.presence.connect(USER, "login-1", "conn-1")
    assert await holds_other.presence.connect(OTHER, "login-2", "conn-2")
    await route_known(sender, holds_user, USER)
    await route_known(sender, holds_other, OTHER)

    both = Push((USER, OTHER, NOBODY), {"t": "msg", "n": 1}, skip_connection="conn-x")
    only_user = Push((USER,), {"t": "msg", "n": 2})
    await sender.broker.publish(both)
    await sender.broker.publish(only_user)
    await marker_through(sender, holds_user, holds_other, users=(USER, OTHER))

    assert sender.received[:2] == [both, only_user]  # its own subscriber: as published
    assert holds_user.received[:2] == [
        Push((USER,), both.frame, "conn-x"),
        Push((USER,), only_user.frame),
    ]
    assert holds_other.received[:1] == [Push((OTHER,), both.frame, "conn-x")]
    assert holds_other.frames() == [both.frame, {"t": "end"}]  # not the push to USER alone


async def test_a_kick_reaches_every_node(cluster: Cluster) -> None:
    """A kick reaches the subscribers of every node, holding its user or not."""
    sender, other = await cluster.nodes(2)
    await kicks_flow(sender, other)
    kick = Kick(4003, login_ids=("login-1",), user_id=USER)
    await sender.broker.publish(kick)
    await until(lambda: kick in kicks(other), "the kick on the other node")
    await sender.broker.publish(Kick(4000, user_id="end"))
    await until(lambda: any(k.user_id == "end" for k in kicks(other)), "the end kick")
    assert kicks(other) == [kick, Kick(4000, user_id="end")]
    assert sender.received == [kick, Kick(4000, user_id="end")]


async def test_conversation_events_reach_every_node_whole_and_in_order(
    cluster: Cluster,
) -> None:
    """A ConvPush and a Membership reach the subscribers of every node, holding a
    connection or not, with every field, in the publisher's order among its kicks."""
    sender, other = await cluster.nodes(2)
    await kicks_flow(sender, other)
    events: list[Event] = [
        Membership(USER, "c_contract", joined=True),
        ConvPush("c_contract", {"t": "msg", "n": 1}, "conn-1", skip_user=OTHER),
        ConvPush("c_contract", {"t": "typing", "on": True}),
        Membership(USER, "c_contract", joined=False),
        Kick(4000, user_id="end"),
    ]
    for event in events:
        await sender.broker.publish(event)
    await until(lambda: any(k.user_id == "end" for k in kicks(other)), "the end kick")
    assert other.received == events
    assert sender.received == events


async def test_no_subscriber_is_called_after_close(cluster: Cluster) -> None:
    """Close: the node's subscribers are not called again, for its own publishes or
    for other nodes' events."""
    if not cluster.spans_nodes:
        node = await cluster.node()
        await node.close()
        await node.broker.publish(Push((USER,), {"t": "msg"}))
        assert node.received == []
        return
    sender, closing, witness = await cluster.nodes(3)
    await kicks_flow(sender, closing, witness)
    await closing.close()
    await closing.broker.publish(Kick(4000, user_id="own"))
    await sender.broker.publish(Kick(4003, user_id=USER))
    await until(lambda: any(k.user_id == USER for k in kicks(witness)), "the kick elsewhere")
    assert closing.received == []


async def test_publish_neither_blocks_nor_raises_without_the_backend(cluster: Cluster) -> None:
    """No blocking: with the backend gone, publish still returns at once (bounded here
    only by the suite's generous wait), never raises, and this node's subscribers
    still get every event."""
    redis = cluster.require_backend_process()
    sender, holder = await cluster.nodes(2)
    assert await holder.presence.connect(USER, "login-1", "conn-1")
    await route_known(sender, holder, USER)
    redis.kill()
    sent = [{"t": "msg", "n": n} for n in range(200)]

    async def publish_all() -> None:
        for frame in sent:
            await sender.broker.publish(Push((USER,), frame))

    await asyncio.wait_for(publish_all(), WAIT_S)
    assert sender.frames() == sent


async def test_delivery_resumes_after_a_backend_restart_and_nothing_comes_late(
    cluster: Cluster,
) -> None:
    """Recovery: after Redis restarts empty, pushes reach the holder's node again by
    themselves, and each node's subscribers are told it subscribed again. At most once: what was published while Redis was away never arrives."""
    redis = cluster.require_backend_process()
    sender = await cluster.node("a", ttl_s=6.0)
    holder = await cluster.node("b", ttl_s=6.0)
    assert await holder.presence.connect(USER, "login-1", "conn-1")
    await route_known(sender, holder, USER)
    redis.kill()
    for n in range(50):
        await sender.broker.publish(Push((USER,), {"t": "lost", "n": n}))
    redis.start()  # same port, no data: nodes must register and route again
    for node in (sender, holder):  # told that other nodes' events may have been lost
        await until(
            lambda n=node: any(isinstance(e, Resubscribed) for e in n.received),
            f"Resubscribed at {node.node_id}",
        )
    await subscribed_again(sender, holder)
    await route_known(sender, holder, USER)
    await marker_through(sender, holder, users=(USER,))
    assert not [f for f in holder.frames() if f.get("t") == "lost"]
