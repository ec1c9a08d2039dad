"""A Python SDK user driven by a Node test: JSON commands on stdin, JSON lines on stdout.

Commands: {"id", "op": "register", "username", "password"} -> {"id", "result": user}
          {"id", "op": "connect"}                          -> {"id", "result": null}
          {"id", "op": "open_direct", "user_id"}           -> {"id", "result": conversation}
          {"id", "op": "send", "conv", "text"}             -> {"id", "result": ack}
Every message of the connection's stream is printed as {"event": "msg", ...}.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from pigeon.client import Connection, MessageEvent, PigeonClient


def emit(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


async def pump_events(conn: Connection) -> None:
    async for event in conn.events():
        if isinstance(event, MessageEvent):
            m = event.message
            emit(
                {
                    "event": "msg",
                    "conv": m.conv,
                    "seq": m.seq,
                    "from": m.sender,
                    "kind": m.kind,
                    "body": m.body,
                    "cid": m.cid,
                }
            )


async def main(base_url: str) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with PigeonClient(base_url) as client:
        conn: Connection | None = None
        tasks: set[asyncio.Task[None]] = set()
        while line := await reader.readline():
            command = json.loads(line)
            op, rid = command["op"], command.get("id")
            try:
                result: Any = None
                if op == "register":
                    grant = await client.register(command["username"], command["password"])
                    result = grant["user"]
                elif op == "connect":
                    conn = await client.connect()
                    task = asyncio.create_task(pump_events(conn))
                    tasks.add(task)
                elif op == "open_direct":
                    result = await client.open_direct(command["user_id"])
                elif op == "send":
                    assert conn is not None
                    ack = await conn.send(command["conv"], "text", {"text": command["text"]})
                    result = {"seq": ack.seq, "cid": ack.cid}
                emit({"id": rid, "result": result})
            except Exception as exc:  # reported to the test, which fails with it
                emit({"id": rid, "error": repr(exc)})
        if conn is not None:
            await conn.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
