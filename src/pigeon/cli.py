"""The ``pigeon`` command: serve, db, user, admin, bot, chat, bench.

Mistakes a user can make — a bad setting, a busy port, no server to talk to, no
database where one is expected — end with one ``Error:`` line naming the setting or
the cause and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from pydantic import ValidationError

from pigeon import __version__, logs
from pigeon.bench.catalog import Scenario
from pigeon.config import Settings

if TYPE_CHECKING:
    from pigeon.app import PigeonApp

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is absent only on Windows
        return asyncio.run(coro)
    return uvloop.run(coro)


def _run_refusing(coro: Coroutine[Any, Any, T]) -> T:
    """``_run``, with a refusal of the core (a bad name, an unknown user) as a
    one-line error naming its code, not a traceback."""
    from pigeon.core.errors import CoreError

    try:
        return _run(coro)
    except CoreError as exc:
        raise click.ClickException(f"{int(exc.code)} {exc.message}") from None


def _settings(**flags: Any) -> Settings:
    """Defaults → env PIGEON_* → the flags actually given on the command line."""
    try:
        return Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        raise click.ClickException(_describe_invalid(exc)) from None


def _setting_source(name: str) -> str:
    """How the user sets ``name`` for the running command: its flag (if any) and env var."""
    env = f"PIGEON_{name.upper()}"
    context = click.get_current_context(silent=True)
    flags = {p.name for p in context.command.params} if context is not None else set()
    return f"--{name.replace('_', '-')} / {env}" if name in flags else env


def _describe_invalid(exc: ValidationError) -> str:
    """One line per invalid setting: where it comes from, what was given, what is wrong."""
    lines = []
    for error in exc.errors():
        if not error["loc"]:  # a rule across settings; its message names them
            lines.append(f"invalid settings: {error['msg']}")
            continue
        name = str(error["loc"][0])
        field = Settings.model_fields.get(name)
        given = f" (got {error.get('input')!r})" if field is None or field.repr else ""
        lines.append(f"invalid setting {_setting_source(name)}: {error['msg']}{given}")
    return "\n".join(lines)


def _require_database(settings: Settings) -> None:
    """Refuse to create an empty database by accident (e.g. run from another directory)."""
    if settings.database_url is None and not (settings.data_dir / "pigeon.db").exists():
        raise click.ClickException(
            f"no Pigeon database in {settings.data_dir.resolve()}: run this where `pigeon serve` "
            "keeps its data, or pass --data-dir / PIGEON_DATA_DIR (or --database-url)"
        )


def _start_error(settings: Settings, exc: OSError) -> str:
    """Why ``serve`` could not start, naming the settings that lead to the cause."""
    from pigeon.listener import ListenFailed

    where, port = f"{settings.host}:{settings.port}", "--port / PIGEON_PORT"
    if isinstance(exc, ListenFailed):
        where, port = exc.where, _setting_source(exc.setting)
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: address already in use; choose another with {port}"
    if exc.errno in (errno.EACCES, errno.EADDRNOTAVAIL):
        reason = exc.strerror or str(exc)
        return f"cannot listen on {where}: {reason}; check --host / PIGEON_HOST and {port}"
    services = [
        source
        for source, value in (
            ("--database-url / PIGEON_DATABASE_URL", settings.database_url),
            ("--redis-url / PIGEON_REDIS_URL", settings.redis_url),
        )
        if value
    ]
    hint = f"; check {' and '.join(services)}" if services else ""
    return f"cannot start: {exc}{hint}"


_common = [
    click.option(
        "--data-dir",
        type=click.Path(path_type=Path),
        help="Where SQLite, blobs and the generated JWT secret live [env PIGEON_DATA_DIR; default ./pigeon-data].",
    ),
    click.option(
        "--database-url",
        help="postgresql://… or sqlite:///… [env PIGEON_DATABASE_URL; default SQLite in the data dir].",
    ),
]


def common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_common):
        func = option(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pigeon")
def main() -> None:
    """Pigeon instant-messaging server.

    Start with `pigeon serve`, then open http://127.0.0.1:8080/ (web client) or
    http://127.0.0.1:8080/docs (REST reference), or run `pigeon chat`.
    """


@main.command(short_help="Run the server: REST, WebSocket, web client, /docs.")
@click.option("--host", help="Interface to listen on [env PIGEON_HOST; default 127.0.0.1].")
@click.option(
    "--port",
    type=int,
    help="TCP port for HTTP, REST and WebSocket; 0 picks a free one [env PIGEON_PORT; default 8080].",
)
@click.option(
    "--line-port",
    type=int,
    help="Line-mode chat for telnet/netcat on this port (0 picks one) [env PIGEON_LINE_PORT; default off].",
)
@click.option(
    "--allow-guests",
    is_flag=True,
    default=None,
    help="Line mode: a nickname alone signs in, as a guest account [env PIGEON_ALLOW_GUESTS].",
)
@click.option(
    "--tcp-port",
    type=int,
    help="Also serve the raw TCP protocol (length-prefixed Protobuf) on this port; 0 picks a free one [env PIGEON_TCP_PORT; default off].",
)
@click.option(
    "--tls-cert",
    type=click.Path(path_type=Path),
    help="PEM certificate chain: HTTP and TCP listeners speak TLS (needs --tls-key) [env PIGEON_TLS_CERT].",
)
@click.option(
    "--tls-key",
    type=click.Path(path_type=Path),
    help="PEM private key of --tls-cert [env PIGEON_TLS_KEY].",
)
@common_options
@click.option(
    "--redis-url", help="redis://… for a cluster broker [env PIGEON_REDIS_URL; default: in-memory]."
)
@click.option(
    "--redis-cluster",
    is_flag=True,
    default=None,
    help="--redis-url is a node of a Redis Cluster [env PIGEON_REDIS_CLUSTER].",
)
@click.option(
    "--node-id",
    help="This node's name in logs and connection ids [env PIGEON_NODE_ID; default host-random].",
)
@click.option(
    "--jwt-secret-file",
    type=click.Path(path_type=Path),
    help="File holding the JWT secret shared by all nodes [env PIGEON_JWT_SECRET_FILE; or the secret itself in PIGEON_JWT_SECRET].",
)
@click.option(
    "--trusted-proxies",
    help="Comma-separated IPs/CIDRs whose X-Forwarded-For is believed [env PIGEON_TRUSTED_PROXIES].",
)
@click.option(
    "--public-url",
    help="Base URL clients use, when behind a proxy; /api/v1/config derives ws_url from it [env PIGEON_PUBLIC_URL].",
)
@click.option(
    "--log-level", help="DEBUG, INFO, WARNING or ERROR [env PIGEON_LOG_LEVEL; default INFO]."
)
@click.option(
    "--metrics-host",
    help="Interface of the separate /metrics listener [env PIGEON_METRICS_HOST; default 127.0.0.1].",
)
@click.option(
    "--metrics-port",
    type=int,
    help="Serve /metrics on this port only, not the main one [env PIGEON_METRICS_PORT; default: main port, loopback only].",
)
@click.option(
    "--workers",
    help="Worker processes sharing the ports, each a node; a number or auto (one per core); above 1 needs PostgreSQL and Redis [env PIGEON_WORKERS; default 1].",
)
@click.option("--worker-index", type=int, hidden=True)  # set by the supervisor on its workers
def serve(worker_index: int | None, **flags: Any) -> None:
    """Serve everything on one port: REST under /api/v1, the WebSocket at /ws, the web
    client at /, the REST reference at /docs (OpenAPI at /openapi.json), and /healthz,
    /readyz, /metrics.

    Every other setting is read from the environment as PIGEON_<NAME>; see docs/operations.md.
    """
    settings = _settings(**flags)
    # auto is supervised even on one core, so it needs the same backends everywhere.
    if worker_index is None and (settings.workers == "auto" or settings.worker_count > 1):
        _supervise(settings, flags)
        return
    from pigeon.app import PigeonApp
    from pigeon.broker.redis_common import RedisModeError
    from pigeon.tracing import TracingUnavailable

    worker = worker_index is not None
    try:
        app = PigeonApp(settings, reuse_port=worker, migrate=not worker)
    except (OSError, ValueError, TracingUnavailable) as exc:
        # e.g. an unreadable or too short JWT secret file, tracing without its packages
        raise click.ClickException(f"cannot start: {exc}") from None
    try:
        with logs.configured(settings.log_level, app.node_id, app.tracer.ids):
            _run(_serve_worker(app) if worker else app.serve_forever())
    except RedisModeError as exc:
        raise click.ClickException(f"cannot start: {exc}") from None
    except OSError as exc:
        raise click.ClickException(_start_error(settings, exc)) from None


class WorkersRefused(click.ClickException):
    """``--workers`` above 1 with a backend that cannot span processes: exit status 2."""

    exit_code = 2


async def _serve_worker(app: PigeonApp) -> None:
    """A worker of ``--workers``: a node that also stops when its supervisor is gone."""
    import os

    from pigeon.supervisor import exit_when_orphaned

    watch = asyncio.create_task(exit_when_orphaned(os.getppid()))
    try:
        await app.serve_forever()
    finally:
        watch.cancel()


def _supervise(settings: Settings, flags: dict[str, Any]) -> None:
    """``--workers`` above 1: refuse what cannot work, else run the supervisor."""
    from pigeon.app import default_node_id, resolve_jwt_secret
    from pigeon.supervisor import Supervisor, refusal

    problem = refusal(settings)
    if problem is not None:
        raise WorkersRefused(problem)
    try:
        resolve_jwt_secret(settings)  # generated once here, not raced for by every worker
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot start: {exc}") from None
    supervisor = Supervisor(settings, flags, settings.node_id or default_node_id())
    try:
        with logs.configured(settings.log_level, supervisor.node_id):
            status = asyncio.run(supervisor.run())
    except OSError as exc:
        raise click.ClickException(_start_error(settings, exc)) from None
    sys.exit(status)


@main.group(short_help="Database schema commands.")
def db() -> None:
    """Database schema commands."""


@db.command()
@common_options
def upgrade(**flags: Any) -> None:
    """Apply every pending schema migration."""
    from pigeon.store.facade import Store

    settings = _settings(**flags)

    async def _upgrade() -> None:
        store = Store.open(settings.effective_database_url)
        try:
            await store.upgrade()
        finally:
            await store.close()

    _run(_upgrade())
    where = "the configured database" if settings.database_url else settings.data_dir.resolve()
    click.echo(f"schema is up to date in {where}")


@db.command("prune")
@common_options
def db_prune(**flags: Any) -> None:
    """Remove expired messages (PIGEON_RETENTION_DAYS and the conversations' own
    settings) and the files only they showed, as the server's retention job does, until
    nothing expired is left. Safe while servers run."""
    from pigeon.app import PigeonApp

    settings = _settings(**flags)
    _require_database(settings)

    async def _prune() -> Any:
        app = PigeonApp(settings)
        await app.store.upgrade()
        try:
            return await app.services.retention.run_until_done()
        finally:
            await app.services.files.close()
            await app.store.close()

    report = _run(_prune())
    click.echo(
        f"removed {report.messages} expired message(s) in {report.conversations} "
        f"conversation(s) and {report.files} file(s)"
    )


@db.command("backup")
@click.argument("archive", type=click.Path(path_type=Path))
@common_options
def db_backup(archive: Path, **flags: Any) -> None:
    """Write a backup ARCHIVE (.tar.gz) of the data dir while the server runs: a
    consistent copy of the SQLite database, the uploaded files and the generated JWT
    secret. With PostgreSQL, prints the pg_dump procedure for the database and archives
    the files. The archive holds secrets: it is created readable by its owner only.
    """
    from pigeon.backup import POSTGRES_PROCEDURE, BackupError, backup

    settings = _settings(**flags)
    sqlite = settings.database_url is None or settings.database_url.startswith("sqlite")
    if sqlite and settings.database_url is not None:
        raise click.ClickException(
            "backup reads the database in the data dir: pass --data-dir, not a SQLite --database-url"
        )
    if sqlite:
        _require_database(settings)
    try:
        report = backup(settings.data_dir, archive, sqlite=sqlite)
    except (BackupError, sqlite3.Error, OSError) as exc:
        raise click.ClickException(f"backup failed: {exc}") from None
    what = "database, " if report.database else ""
    secret = ", JWT secret" if report.secret else ""
    click.echo(f"wrote {report.path}: {what}{report.blobs} stored file(s){secret}")
    if not report.database:
        click.echo(POSTGRES_PROCEDURE)


@db.command("restore")
@click.argument("archive", type=click.Path(path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Replace the database, files and secret of a non-empty data dir (server stopped).",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="The data dir to restore into [env PIGEON_DATA_DIR; default ./pigeon-data].",
)
def db_restore(archive: Path, force: bool, data_dir: Path | None) -> None:
    """Unpack a backup ARCHIVE into a new (empty or missing) data dir; refuses a
    non-empty one unless --force. Then start `pigeon serve --data-dir` on it."""
    from pigeon.backup import POSTGRES_PROCEDURE, BackupError, restore

    settings = _settings(data_dir=data_dir)
    try:
        report = restore(archive, settings.data_dir, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    what = "database, " if report.database else ""
    click.echo(f"restored {what}{report.blobs} stored file(s) into {settings.data_dir.resolve()}")
    if not report.database:
        click.echo(POSTGRES_PROCEDURE)


@main.group(short_help="Manage user accounts.")
def user() -> None:
    """Manage user accounts."""


def _with_accounts(
    settings: Settings, action: Callable[[Any], Awaitable[T]], *, may_create: bool = False
) -> T:
    from pigeon.app import PigeonApp

    if not may_create:
        _require_database(settings)

    async def _go() -> T:
        app = PigeonApp(settings)
        await app.store.upgrade()
        try:
            return await action(app.services.accounts)
        finally:
            await app.store.close()

    return _run_refusing(_go())


@user.command("create")
@click.argument("username")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Asked for when not given.",
)
@click.option("--display-name", help="Shown to other users; defaults to the username.")
@common_options
def user_create(username: str, password: str, display_name: str | None, **flags: Any) -> None:
    """Create a user account."""
    settings = _settings(**flags)
    created = _with_accounts(
        settings,
        lambda accounts: accounts.create_user(username, password, display_name),
        may_create=True,  # a first account may come before the first start
    )
    where = "the configured database" if settings.database_url else settings.data_dir.resolve()
    click.echo(f"created {created.username} ({created.id}) in {where}")


@user.command("list")
@click.option("--limit", type=int, default=100, show_default=True)
@common_options
def user_list(limit: int, **flags: Any) -> None:
    """List user accounts, oldest first."""
    users = _with_accounts(
        _settings(**flags), lambda accounts: accounts.store.accounts.list_users(limit)
    )
    for record in users:
        state = "disabled" if record.disabled else "active"
        click.echo(f"{record.id}\t{record.username}\t{record.display_name}\t{state}")


@user.command("disable", short_help="Disable (or --enable) a user.")
@click.argument("username")
@click.option("--enable", is_flag=True, help="Re-enable instead.")
@common_options
def user_disable(username: str, enable: bool, **flags: Any) -> None:
    """Disable a user: sign-in refused, every login revoked, live sockets closed
    (written to the audit log, as `pigeon admin disable`)."""
    from pigeon.admincli import set_disabled  # imports this module in turn

    set_disabled(_settings(**flags), username, not enable, None)


@user.command("enable", short_help="Let a disabled user sign in again.")
@click.argument("username")
@common_options
def user_enable(username: str, **flags: Any) -> None:
    """Let a disabled user sign in again (their old logins stay revoked); audited."""
    from pigeon.admincli import set_disabled  # imports this module in turn

    set_disabled(_settings(**flags), username, False, None)


@user.command("reset-password", short_help="Set a new password; every login signed out.")
@click.argument("username")
@click.option("--password", help="The new password; a random one is made and printed if not given.")
@common_options
def user_reset_password(username: str, password: str | None, **flags: Any) -> None:
    """Give a user a new password and sign out every login of theirs (live sockets
    close once the server notices, within its revocation check)."""
    import secrets

    chosen = password or secrets.token_urlsafe(12)
    _with_accounts(_settings(**flags), lambda accounts: accounts.reset_password(username, chosen))
    click.echo(f"{username}: password reset" + ("" if password else f"; new password: {chosen}"))


@user.command("delete", short_help="Delete an account (finishes an interrupted deletion too).")
@click.argument("username")
@click.option(
    "--remove-messages",
    is_flag=True,
    help="Recall their messages everywhere and delete their files, whatever account_deletion says.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@common_options
def user_delete(username: str, remove_messages: bool, yes: bool, **flags: Any) -> None:
    """Delete a user's account as DELETE /users/me does (docs/operations.md, "Deleting
    accounts"): signed out everywhere, friends, subscriptions and webhooks dropped,
    groups left or handed on. Their messages stay, shown as from a deleted user, unless
    the server's policy or --remove-messages removes them. Running it again on a
    half-finished deletion (give the account's deleted~ID name) finishes it."""
    if not yes:
        click.confirm(f"Delete the account {username}? This cannot be undone", abort=True)
    settings = _settings(**flags)
    _require_database(settings)

    async def _go() -> Any:
        from pigeon.app import PigeonApp

        app = PigeonApp(settings)
        await app.store.upgrade()
        try:
            return await app.services.deletion.delete_by_operator(username, remove_messages)
        finally:
            await app.store.close()

    deleted = _run_refusing(_go())
    click.echo(f"deleted {username} ({deleted.id}); it is now {deleted.username}")


@main.group(short_help="Manage bot accounts.")
def bot() -> None:
    """Manage bot accounts (docs/bots.md). A bot signs in with its token, never a
    password; the token is printed once and only its hash is kept."""


def _with_bots(settings: Settings, action: Callable[[Any], Awaitable[T]]) -> T:
    # Only the store: quicker to start than the whole server's composition.
    from pigeon.bots.accounts import BotAccounts
    from pigeon.bots.store import BotStore
    from pigeon.store.facade import Store

    _require_database(settings)

    async def _go() -> T:
        store = Store.open(settings.effective_database_url)
        await store.upgrade()
        try:
            return await action(BotAccounts(BotStore(store.db), store.accounts))
        finally:
            await store.close()

    return _run_refusing(_go())


@bot.command("create")
@click.argument("name")
@click.option("--display-name", help="Shown to users; defaults to the name.")
@common_options
def bot_create(name: str, display_name: str | None, **flags: Any) -> None:
    """Create a bot account and print its token (shown only this once)."""
    created, token = _with_bots(_settings(**flags), lambda bots: bots.create(name, display_name))
    click.echo(f"created bot {created.username} ({created.id})")
    click.echo(f"token: {token}")
    click.echo("Keep the token secret: it is not shown again (`pigeon bot token` makes a new one).")


@bot.command("list")
@click.option("--limit", type=int, default=100, show_default=True)
@common_options
def bot_list(limit: int, **flags: Any) -> None:
    """List bot accounts, oldest first, with whether each holds a token."""
    for record, has_token in _with_bots(_settings(**flags), lambda bots: bots.listed(limit)):
        state = "disabled" if record.disabled else "token" if has_token else "revoked"
        click.echo(f"{record.id}\t{record.username}\t{record.display_name}\t{state}")


@bot.command("revoke")
@click.argument("name")
@common_options
def bot_revoke(name: str, **flags: Any) -> None:
    """Revoke the bot's token: its logins end and its sockets close (4003)."""
    _with_bots(_settings(**flags), lambda bots: bots.revoke(name))
    click.echo(f"revoked the token of {name}")


@bot.command("token")
@click.argument("name")
@common_options
def bot_token(name: str, **flags: Any) -> None:
    """Make a new token for the bot (the old one stops working) and print it once."""
    token = _with_bots(_settings(**flags), lambda bots: bots.rotate(name))
    click.echo(f"token: {token}")


@main.command(short_help="Chat from the terminal (full-screen client).")
@click.option(
    "--server",
    default="http://127.0.0.1:8080",
    show_default=True,
    envvar="PIGEON_SERVER",
    help="Base URL of the server [env PIGEON_SERVER].",
)
@click.option("--username", "-u", required=True, help="Who to sign in as.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    envvar="PIGEON_PASSWORD",
    help="Asked for when not given [env PIGEON_PASSWORD].",
)
@click.option("--register", is_flag=True, help="Create the account first.")
def chat(server: str, username: str, password: str, register: bool) -> None:
    """Chat from the terminal: a full-screen client with the conversation list and
    unread counts, messages with times and ticks (… sending, ✓ sent, ✓✓ delivered,
    ✓✓ read), and an input line nothing overwrites. It sends delivered receipts for
    what arrives and read receipts for what the open conversation shows.

    \b
    Commands (N is the #number shown before a message):
      /open NAME|ID|N            open a direct chat, a conversation, or list entry N
      /new group TITLE [USER…]   create a group and open it
      /invite USER…              add users to the open group
      /add USER [NOTE]           send a friend request; /accept USER accepts one
      /reply N TEXT, /edit N TEXT, /recall N
      /send PATH                 send a file or image; /save N [PATH] saves one
      /who                       the group's members, or the peer of a direct chat
      /rooms [QUERY], /join ID, /history [N], /help, /quit

    \b
    Keys: Ctrl-N / Ctrl-P next / previous conversation, PageUp / PageDown scroll,
    Ctrl-C or Ctrl-D quit. A lost connection shows "reconnecting…" and recovers.
    """
    import aiohttp

    from pigeon.chat import NotATerminal, run_chat
    from pigeon.chat.words import error_text
    from pigeon.client import PigeonApiError

    try:
        _run(run_chat(server, username, password, register))
    except PigeonApiError as exc:
        raise click.ClickException(error_text(exc.code, exc.message)) from None
    except NotATerminal as exc:
        raise click.ClickException(str(exc)) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        raise click.ClickException(
            f"cannot reach the server at {server} ({reason}); is `pigeon serve` running? "
            "Choose another with --server / PIGEON_SERVER"
        ) from None
    except KeyboardInterrupt:
        pass
    finally:
        # Done: one more Ctrl-C while the interpreter shuts down must not kill it (130).
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@main.command(short_help="Load-test a real server and write a report.")
@click.argument(
    "scenario",
    nargs=-1,
    type=click.Choice(["all", *(s.value for s in Scenario)]),
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("bench-results"),
    show_default=True,
    help="Where results.json, results.md and the plots go.",
)
@click.option(
    "--quick",
    is_flag=True,
    help="Tiny sizes: checks that every scenario runs, measures nothing meaningful.",
)
@click.option(
    "--workers",
    type=int,
    help="Load processes (default: up to 4, on the cores the server does not use).",
)
@click.option(
    "--database-url",
    help="PostgreSQL URL (a fresh database) for the cluster scenario; for search, "
    "the backend to measure (default: a temporary SQLite file).",
)
@click.option(
    "--search-messages",
    type=click.IntRange(min=1000),
    help="Messages the search scenario stores (default 1,000,000; 20,000 with --quick).",
)
@click.option("--redis-url", help="Redis URL for the cluster scenario.")
@click.option(
    "--cluster-nodes",
    type=click.IntRange(1, 2),
    default=2,
    show_default=True,
    help="Nodes of the cluster scenario: 2, or 1 on the same PostgreSQL + Redis (to compare).",
)
@click.option(
    "--server-workers",
    help="Run the server under test as `pigeon serve --workers N` on PostgreSQL and Redis "
    "(needs --database-url and --redis-url), on the first N cores; auto: one per core, "
    "more if the idle connections need them (≤ 18,000 sockets per process).",
)
@click.option(
    "--connections",
    type=click.IntRange(min=1, max=1_000_000),
    help="Idle connections of the idle scenario, one step (default: 1,000, 10,000, 19,000).",
)
@click.option(
    "--heartbeat",
    type=click.IntRange(min=1),
    help="The server's heartbeat_s (default 600: load clients send no pings, so a "
    "run must end within two heartbeats); shorter shows what the silence sweep costs.",
)
@click.option(
    "--source-addresses",
    type=click.IntRange(min=1, max=250),
    help="Loopback addresses the idle clients connect from, 127.0.0.2 up "
    "(default: as many as the ephemeral ports need).",
)
@click.option(
    "--codec",
    type=click.Choice(["json", "proto"]),
    default="json",
    show_default=True,
    help="What the load clients of idle, connect, direct and fanout speak.",
)
@click.option(
    "--transport",
    type=click.Choice(["ws", "tcp"]),
    default="ws",
    show_default=True,
    help="WebSocket, or the raw TCP port (Protobuf only; the bench server opens it).",
)
@click.option(
    "--compress",
    type=click.Choice(["on", "off"]),
    default="off",
    show_default=True,
    help="permessage-deflate on the load clients' WebSockets (the server gets ws_compression).",
)
@click.option(
    "--body-bytes",
    type=click.IntRange(min=0, max=3000),
    default=0,
    show_default=True,
    help="Filler text in each direct and fanout message (what compression works on).",
)
@click.option(
    "--reference",
    is_flag=True,
    help="Run connect, direct and fanout also against bare aiohttp and picows servers "
    "(no application logic) and report Pigeon's CPU as a multiple of theirs.",
)
def bench(
    scenario: tuple[str, ...],
    out: Path,
    quick: bool,
    workers: int | None,
    database_url: str | None,
    search_messages: int | None,
    redis_url: str | None,
    cluster_nodes: int,
    server_workers: str | None,
    connections: int | None,
    source_addresses: int | None,
    heartbeat: int | None,
    codec: str,
    transport: str,
    compress: str,
    body_bytes: int,
    reference: bool,
) -> None:
    """Measure a real server: idle memory, connect storm, direct throughput and latency,
    fan-out, catch-up, offline push to a webhook, and (with PostgreSQL + Redis) two nodes. ``search`` (run only
    when named) times message search in the store over many stored messages.

    Starts its own server pinned to one core and puts the load on the others. With no
    SCENARIO it runs the standard single-node set (all but cluster).
    """
    import dataclasses

    from pigeon.bench.loadclient import Transport, Wire
    from pigeon.bench.runner import Plan, run
    from pigeon.protocol.wire import Codec

    try:
        wire = Wire(
            Codec.PROTO if codec == "proto" else Codec.JSON,
            Transport(transport),
            compress == "on",
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    names = (
        [n for n in Scenario if not n.on_request]
        if not scenario or "all" in scenario
        else [Scenario(n) for n in scenario]
    )
    if "all" in scenario and database_url and redis_url:
        names.append(Scenario.CLUSTER)
    plan = Plan.quick() if quick else Plan()
    if workers:
        plan = dataclasses.replace(plan, workers=workers)
    if search_messages:
        plan = dataclasses.replace(plan, search_messages=search_messages)
    if connections:
        plan = dataclasses.replace(plan, idle_connections=(connections,))
    if source_addresses:
        plan = dataclasses.replace(plan, idle_sources=source_addresses)
    if heartbeat:
        plan = dataclasses.replace(plan, heartbeat_s=heartbeat)
    if server_workers:
        if not (database_url and redis_url):
            raise click.UsageError("--server-workers needs --database-url and --redis-url")
        plan = dataclasses.replace(plan, server_workers=_bench_server_workers(server_workers, plan))
    if Scenario.IDLE in names:
        _check_idle_layout(plan)
    plan = dataclasses.replace(plan, body_bytes=body_bytes, cluster_nodes=cluster_nodes)
    if reference:
        if wire != Wire() or server_workers:
            raise click.UsageError(
                "--reference: the bare servers speak JSON over an uncompressed WebSocket, "
                "on one core"
            )
        plan = dataclasses.replace(plan, reference=True)
    cluster = (
        {"database_url": database_url, "redis_url": redis_url}
        if database_url and redis_url
        else None
    )
    for path in run(names, plan, out, cluster, database_url, wire):
        click.echo(f"wrote {path}")


def _bench_server_workers(value: str, plan: Any) -> int:
    """``--server-workers``: a count from 1 to 64, or auto (enough for the idle run)."""
    from pigeon.bench.layout import auto_server_workers
    from pigeon.bench.target import cores

    if value == "auto":
        return auto_server_workers(max(plan.idle_connections), len(cores()))
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise click.BadParameter("a number from 1 to 64, or auto", param_hint="--server-workers")
    return int(value)


def _check_idle_layout(plan: Any) -> None:
    """Refuse, before anything starts, an idle run this machine's limits cannot take."""
    from pigeon.bench.layout import LayoutError
    from pigeon.bench.runner import idle_layout

    for connections in plan.idle_connections:
        try:
            idle_layout(plan, connections)
        except LayoutError as exc:
            raise click.UsageError(str(exc)) from exc


# `pigeon admin …` lives in its own module, which builds on the helpers above.
from pigeon.admincli import admin  # noqa: E402

main.add_command(admin)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
