"""The Python SDK against a real server: chat, sends retried across crashes, catch-up
after drops (each message once, in order) and token refresh on reconnect.

Drops are made for real: the server process is killed, or the TCP relay that one
client talks through (``Relay``) cuts its sockets and refuses new ones for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import io
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

import jwt
import pytest
from PIL import Image

from harness import JWT_SECRET, WAIT_S, ServerProcess, unique_name
from pigeon.client import (
    ClosedEvent,
    Codec,
    ConnectedEvent,
    Connection,
    ConnectionClosedError,
    ConnectionOptions,
    DisconnectedEvent,
    EventStream,
    MessageEvent,
    PigeonApiError,
    PigeonClient,
    Reaction,
    ReceiptEvent,
    ReconnectPolicy,
    SocketDisplaced,
    TypingEvent,
)

from .wireclient import Wire

E = TypeVar("E")

PASSWORD = "correct-horse-battery"
FAST_RECONNECT = ReconnectPolicy(initial_delay=0.05, max_delay=0.5)


class Endpoint(Protocol):
    """A server or a relay in front of one: where a connection of each wire goes."""

    @property
    def tcp_url(self) -> str: ...


# Every test that connects runs once over each wire (WebSocket + JSON, WebSocket +
# Protobuf, TCP + Protobuf): the SDK's behaviour must not depend on the transport.
@pytest.fixture(params=list(Wire), ids=[wire.value for wire in Wire])
def wire(request: pytest.FixtureRequest) -> Wire:
    return Wire(request.param)


Options = Callable[..., ConnectionOptions]


@pytest.fixture
def fast(wire: Wire) -> Options:
    """``fast(endpoint, **more)``: options for this test's wire that reconnect quickly."""

    def options(endpoint: Endpoint, **more: Any) -> ConnectionOptions:
        return ConnectionOptions(
            reconnect=FAST_RECONNECT,
            connect_timeout=WAIT_S,
            request_timeout=WAIT_S,
            codec=Codec.JSON if wire is Wire.WS_JSON else Codec.PROTO,
            url=endpoint.tcp_url if wire is Wire.TCP_PROTO else None,
            **more,
        )

    return options


class Relay:
    """TCP relays in front of the server's HTTP port and its raw TCP port, whose sockets
    a test can cut (real sockets)."""

    def __init__(self, target_port: int, tcp_target_port: int) -> None:
        self.targets = (target_port, tcp_target_port)
        self.ports = (0, 0)
        self.refusing = False
        self.swallow_replies = False
        self._servers: list[asyncio.Server] = []
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def tcp_url(self) -> str:
        return f"tcp://127.0.0.1:{self.ports[1]}"

    async def start(self) -> Relay:
        ports = []
        for target in self.targets:
            server = await asyncio.start_server(
                functools.partial(self._accept, target=target), "127.0.0.1", 0
            )
            self._servers.append(server)
            ports.append(server.sockets[0].getsockname()[1])
        self.ports = (ports[0], ports[1])
        return self

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, target: int
    ) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.transport.abort()
            return
        link = (writer, up_writer)
        self._links.add(link)
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, downstream=False),
                self._pipe(up_reader, writer, downstream=True),
            )
        finally:
            self._links.discard(link)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, downstream: bool
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if downstream and self.swallow_replies:
                    continue  # the server answered; the client never hears it
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    def cut(self) -> None:
        """Reset every relayed socket and refuse new ones until ``restore``."""
        self.refusing = True
        for client_side, server_side in list(self._links):
            client_side.transport.abort()
            server_side.transport.abort()

    def restore(self) -> None:
        self.refusing = False
        self.swallow_replies = False

    async def close(self) -> None:
        self.cut()
        for server in self._servers:
            server.close()
            await server.wait_closed()


RelayFactory = Callable[[ServerProcess], Awaitable[Relay]]


@pytest.fixture
async def relay_factory() -> AsyncIterator[RelayFactory]:
    relays: list[Relay] = []

    async def make(server: ServerProcess) -> Relay:
        relay = await Relay(server.port, server.tcp_port).start()
        relays.append(relay)
        return relay

    yield make
    for relay in relays:
        await relay.close()


@pytest.fixture
async def clients() -> AsyncIterator[list[PigeonClient]]:
    """Clients (and their connections) made in a test are closed after it."""
    made: list[PigeonClient] = []
    yield made
    for client in reversed(made):  # later ones may share an earlier one's HTTP session
        await client.close()


