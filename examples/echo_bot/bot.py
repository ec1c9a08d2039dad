"""Echo bot: a Pigeon bot that answers through its outgoing webhook.

It signs in with its bot token (Python SDK, ``PigeonClient.login_bot``), subscribes
its own URL as the bot's outgoing webhook, and serves that URL. Every event is checked
(HMAC-SHA256 signature, timestamp within five minutes, an event id not yet handled)
before it answers over the REST API: ``/time`` with the current UTC time,
anything else with an echo.

    python examples/echo_bot/bot.py --server http://127.0.0.1:8080 \\
        --token pgb_... --listen 127.0.0.1:8090

The reply's ``cid`` is derived from the event id, so an event delivered twice (delivery
is at least once) is answered once: the server deduplicates a repeated cid.

See README.md beside this file, and docs/bots.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import signal
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from pigeon.client import PigeonClient

REPLAY_WINDOW_S = 300  # what docs/bots.md asks receivers to accept
SEEN_EVENTS = 10_000  # event ids remembered for deduplication


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float) -> bool:
    """The check docs/bots.md describes: HMAC over ``timestamp + "." + body``,
    compared in constant time, and a timestamp within the replay window."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > REPLAY_WINDOW_S:
        return False
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(signature, f"v1={mac.hexdigest()}")


def answer(text: str, now: datetime) -> str:
    """What the bot says to ``text``."""
    if text.strip() == "/time":
        return f"It is {now.strftime('%H:%M:%S')} UTC."
    return f"echo: {text}"


def reply_cid(event_id: str) -> str:
    """One cid per event: a redelivered event makes the same send, stored once."""
    return "echo-" + hashlib.sha256(event_id.encode()).hexdigest()[:40]


class EchoBot:
    def __init__(self, client: PigeonClient) -> None:
        self.client = client
        self.secret = ""  # set by subscribe()
        self.me = ""
        self._seen: OrderedDict[str, None] = OrderedDict()

    async def subscribe(self, url: str) -> None:
        hook = await self.client.set_bot_webhook(url, ["message", "mention"])
        self.secret = hook["secret"]
        self.me = str((self.client.user or {}).get("id", ""))

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers.get("X-Pigeon-Timestamp", "")
        signature = request.headers.get("X-Pigeon-Signature", "")
        if not self.secret or not verify(self.secret, timestamp, body, signature, time.time()):
            return web.Response(status=401)  # not from our server: refused for good
        event: dict[str, Any] = orjson.loads(body)
        if event["id"] in self._seen:
            return web.Response(status=204)
        message = event["message"]
        text = message.get("body", {}).get("text")
        if message.get("kind") == "text" and isinstance(text, str) and message["from"] != self.me:
            reply = answer(text, datetime.now(UTC))
            # A failure here raises: aiohttp answers 500 and the server retries later.
            await self.client.send_rest(
                message["conv"], "text", reply, reply_to=message["seq"], cid=reply_cid(event["id"])
            )
        self._seen[event["id"]] = None
        while len(self._seen) > SEEN_EVENTS:
            self._seen.popitem(last=False)
        return web.Response(status=204)


def make_app(bot: EchoBot) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/events", bot.handle)
    return app


async def run(server: str, token: str, host: str, port: int, public: str | None) -> None:
    async with PigeonClient(server) as client:
        await client.login_bot(token)
        bot = EchoBot(client)
        runner = web.AppRunner(make_app(bot), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        await bot.subscribe(public or f"http://{host}:{bound}/events")
        print(f"echo bot {bot.me} listening on {host}:{bound}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description="A Pigeon bot that echoes and tells the time.")
    parser.add_argument("--server", default="http://127.0.0.1:8080", help="Pigeon's base URL")
    parser.add_argument(
        "--token",
        default=os.environ.get("PIGEON_BOT_TOKEN"),
        help="the bot token from `pigeon bot create` [env PIGEON_BOT_TOKEN]",
    )
    parser.add_argument("--listen", default="127.0.0.1:8090", help="HOST:PORT to serve on")
    parser.add_argument(
        "--public-url", help="the URL Pigeon posts to, if not http://HOST:PORT/events"
    )
    args = parser.parse_args()
    if not args.token:
        parser.error("a bot token is needed: --token or PIGEON_BOT_TOKEN")
    host, _, port = args.listen.rpartition(":")
    asyncio.run(run(args.server, args.token, host, int(port), args.public_url))


if __name__ == "__main__":
    main()
