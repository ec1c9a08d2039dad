"""The slash commands of ``pigeon chat``: each parses its line, calls the server through
the SDK and leaves its answer in the model (a notice, a conversation, a message sent).

A command that cannot run raises ``UsageError`` with how to type it; the session
turns that, and every refusal of the server, into one line in words.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pigeon.chat.words import FileInfo
from pigeon.client import Message
from pigeon.protocol.membership import ConversationKind

if TYPE_CHECKING:
    from pigeon.chat.session import ChatSession

HISTORY_PAGE = 50

# Lines of at most 80 characters: the message pane of an 80-column terminal is narrower
# than that, but a 120-column one shows each on one line.
HELP = """commands (Ctrl-N / Ctrl-P switch, PageUp / PageDown scroll, Ctrl-C quits):
  /open NAME|N|ID             a listed chat or group, a user, entry N, an id
  /new group TITLE [USER…]    create a group and open it
  /invite USER…               add users to the open group
  /add USER [NOTE]            send a friend request; /accept USER accepts one
  /reply N TEXT               answer message #N
  /edit N TEXT, /recall N     change or take back your message #N
  /react N EMOJI, /pin N      toggle your reaction to #N; pin it (/unpin N)
  /send PATH, /save N [PATH]  send a file or image; save the one of #N
  /who                        the group's members, or the other person
  /rooms [QUERY], /join ID    public groups and channels; join one
  /history [N], /quit         load older messages; leave
anything else is sent to the open conversation"""

Command = Callable[[str], Awaitable[None]]


class UsageError(Exception):
    """A command typed wrongly; the message says how to type it."""


class Commands:
    """The command table of one session."""

    def __init__(self, session: ChatSession) -> None:
        self.session = session
        self.model = session.model
        self.client = session.client

    def table(self) -> dict[str, Command]:
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
            "react": self.cmd_react,
            "pin": self.cmd_pin,
            "unpin": self.cmd_unpin,
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
        await self.session.refresh_list()

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
        await self.session.open(conv_id)

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
        await self.session.open(str(group["id"]))

    async def cmd_invite(self, arg: str) -> None:
        conv = self._need_current()
        if self.model.conv(conv).kind is ConversationKind.DIRECT:
            raise UsageError(
                "/invite adds people to a group; start one with /new group TITLE USER…"
            )
        if not arg.split():
            raise UsageError("/invite USER…")
        users = [(await self.find_user(name))["id"] for name in arg.split()]
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
        self.session.send("text", {"text": text}, reply_to=seq)

    async def cmd_edit(self, arg: str) -> None:
        seq, text = self._seq_and_text(arg, "/edit SEQ TEXT")
        self.session.send("edit", {"seq": seq, "text": text})

    async def cmd_recall(self, arg: str) -> None:
        seq, _ = self._seq_and_text(arg, "/recall SEQ", text=False)
        self.session.send("recall", {"seq": seq})

    async def cmd_react(self, arg: str) -> None:
        seq, emoji = self._seq_and_text(arg, "/react SEQ EMOJI  (again to take it back)")
        self.session.send("react", {"seq": seq, "emoji": emoji})

    async def cmd_pin(self, arg: str) -> None:
        seq, _ = self._seq_and_text(arg, "/pin SEQ", text=False)
        self.session.send("pin", {"seq": seq})

    async def cmd_unpin(self, arg: str) -> None:
        seq, _ = self._seq_and_text(arg, "/unpin SEQ", text=False)
        self.session.send("unpin", {"seq": seq})

    async def cmd_send(self, arg: str) -> None:
        self._need_current()
        if not arg:
            raise UsageError("/send PATH  (a file or an image)")
        name, data = await asyncio.to_thread(_read_file, arg)
        uploaded = await self.client.upload_file(name, data)
        self.model.files[str(uploaded["id"])] = FileInfo.of(uploaded)
        if str(uploaded.get("mime", "")).startswith("image/") and uploaded.get("width"):
            size = {"width": uploaded["width"], "height": uploaded["height"]}
            self.session.send("image", {"file_id": uploaded["id"], **size})
        else:
            self.session.send(
                "file", {"file_id": uploaded["id"], "name": uploaded.get("name") or name}
            )

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
        await self.session.open(conv_id)

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
        if conv.kind is ConversationKind.DIRECT:
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