async def new_user(clients: list[PigeonClient], base_url: str) -> PigeonClient:
    client = PigeonClient(base_url)
    clients.append(client)
    await client.register(unique_name(), PASSWORD)
    return client


def user_id(client: PigeonClient) -> str:
    assert client.user is not None
    return str(client.user["id"])


def username(client: PigeonClient) -> str:
    assert client.user is not None
    return str(client.user["username"])


async def next_of(
    stream: EventStream,
    kind: type[E],
    wanted: Callable[[E], bool] = lambda _: True,
    within: float = WAIT_S,
) -> E:
    """The next event of type ``kind`` that is ``wanted``, skipping others."""
    async with asyncio.timeout(within):
        async for event in stream:
            if isinstance(event, kind) and wanted(event):
                return event
    raise AssertionError("the event stream ended")


async def messages_until(
    stream: EventStream, conv: str, last_seq: int, within: float = WAIT_S
) -> list[MessageEvent]:
    """Message events of ``conv`` up to and including ``last_seq`` (they come in order)."""
    got: list[MessageEvent] = []
    async with asyncio.timeout(within):
        async for event in stream:
            if isinstance(event, MessageEvent) and event.conv == conv:
                got.append(event)
                if event.seq >= last_seq:
                    return got
    raise AssertionError("the event stream ended")


