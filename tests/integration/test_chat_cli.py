"""`pigeon chat` in a real terminal (tmux) against a real server, with an SDK user on the
other side: arrivals never clobber the input line, ticks move to read, receipts flow
back, commands answer in words, and Ctrl-C exits cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from harness import ServerProcess, require_service, unique_name
from pigeon.client import Connection, PigeonClient, ReceiptEvent

PASSWORD = "terminal-pass"
SCREEN_TIMEOUT_S = 60.0


class Terminal:
    """`pigeon chat` running in a detached tmux pane of a private tmux server."""

    def __init__(self, server: ServerProcess, username: str, workdir: Path) -> None:
        self.socket = f"pigeon-test-{secrets.token_hex(4)}"
        self.rc_path = workdir / f"{username}.rc"
        self.err_path = workdir / f"{username}.err"
        chat = shlex.join(
            [sys.executable, "-m", "pigeon", "chat", "--server", server.base_url, "-u", username]
        )
        # The pane outlives the client, so its exit status and stderr can be checked. The
        # wrapping shell shares the client's process group (an interactive shell would give
        # the client its own), so it must survive a Ctrl-C sent after the client left raw
        # mode; a trap (not an ignore) keeps the client's own SIGINT disposition default.
        err, rc = shlex.quote(str(self.err_path)), shlex.quote(str(self.rc_path))
        script = f"trap : INT; {chat} 2>{err}; echo $? > {rc}; sleep 600"
        env = {**os.environ, "PIGEON_PASSWORD": PASSWORD, "TERM": "xterm-256color"}
        self.tmux("new-session", "-d", "-s", "chat", "-x", "120", "-y", "32", script, env=env)

    def tmux(self, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=check,
        )
        return done.stdout

    def screen(self) -> str:
        """The pane's text; empty if the pane is gone (the failure message says so)."""
        return self.tmux("capture-pane", "-p", "-t", "chat", check=False)

    def wait_for(self, *needles: str, timeout: float = SCREEN_TIMEOUT_S) -> str:
        return self.wait_until(lambda s: all(n in s for n in needles), repr(needles), timeout)

    def wait_until(
        self, check: Callable[[str], bool], what: str, timeout: float = SCREEN_TIMEOUT_S
    ) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"never saw {what} on the screen:\n{screen}\nstderr: {self.stderr()}")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "chat", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "chat", "-l", text)

    def line(self, text: str) -> None:
        self.type(text)
        self.keys("Enter")

    def input_line(self) -> str:
        lines = [ln for ln in self.screen().splitlines() if "> " in ln]
        return lines[-1].split("> ", 1)[1].rstrip() if lines else ""

    def interrupt(self) -> None:
        """SIGINT to the client itself, as `kill -INT` or a Ctrl-C outside raw mode sends it."""
        shell = int(self.tmux("display-message", "-p", "-t", "chat", "#{pane_pid}"))
        children = subprocess.run(
            ["ps", "-o", "pid=,args=", "--ppid", str(shell)],
            capture_output=True,
            text=True,
            check=False,
        )
        for line in children.stdout.splitlines():
            pid, _, args = line.strip().partition(" ")
            if "pigeon" in args:
                with contextlib.suppress(ProcessLookupError):  # it may have exited already
                    os.kill(int(pid), signal.SIGINT)

    def exit_code(self, timeout: float = SCREEN_TIMEOUT_S) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.rc_path.exists() and self.rc_path.read_text().strip():
                return int(self.rc_path.read_text())
            time.sleep(0.2)
        raise AssertionError(f"chat did not exit:\n{self.screen()}")

    def stderr(self) -> str:
        return self.err_path.read_text() if self.err_path.exists() else ""

    def close(self) -> None:
        socket_path = self.tmux("display-message", "-p", "#{socket_path}", check=False).strip()
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)


@pytest.fixture
def terminal(shared_server: ServerProcess, tmp_path: Path) -> Iterator[Callable[[str], Terminal]]:
    require_service("tmux", shutil.which("tmux") is not None, "install the tmux package")
    opened: list[Terminal] = []

    def make(username: str) -> Terminal:
        opened.append(Terminal(shared_server, username, tmp_path))
        return opened[-1]

    yield make
    for term in opened:
        term.close()


class Peer:
    """The other side of the chat: an SDK user with a live connection."""

    def __init__(self, client: PigeonClient, conn: Connection, user_id: str) -> None:
        self.client, self.conn, self.id = client, conn, user_id

    async def wait_read(self, conv: str, seq: int, by: str) -> None:
        async def watch() -> None:
            async for event in self.conn.events():
                if (
                    isinstance(event, ReceiptEvent)
                    and event.conv == conv
                    and event.user == by
                    and (event.read or 0) >= seq
                ):
                    return

        await asyncio.wait_for(watch(), SCREEN_TIMEOUT_S)


@pytest.fixture
async def peer(shared_server: ServerProcess) -> AsyncIterator[Peer]:
    async with PigeonClient(shared_server.base_url) as client:
        grant = await client.register(unique_name("alice"), PASSWORD)
        conn = await client.connect()
        yield Peer(client, conn, str(grant["user"]["id"]))


