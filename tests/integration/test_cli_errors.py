"""The real `pigeon` command on a user's usual mistakes: one line naming the setting or
the cause on stderr, a non-zero exit, no traceback, and nothing created by accident."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from harness import TEST_ENV, ServerProcess, unique_name


def pigeon(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PIGEON_")}
    return subprocess.run(
        [sys.executable, "-m", "pigeon", *args],
        cwd=cwd,
        env={**clean, **TEST_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("args", "env", "setting"),
    [
        (["serve", "--port", "99999"], {}, "--port / PIGEON_PORT"),
        (["serve"], {"PIGEON_PORT": "abc"}, "PIGEON_PORT"),
        (["serve"], {"PIGEON_TRUSTED_PROXIES": "not-a-network"}, "PIGEON_TRUSTED_PROXIES"),
        (["serve"], {"PIGEON_HEARTBEAT_S": "0"}, "PIGEON_HEARTBEAT_S"),
        (["user", "list"], {"PIGEON_MAX_PAGE": "many"}, "PIGEON_MAX_PAGE"),
        (["serve"], {"PIGEON_LOG_LEVEL": "LOUD"}, "--log-level / PIGEON_LOG_LEVEL"),
        (["serve"], {"PIGEON_JWT_SECRET": "too-short-secret"}, "PIGEON_JWT_SECRET"),
        (["serve", "--tls-cert", "cert.pem"], {}, "tls_cert and tls_key go together"),
        (["serve", "--tcp-port", "70000"], {}, "--tcp-port / PIGEON_TCP_PORT"),
        (["serve", "--line-port", "70000"], {}, "--line-port / PIGEON_LINE_PORT"),
        (["serve"], {"PIGEON_LINE_MAX_BYTES": "8"}, "PIGEON_LINE_MAX_BYTES"),
        (["serve"], {"PIGEON_ALLOW_GUESTS": "perhaps"}, "--allow-guests / PIGEON_ALLOW_GUESTS"),
    ],
)
def test_bad_setting_names_the_setting(
    tmp_path: Path, args: list[str], env: dict[str, str], setting: str
) -> None:
    result = pigeon(*args, cwd=tmp_path, env=env)
    assert_one_line_error(result, setting)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "too-short-secret" not in result.stderr  # a secret is never echoed


def test_unreachable_database_names_the_setting(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://postgres@127.0.0.1:{port}/nothing"
    result = pigeon("serve", "--port", "0", "--database-url", url, cwd=tmp_path)
    assert_one_line_error(result, "--database-url / PIGEON_DATABASE_URL")


def test_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = pigeon("serve", "--port", str(port), "--data-dir", str(tmp_path), cwd=tmp_path)
    assert_one_line_error(result, "address already in use", str(port), "PIGEON_PORT")


def test_an_unloadable_tls_certificate_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate\n")
    result = pigeon(
        "serve", "--port", "0", "--tls-cert", "cert.pem", "--tls-key", "key.pem", cwd=tmp_path
    )
    assert_one_line_error(result, "--tls-cert / PIGEON_TLS_CERT", "--tls-key / PIGEON_TLS_KEY")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("flag", ["--tcp-port", "--line-port"])
def test_a_busy_extra_port_names_its_setting(tmp_path: Path, flag: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = pigeon(
            "serve",
            "--port",
            "0",
            flag,
            str(port),
            "--data-dir",
            str(tmp_path),
            cwd=tmp_path,
        )
    setting = f"{flag} / PIGEON_{flag[2:].replace('-', '_').upper()}"
    assert_one_line_error(result, "address already in use", str(port), setting)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_user_list_elsewhere_creates_nothing(tmp_path: Path) -> None:
    result = pigeon("user", "list", cwd=tmp_path)
    assert_one_line_error(result, "no Pigeon database", "PIGEON_DATA_DIR")
    assert not (tmp_path / "pigeon-data").exists()
    assert list(tmp_path.iterdir()) == []


def test_chat_without_a_server_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = pigeon(
        "chat",
        "--server",
        f"http://127.0.0.1:{port}",
        "-u",
        "alice",
        cwd=tmp_path,
        env={"PIGEON_PASSWORD": "whatever-pass"},
    )
    assert_one_line_error(result, f"127.0.0.1:{port}", "PIGEON_SERVER")


def test_help_is_not_truncated(tmp_path: Path) -> None:
    top = pigeon("--help", cwd=tmp_path)
    assert top.returncode == 0
    commands = top.stdout.split("Commands:", 1)[1]
    assert "..." not in commands, top.stdout
    for name in ("bench", "chat", "db", "serve", "user"):
        assert f"  {name} " in commands
    user = pigeon("user", "--help", cwd=tmp_path)
    assert "..." not in user.stdout.split("Commands:", 1)[1], user.stdout
    serve = pigeon("serve", "--help", cwd=tmp_path)
    assert "/docs" in serve.stdout, serve.stdout


def test_chat_with_a_wrong_password_is_one_line(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    args = ("chat", "--server", shared_server.base_url, "-u", unique_name("nobody"))
    result = pigeon(*args, cwd=tmp_path, env={"PIGEON_PASSWORD": "wrong-password"})
    assert_one_line_error(result, "wrong username or password")
    assert "40101" not in result.stderr  # words, not the code


def test_chat_outside_a_terminal_says_so(shared_server: ServerProcess, tmp_path: Path) -> None:
    args = ("chat", "--server", shared_server.base_url, "-u", unique_name("pipe"), "--register")
    result = pigeon(*args, cwd=tmp_path, env={"PIGEON_PASSWORD": "terminal-pass"})
    assert_one_line_error(result, "needs an interactive terminal")


def test_user_commands_use_the_database_they_are_pointed_at(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    created = pigeon("user", "create", "alice", "--password", "correct horse", cwd=home)
    assert created.returncode == 0, created.stderr
    assert str((home / "pigeon-data").resolve()) in created.stdout  # says where
    listed = pigeon("user", "list", cwd=home)
    assert "\talice\t" in listed.stdout
    pointed = pigeon("user", "list", "--data-dir", str(home / "pigeon-data"), cwd=elsewhere)
    assert "\talice\t" in pointed.stdout
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    ("username", "display_name", "code"),
    [
        ("Bad Name!", None, "40004"),  # the username rule of sign-up
        ("carol", "carol\u202e", "40006"),  # a bidi control in a name
        ("carol", "\u200b", "40007"),  # nothing visible
    ],
)
def test_user_create_follows_the_sign_up_rules(
    tmp_path: Path, username: str, display_name: str | None, code: str
) -> None:
    extra = ("--display-name", display_name) if display_name is not None else ()
    result = pigeon("user", "create", username, "--password", "correct horse", *extra, cwd=tmp_path)
    assert_one_line_error(result, code)
    listed = pigeon("user", "list", cwd=tmp_path)
    assert username not in listed.stdout


async def test_an_operator_resets_a_password_and_enables_a_user(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    data = ("--data-dir", str(tmp_path / "data"))
    created = pigeon("user", "create", "dora", "--password", "first password", *data, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    reset = pigeon("user", "reset-password", "dora", *data, cwd=tmp_path)
    assert reset.returncode == 0, reset.stderr
    made = reset.stdout.strip().rsplit("new password: ", 1)[1]
    chosen = pigeon("user", "reset-password", "dora", "--password", "x", *data, cwd=tmp_path)
    assert_one_line_error(chosen, "40005")  # the sign-up password rule
    unknown = pigeon("user", "reset-password", "nobody", *data, cwd=tmp_path)
    assert_one_line_error(unknown, "40401")
    assert pigeon("user", "disable", "dora", *data, cwd=tmp_path).returncode == 0
    assert pigeon("user", "enable", "dora", *data, cwd=tmp_path).returncode == 0

    server = ServerProcess(tmp_path / "data").start()
    try:
        url = f"{server.base_url}/api/v1/auth/login"
        for password, status in (("first password", 401), (made, 200)):
            async with http.post(url, json={"username": "dora", "password": password}) as reply:
                assert reply.status == status, await reply.text()
    finally:
        server.stop()
