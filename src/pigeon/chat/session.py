"""The terminal client's behaviour: SDK events in, commands out, receipts sent back.

``ChatSession`` owns the SDK client and connection and the ``ChatModel``; the
screen (``pigeon.chat.screen``) only draws the model and hands typed lines here,
and slash commands go to ``pigeon.chat.commands``.
Every action that talks to the server runs as its own task, so the screen never
waits on the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from pigeon.chat.commands import HISTORY_PAGE, Commands, UsageError
from pigeon.chat.model import ChatModel, Entry, Link
from pigeon.chat.words import MARKS, FileInfo, error_text
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
    SocketDisplaced,
    TypingEvent,
    new_cid,
)

TYPING_EVERY_S = 3.0  # the server relays at most one typing-on per 3 s anyway
TYPING_SHOWN_S = 6.0  # the server ends a typer's indicator after ~6 s of quiet


class ChatSession:
    def __init__(self, client: PigeonClient, conn: Connection, me: str) -> None:
        self.client = client
        self.conn = conn
        self.model = ChatModel(me)
        self.redraw: Callable[[], None] = lambda: None
        self.commands = Commands(self)
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
            try:
                self.on_event(event)
            except Exception as exc:  # one odd event must not stop every later one
                self.model.notice(f"! could not show an event: {type(exc).__name__}: {exc}")
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
        if isinstance(error, SocketDisplaced):
            reason = "a newer connection of yours took this one's place"
        elif isinstance(error, PigeonApiError):
            reason = error_text(error.code, error.message)
        else:
            reason = str(error) or type(error).__name__
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
        command = self.commands.table().get(name)
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
        if kind in MARKS:  # what a toggle did is in the stored entry, not in the ack
            page = await self.conn.pull(conv, after=ack.seq - 1, limit=1)
            for message in page.items:
                self._on_message(message)

    # --- commands
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
