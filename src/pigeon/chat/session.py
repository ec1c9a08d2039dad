"""The terminal client's behaviour: SDK events in, commands out, receipts sent back.

``ChatSession`` owns the SDK client and connection and the ``ChatModel``; the
screen (``pigeon.chat.screen``) only draws the model and hands typed lines here.
Every action that talks to the server runs as its own task, so the screen never
waits on the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from pigeon.chat.model import ChatModel, Entry, Link
from pigeon.chat.words import FileInfo, error_text
from pigeon.client import (
    ClosedEvent,
    ConnectedEvent,
    Connection,
    ConnectionClosedError,
    DisconnectedEvent,
    ErrorEvent,
    Event,
    Message,
    MessageEvent,
    OtherEvent,
    PigeonApiError,
    PigeonClient,
    PresenceEvent,
    ReceiptEvent,
    TypingEvent,
    new_cid,
)

TYPING_EVERY_S = 3.0  # the server relays at most one typing-on per 3 s anyway
TYPING_SHOWN_S = 6.0  # the server ends a typer's indicator after ~6 s of quiet
HISTORY_PAGE = 50

HELP = """commands (Ctrl-N / Ctrl-P switch conversations, PageUp / PageDown scroll, Ctrl-C quits):
  /open NAME|ID|N        open a listed chat or group by name, a user, an id, or entry N
  /new group TITLE [USER…]  create a group with these users and open it
  /invite USER…          add users to the open group
  /add USER [NOTE]       send a friend request          /accept USER   accept one
  /reply N TEXT          answer message #N              /edit N TEXT   change your message #N
  /recall N              take back your message #N      /send PATH     send a file or image
  /save N [PATH]         save the attachment of #N      /who           members, or the peer
  /rooms [QUERY]         public groups and channels     /join ID       join one and open it
  /history [N]           load N older messages          /quit          leave
