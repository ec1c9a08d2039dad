"""``pigeon admin``: server admins, moderation and the audit log from the shell
(docs/operations.md, "Administration"), on the database directly like ``pigeon user``.

Each command calls ``AdminService`` (core/admin.py) as the command line (no actor) and
shares the main command's one-line error handling (``_run_refusing``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import click

from pigeon.cli import T, _require_database, _run_refusing, _settings, common_options
from pigeon.config import Settings
from pigeon.protocol.audit import AuditAction

# Declared as a value, not by decorating a function: the main command imports this
# module while it is itself being imported, and the type must not need inferring.
admin: click.Group = click.Group(
    "admin",
    short_help="Server admins, moderation and the audit log.",
    help="""Server administration (docs/operations.md, "Administration"), on the database
    directly like `pigeon user`. Exit status: 0 done, 1 refused (one `Error:` line with
    the error code), 2 a usage mistake. Acts are written to the audit log with no actor
    (the command line); what they put in a conversation names `operator` as sender.
    Sockets of users signed out here close once the server notices the revoked logins
    (within its revocation check).""",
)


def _with_admin(settings: Settings, action: Callable[[Any], Awaitable[T]]) -> T:
    from pigeon.app import PigeonApp

    _require_database(settings)

    async def _go() -> T:
        app = PigeonApp(settings)
        await app.store.upgrade()
        app.committer.start()  # a deleted message is a recall entry, committed as any
        try:
            return await action(app.services.admin)
        finally:
            await app.committer.close()
            await app.store.close()

    return _run_refusing(_go())


def _state(record: Any) -> str:
    marks = ["disabled" if record.disabled else "active"]
    if record.admin:
        marks.append("admin")
    if record.bot:
        marks.append("bot")
    return ",".join(marks)


@admin.command("grant")
@click.argument("username")
@common_options
def admin_grant(username: str, **flags: Any) -> None:
    """Make USERNAME a server admin (how the first admin is made)."""
    user, changed = _with_admin(_settings(**flags), lambda a: a.set_admin(username, True))
    click.echo(f"{user.username} is a server admin" + ("" if changed else " already"))


@admin.command("revoke")
@click.argument("username")
@common_options
def admin_revoke(username: str, **flags: Any) -> None:
    """Take the server-admin mark from USERNAME."""
    user, changed = _with_admin(_settings(**flags), lambda a: a.set_admin(username, False))
    click.echo(f"{user.username} is not a server admin" + ("" if changed else " (was not)"))


@admin.command("list")
@common_options
def admin_list(**flags: Any) -> None:
    """List the server admins: id, username, display name, state."""
    for record in _with_admin(_settings(**flags), lambda a: a.admins()):
        click.echo(f"{record.id}\t{record.username}\t{record.display_name}\t{_state(record)}")


@admin.command("stats")
@common_options
def admin_stats(**flags: Any) -> None:
    """Counts over the whole server, one `name: value` a line."""
    stats = _with_admin(_settings(**flags), lambda a: a.stats())
    for name, value in stats.items():
        if isinstance(value, dict):
            for kind, count in sorted(value.items()):
                click.echo(f"{name}.{kind}: {count}")
        else:
            click.echo(f"{name}: {value}")


@admin.command("users")
@click.argument("query", default="")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@common_options
def admin_users(query: str, limit: int, **flags: Any) -> None:
    """Accounts whose username or display name starts with QUERY (all when empty),
    disabled ones included: id, username, display name, state."""
    items, _, more = _with_admin(_settings(**flags), lambda a: a.users(query, None, limit))
    for item in items:
        marks = ["disabled" if item["disabled"] else "active"]
        marks += [m for m in ("admin", "bot") if item[m]]
        click.echo(f"{item['id']}\t{item['username']}\t{item['display_name']}\t{','.join(marks)}")
    if more:
        click.echo(f"(more than {limit}; narrow QUERY or raise --limit)")


_reason = click.option("--reason", help="Why; kept in the audit log.")


def set_disabled(settings: Settings, username: str, disabled: bool, reason: str | None) -> None:
    """Disable or enable USERNAME as the command line, written to the audit log; both
    ``pigeon admin disable|enable`` and ``pigeon user disable|enable`` come here."""

    async def act(a: Any) -> None:
        await a.set_disabled(None, (await a.by_username(username)).id, disabled, reason)

    _with_admin(settings, act)
    click.echo(f"{username} {'disabled' if disabled else 'enabled'}")


@admin.command("disable")
@click.argument("username")
@_reason
@common_options
def admin_disable(username: str, reason: str | None, **flags: Any) -> None:
    """Disable (ban) USERNAME: sign-in refused, every login revoked."""
    set_disabled(_settings(**flags), username, True, reason)


@admin.command("enable")
@click.argument("username")
@_reason
@common_options
def admin_enable(username: str, reason: str | None, **flags: Any) -> None:
    """Let a disabled USERNAME sign in again."""
    set_disabled(_settings(**flags), username, False, reason)


@admin.command("logout")
@click.argument("username")
@common_options
def admin_logout(username: str, **flags: Any) -> None:
    """End every session of USERNAME without disabling the account."""

    async def act(a: Any) -> int:
        ended: int = await a.end_sessions(None, (await a.by_username(username)).id)
        return ended

    ended = _with_admin(_settings(**flags), act)
    click.echo(f"{username}: {ended} session(s) ended")


@admin.command("delete-message")
@click.argument("conv_id")
@click.argument("seq", type=click.IntRange(min=1))
@_reason
@common_options
def admin_delete_message(conv_id: str, seq: int, reason: str | None, **flags: Any) -> None:
    """Delete message SEQ of CONV_ID: members see it recalled."""
    _with_admin(_settings(**flags), lambda a: a.delete_message(None, conv_id, seq, reason))
    click.echo(f"deleted message {seq} of {conv_id}")


@admin.command("dissolve")
@click.argument("conv_id")
@_reason
@common_options
def admin_dissolve(conv_id: str, reason: str | None, **flags: Any) -> None:
    """Dissolve the group or channel CONV_ID, as its owner would."""
    _with_admin(_settings(**flags), lambda a: a.dissolve(None, conv_id, reason))
    click.echo(f"dissolved {conv_id}")


@admin.command("ban")
@click.argument("conv_id")
@click.argument("username")
@_reason
@common_options
def admin_ban(conv_id: str, username: str, reason: str | None, **flags: Any) -> None:
    """Ban USERNAME from the group or channel CONV_ID (removed if present)."""

    async def act(a: Any) -> None:
        await a.ban(None, conv_id, (await a.by_username(username)).id, reason)

    _with_admin(_settings(**flags), act)
    click.echo(f"{username} banned from {conv_id}")


@admin.command("unban")
@click.argument("conv_id")
@click.argument("username")
@common_options
def admin_unban(conv_id: str, username: str, **flags: Any) -> None:
    """Lift the ban of USERNAME from CONV_ID (they are not added back)."""

    async def act(a: Any) -> None:
        await a.unban(None, conv_id, (await a.by_username(username)).id)

    _with_admin(_settings(**flags), act)
    click.echo(f"{username} unbanned from {conv_id}")


@admin.command("audit")
@click.option("--actor", help="Only acts of this user id.")
@click.option(
    "--action", type=click.Choice([a.value for a in AuditAction]), help="Only this action."
)
@click.option("--target", help="Only acts on this user, conversation or message id.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@common_options
def admin_audit(
    actor: str | None, action: str | None, target: str | None, limit: int, **flags: Any
) -> None:
    """The audit log, newest first: id, time (UTC), actor, action, targets, detail."""
    import datetime

    import orjson

    from pigeon.store.audit import AuditQuery

    query = AuditQuery(actor, AuditAction(action) if action else None, target)
    items, _, _ = _with_admin(_settings(**flags), lambda a: a.audit_page(query, None, limit))
    for row in items:
        when = datetime.datetime.fromtimestamp(row["ts"] / 1000, datetime.UTC)
        targets = [
            f"{name}={row[key]}"
            for name, key in (
                ("user", "target_user"),
                ("conv", "target_conv"),
                ("message", "target_message"),
            )
            if row[key]
        ]
        click.echo(
            "\t".join(
                [
                    str(row["id"]),
                    when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    row["actor"] or "operator",
                    row["action"],
                    " ".join(targets) or "-",
                    orjson.dumps(row["detail"]).decode(),
                ]
            )
        )
