"""``pigeon chat``: a line-oriented terminal client built on the SDK.

Type a line to send it to the open conversation; lines starting with ``/`` are
commands (``/help`` lists them). Incoming messages, receipts and typing are printed
as they arrive; after a dropped connection the SDK reconnects and catches up, so
nothing is missed or shown twice.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from pigeon.client import (
    ClosedEvent,
    ConnectedEvent,
    Connection,
    DisconnectedEvent,
    ErrorEvent,
    Event,
    MessageEvent,
    PigeonApiError,
    PigeonClient,
    PresenceEvent,
    TypingEvent,
)
from pigeon.client.events import Message

HELP = """commands:
  /list                 your conversations (unread counts)
  /open NAME|ID         open a direct chat with a user, or a conversation by id
  /rooms [QUERY]        public groups and channels
  /join ID              join a public group or channel and open it
  /history [N]          the last N messages of the open conversation (default 20)
  /who                  members online in the open group
  /quit                 leave
anything else is sent to the open conversation"""


class ChatSession:
    def __init__(self, client: PigeonClient, out: TextIO) -> None:
        self.client = client
        self.out = out
        self.conn: Connection | None = None
        self.me = ""
        self.current: str | None = None
        self.names: dict[str, str] = {}  # user id -> display name
        self.titles: dict[str, str] = {}  # conversation id -> title

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    async def name_of(self, user_id: str) -> str:
        if user_id not in self.names:
            try:
                self.names[user_id] = str((await self.client.get_user(user_id))["display_name"])
            except PigeonApiError:
                self.names[user_id] = user_id
        return self.names[user_id]

    async def render(self, message: Message) -> str:
        stamp = time.strftime("%H:%M", time.localtime(message.ts / 1000))
        who = "me" if message.sender == self.me else await self.name_of(message.sender)
        where = self.titles.get(message.conv, message.conv)
        if message.recalled:
            text = "(recalled)"
        elif message.kind == "text":
            text = str(message.body.get("text", ""))
        elif message.kind == "system":
            text = f"* {message.body.get('event', 'update')}"
        else:
            text = f"[{message.kind}] {message.body}"
        edited = " (edited)" if message.edited_at else ""
        return f"{stamp} [{where}] {who}: {text}{edited}"

    async def on_event(self, event: Event) -> None:
        if isinstance(event, MessageEvent):
            if event.message.kind in ("recall", "edit"):
                return  # their effect shows in history; the entry itself is noise here
            if event.live and event.message.sender != self.me:
                self.say(await self.render(event.message))
        elif isinstance(event, TypingEvent) and event.on and event.conv == self.current:
            self.say(f"… {await self.name_of(event.user)} is typing")
        elif isinstance(event, PresenceEvent):
            state = "online" if event.online else "offline"
            self.say(f"* {await self.name_of(event.user)} is {state}")
        elif isinstance(event, ErrorEvent):
            self.say(f"! {event.code} {event.message}")
        elif isinstance(event, DisconnectedEvent):
            self.say(f"* connection lost ({event.code}); reconnecting in {event.retry_in:.1f}s")
        elif isinstance(event, ConnectedEvent) and event.attempt > 1:
            self.say("* reconnected")
        elif isinstance(event, ClosedEvent) and event.error is not None:
            self.say(f"! disconnected: {event.error}")

    async def pump(self) -> None:
        assert self.conn is not None
        async for event in self.conn.events():
            await self.on_event(event)

    # --- commands

    async def handle(self, line: str) -> bool:
        """Run one input line; False means quit."""
        line = line.strip()
        if not line:
            return True
        if not line.startswith("/"):
            await self.send_text(line)
            return True
        name, _, arg = line[1:].partition(" ")
        command = self.commands().get(name)
        if command is None:
            self.say(HELP)
            return True
        if name == "quit":
            return False
        try:
            await command(arg.strip())
        except PigeonApiError as exc:
            self.say(f"! {exc.code} {exc.message}")
        return True

    def commands(self) -> dict[str, Callable[[str], Awaitable[None]]]:
        return {
            "help": self.cmd_help,
            "list": self.cmd_list,
            "open": self.cmd_open,
            "rooms": self.cmd_rooms,
            "join": self.cmd_join,
            "history": self.cmd_history,
            "who": self.cmd_who,
            "quit": self.cmd_help,
        }

    async def cmd_help(self, _: str) -> None:
        self.say(HELP)

    async def cmd_list(self, _: str) -> None:
        page = await self.client.conversations()
        for item in page["items"]:
            self.titles[item["id"]] = item["title"] or item["id"]
            unread = f" ({item['unread']} unread)" if item["unread"] else ""
            self.say(f"{item['id']}  {item['kind']:<7} {item['title']}{unread}")

    async def cmd_open(self, target: str) -> None:
        if target.startswith("c_"):
            self.current = target
        else:
            found = await self.client.search_users(target, limit=5)
            match = next((u for u in found["items"] if u["username"] == target.lower()), None)
            if match is None:
                self.say(f"! no user named {target!r}")
                return
            conv = await self.client.open_direct(match["id"])
            self.current = conv["id"]
            self.titles[conv["id"]] = conv["title"] or target
        self.say(f"* now talking in {self.titles.get(self.current, self.current)}")
        await self.cmd_history("10")

    async def cmd_rooms(self, query: str) -> None:
        found = await self.client.call("GET", "/groups", params={"q": query})
        for group in found["items"]:
            self.say(
                f"{group['id']}  {group['kind']:<7} {group['title']} ({group['member_count']})"
            )

    async def cmd_join(self, conv_id: str) -> None:
        group = await self.client.call("POST", f"/groups/{conv_id}/join")
        self.titles[conv_id] = group["title"]
        await self.cmd_open(conv_id)

    async def cmd_history(self, count: str) -> None:
        if self.current is None:
            self.say("! open a conversation first (/open NAME)")
            return
        page = await self.client.history(self.current, limit=int(count) if count.isdigit() else 20)
        for item in page["items"]:
            self.say(await self.render(Message.from_frame(item)))
        if page["items"] and self.conn is not None:
            await self.conn.read(self.current, page["items"][-1]["seq"])

    async def cmd_who(self, _: str) -> None:
        if self.current is None:
            self.say("! open a group first")
            return
        online = await self.client.call("GET", f"/groups/{self.current}/online")
        self.say("online: " + ", ".join(u["display_name"] for u in online["items"]))

    async def send_text(self, text: str) -> None:
        if self.current is None or self.conn is None:
            self.say("! open a conversation first (/open NAME)")
            return
        try:
            await self.conn.send(self.current, "text", {"text": text})
        except PigeonApiError as exc:
            self.say(f"! {exc.code} {exc.message}")


async def run_chat(
    server: str, username: str, password: str, register: bool, lines: TextIO = sys.stdin
) -> None:
    async with PigeonClient(server) as client:
        grant: dict[str, Any]
        if register:
            grant = await client.register(username, password)
        else:
            grant = await client.login(username, password)
        session = ChatSession(client, sys.stdout)
        session.me = str(grant["user"]["id"])
        session.conn = await client.connect()
        session.say(f"* signed in as {grant['user']['username']}; /help for commands")
        pump = asyncio.create_task(session.pump())
        try:
            while True:
                line = await asyncio.to_thread(lines.readline)
                if not line or not await session.handle(line):
                    break
        finally:
            pump.cancel()
            await session.conn.close()