anything else is sent to the open conversation"""

Command = Callable[[str], Awaitable[None]]


class UsageError(Exception):
    """A command typed wrongly; the message says how to type it."""


class ChatSession:
    def __init__(self, client: PigeonClient, conn: Connection, me: str) -> None:
        self.client = client
        self.conn = conn
        self.model = ChatModel(me)
        self.redraw: Callable[[], None] = lambda: None
        self._tasks: set[asyncio.Task[None]] = set()
        self._receipts: dict[str, tuple[int, int]] = {}  # conv -> (recv, read) to send
        self._receipts_due = asyncio.Event()
        self._typing_sent = 0.0
        self._looking_up: set[str] = set()
        self._list_reading = False
        self._list_again = False

    # --- background work

    def spawn(self, work: Awaitable[None]) -> None:
        """Run ``work`` without waiting for it; its failure becomes a notice."""

        async def guarded() -> None:
            try:
                await work
            except UsageError as exc:
                self.model.notice(f"! {exc}")
            except PigeonApiError as exc:
                self.model.notice(f"! {error_text(exc.code, exc.message)}")
            except ConnectionClosedError:
                self.model.notice("! not connected to the server any more")
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.model.notice(f"! the server did not answer ({type(exc).__name__}); try again")
            except OSError as exc:  # a local file: /send, /save
                self.model.notice(f"! {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not end the screen with a traceback
                self.model.notice(f"! that failed: {type(exc).__name__}: {exc}")
            self.redraw()

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.conn.close()

    async def start(self) -> None:
        page = await self.client.conversations(limit=100)
        self.model.load_list(page["items"])
        for conv in self.model.convs.values():
            if conv.unread:  # this device now has them: tell the senders
                self.want_receipt(conv.id, recv=conv.last_seq)
        self.spawn(self._send_receipts())
        self.spawn(self.pump())
        self.spawn(self._expire_typing())
        self.spawn(self._pending_requests())

    async def _pending_requests(self) -> None:
        """Friend requests made while this user was away (live ones arrive as pushes)."""
        requests = await self.client.call("GET", "/friends/requests")
        for request in requests["items"]:
            if request["status"] == "pending":
                await self._announce_request(request)

    # --- incoming

    async def pump(self) -> None:
        async for event in self.conn.events():
            self.on_event(event)
            self.redraw()

    def on_event(self, event: Event) -> None:
        model = self.model
        if isinstance(event, MessageEvent):
            self._on_message(event.message)
        elif isinstance(event, ReceiptEvent):
            model.on_receipt(event.conv, event.user, event.read, event.recv)
        elif isinstance(event, TypingEvent):
            until = time.monotonic() + TYPING_SHOWN_S
            model.set_typing(event.conv, event.user, event.on, until)
            self._learn_names([event.user])
        elif isinstance(event, PresenceEvent):
            (model.online.add if event.online else model.online.discard)(event.user)
        elif isinstance(event, ErrorEvent):
            model.notice(f"! {error_text(event.code, event.message)}")
        elif isinstance(event, DisconnectedEvent):
            model.link = Link.RECONNECTING
        elif isinstance(event, ConnectedEvent):
            self._connected(event.attempt)
        elif isinstance(event, ClosedEvent):
            self._closed(event.error)
        elif isinstance(event, OtherEvent) and event.t == "friend_request":
            self._on_friend_request(event.data)

    def _connected(self, attempt: int) -> None:
        """Up again: the SDK catches up by itself; the list may have changed meanwhile."""
        was = self.model.link
        self.model.link = Link.ONLINE
        if attempt > 1 and was is not Link.ONLINE:
            self.model.notice("* reconnected")
            self.spawn(self.refresh_list())

    def _closed(self, error: Exception | None) -> None:
        if error is None:
            return  # we closed it: quitting
        self.model.link = Link.CLOSED
        reason = (
            error_text(error.code, error.message) if isinstance(error, PigeonApiError) else error
        )
        self.model.notice(f"! disconnected: {reason}; restart pigeon chat to reconnect")

    def _on_message(self, message: Message) -> None:
        model = self.model
        fresh = model.on_message(message)
        conv = model.conv(message.conv)
        entry = conv.entries.get(message.seq)
        if entry is not None:
            self._learn_names(model.user_ids(entry))
            self._describe_files([entry])
        if not conv.title and not conv.peer:
            self._learn_conversations()  # one that began after login
        if fresh:
            read = message.seq if message.conv == model.current else 0
            self.want_receipt(message.conv, recv=message.seq, read=read)

    def _learn_conversations(self) -> None:
        """Re-read the conversation list once, however many messages ask for it meanwhile."""
        if self._list_reading:
            self._list_again = True  # the read in flight may have started too early
            return
        self._list_reading = True
        self.spawn(self._read_list_until_current())

    async def _read_list_until_current(self) -> None:
        try:
            while True:
                self._list_again = False
                await self.refresh_list()
                if not self._list_again:
                    return
        finally:
            self._list_reading = False

    def _on_friend_request(self, data: dict[str, Any]) -> None:
        self.spawn(self._announce_request(data))

    async def _announce_request(self, data: dict[str, Any]) -> None:
        other = str(data.get("from") if data.get("direction") == "in" else data.get("to"))
        user = await self.client.get_user(other)  # /accept takes the username
        name = self.model.names.setdefault(other, str(user.get("display_name") or user["username"]))
        status = data.get("status")
        if status == "pending" and data.get("direction") == "in":
            self.model.notice(f"* {name} wants to be friends: /accept {user['username']}")
        elif status in ("accepted", "declined"):
            self.model.notice(f"* friend request with {name}: {status}")

    def _learn_names(self, user_ids: list[str]) -> None:
        wanted = [u for u in user_ids if u not in self.model.names and u not in self._looking_up]
        if wanted:
            self._looking_up.update(wanted)
            self.spawn(self._fetch_names(wanted))

    async def _fetch_names(self, user_ids: list[str]) -> None:
        for user_id in user_ids:
            try:
                user = await self.client.get_user(user_id)
            except PigeonApiError:
                continue
            self.model.names[user_id] = str(user.get("display_name") or user["username"])

    def _describe_files(self, entries: list[Entry]) -> None:
        """Look up the name and size of attachments shown for the first time."""
        wanted = [f for f in self.model.files_to_describe(entries) if f not in self._looking_up]
        if wanted:
            self._looking_up.update(wanted)
            self.spawn(self._fetch_files(wanted))

    async def _fetch_files(self, file_ids: list[str]) -> None:
        for file_id in file_ids:
            try:
                self.model.files[file_id] = FileInfo.of(await self.client.file_info(file_id))
            except PigeonApiError:
                continue  # recalled meanwhile, or gone: the line keeps what the message says

    async def refresh_list(self) -> None:
        page = await self.client.conversations(limit=100)
        self.model.load_list(page["items"])

    async def _expire_typing(self) -> None:
        while True:  # typing indicators fade by time, so the screen must redraw by time
            await asyncio.sleep(1.0)
            if any(self.model.typing.values()):
                self.redraw()

    # --- receipts

    def want_receipt(self, conv: str, *, recv: int = 0, read: int = 0) -> None:
        old_recv, old_read = self._receipts.get(conv, (0, 0))
        self._receipts[conv] = (max(old_recv, recv, read), max(old_read, read))
        self._receipts_due.set()

    async def _send_receipts(self) -> None:
        """One worker sends the newest watermarks; bursts of messages cost one frame each."""
        while True:
            await self._receipts_due.wait()
            self._receipts_due.clear()
            due, self._receipts = self._receipts, {}
            for conv, (recv, read) in due.items():
                try:
                    if read:
                        await self.conn.read(conv, read)  # read implies delivered
                    elif recv:
                        await self.conn.recv(conv, recv)
                except PigeonApiError as exc:  # e.g. removed from the group meanwhile
                    self.model.notice(f"! receipt not sent: {error_text(exc.code, exc.message)}")
                except ConnectionClosedError:
                    return  # closing down, or closed for good (the status line says so)

    # --- typed input

    def typed(self) -> None:
        """The input line changed: say we are typing, at most every few seconds."""
        now = time.monotonic()
        current = self.model.current
        if current is None or now - self._typing_sent < TYPING_EVERY_S:
            return
        self._typing_sent = now
        self.spawn(self._typing(current))

    async def _typing(self, conv: str) -> None:
        await self.conn.typing(conv, True)

    def enter(self, line: str) -> bool:
        """One line from the input; False means quit."""
        line = line.strip()
        if not line:
            return True
        if not line.startswith("/"):
            self.send("text", {"text": line})
            return True
        name, _, arg = line[1:].partition(" ")
        if name in ("quit", "exit", "q"):
            return False
        command = self.commands().get(name)
        if command is None:
            self.model.notice(f"! unknown command /{name} — /help lists commands")
        else:
            self.spawn(command(arg.strip()))
        return True

    def send(self, kind: str, body: dict[str, Any], reply_to: int | None = None) -> None:
        conv = self.model.current
        if conv is None:
            self.model.notice("! open a conversation first: /open NAME")
            return
        cid = new_cid()
        entry = self.model.sending(conv, cid, kind, body)
        entry.reply_to = reply_to
        self._typing_sent = 0.0
        self.spawn(self._send(conv, cid, kind, body, reply_to))

    async def _send(
        self, conv: str, cid: str, kind: str, body: dict[str, Any], reply_to: int | None
    ) -> None:
        try:
            ack = await self.conn.send(conv, kind, body, reply_to=reply_to, cid=cid)
        except PigeonApiError:
            self.model.failed(conv, cid)
            raise
        self.model.acked(ack)

    # --- commands

    def commands(self) -> dict[str, Command]:
        return {
            "help": self.cmd_help,
            "list": self.cmd_list,
            "open": self.cmd_open,
            "new": self.cmd_new,
            "invite": self.cmd_invite,
            "add": self.cmd_add,
            "accept": self.cmd_accept,
            "reply": self.cmd_reply,
            "edit": self.cmd_edit,
            "recall": self.cmd_recall,
            "send": self.cmd_send,
            "save": self.cmd_save,
            "rooms": self.cmd_rooms,
            "join": self.cmd_join,
            "history": self.cmd_history,
            "who": self.cmd_who,
        }

    async def cmd_help(self, _: str) -> None:
        self.model.notice(HELP)

    async def cmd_list(self, _: str) -> None:
        await self.refresh_list()

    async def find_user(self, name: str) -> dict[str, Any]:
        wanted = name.lstrip("@").lower()
        found = await self.client.search_users(wanted, limit=20)
        for user in found["items"]:
            if str(user["username"]).lower() == wanted or user["id"] == name:
                self.model.names.setdefault(user["id"], str(user["display_name"]))
                return dict(user)
        raise UsageError(f"no user named {name!r}")

    async def cmd_open(self, target: str) -> None:
        if not target:
            raise UsageError("/open NAME, /open CONVERSATION-ID or /open N (list entry)")
        listed = self.model.ordered_convs()
        titled = [c.id for c in listed if self.model.title(c).casefold() == target.casefold()]
        if target.isdigit() and 0 < int(target) <= len(listed):
            conv_id = listed[int(target) - 1].id
        elif target.startswith("c_"):
            conv_id = target
        elif titled:
            conv_id = titled[0]  # a listed group's title, or a peer's display name
        else:
            user = await self.find_user(target)
            opened = await self.client.open_direct(user["id"])
            self.model.load_list([opened])
            conv_id = str(opened["id"])
        await self.open(conv_id)

    async def open(self, conv_id: str) -> None:
        conv = self.model.open(conv_id)
        page = await self.client.history(conv_id, limit=HISTORY_PAGE)
        messages = [Message.from_frame(item) for item in page["items"]]
        self.model.load_history(conv_id, messages)
        for entry in conv.entries.values():
            self._learn_names(self.model.user_ids(entry))
        self._describe_files(list(conv.entries.values()))
        if not conv.title and not conv.peer:
            await self.refresh_list()
        if conv.last_seq:
            self.want_receipt(conv_id, read=conv.last_seq)

    def switch(self, step: int) -> None:
        """Open the next (+1) or previous (-1) conversation of the list."""
        listed = [c.id for c in self.model.ordered_convs()]
        if not listed:
            return
        here = listed.index(self.model.current) if self.model.current in listed else -step
        self.spawn(self.open(listed[(here + step) % len(listed)]))

    async def cmd_new(self, arg: str) -> None:
        usage = '/new group TITLE [USER…]  (quote a title with spaces: /new group "Team A" bob)'
        try:
            words = shlex.split(arg)
        except ValueError:
            raise UsageError(usage) from None
        if len(words) < 2 or words[0] != "group":
            raise UsageError(usage)
        words = words[1:]
        members = [(await self.find_user(name))["id"] for name in words[1:]]
        group = await self.client.call(
            "POST", "/groups", json={"title": words[0], "members": members}
        )
        self.model.load_list([{**group, "last_seq": 1, "last_ts": int(time.time() * 1000)}])
        await self.open(str(group["id"]))

    async def cmd_invite(self, arg: str) -> None:
        conv = self._need_current()
        users = [(await self.find_user(name))["id"] for name in arg.split()]
        if not users:
            raise UsageError("/invite USER…")
        await self.client.call("POST", f"/groups/{conv}/members", json={"user_ids": users})

    async def cmd_add(self, arg: str) -> None:
        name, _, note = arg.partition(" ")
        if not name:
            raise UsageError("/add USER [NOTE]")
        user = await self.find_user(name)
        body = {"user_id": user["id"], "note": note or None}
        await self.client.call("POST", "/friends/requests", json=body)
        self.model.notice(f"* friend request sent to {user['display_name']}")

    async def cmd_accept(self, name: str) -> None:
        user = await self.find_user(name)
        requests = await self.client.call("GET", "/friends/requests")
        for request in requests["items"]:
            if request["from"] == user["id"] and request["status"] == "pending":
                await self.client.call("POST", f"/friends/requests/{request['id']}/accept")
                self.model.notice(f"* you and {user['display_name']} are friends")
                return
        raise UsageError(f"no pending friend request from {name}")

    def _need_current(self) -> str:
        if self.model.current is None:
            raise UsageError("open a conversation first: /open NAME")
        return self.model.current

    @staticmethod
    def _seq_and_text(arg: str, usage: str, *, text: bool = True) -> tuple[int, str]:
        seq, _, rest = arg.lstrip("#").partition(" ")
        if not seq.isdigit() or (text and not rest.strip()):
            raise UsageError(usage)
        return int(seq), rest.strip()

    async def cmd_reply(self, arg: str) -> None:
        seq, text = self._seq_and_text(arg, "/reply SEQ TEXT  (SEQ is the #number of a message)")
        self.send("text", {"text": text}, reply_to=seq)

    async def cmd_edit(self, arg: str) -> None:
        seq, text = self._seq_and_text(arg, "/edit SEQ TEXT")
        self.send("edit", {"seq": seq, "text": text})

    async def cmd_recall(self, arg: str) -> None:
        seq, _ = self._seq_and_text(arg, "/recall SEQ", text=False)
        self.send("recall", {"seq": seq})

    async def cmd_send(self, arg: str) -> None:
        self._need_current()
        if not arg:
            raise UsageError("/send PATH  (a file or an image)")
        name, data = await asyncio.to_thread(_read_file, arg)
        uploaded = await self.client.upload_file(name, data)
        self.model.files[str(uploaded["id"])] = FileInfo.of(uploaded)
        if str(uploaded.get("mime", "")).startswith("image/") and uploaded.get("width"):
            size = {"width": uploaded["width"], "height": uploaded["height"]}
            self.send("image", {"file_id": uploaded["id"], **size})
        else:
            self.send("file", {"file_id": uploaded["id"], "name": uploaded.get("name") or name})

    async def cmd_save(self, arg: str) -> None:
        seq, where = self._seq_and_text(arg, "/save N [PATH]  (N is the #number)", text=False)
        file_id = self.model.attachment_at(self._need_current(), seq)
        if file_id is None:
            raise UsageError(f"#{seq} has no image or file to save")
        info, data = await self.client.download_file(file_id)
        saved = await asyncio.to_thread(_write_file, where, str(info.get("name") or file_id), data)
        self.model.notice(f"* saved #{seq} to {saved}")

    async def cmd_rooms(self, query: str) -> None:
        found = await self.client.call("GET", "/groups", params={"q": query})
        lines = [
            f"  {g['id']}  {g['kind']:<7} {g['title']} ({g['member_count']})"
            for g in found["items"]
        ]
        self.model.notice("\n".join(["public groups and channels (/join ID):", *lines]))

    async def cmd_join(self, conv_id: str) -> None:
        group = await self.client.call("POST", f"/groups/{conv_id}/join")
        self.model.load_list([group])
        await self.open(conv_id)

    async def cmd_history(self, count: str) -> None:
        conv = self.model.conv(self._need_current())
        oldest = min(conv.entries, default=None)
        if oldest == 1:
            return  # the whole conversation is here
        limit = int(count) if count.isdigit() else HISTORY_PAGE
        page = await self.client.history(conv.id, before=oldest, limit=limit)
        self.model.load_history(conv.id, (Message.from_frame(i) for i in page["items"]))

    async def cmd_who(self, _: str) -> None:
        conv = self.model.conv(self._need_current())
        if conv.kind == "direct":
            await self._who_peer(conv.peer)
            return
        members = await self.client.call("GET", f"/groups/{conv.id}/members")
        online = await self.client.call("GET", f"/groups/{conv.id}/online")
        here = {u["id"] for u in online["items"]}
        described = [
            _member_words(m, m["user"]["id"] in here, m["user"]["id"] == self.model.me)
            for m in members["items"]
        ]
        more = " and more" if members.get("more") else ""
        self.model.notice(f"* members ({len(described)}{more}): " + ", ".join(described))

    async def _who_peer(self, peer: str | None) -> None:
        if peer is None:
            raise UsageError("this conversation has no one else in it")
        user = await self.client.get_user(peer)
        found = await self.client.call("GET", "/presence", params={"users": peer})
        online = any(item["online"] for item in found["items"])
        name = str(user.get("display_name") or user["username"])
        self.model.names[peer] = name
        state = "online" if online else "offline (or not sharing presence with you)"
        self.model.notice(f"* {name} (@{user['username']}) is {state}")


def _member_words(member: dict[str, Any], online: bool, me: bool) -> str:
    user = member["user"]
    marks = [
        m
        for m in (member["role"] if member["role"] != "member" else "", "online" if online else "")
        if m
    ]
    name = "you" if me else str(user.get("display_name") or user["username"])
    return name + (f" ({', '.join(marks)})" if marks else "")


def _read_file(arg: str) -> tuple[str, bytes]:
    path = Path(arg).expanduser()
    if not path.is_file():
        raise UsageError(f"no file at {arg!r}")
    return path.name, path.read_bytes()


def _write_file(where: str, name: str, data: bytes) -> Path:
    """Write an attachment to ``where`` (a folder keeps the file's own name; default:
    the current folder); never over an existing file."""
    target = Path(where).expanduser() if where else Path.cwd()
    if target.is_dir():
        target = target / (Path(name).name or "file")
    try:
        with target.open("xb") as out:
            out.write(data)
    except FileExistsError:
        raise UsageError(f"{target} exists already; name another path") from None
    return target