async def wait_until(
    condition: Callable[[], Any], within: float = WAIT_S, every: float = 0.02
) -> None:
    """Poll ``condition`` (plain or async) until it holds, failing after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        outcome = condition()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(every)


def through(relay: Relay, client: PigeonClient, clients: list[PigeonClient]) -> PigeonClient:
    """The same login, reaching the server only through ``relay`` (REST and WebSocket)."""
    behind = PigeonClient(relay.base_url, session=client.session)
    behind.access_token, behind.refresh_token = client.access_token, client.refresh_token
    clients.append(behind)
    return behind


async def stored_with_cid(client: PigeonClient, conv: str, cid: str) -> list[dict[str, Any]]:
    page = await client.history(conv, after=0, limit=200)
    return [m for m in page["items"] if m["cid"] == cid]


async def direct_pair(
    clients: list[PigeonClient], base_url: str
) -> tuple[PigeonClient, PigeonClient, str]:
    alice = await new_user(clients, base_url)
    bob = await new_user(clients, base_url)
    conv = (await alice.open_direct(user_id(bob)))["id"]
    return alice, bob, str(conv)


# --- chat


async def test_two_users_chat(
    shared_server: ServerProcess, clients: list[PigeonClient], fast: Options
) -> None:
    alice, bob, conv = await direct_pair(clients, shared_server.base_url)
    assert (await bob.open_direct(user_id(alice)))["id"] == conv
    conn_a = await alice.connect(options=fast(shared_server))
    conn_b = await bob.connect(device="phone", options=fast(shared_server))
    events_a, events_b = conn_a.events(), conn_b.events()
    assert conn_b.ready is not None
    devices = await bob.call("GET", "/users/me/devices")
    # The device is the login's name; the one a connection names is ignored.
    assert conn_b.ready.device in {d["device"] for d in devices["items"]}
    assert conn_b.ready.device != "phone"

    ack = await conn_a.send(conv, body="hello bob")
    assert (ack.conv, ack.seq) == (conv, 1)
    got = await next_of(events_b, MessageEvent)
    assert got.live
    message = got.message
    assert (message.seq, message.id, message.cid) == (1, ack.id, ack.cid)
    assert (message.sender, message.body) == (user_id(alice), {"text": "hello bob"})

    await conn_b.read(conv, 1)
    receipt = await next_of(events_a, ReceiptEvent)
    assert (receipt.conv, receipt.user, receipt.read) == (conv, user_id(bob), 1)

    assert await conn_b.typing(conv, True)
    typing = await next_of(events_a, TypingEvent)
    assert (typing.user, typing.on) == (user_id(bob), True)

    reply = await conn_b.send(conv, body="hi alice", reply_to=1)
    got = await next_of(events_a, MessageEvent)
    assert (got.seq, got.message.reply_to, got.message.body) == (2, 1, {"text": "hi alice"})
    assert reply.seq == 2

    page = await conn_a.pull(conv, after=0)
    assert [m.seq for m in page.items] == [1, 2]
    assert not page.more
    changes = await conn_a.sync()
    assert any(c.conv == conv and c.last_seq == 2 for c in changes.convs)
    assert await conn_a.ping() > 0
    with pytest.raises(PigeonApiError) as refused:
        await conn_a.send("c_no_such_conversation", body="lost")
    assert refused.value.code == 40402

    await conn_a.close()
    closed = await next_of(events_a, ClosedEvent)
    assert closed.error is None
    with pytest.raises(ConnectionClosedError):
        await conn_a.send(conv, body="after close")
    await conn_b.close()


async def test_forwarding_and_retention_helpers(
    shared_server: ServerProcess, clients: list[PigeonClient], fast: Options
) -> None:
    alice, bob, conv = await direct_pair(clients, shared_server.base_url)
    carol = await new_user(clients, shared_server.base_url)
    elsewhere = str((await bob.open_direct(user_id(carol)))["id"])
    original = await alice.send_rest(conv, body="pass it on")
    conn_b = await bob.connect(options=fast(shared_server))
    conn_c = await carol.connect(options=fast(shared_server))
    events_c = conn_c.events()
    ack = await conn_b.forward(conv, original["seq"], elsewhere, cid="fwd-1")
    got = await next_of(events_c, MessageEvent, lambda e: e.conv == elsewhere)
    assert (got.seq, got.message.sender) == (ack.seq, user_id(bob))
    assert got.message.forwarded == (user_id(alice), original["ts"])
    again = await bob.forward(conv, original["seq"], elsewhere, cid="fwd-1")
    assert (again["seq"], again["id"]) == (ack.seq, ack.id)
    page = await conn_c.pull(elsewhere, after=0)
    assert (page.items[-1].forwarded, page.first_seq) == ((user_id(alice), original["ts"]), None)

    group = await alice.call("POST", "/groups", json={"title": "g", "members": [user_id(bob)]})
    view = await alice.set_retention(group["id"], 7)
    assert (view["days"], view["effective_days"]) == (7, 7)
    assert (await bob.retention(group["id"]))["first_seq"] == 1
    with pytest.raises(PigeonApiError) as refused:
        await bob.set_retention(group["id"], 1)
    assert refused.value.code == 40305
    await conn_b.close()
    await conn_c.close()


async def test_rest_helpers_and_errors(
    shared_server: ServerProcess, clients: list[PigeonClient]
) -> None:
    alice, bob, conv = await direct_pair(clients, shared_server.base_url)
    config = await alice.config()
    assert config["ws_url"] == shared_server.ws_url
    assert (await alice.me())["id"] == user_id(alice)
    assert (await alice.get_user(user_id(bob)))["username"] == username(bob)
    found = await alice.search_users(username(bob))
    assert [u["id"] for u in found["items"]] == [user_id(bob)]

    ack = await alice.send_rest(conv, body="over rest", cid="rest-cid-1")
    again = await alice.send_rest(conv, body="changed", cid="rest-cid-1")
    assert again == ack
    assert ack["seq"] == 1
    history = await bob.history(conv)
    assert [(m["seq"], m["body"]["text"]) for m in history["items"]] == [(1, "over rest")]
    marks = await bob.mark_read(conv, 1)
    assert marks["read_seq"] == 1
    listing = await bob.conversations(limit=10)
    assert [(c["id"], c["last_seq"]) for c in listing["items"]] == [(conv, 1)]

    await bob.send_rest(conv, body="我们明天见面吧", cid="rest-cid-2")
    found_messages = await alice.search_messages("明天", conv=conv, sender=user_id(bob))
    [hit] = found_messages["items"]
    assert (hit["conv"], hit["seq"], hit["snippet"]) == (conv, 2, ["我们", "明天", "见面吧"])
    with pytest.raises(PigeonApiError) as blank:
        await alice.search_messages(" ")
    assert (blank.value.code, blank.value.status) == (40050, 400)

    old_refresh = alice.refresh_token
    await alice.refresh()
    assert alice.refresh_token != old_refresh
    assert (await alice.me())["id"] == user_id(alice)
    # An expired access token is refreshed once, however many calls hit it together
    # (a second refresh with the spent token would revoke the login).
    assert alice.access_token is not None
    alice.access_token = expired_copy(alice.access_token)
    both = await asyncio.gather(alice.me(), alice.get_user(user_id(alice)))
    assert [u["id"] for u in both] == [user_id(alice)] * 2

    with pytest.raises(PigeonApiError) as wrong:
        await PigeonClient(shared_server.base_url, session=alice.session).login(
            username(alice), "not-the-password"
        )
    assert (wrong.value.code, wrong.value.status) == (40101, 401)
    with pytest.raises(PigeonApiError) as missing:
        await alice.history("c_nope")
    assert (missing.value.code, missing.value.status) == (40402, 404)

    await alice.logout()
    with pytest.raises(PigeonApiError) as logged_out:
        await alice.me()
    assert logged_out.value.status == 401


async def test_file_helpers_upload_describe_and_download(
    shared_server: ServerProcess, clients: list[PigeonClient]
) -> None:
    alice, bob, conv = await direct_pair(clients, shared_server.base_url)
    picture = io.BytesIO()
    Image.new("RGB", (30, 20), "red").save(picture, "PNG")
    data = picture.getvalue()
    # An expired token is refreshed for an upload too (the multipart body is sent again).
    assert alice.access_token is not None
    alice.access_token = expired_copy(alice.access_token)
    uploaded = await alice.upload_file("dot.png", data, content_type="text/plain")
    assert (uploaded["name"], uploaded["size"], uploaded["mime"]) == (
        "dot.png",
        len(data),
        "image/png",
    )
    assert (uploaded["width"], uploaded["height"]) == (30, 20)
    await alice.send_rest(conv, "image", {"file_id": uploaded["id"], "width": 30, "height": 20})

    info, got = await bob.download_file(uploaded["id"])
    assert (info["name"], got) == ("dot.png", data)
    assert (await bob.file_info(uploaded["id"]))["size"] == len(data)
    stranger = await new_user(clients, shared_server.base_url)
    with pytest.raises(PigeonApiError) as hidden:
        await stranger.download_file(uploaded["id"])
    assert (hidden.value.code, hidden.value.status) == (40404, 404)


# --- retries


async def test_send_retried_across_server_crash(
    server: ServerProcess, clients: list[PigeonClient], fast: Options
) -> None:
    alice, _bob, conv = await direct_pair(clients, server.base_url)
    conn = await alice.connect(options=fast(server))

    # Stored, then the server dies: the same cid after the restart gets the original ack.
    first = await conn.send(conv, body="first", cid="crash-cid-1")
    server.kill()
    server.start()
    assert await conn.send(conv, body="not stored", cid="crash-cid-1") == first

    # In flight when the server dies: sent again on the next socket, stored once.
    assert server.proc is not None
    server.proc.send_signal(signal.SIGSTOP)
    sending = asyncio.create_task(conn.send(conv, body="in flight", cid="crash-cid-2"))
    await wait_until(lambda: conn.in_flight >= 1)
    server.kill()
    server.start()
    async with asyncio.timeout(WAIT_S):
        second = await sending
    assert second.seq == first.seq + 1

    for cid, ack in (("crash-cid-1", first), ("crash-cid-2", second)):
        stored = await stored_with_cid(alice, conv, cid)
        assert [(m["seq"], m["id"]) for m in stored] == [(ack.seq, ack.id)]

    # A graceful restart closes the socket with 1012; the connection comes back by itself.
    events = conn.events()
    server.terminate()
    await next_of(events, DisconnectedEvent, lambda e: e.code == 1012)
    server.start()
    await next_of(events, ConnectedEvent)
    assert (await conn.send(conv, body="after restart")).seq == second.seq + 1
    await conn.close()


async def test_lost_ack_is_recovered_with_the_original_ack(
    shared_server: ServerProcess,
    clients: list[PigeonClient],
    relay_factory: RelayFactory,
    fast: Options,
) -> None:
    relay = await relay_factory(shared_server)
    alice, bob, conv = await direct_pair(clients, shared_server.base_url)
    behind = through(relay, alice, clients)
    conn = await behind.connect(options=fast(relay))

    relay.swallow_replies = True  # the server stores the message; its ack never arrives
    sending = asyncio.create_task(conn.send(conv, body="ack lost", cid="lost-ack-cid"))

    async def stored() -> bool:
        return bool(await stored_with_cid(bob, conv, "lost-ack-cid"))

    await wait_until(stored)
    relay.cut()
    relay.restore()
    async with asyncio.timeout(WAIT_S):
        ack = await sending
    original = (await stored_with_cid(bob, conv, "lost-ack-cid"))[0]
    assert (ack.seq, ack.id, ack.ts) == (original["seq"], original["id"], original["ts"])
    assert len(await stored_with_cid(bob, conv, "lost-ack-cid")) == 1
    await conn.close()


# --- catch-up


async def test_disconnected_client_gets_every_message_once_in_order(
    shared_server: ServerProcess,
    clients: list[PigeonClient],
    relay_factory: RelayFactory,
    fast: Options,
) -> None:
    relay = await relay_factory(shared_server)
    alice, bob, conv = await direct_pair(clients, shared_server.base_url)
    behind = through(relay, bob, clients)
    conn = await behind.connect(options=fast(relay))
    events = conn.events()

    for n in range(3):
        await alice.send_rest(conv, body=f"before {n}")
    live = await messages_until(events, conv, 3)
    assert [(e.seq, e.live) for e in live] == [(1, True), (2, True), (3, True)]

    relay.cut()
    await next_of(events, DisconnectedEvent)
    for n in range(100):
        await alice.send_rest(conv, body=f"offline {n}")
    relay.restore()
    # More arrive while the client is catching up: live pushes and pulls overlap.
    for n in range(20):
        await alice.send_rest(conv, body=f"during {n}")
    await alice.send_rest(conv, body="last")

    got = await messages_until(events, conv, 124)
    assert [e.seq for e in got] == list(range(4, 125))
    expected = [f"offline {n}" for n in range(100)] + [f"during {n}" for n in range(20)]
    assert [e.message.body["text"] for e in got] == [*expected, "last"]
    assert not any(e.live for e in got[:100])  # those came from catch-up
    assert conn.state().delivered[conv] == 124
    await conn.close()


async def test_resume_from_saved_state(
    shared_server: ServerProcess, clients: list[PigeonClient], fast: Options
) -> None:
    alice, bob, conv = await direct_pair(clients, shared_server.base_url)
    await alice.send_rest(conv, body="history")
    conn = await bob.connect(options=fast(shared_server))
    await alice.send_rest(conv, body="seen")
    assert [e.seq for e in await messages_until(conn.events(), conv, 2)] == [2]
    saved = conn.state()
    await conn.close()

    await alice.send_rest(conv, body="while away")
    resumed = await bob.connect(options=fast(shared_server, resume=saved))
    got = await messages_until(resumed.events(), conv, 3)
    assert [(e.seq, e.message.body["text"], e.live) for e in got] == [(3, "while away", False)]
    await resumed.close()


# --- tokens


def expired_copy(token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    now = int(time.time())
    claims.update(iat=now - 120, exp=now - 60)
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


async def test_expired_token_is_refreshed_on_reconnect_and_logout_stops(
    shared_server: ServerProcess,
    clients: list[PigeonClient],
    relay_factory: RelayFactory,
    fast: Options,
) -> None:
    relay = await relay_factory(shared_server)
    alice, bob, conv = await direct_pair(clients, shared_server.base_url)
    behind = through(relay, bob, clients)
    conn: Connection = await behind.connect(options=fast(relay))
    events = conn.events()

    assert behind.access_token is not None
    behind.access_token = expired_copy(behind.access_token)
    spent_refresh = behind.refresh_token
    relay.cut()
    relay.restore()
    rejected = await next_of(events, DisconnectedEvent, lambda e: e.code == 4003)
    assert rejected.retry_in == 0
    reconnected = await next_of(events, ConnectedEvent)
    assert reconnected.attempt == 2
    assert behind.refresh_token != spent_refresh
    await alice.send_rest(conv, body="after refresh")
    got = await next_of(events, MessageEvent)
    assert got.message.body == {"text": "after refresh"}

    # Logging out revokes the refresh token too: the connection stops with the auth error.
    await PigeonClient(
        shared_server.base_url, access_token=behind.access_token, session=bob.session
    ).logout()
    closed = await next_of(events, ClosedEvent)
    assert isinstance(closed.error, PigeonApiError)
    assert closed.error.code == 40105
    assert conn.closed
    with pytest.raises(ConnectionClosedError):
        await conn.send(conv, body="refused")


# --- displaced sockets


async def test_a_displaced_connection_stops_instead_of_fighting_the_newer_one(
    server_factory: Callable[..., ServerProcess], clients: list[PigeonClient], fast: Options
) -> None:
    server = server_factory("displaced", env={"PIGEON_MAX_SOCKETS_PER_USER": "1"})
    alice = await new_user(clients, server.base_url)
    older = await alice.connect(options=fast(server))
    events = older.events()
    newer = await alice.connect(options=fast(server))

    closed = await next_of(events, ClosedEvent)
    assert isinstance(closed.error, SocketDisplaced)
    assert closed.error.code == 4011
    assert older.closed
    with pytest.raises(ConnectionClosedError) as refused:
        await older.ping()
    assert isinstance(refused.value.error, SocketDisplaced)
    # The newer connection keeps its socket: it was never displaced in turn.
    newer_events = newer.events()
    assert await newer.ping() > 0
    assert newer.connected
    await newer.close()
    assert [event.t async for event in newer_events] == ["connected", "closed"]


# --- heartbeat


async def test_client_pings_keep_a_quiet_connection_open(
    server_factory: Callable[..., ServerProcess], clients: list[PigeonClient], fast: Options
) -> None:
    # The client pings once per heartbeat and the server closes after two silent ones,
    # so the margin for a late ping is one heartbeat: 2 s, not 1, on a loaded machine.
    server = server_factory("heartbeat", env={"PIGEON_HEARTBEAT_S": "2"})
    client = await new_user(clients, server.base_url)
    conn = await client.connect(options=fast(server))
    assert conn.ready is not None
    assert conn.ready.heartbeat == 2

    async def pings_seen() -> float:
        async with client.session.get(f"{server.base_url}/metrics") as response:
            for line in (await response.text()).splitlines():
                if line.startswith('pigeon_frames_in_total{type="ping"}'):
                    return float(line.split()[-1])
        return 0.0

    async def outlived_three_heartbeats() -> bool:
        return await pings_seen() >= 3

    # A connection silent for two heartbeats (4 s) is closed with 4010; this one is not.
    await wait_until(outlived_three_heartbeats, every=0.2)
    await conn.close()
    kinds = [event.t async for event in conn.events()]
    assert kinds == ["connected", "closed"]


async def test_reactions_and_pins_through_both_helpers(
    shared_server: ServerProcess, clients: list[PigeonClient], fast: Options
) -> None:
    alice, bob, conv = await direct_pair(clients, shared_server.base_url)
    conn_a = await alice.connect(options=fast(shared_server))
    conn_b = await bob.connect(options=fast(shared_server))
    events_a = conn_a.events()
    said = await conn_a.send(conv, body="react to me")

    toggled = await conn_b.react(conv, said.seq, "👍")  # over the live connection
    got = await next_of(events_a, MessageEvent, lambda e: e.seq == toggled.seq)
    assert (got.message.kind, got.message.marks) == ("react", said.seq)
    assert got.message.body == {"seq": said.seq, "emoji": "👍", "on": True, "count": 1}
    await alice.react(conv, said.seq, "👩‍💻")  # over REST: a ZWJ emoji in the path
    with pytest.raises(PigeonApiError) as refused:
        await alice.react(conv, said.seq, "👩‍💻")
    assert refused.value.code == 40920
    page = await conn_a.pull(conv, before=said.seq + 1, limit=1)
    assert page.items[0].reactions == (Reaction("👍", 1, False), Reaction("👩‍💻", 1, True))
    await conn_b.react(conv, said.seq, "👍", on=False)
    await alice.unreact(conv, said.seq, "👩‍💻")
    assert (await conn_a.pull(conv, before=said.seq + 1, limit=1)).items[0].reactions == ()

    pinned = await conn_b.pin(conv, said.seq)
    got = await next_of(events_a, MessageEvent, lambda e: e.seq == pinned.seq)
    assert (got.message.kind, got.message.marks) == ("pin", said.seq)
    assert [p["seq"] for p in await alice.pins(conv)] == [said.seq]
    await alice.unpin(conv, said.seq)
    await bob.pin(conv, said.seq)
    await conn_a.unpin(conv, said.seq)
    assert await bob.pins(conv) == []