async def registered(server: ServerProcess, username: str) -> str:
    async with PigeonClient(server.base_url) as client:
        return str((await client.register(username, PASSWORD))["user"]["id"])


async def in_thread(func: Callable[[], object]) -> None:
    await asyncio.to_thread(func)


async def test_chat_with_an_sdk_user(
    shared_server: ServerProcess, terminal: Callable[[str], Terminal], peer: Peer
) -> None:
    bob_name = unique_name("bob")
    bob_id = await registered(shared_server, bob_name)
    alice_name = str((await peer.client.me())["username"])
    conv = str((await peer.client.open_direct(bob_id))["id"])

    bob = terminal(bob_name)
    await in_thread(lambda: bob.wait_for("signed in as"))
    bob.line(f"/open {alice_name}")
    await in_thread(lambda: bob.wait_for(f"{alice_name} · direct"))
    bob.type("half typed words")
    await in_thread(lambda: bob.wait_for("> half typed words"))

    # A message arrives while bob is typing: it shows, his line stays as it was.
    first = await peer.conn.send(conv, "text", "hello from the sdk")
    await in_thread(lambda: bob.wait_for(f"#{first.seq}", "hello from the sdk"))
    assert bob.input_line() == "half typed words"
    # Bob has it open, so his client says delivered and read by itself.
    await peer.wait_read(conv, first.seq, by=bob_id)

    bob.type(" and a reply")
    bob.keys("Enter")
    await in_thread(lambda: bob.wait_for("me: half typed words and a reply  ✓"))
    assert bob.input_line() == ""
    history = await peer.client.history(conv)
    reply = history["items"][-1]
    assert reply["body"] == {"text": "half typed words and a reply"}

    # The peer reads the reply: bob's tick turns to read.
    await peer.client.mark_read(conv, reply["seq"])
    await in_thread(lambda: bob.wait_for("half typed words and a reply  ✓✓ read"))

    # Commands answer in words; unknown ones say so.
    bob.line("/who")
    await in_thread(lambda: bob.wait_for(f"* {alice_name} is online"))
    bob.line("/nonsense")
    await in_thread(lambda: bob.wait_for("unknown command /nonsense"))

    # Ctrl-C twice: one clean exit, no traceback.
    bob.keys("C-c")
    bob.keys("C-c")
    assert await asyncio.to_thread(bob.exit_code) == 0, bob.stderr()
    assert "Traceback" not in bob.stderr()


async def test_group_created_after_login_shows_its_title(
    shared_server: ServerProcess, terminal: Callable[[str], Terminal], peer: Peer
) -> None:
    bob_name = unique_name("bob")
    bob_id = await registered(shared_server, bob_name)
    bob = terminal(bob_name)
    await in_thread(lambda: bob.wait_for("signed in as"))

    title = f"Team {secrets.token_hex(3)}"
    group = await peer.client.call("POST", "/groups", json={"title": title, "members": [bob_id]})
    await peer.conn.send(group["id"], "text", "welcome aboard")
    await in_thread(lambda: bob.wait_for(title))
    assert group["id"] not in bob.screen()

    bob.line("/open 1")
    screen = await in_thread_screen(bob, "welcome aboard")
    assert f'created the group "{title}"' in screen  # a system event in words, not a dict
    assert "{" not in screen

    bob.line("/reply 2 thanks")
    await in_thread(lambda: bob.wait_for("↪#2 thanks  ✓"))
    bob.line("/edit 3 thanks a lot")
    await in_thread(lambda: bob.wait_for("thanks a lot (edited)"))
    # Interrupted twice by signal: one clean exit, no traceback.
    bob.interrupt()
    bob.interrupt()
    assert await asyncio.to_thread(bob.exit_code) == 0, bob.stderr()
    assert "Traceback" not in bob.stderr()


async def in_thread_screen(term: Terminal, needle: str) -> str:
    return await asyncio.to_thread(term.wait_for, needle)


async def test_friend_request_arrives_and_is_accepted(
    shared_server: ServerProcess, terminal: Callable[[str], Terminal], peer: Peer
) -> None:
    bob_name = unique_name("bob")
    bob_id = await registered(shared_server, bob_name)
    alice_name = str((await peer.client.me())["username"])
    bob = terminal(bob_name)
    await in_thread(lambda: bob.wait_for("signed in as"))

    await peer.client.call("POST", "/friends/requests", json={"user_id": bob_id})
    await in_thread(lambda: bob.wait_for(f"wants to be friends: /accept {alice_name}"))
    bob.line(f"/accept {alice_name}")
    await in_thread(lambda: bob.wait_for("are friends"))
    friends = await peer.client.call("GET", "/friends")
    assert [u["id"] for u in friends["items"]] == [bob_id]
    bob.keys("C-c")
    assert await asyncio.to_thread(bob.exit_code) == 0, bob.stderr()
