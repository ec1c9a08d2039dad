"""`pigeon chat` in a real terminal (tmux) against a real server, with an SDK user on the
other side: arrivals never clobber the input line, ticks move to read, receipts flow
back, commands and group events answer in words, attachments are named and saved, a
lost connection recovers, and Ctrl-C exits cleanly.

tmux rather than a pty library: it keeps a real terminal of a fixed size (120x32,
xterm-256color) whose screen is read as text, the way a person sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
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
from typing import Any

import pytest
from PIL import Image

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

    def alternate_screen(self) -> bool:
        """Whether the pane shows the alternate screen (a full-screen program is drawn)."""
        return self.tmux("display-message", "-p", "-t", "chat", "#{alternate_on}").strip() == "1"

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

    def __init__(self, client: PigeonClient, conn: Connection, user: dict[str, Any]) -> None:
        self.client, self.conn = client, conn
        self.id, self.name = str(user["id"]), str(user["username"])

    async def receipt(self, conv: str, by: str, *, read: int = 0, recv: int = 0) -> ReceiptEvent:
        """The first receipt from ``by`` whose watermarks reach ``read`` and ``recv``."""

        async def watch() -> ReceiptEvent:
            async for event in self.conn.events():
                if (
                    isinstance(event, ReceiptEvent)
                    and (event.conv, event.user) == (conv, by)
                    and (event.read or 0) >= read
                    and (event.recv or 0) >= recv
                ):
                    return event
            raise AssertionError("the connection closed")

        return await asyncio.wait_for(watch(), SCREEN_TIMEOUT_S)


@pytest.fixture
async def peer(shared_server: ServerProcess) -> AsyncIterator[Peer]:
    async with PigeonClient(shared_server.base_url) as client:
        grant = await client.register(unique_name("bob"), PASSWORD)
        conn = await client.connect()
        yield Peer(client, conn, grant["user"])


async def registered(server: ServerProcess, username: str) -> str:
    async with PigeonClient(server.base_url) as client:
        return str((await client.register(username, PASSWORD))["user"]["id"])


async def in_thread(func: Callable[[], object]) -> None:
    await asyncio.to_thread(func)


def tiny_png() -> bytes:
    picture = io.BytesIO()
    Image.new("RGB", (8, 6), "blue").save(picture, "PNG")
    return picture.getvalue()


async def test_alice_chats_with_bob_in_a_terminal(
    shared_server: ServerProcess,
    terminal: Callable[[str], Terminal],
    peer: Peer,
    tmp_path: Path,
) -> None:
    """Bob is an SDK user; alice is `pigeon chat` in a terminal."""
    alice_name = unique_name("alice")
    alice_id = await registered(shared_server, alice_name)
    bob = peer
    conv = str((await bob.client.open_direct(alice_id))["id"])
    alice = terminal(alice_name)
    await in_thread(lambda: alice.wait_for("signed in as"))

    # Arrives in a closed conversation: counted unread, and only "delivered" goes back.
    await bob.conn.send(conv, "text", "are you there?")
    await in_thread(lambda: alice.wait_for(f"{bob.name} (1)"))
    delivered = await bob.receipt(conv, alice_id, recv=1)
    assert not delivered.read
    alice.line(f"/open {bob.name}")
    await in_thread(lambda: alice.wait_for(f"{bob.name} · direct", "are you there?"))
    await bob.receipt(conv, alice_id, read=1)

    # A message arrives while alice is typing: it shows, her line stays as it was.
    alice.type("half typed words")
    await in_thread(lambda: alice.wait_for("> half typed words"))
    second = await bob.conn.send(conv, "text", "hello from the sdk")
    await in_thread(lambda: alice.wait_for(f"#{second.seq}", "hello from the sdk"))
    assert alice.input_line() == "half typed words"
    await bob.receipt(conv, alice_id, read=second.seq)  # it is on her screen: read

    alice.type(" and a reply")
    alice.keys("Enter")
    await in_thread(lambda: alice.wait_for("me: half typed words and a reply  ✓"))
    assert alice.input_line() == ""
    alice.line(f"/reply {second.seq} sure")
    await in_thread(lambda: alice.wait_for(f"┆ #{second.seq} {bob.name}: hello from the sdk"))
    history = (await bob.client.history(conv))["items"]
    assert [(m["seq"], m["body"], m.get("reply_to")) for m in history[-2:]] == [
        (3, {"text": "half typed words and a reply"}, None),
        (4, {"text": "sure"}, second.seq),
    ]

    # Bob's receipts move alice's ticks: delivered, then read.
    await bob.conn.recv(conv, 3)
    await in_thread(lambda: alice.wait_for("half typed words and a reply  ✓✓"))
    await bob.client.mark_read(conv, 4)
    await in_thread(lambda: alice.wait_for("and a reply  ✓✓ read", "me: sure  ✓✓ read"))

    # Commands answer in words; an unknown one says so (and not with the help).
    alice.line("/who")
    await in_thread(lambda: alice.wait_for(f"* {bob.name} (@{bob.name}) is online"))
    alice.line("/frobnicate now")
    await in_thread(lambda: alice.wait_for("unknown command /frobnicate — /help lists commands"))
    assert "/reply N TEXT" not in alice.screen()
    alice.line("/recall 3")
    await in_thread(lambda: alice.wait_for("me: message recalled"))
    assert "and a reply" not in alice.screen()
    alice.line("/edit 99 nothing there")
    await in_thread(lambda: alice.wait_for("! there is no message with that number here"))
    assert "[edit" not in alice.screen()  # a refused edit leaves no line behind

    # Reactions and pins read as sentences; a second /react takes it back.
    alice.line(f"/react {second.seq} 👍")
    await in_thread(lambda: alice.wait_for("* you reacted", f"to #{second.seq}"))
    alice.line(f"/react {second.seq} 👍")
    await in_thread(lambda: alice.wait_for("* you took back", f"from #{second.seq}"))
    alice.line(f"/pin {second.seq}")
    await in_thread(lambda: alice.wait_for(f"* you pinned #{second.seq}"))
    assert [p["seq"] for p in await bob.client.pins(conv)] == [second.seq]
    page = await bob.client.history(conv, before=second.seq + 1, limit=1)
    assert "reactions" not in page["items"][0]

    alice.line("/invite someone")
    await in_thread(lambda: alice.wait_for("! /invite adds people to a group"))

    # A group made here shows by its title, in the list and the header.
    alice.line(f'/new group "Night owls" {bob.name}')
    await in_thread(
        lambda: alice.wait_for(
            "Night owls · group", f'* you created the group "Night owls" with {bob.name}'
        )
    )
    group = next(c for c in (await bob.client.conversations())["items"] if c["kind"] == "group")
    assert group["title"] == "Night owls"
    carol = unique_name("carol")
    await registered(shared_server, carol)
    alice.line(f"/invite {carol}")
    await in_thread(lambda: alice.wait_for(f"* you added {carol}"))
    alice.line("/who")
    await in_thread(lambda: alice.wait_for("* members (3): "))
    assert "you (owner" in alice.screen()

    # Images and files: named with their size, saved by number, sent from a path.
    png = tiny_png()
    uploaded = await bob.client.upload_file("dot.png", png)
    image = await bob.conn.send(
        group["id"], "image", {"file_id": uploaded["id"], "width": 8, "height": 6}
    )
    await in_thread(lambda: alice.wait_for(f"[image dot.png {len(png)} B]  /save {image.seq}"))
    alice.line(f"/save {image.seq} {tmp_path}")
    await in_thread(lambda: alice.wait_for(f"saved #{image.seq} to"))
    assert (tmp_path / "dot.png").read_bytes() == png
    notes = tmp_path / "notes.txt"
    notes.write_text("plain words\n")
    alice.line(f"/send {notes}")
    await in_thread(lambda: alice.wait_for("[file notes.txt 12 B]"))
    last = (await bob.client.history(group["id"]))["items"][-1]
    assert (last["kind"], last["body"]["name"]) == ("file", "notes.txt")
    _, sent = await bob.client.download_file(last["body"]["file_id"])
    assert sent == b"plain words\n"

    # Switching: by key, and by a listed title.
    alice.keys("C-n")
    await in_thread(lambda: alice.wait_for(f"{bob.name} · direct", "me: sure"))
    alice.line("/open night OWLS")
    await in_thread(lambda: alice.wait_for("Night owls · group", "[file notes.txt"))
    alice.line("/help")
    await in_thread(
        lambda: alice.wait_for("/new group TITLE [USER…]", "/send PATH, /save N [PATH]")
    )

    # One Ctrl-C: a clean exit, no traceback, the terminal as it was.
    assert alice.alternate_screen()
    alice.keys("C-c")
    assert await asyncio.to_thread(alice.exit_code) == 0, alice.stderr()
    assert "Traceback" not in alice.stderr()
    assert not alice.alternate_screen()


async def test_a_group_made_after_login_shows_by_title_and_its_events_in_words(
    shared_server: ServerProcess, terminal: Callable[[str], Terminal], peer: Peer
) -> None:
    alice_name = unique_name("alice")
    alice_id = await registered(shared_server, alice_name)
    alice = terminal(alice_name)
    await in_thread(lambda: alice.wait_for("signed in as"))

    title = f"Team {secrets.token_hex(3)}"
    group = await peer.client.call("POST", "/groups", json={"title": title, "members": [alice_id]})
    await peer.conn.send(group["id"], "text", "welcome aboard")
    await in_thread(lambda: alice.wait_for(f"{title} (1)"))
    assert group["id"] not in alice.screen()

    alice.line("/open 1")
    await in_thread(lambda: alice.wait_for(f'* {peer.name} created the group "{title}" with you'))
    renamed = f"Crew {secrets.token_hex(3)}"
    await peer.client.call("PATCH", f"/groups/{group['id']}", json={"title": renamed})
    await in_thread(
        lambda: alice.wait_for(
            f"{renamed} · group", f'* {peer.name} renamed the group to "{renamed}"'
        )
    )
    assert "{" not in alice.screen()  # events in words, never a raw body

    alice.line("/reply 2 thanks")
    await in_thread(lambda: alice.wait_for(f"┆ #2 {peer.name}: welcome aboard", "me: thanks  ✓"))
    alice.line("/edit 4 thanks a lot")
    await in_thread(lambda: alice.wait_for("me: thanks a lot (edited)"))
    # Interrupted twice by signal: one clean exit, no traceback.
    alice.interrupt()
    alice.interrupt()
    assert await asyncio.to_thread(alice.exit_code) == 0, alice.stderr()
    assert "Traceback" not in alice.stderr()


async def test_friend_request_arrives_and_is_accepted(
    shared_server: ServerProcess, terminal: Callable[[str], Terminal], peer: Peer
) -> None:
    alice_name = unique_name("alice")
    alice_id = await registered(shared_server, alice_name)
    alice = terminal(alice_name)
    await in_thread(lambda: alice.wait_for("signed in as"))

    await peer.client.call("POST", "/friends/requests", json={"user_id": alice_id})
    await in_thread(lambda: alice.wait_for(f"wants to be friends: /accept {peer.name}"))
    alice.line(f"/accept {peer.name}")
    await in_thread(lambda: alice.wait_for("are friends"))
    friends = await peer.client.call("GET", "/friends")
    assert [u["id"] for u in friends["items"]] == [alice_id]
    alice.keys("C-d")
    assert await asyncio.to_thread(alice.exit_code) == 0, alice.stderr()


# Last in the module: it restarts the module's server.
async def test_a_lost_connection_says_reconnecting_and_recovers(
    shared_server: ServerProcess, terminal: Callable[[str], Terminal], peer: Peer
) -> None:
    alice_name = unique_name("alice")
    alice_id = await registered(shared_server, alice_name)
    conv = str((await peer.client.open_direct(alice_id))["id"])
    await peer.client.send_rest(conv, body="before the restart")
    alice = terminal(alice_name)
    await in_thread(lambda: alice.wait_for("signed in as"))
    alice.line(f"/open {peer.name}")
    await in_thread(lambda: alice.wait_for("before the restart"))
    alice.type("kept through it all")

    await asyncio.to_thread(shared_server.kill)
    await in_thread(lambda: alice.wait_for("reconnecting…"))
    await asyncio.to_thread(shared_server.start)
    # Sent at once: it reaches alice by the catch-up after reconnecting, or live.
    await peer.client.send_rest(conv, body="sent while you were away")
    await in_thread(lambda: alice.wait_for("* reconnected", "sent while you were away"))
    await peer.client.send_rest(conv, body="after the restart")
    await in_thread(lambda: alice.wait_for("after the restart"))
    assert "reconnecting…" not in alice.screen()
    assert alice.input_line() == "kept through it all"
    alice.keys("C-c")
    assert await asyncio.to_thread(alice.exit_code) == 0, alice.stderr()
    assert "Traceback" not in alice.stderr()
