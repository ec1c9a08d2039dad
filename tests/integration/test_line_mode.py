"""Line mode against a real server: a real ``nc`` and plain sockets chatting with
WebSocket (Python SDK) users; sign-in, commands, bad input, limits and guest cleanup."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from harness import WAIT_S, ServerProcess, stop_all, unique_name
from pigeon.client import (
    ConnectionOptions,
    MessageEvent,
    PigeonApiError,
    PigeonClient,
    ReconnectPolicy,
)

from .linekit import line_port, nc_client, socket_client
from .test_sdk import PASSWORD, next_of, user_id, username, wait_until

MAX_LINE = 64  # the line limit of the module's server, tested at its edge
LOBBY = "c_lobby"
STAMPED = r"^\[\d\d:\d\d\] "
NewUser = Callable[[], Awaitable[PigeonClient]]
FAST = ConnectionOptions(
    reconnect=ReconnectPolicy(initial_delay=0.05, max_delay=0.5),
    connect_timeout=WAIT_S,
    request_timeout=WAIT_S,
)


@pytest.fixture(scope="module")
def line_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("line"),
        env={"PIGEON_LINE_MAX_BYTES": str(MAX_LINE)},
        args=["--line-port", "0", "--allow-guests"],
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def sdk_users(line_server: ServerProcess) -> AsyncIterator[NewUser]:
    made: list[PigeonClient] = []

    async def make() -> PigeonClient:
        client = PigeonClient(line_server.base_url)
        made.append(client)
        await client.register(unique_name(), PASSWORD)
        return client

    yield make
    for client in reversed(made):
        await client.close()


def nick() -> str:
    return f"n{secrets.token_hex(4)}"


async def lobby_texts(client: PigeonClient) -> list[str]:
    page = await client.history(LOBBY, limit=200)
    return [m["body"].get("text", "") for m in page["items"] if m["kind"] == "text"]


# --- the acceptance test: a real nc and a WebSocket user in the lobby


async def test_nc_chats_with_a_websocket_user_in_the_lobby(
    line_server: ServerProcess, sdk_users: NewUser
) -> None:
    web = await sdk_users()
    await web.call("POST", f"/groups/{LOBBY}/join")
    conn = await web.connect(options=FAST)
    events = conn.events()
    guest = nick()
    async with nc_client(line_port(line_server)) as terminal:
        await terminal.sign_in_as_guest(guest)

        terminal.send("hello from nc, 你好")
        got = await next_of(
            events, MessageEvent, lambda e: e.conv == LOBBY and e.message.kind == "text"
        )
        assert got.message.body == {"text": "hello from nc, 你好"}
        assert got.message.kind == "text"
        sender = await web.get_user(got.message.sender)
        assert sender["username"] == guest

        await conn.send(LOBBY, body="hi nc! 欢迎")
        await terminal.expect(STAMPED + re.escape(f"{username(web)}: hi nc! 欢迎") + "$")

        # A private message each way.
        terminal.send(f"/msg {username(web)} just for you")
        await terminal.expect(STAMPED + re.escape(f"-> *{username(web)}*: just for you"))
        private = await next_of(events, MessageEvent, lambda e: e.conv != LOBBY)
        assert private.message.body == {"text": "just for you"}
        await conn.send(private.conv, body="got it")
        await terminal.expect(STAMPED + re.escape(f"*{username(web)}*: got it"))

        terminal.send("/quit")
        await terminal.expect("^\\* Bye\\.$")
        terminal.end_input()
        assert await terminal.until_closed() == []
    assert "hello from nc, 你好" in await lobby_texts(web)


# --- commands, over a plain socket


async def test_who_rooms_join_history_and_nick(
    line_server: ServerProcess, sdk_users: NewUser
) -> None:
    owner = await sdk_users()
    title = f"den{secrets.token_hex(3)}"
    room = await owner.call(
        "POST", "/groups", json={"title": title, "member_ids": [], "visibility": "public"}
    )
    await owner.send_rest(room["id"], "text", {"text": "before you came"})
    first, second = nick(), nick()
    async with socket_client(line_port(line_server)) as line:
        await line.sign_in_as_guest(first)
        line.send("/who")
        assert first in await line.expect("^\\* Online in lobby ")
        line.send("/rooms")
        await line.expect(re.escape(title) + r": 1 members, id " + re.escape(room["id"]))
        line.send(f"/join {title.upper()}")
        await line.expect(f"^\\* Now in {title}\\.")
        await line.expect(f"^\\* {first} joined$")  # live, in the room now
        await owner.send_rest(room["id"], "text", {"text": "welcome"})
        await line.expect(STAMPED + re.escape(f"{username(owner)}: welcome") + "$")
        line.send("/history 5")  # a newcomer sees the room from their arrival on
        await line.expect(STAMPED + re.escape(f"{username(owner)}: welcome") + "$")
        assert not any("before you came" in seen for seen in line.seen)
        line.send(f"/nick {second}")
        await line.expect(f"^\\* You are now {second}\\.$")
        line.send("in the den")
        line.send("/history 1")
        await line.expect(STAMPED + f"{second}: in the den$")
        # A first private message from someone: its conversation is learnt on arrival.
        me = await owner.search_users(second)
        direct = await owner.open_direct(me["items"][0]["id"])
        await owner.send_rest(direct["id"], "text", {"text": "psst"})
        await line.expect(STAMPED + re.escape(f"*{username(owner)}*: psst") + "$")
        line.send("/join c_nosuchroom")
        await line.expect("^! 40402 ")
        line.send("/nick x")
        await line.expect("^! 40004 ")
        line.send("/login someone password1")
        await line.expect("^! 40902 ")
    page = await owner.history(room["id"], limit=10)
    assert [m["body"]["text"] for m in page["items"] if m["kind"] == "text"][-1] == "in the den"


async def test_an_account_signs_in_through_the_login_guard(
    line_server: ServerProcess, sdk_users: NewUser
) -> None:
    account = await sdk_users()
    async with socket_client(line_port(line_server)) as line:
        await line.expect("^\\* Welcome")
        line.send("/who")
        await line.expect("^! 40100 ")
        line.send(f"/login {username(account)} wrong-password")
        await line.expect("^! 40101 ")
        line.send(f"/login {username(account)} {PASSWORD}")
        await line.expect(f"^\\* You are {username(account)} \\(signed in\\)")
        line.send("/nick other")  # an account's username is how its owner signs in
        await line.expect("^! 40300 ")
        devices = await account.call("GET", "/users/me/devices")
        assert "line" in {d["device"] for d in devices["items"]}
        # Signing the device out elsewhere ends the line session, saying why.
        await account.call("DELETE", "/users/me/devices/line")
        assert "! 4003 signed out: the login was revoked or the account disabled" in (
            await line.until_closed()
        )


async def test_a_guest_has_no_password(line_server: ServerProcess) -> None:
    guest = nick()
    async with socket_client(line_port(line_server)) as line:
        await line.sign_in_as_guest(guest)
        for password in ("", "!guest", "any-password-at-all"):
            with pytest.raises(PigeonApiError) as refused:
                async with PigeonClient(line_server.base_url) as rest:
                    await rest.login(guest, password or "x" * 8)
            assert refused.value.code == 40101
        async with socket_client(line_port(line_server)) as twin:
            await twin.expect("^\\* Welcome")
            twin.send(f"/login {guest} whatever-it-is")
            await twin.expect("^! 40101 ")
            twin.send(guest)  # the nickname is taken while its guest is here
            await twin.expect("^! 40901 ")


# --- bad input: an error line, nothing stored, the connection goes on


async def test_bad_lines_get_documented_errors_and_store_nothing(
    line_server: ServerProcess, sdk_users: NewUser
) -> None:
    reader = await sdk_users()
    await reader.call("POST", f"/groups/{LOBBY}/join")
    tag = secrets.token_hex(3)
    at_limit = tag + "界" * 15  # 6 + 45 bytes, then ASCII up to the limit
    at_limit += "x" * (MAX_LINE - len(at_limit.encode()))
    assert len(at_limit.encode()) == MAX_LINE
    async with socket_client(line_port(line_server)) as line:
        await line.sign_in_as_guest(nick())
        line.send(at_limit + "y")  # one byte over
        await line.expect(f"^! 40040 line is longer than {MAX_LINE} bytes$")
        line.send_raw(tag.encode() + b"bad \xff\xfe bytes\n")
        await line.expect("^! 40041 ")
        line.send(tag + " escape \x1b[2J")
        await line.expect("^! 40006 ")
        line.send(tag + " nul \x00")
        await line.expect("^! 40006 ")
        line.send(tag + " bell \x07")
        await line.expect("^! 40006 ")
        line.send("/unknown")
        await line.expect("^! 40042 ")
        line.send(at_limit, ending="\r\n")  # exactly at the limit, CRLF: stored
        line.send(tag + " after the errors", ending="\r\n")
        await line.barrier()
        line.send(tag + " last words, no line ending", ending="")
        line.end_input()
        await line.until_closed()

    async def all_stored() -> bool:
        texts = [t for t in await lobby_texts(reader) if t.startswith(tag)]
        return len(texts) == 3

    await wait_until(all_stored)
    texts = [t for t in await lobby_texts(reader) if t.startswith(tag)]
    assert texts == [at_limit, tag + " after the errors", tag + " last words, no line ending"]


# --- servers with other settings


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def make(env: dict[str, str], args: list[str]) -> ServerProcess:
        server = ServerProcess(tmp_path / f"s{len(started)}", env, ["--line-port", "0", *args])
        started.append(server)
        return server.start()

    yield make
    stop_all(started)


async def test_without_guests_only_accounts_sign_in_and_silence_is_closed(
    make_server: Callable[..., ServerProcess],
) -> None:
    server = make_server(
        {"PIGEON_LINE_LOGIN_TIMEOUT_S": "1", "PIGEON_LINE_IDLE_TIMEOUT_S": "1"}, []
    )
    async with socket_client(line_port(server)) as line:
        await line.expect("^\\* Sign in: /login NAME PASSWORD")
        line.send(nick())
        await line.expect("^! 40100 this server takes no guests")
        assert "! 4002 no nickname or /login in time" in await line.until_closed()
    async with PigeonClient(server.base_url) as account:
        await account.register(unique_name(), PASSWORD)
        async with socket_client(line_port(server)) as line:
            line.send(f"/login {username(account)} {PASSWORD}")
            await line.expect("^\\* You are ")
            assert "! 4010 closed after a long silence" in await line.until_closed()


async def test_a_restart_is_announced(make_server: Callable[..., ServerProcess]) -> None:
    server = make_server({}, ["--allow-guests"])
    async with socket_client(line_port(server)) as line:
        await line.sign_in_as_guest(nick())
        assert server.terminate() == 0
        assert "! 1012 server restarting" in await line.until_closed()


async def test_guests_are_rate_limited_and_retired_after_they_leave(
    make_server: Callable[..., ServerProcess],
) -> None:
    server = make_server(
        {
            "PIGEON_GUEST_TTL_S": "1",
            "PIGEON_SEND_RATE_PER_S": "0.001",  # one send, then none for the test's life
            "PIGEON_SEND_BURST": "1",
        },
        ["--allow-guests"],
    )
    guest = nick()
    async with PigeonClient(server.base_url) as web:
        await web.register(unique_name(), PASSWORD)
        await web.call("POST", f"/groups/{LOBBY}/join")  # to see what is said from now on
        async with socket_client(line_port(server)) as line:
            await line.sign_in_as_guest(guest)
            line.send("first")
            line.send("second")
            await line.expect("^! 42900 ")
        page = await web.history(LOBBY, limit=50)
        said = [m for m in page["items"] if m["kind"] == "text"]
        assert [m["body"]["text"] for m in said] == ["first"]
        old_id = said[0]["from"]

        async def nickname_free_again() -> bool:
            async with socket_client(line_port(server)) as again:
                await again.expect("^\\* Welcome")
                again.send(guest)
                answer = await again.expect(r"^(\* You are|! )")
                return answer.startswith("* You are")

        await wait_until(nickname_free_again, within=WAIT_S, every=0.5)
        retired = await web.get_user(old_id)
        assert retired["username"].startswith(guest + "~")
        page = await web.history(LOBBY, limit=50)
        events = [(m["body"].get("event"), m["from"]) for m in page["items"]]
        assert ("member_left", old_id) in events  # it left the lobby when it went
        assert user_id(web) != old_id
