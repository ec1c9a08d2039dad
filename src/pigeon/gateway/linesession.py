"""What a line-mode connection's commands do (docs/protocol.md, "Line mode").

``LineSession`` knows the services and one person's place (who they are, which room
they are in, their direct conversations); it knows nothing about sockets. Every
command becomes lines to print, and every failure an ``! <code> <message>`` line:
nothing raises out of ``sign_in`` or ``handle``.

Sends and history go through ``dispatch`` — the gateway ``Session`` every transport
uses — so line mode has the same per-connection rate limits, per-user send budget,
validation and durability as the WebSocket: a message typed here is an ordinary
stored ``text`` message with a fresh ``cid``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pigeon.core.accounts import AccountService, Principal
from pigeon.core.conversations import ConversationService
from pigeon.core.groups import LOBBY_ID, GroupService
from pigeon.core.guests import GuestService
from pigeon.core.ids import new_id
from pigeon.core.messaging import MessagingService
from pigeon.core.ratelimit import KeyedLimiter, LoginGuard
from pigeon.gateway.lineoutput import NickCache
from pigeon.protocol import frames, lines
from pigeon.protocol.errors import ErrorCode, PigeonError
from pigeon.protocol.frames import Command, Frame
from pigeon.protocol.lineview import Viewpoint, error_line, names_needed, notice, render_message
from pigeon.protocol.membership import ConversationKind
from pigeon.store.records import UserRecord

log = logging.getLogger(__name__)

Dispatch = Callable[[Command], Awaitable[Frame | None]]
LINE_DEVICE = "line"  # the device name of every line-mode login
_MAX_LISTED = 100  # most names /who prints, and rooms /rooms lists
_CID_PREFIX = "line-"


@dataclass(frozen=True, slots=True)
class LineServices:
    accounts: AccountService
    guests: GuestService
    groups: GroupService
    conversations: ConversationService
    messaging: MessagingService
    login_guard: LoginGuard
    auth_by_ip: KeyedLimiter
    names: NickCache
    allow_guests: bool


@dataclass(frozen=True, slots=True)
class Reply:
    lines: list[str]
    quit: bool = False


def _refusal(exc: PigeonError) -> list[str]:
    return [error_line(int(exc.code), exc.message)]


class LineSession:
    """One person at a terminal: signing in, then chatting in one room at a time."""

    def __init__(self, services: LineServices, address: str) -> None:
        self.services = services
        self.address = address
        self.principal: Principal | None = None
        self.user: UserRecord | None = None
        self.room = LOBBY_ID
        self.room_title = "lobby"
        self.direct: dict[str, str] = {}  # direct conversation id → peer id
        self.dispatch: Dispatch | None = None  # set by the transport once signed in
        self._hidden: set[str] = set()  # conversations whose pushes are not printed

    @property
    def view(self) -> Viewpoint:
        assert self.principal is not None
        return Viewpoint(self.principal.user_id, self.room, self.direct)

    def knows(self, conv_id: str) -> bool:
        """Whether the view already says if messages of ``conv_id`` are shown."""
        return conv_id == self.room or conv_id in self.direct or conv_id in self._hidden

    async def learn(self, conv_id: str) -> None:
        """A push from a conversation not seen yet: a direct chat is shown from now on
        (someone wrote to this person), any other room is not (one room at a time)."""
        assert self.principal is not None
        store = self.services.messaging.store
        conv = await store.conversations.conversation(conv_id)
        if conv is not None and conv.kind is ConversationKind.DIRECT:
            peers = await store.conversations.peers([conv_id], self.principal.user_id)
            if conv_id in peers:
                self.direct[conv_id] = peers[conv_id].user_id
                return
        self._hidden.add(conv_id)

    def greeting(self) -> list[str]:
        how = (
            "Type a nickname to chat as a guest, or sign in: /login NAME PASSWORD"
            if self.services.allow_guests
            else "Sign in: /login NAME PASSWORD"
        )
        return [
            notice("Welcome to Pigeon. Lines end with Enter; /help lists the commands."),
            notice(how),
        ]

    # --- before signing in

    async def sign_in(self, command: lines.LineCommand) -> Reply:
        """Handle a line before the person is signed in; sets ``principal`` on success."""
        try:
            match command:
                case lines.Say(text=nick):
                    await self._as_guest(nick.strip())
                case lines.Login(username=username, password=password):
                    await self._as_account(username, password)
                case lines.Help():
                    return Reply(self._help())
                case lines.Quit():
                    return Reply([notice("Bye.")], quit=True)
                case _:
                    raise PigeonError(
                        ErrorCode.NOT_AUTHENTICATED, "pick a nickname or /login first"
                    )
        except PigeonError as exc:
            return Reply(_refusal(exc))
        except Exception:  # the store is away: say so, keep the connection
            log.exception("line sign-in failed")
            return Reply([error_line(int(ErrorCode.INTERNAL), "internal server error")])
        return Reply([])

    async def _as_guest(self, nick: str) -> None:
        if not self.services.allow_guests:
            raise PigeonError(
                ErrorCode.NOT_AUTHENTICATED, "this server takes no guests: /login NAME PASSWORD"
            )
        self.services.auth_by_ip.check(self.address)  # a guest is an account made: as sign-up
        user = await self.services.guests.create(nick)
        self.principal = await self.services.accounts.open_login(user, LINE_DEVICE)
        self.user = user

    async def _as_account(self, username: str, password: str) -> None:
        """The REST login's path, with its guards (core/ratelimit.py ``LoginGuard``)."""
        guard = self.services.login_guard
        self.services.auth_by_ip.check(self.address)
        guard.check(username, self.address)
        try:
            grant = await self.services.accounts.login(username, password, LINE_DEVICE)
        except PigeonError as exc:
            if exc.code == ErrorCode.BAD_CREDENTIALS:
                guard.failed(username, self.address)
            raise
        guard.succeeded(username, self.address)
        self.principal = Principal(grant.user.id, grant.login_id, grant.device)
        self.user = grant.user

    async def enter(self) -> list[str]:
        """Once signed in: into the lobby, with a word on where the person is."""
        assert self.user is not None
        self.services.names.put(self.user.id, self.user.username)
        kind = "a guest" if self.user.guest else "signed in"
        try:
            await self._go_to(LOBBY_ID)
        except PigeonError as exc:
            return [notice(f"You are {self.user.username} ({kind})."), *_refusal(exc)]
        return [
            notice(f"You are {self.user.username} ({kind}), in {self.room_title}."),
            notice("Type to talk; /who shows who is here, /help the rest."),
        ]

    # --- signed in

    async def handle(self, command: lines.LineCommand) -> Reply:
        """Run one command of a signed-in person; never raises."""
        try:
            return Reply(await self._run(command), quit=isinstance(command, lines.Quit))
        except PigeonError as exc:
            return Reply(_refusal(exc))
        except Exception:
            log.exception("line command failed", extra={"command": command.kind.value})
            return Reply([error_line(int(ErrorCode.INTERNAL), "internal server error")])

    async def _run(self, command: lines.LineCommand) -> list[str]:
        match command:
            case lines.Say(text=text):
                return await self._say(self.room, text, None)
            case lines.DirectMessage(nick=nick, text=text):
                return await self._direct(nick, text)
            case lines.Who():
                return await self._who()
            case lines.Rooms():
                return await self._rooms()
            case lines.Join(room=room):
                await self._go_to(await self._find_room(room))
                return [notice(f"Now in {self.room_title}. /history shows what was said.")]
            case lines.History(count=count):
                return await self._history(count)
            case lines.SetNick(name=name):
                return await self._rename(name)
            case lines.Help():
                return self._help()
            case lines.Quit():
                return [notice("Bye.")]
            case lines.Login():
                raise PigeonError(ErrorCode.ALREADY_AUTHENTICATED, "you are signed in already")
        raise AssertionError(f"unhandled line command {command!r}")

    async def _send(self, conv: str, text: str) -> Frame | None:
        """One ordinary text message, through the gateway session (limits, budget, ack);
        None when the connection is closing instead (repeated overruns)."""
        assert self.dispatch is not None
        return await self.dispatch(frames.Send(new_id(_CID_PREFIX), conv, "text", {"text": text}))

    async def _say(self, conv: str, text: str, peer: str | None) -> list[str]:
        reply = await self._send(conv, text)
        if reply is None:
            return []
        if reply["t"] == "error":
            return [error_line(int(reply["code"]), str(reply["message"]))]
        if peer is None:
            return []  # the terminal shows what was typed already
        echo = {
            "t": "msg",
            "conv": conv,
            "from": self.view.me,
            "kind": "text",
            "body": {"text": text},
            "ts": reply["ts"],
        }
        return render_message(echo, self.view, self.services.names.name)

    async def _direct(self, nick: str, text: str) -> list[str]:
        assert self.principal is not None
        peer = await self._user_named(nick)
        conv = await self.services.conversations.open_direct(self.principal.user_id, peer.id)
        self.direct[conv.id] = peer.id
        return await self._say(conv.id, text, peer.id)

    async def _user_named(self, nick: str) -> UserRecord:
        user = await self.services.accounts.store.accounts.user_by_username(nick.strip().lower())
        if user is None or user.disabled:
            raise PigeonError(ErrorCode.USER_NOT_FOUND, f"no user named {nick}")
        self.services.names.put(user.id, user.username)
        return user

    async def _who(self) -> list[str]:
        assert self.principal is not None
        online = await self.services.groups.online_members(
            self.principal.user_id, self.room, _MAX_LISTED
        )
        for person in online:
            self.services.names.put(person["id"], person["username"])
        names = ", ".join(sorted(p["username"] for p in online))
        return [notice(f"Online in {self.room_title} ({len(online)}): {names}")]

    async def _rooms(self) -> list[str]:
        rooms = await self.services.groups.directory("", _MAX_LISTED)
        shown = [notice(f"Public rooms ({len(rooms)}); /join NAME goes to one:")]
        for room in rooms:
            here = "  <- you are here" if room["id"] == self.room else ""
            kind = " (channel)" if room["kind"] == ConversationKind.CHANNEL else ""
            shown.append(
                notice(
                    f"  {room['title']}{kind}: {room['member_count']} members, id {room['id']}{here}"
                )
            )
        return shown

    async def _find_room(self, room: str) -> str:
        """A room by id, or by its title (case-insensitive) among the public ones."""
        if room.startswith("c_"):
            return room
        wanted = room.casefold()
        for found in await self.services.groups.directory(room, _MAX_LISTED):
            if str(found["title"]).casefold() == wanted:
                return str(found["id"])
        raise PigeonError(ErrorCode.CONVERSATION_NOT_FOUND, f"no public room named {room}")

    async def _go_to(self, conv_id: str) -> None:
        assert self.principal is not None
        group = await self.services.groups.join(self.principal.user_id, conv_id)
        self.room, self.room_title = conv_id, str(group["title"] or conv_id)
        self._hidden.discard(conv_id)

    async def _history(self, count: int) -> list[str]:
        assert self.dispatch is not None
        reply = await self.dispatch(frames.Pull(self.room, limit=count))
        if reply is None:
            return []
        if reply["t"] == "error":
            return [error_line(int(reply["code"]), str(reply["message"]))]
        items: list[Frame] = reply["items"]
        names = self.services.names
        await names.fetch(set().union(*(names_needed({"t": "msg", **item}) for item in items)))
        shown = [line for item in items for line in render_message(item, self.view, names.name)]
        return shown or [notice(f"Nothing has been said in {self.room_title} yet.")]

    async def _rename(self, name: str) -> list[str]:
        assert self.user is not None
        self.user = await self.services.guests.rename(self.user, name)
        self.services.names.put(self.user.id, self.user.username)
        return [notice(f"You are now {self.user.username}.")]

    def _help(self) -> list[str]:
        width = max(len(usage) for _, usage, _ in lines.HELP)
        return [notice(f"{usage.ljust(width)}  {what}") for _, usage, what in lines.HELP]
