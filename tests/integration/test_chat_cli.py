"""`pigeon chat` against a real server: two terminal clients talk."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time

from harness import WAIT_S, ServerProcess, unique_name


class Terminal:
    """A `pigeon chat` process whose output is collected line by line."""

    def __init__(self, server: ServerProcess, username: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pigeon",
                "chat",
                "--server",
                server.base_url,
                "-u",
                username,
                "--register",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PIGEON_PASSWORD": "terminal-pass"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, needle: str, seconds: float = WAIT_S) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if needle in line:
                return line
        raise AssertionError(f"never saw {needle!r} in:\n{''.join(self.seen)}")

    def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def quit(self) -> int:
        if self.proc.poll() is None:
            self.type("/quit")
        return self.proc.wait(timeout=WAIT_S)


def test_two_terminals_chat(shared_server: ServerProcess) -> None:
    alice_name, bob_name = unique_name("alice"), unique_name("bob")
    alice, bob = Terminal(shared_server, alice_name), Terminal(shared_server, bob_name)
    try:
        alice.wait_for("signed in as")
        bob.wait_for("signed in as")
        alice.type(f"/open {bob_name}")
        alice.wait_for("now talking in")
        alice.type("hello from a terminal")
        assert "hello from a terminal" in bob.wait_for("hello from a terminal")
        bob.type(f"/open {alice_name}")
        bob.wait_for("now talking in")
        bob.type("and back")
        alice.wait_for("and back")
        alice.type("/list")
        assert "direct" in alice.wait_for(bob_name)
        alice.type("/nonsense")
        alice.wait_for("commands:")
    finally:
        codes = [alice.quit(), bob.quit()]
    assert codes == [0, 0]
