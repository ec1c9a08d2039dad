"""`pigeon db backup` of a running node under traffic, `pigeon db restore` into a new
data dir, and a node started on it that has every acknowledged message and file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp

from harness import TEST_ENV, ServerProcess

from .wsclient import WAIT_S, Rest, all_history, connect, direct, pull_everything, register


def _pigeon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pigeon", *args],
        capture_output=True,
        text=True,
        timeout=WAIT_S * 2,
        env={**os.environ, **TEST_ENV},
    )


async def _upload(http: aiohttp.ClientSession, server: ServerProcess, token: str) -> str:
    form = aiohttp.FormData()
    form.add_field("file", b"backup me " * 100, filename="note.txt", content_type="text/plain")
    async with http.post(
        f"{server.base_url}/api/v1/files", data=form, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        body = await response.json()
        assert response.status in (200, 201), body
        return str(body["data"]["id"])


async def test_backup_under_traffic_restores_every_acknowledged_message(
    http: aiohttp.ClientSession,
    server_factory: Callable[..., ServerProcess],
    tmp_path: Path,
) -> None:
    server = server_factory(
        "live", env={"PIGEON_SEND_RATE_PER_S": "100000", "PIGEON_SEND_BURST": "100000"}
    )
    rest = Rest(http, server)
    alice, bob = await register(rest, "bk"), await register(rest, "bk")
    conv = await direct(rest, alice, bob)
    file_id = await _upload(http, server, alice.access)
    client, _ = await connect(http, server, alice)
    acked_before: list[int] = []
    for i in range(30):
        acked_before.append((await client.send_text(conv, f"before {i}"))["seq"])

    archive = tmp_path / "backup.tar.gz"
    backup = asyncio.create_task(
        asyncio.to_thread(_pigeon, "db", "backup", str(archive), "--data-dir", str(server.data_dir))
    )
    sent_during = 0
    while not backup.done() and sent_during < 500:  # bounded: traffic while it copies
        await client.send_text(conv, f"during {sent_during}")
        sent_during += 1
    result = await backup
    await client.close()
    assert result.returncode == 0, result.stderr
    # One upload: the file; no thumbnail for text. The tests set PIGEON_JWT_SECRET, so no
    # generated secret file comes along.
    assert "database, 1 stored file(s)" in result.stdout, result.stdout
    assert (archive.stat().st_mode & 0o777) == 0o600

    restored_dir = tmp_path / "restored"  # where server_factory("restored") serves from
    result = _pigeon("db", "restore", str(archive), "--data-dir", str(restored_dir))
    assert result.returncode == 0, result.stderr
    # Not again over a non-empty data dir…
    again = _pigeon("db", "restore", str(archive), "--data-dir", str(restored_dir))
    assert again.returncode == 1
    assert again.stderr.startswith("Error:")
    assert "--force" in again.stderr
    assert "Traceback" not in again.stderr

    restored = server_factory("restored")  # its data dir is tmp_path / "restored"
    rest2 = Rest(http, restored)
    items = await all_history(rest2, alice, conv)  # the same secret: old tokens hold
    seqs = [m["seq"] for m in items]
    assert seqs == list(range(1, len(seqs) + 1)), "gap-free"
    assert set(acked_before) <= set(seqs)
    async with http.get(
        f"{restored.base_url}/api/v1/files/{file_id}",
        headers={"Authorization": f"Bearer {alice.access}"},
    ) as response:
        assert response.status == 200, await response.text()
    # Bob's client syncs and pulls as after any reconnect, and sees all of it.
    client2, _ = await connect(http, restored, bob)
    try:
        synced = await client2.sync()
        listed = {c["conv"]: c for c in synced["convs"]}
        assert listed[conv]["last_seq"] == seqs[-1]
        pulled = [m["seq"] for m in await pull_everything(client2, conv)]
    finally:
        await client2.close()
    assert pulled == seqs
