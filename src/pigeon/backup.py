"""``pigeon db backup`` and ``pigeon db restore``: one archive holds a node's data.

The archive is a gzipped tar of what a data directory holds:

* ``pigeon.db`` — a consistent copy of the SQLite database taken with SQLite's
  online backup API, so the server keeps running (and committing) while it is
  taken: the copy is the database as of one transaction, every message
  acknowledged before the backup started included;
* ``files/blobs/…`` — uploaded files and thumbnails. They are copied *after* the
  database, and a blob is written before any row refers to it, so every file the
  copied database names is in the archive (a few newer blobs may ride along; the
  restored node's collector removes them as unreferenced);
* ``jwt-secret`` — when the node generated its own, so tokens and signed file URLs
  issued before the backup stay valid after a restore.

The archive therefore holds password hashes and the token secret: it is written
readable by its owner only (0600) and must be stored like the data directory.

With PostgreSQL the database is not in the archive (``pg_dump`` takes it; see
``POSTGRES_PROCEDURE``); files and the secret still are.

Restore unpacks into a data directory that is empty or missing, or replaces the
database, files and secret of a non-empty one only when forced.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

DB_NAME = "pigeon.db"
SECRET_NAME = "jwt-secret"  # noqa: S105 - a file name, not a secret
BLOBS = Path("files") / "blobs"
# Pages copied per step of the online backup: small steps let the server's writers in
# between, so a backup of a large database never holds the write lock for long.
_PAGES_PER_STEP = 1024

POSTGRES_PROCEDURE = """\
The PostgreSQL database is not in this archive. Take it with pg_dump, at any time while
the cluster runs (one consistent snapshot):
    pg_dump --format=custom --file=pigeon.pgdump "$PIGEON_DATABASE_URL"
Restore it into an empty database, then point the nodes at it:
    pg_restore --no-owner --dbname="$NEW_DATABASE_URL" pigeon.pgdump
Take the database dump first and this archive (uploaded files) after it, so every
file the dump refers to is in the archive."""


class BackupError(Exception):
    """A backup or restore cannot proceed; the message says why and what to do."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    database: bool  # False with PostgreSQL: pg_dump takes the database
    blobs: int
    secret: bool


def _copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup: a transactionally consistent copy of a live database."""
    if not source.exists():
        raise BackupError(f"no Pigeon database at {source}")
    # Read-only URI: a mistyped path must not create an empty database.
    with (
        sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30) as src,
        sqlite3.connect(target) as dst,
    ):
        src.backup(dst, pages=_PAGES_PER_STEP)
    src.close()
    dst.close()


def _add_blobs(archive: tarfile.TarFile, data_dir: Path) -> int:
    count = 0
    root = data_dir / BLOBS
    if not root.is_dir():
        return 0
    for path in sorted(root.rglob("*")):
        if path.is_file():
            try:
                archive.add(path, arcname=str(path.relative_to(data_dir)), recursive=False)
            except FileNotFoundError:  # collected since listed: unreferenced by now
                continue
            count += 1
    return count


def backup(data_dir: Path, target: Path, *, sqlite: bool) -> BackupReport:
    """Write the archive to ``target`` (via a temporary file: a failed backup leaves no
    half-written archive under the final name)."""
    if target.exists():
        raise BackupError(f"{target} exists: choose a new name (a backup never overwrites)")
    target.parent.mkdir(parents=True, exist_ok=True)
    secret = data_dir / SECRET_NAME
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".pigeon-backup-") as scratch:
        partial = Path(scratch) / "archive.tar.gz"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as archive:
            if sqlite:
                copy = Path(scratch) / DB_NAME
                _copy_sqlite(data_dir / DB_NAME, copy)
                archive.add(copy, arcname=DB_NAME)
            blobs = _add_blobs(archive, data_dir)  # after the database: see the docstring
            if secret.is_file():
                archive.add(secret, arcname=SECRET_NAME)
        os.replace(partial, target)
    return BackupReport(target, sqlite, blobs, secret.is_file())


def _is_empty(data_dir: Path) -> bool:
    return not data_dir.exists() or not any(data_dir.iterdir())


def _clear(data_dir: Path) -> None:
    """Remove what a restore replaces: the database (with its WAL), files, secret."""
    for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", SECRET_NAME):
        (data_dir / name).unlink(missing_ok=True)
    shutil.rmtree(data_dir / "files", ignore_errors=True)


def _check_members(archive: tarfile.TarFile) -> None:
    allowed = (DB_NAME, SECRET_NAME)
    for member in archive.getmembers():
        name = member.name
        if not (name in allowed or name.startswith(f"{BLOBS}/") or name == str(BLOBS)):
            raise BackupError(f"not a Pigeon backup: unexpected entry {name!r}")


def restore(source: Path, data_dir: Path, *, force: bool) -> BackupReport:
    """Unpack ``source`` into ``data_dir``; refuses a non-empty one unless ``force``."""
    if not source.is_file():
        raise BackupError(f"no backup archive at {source}")
    if not _is_empty(data_dir) and not force:
        raise BackupError(
            f"{data_dir} is not empty: restore into a new data directory, or pass --force "
            "to replace its database, files and secret (stop the server first)"
        )
    try:
        with tarfile.open(source, mode="r:gz") as archive:
            _check_members(archive)
            names = archive.getnames()
            data_dir.mkdir(parents=True, exist_ok=True)
            if force:
                _clear(data_dir)
            # The "data" filter refuses absolute paths, links out of the directory and
            # device files, whatever the archive says.
            archive.extractall(data_dir, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(f"cannot read {source}: {exc}") from None
    blobs = sum(1 for n in names if n.startswith(f"{BLOBS}/"))
    return BackupReport(source, DB_NAME in names, blobs, SECRET_NAME in names)
