"""The backup archive: what goes in, what a restore accepts, and what it refuses."""

from __future__ import annotations

import io
import sqlite3
import tarfile
from pathlib import Path

import pytest

from pigeon.backup import BackupError, backup, restore


def _data_dir(root: Path) -> Path:
    data = root / "data"
    (data / "files" / "blobs" / "ab").mkdir(parents=True)
    (data / "files" / "partial").mkdir()
    (data / "files" / "blobs" / "ab" / "abcdef").write_bytes(b"blob")
    (data / "files" / "partial" / "upload").write_bytes(b"unfinished")
    (data / "jwt-secret").write_text("s" * 48)
    with sqlite3.connect(data / "pigeon.db") as db:
        db.execute("CREATE TABLE t (x INTEGER)")
        db.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
    return data


def test_backup_holds_database_blobs_and_secret_but_not_partial_uploads(tmp_path: Path) -> None:
    data = _data_dir(tmp_path)
    report = backup(data, tmp_path / "b.tar.gz", sqlite=True)
    assert (report.database, report.blobs, report.secret) == (True, 1, True)
    with tarfile.open(tmp_path / "b.tar.gz") as archive:
        names = set(archive.getnames())
    assert names == {"pigeon.db", "files/blobs/ab/abcdef", "jwt-secret"}
    with pytest.raises(BackupError, match="exists"):
        backup(data, tmp_path / "b.tar.gz", sqlite=True)


def test_restore_into_new_dir_then_only_with_force(tmp_path: Path) -> None:
    data = _data_dir(tmp_path)
    backup(data, tmp_path / "b.tar.gz", sqlite=True)
    target = tmp_path / "new"
    restore(tmp_path / "b.tar.gz", target, force=False)
    with sqlite3.connect(target / "pigeon.db") as db:
        assert db.execute("SELECT count(*) FROM t").fetchone() == (1000,)
    assert (target / "files" / "blobs" / "ab" / "abcdef").read_bytes() == b"blob"
    (target / "files" / "blobs" / "ab" / "stray").write_bytes(b"not in the backup")
    with pytest.raises(BackupError, match="--force"):
        restore(tmp_path / "b.tar.gz", target, force=False)
    restore(tmp_path / "b.tar.gz", target, force=True)
    assert not (target / "files" / "blobs" / "ab" / "stray").exists()


def test_pgsql_backup_has_files_only(tmp_path: Path) -> None:
    data = _data_dir(tmp_path)
    report = backup(data, tmp_path / "b.tar.gz", sqlite=False)
    assert not report.database
    restored = restore(tmp_path / "b.tar.gz", tmp_path / "new", force=False)
    assert (restored.database, restored.blobs) == (False, 1)


@pytest.mark.parametrize("name", ["../escape", "/etc/owned", "other.txt", "files/partial/x"])
def test_restore_refuses_entries_a_backup_never_has(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as out:
        info = tarfile.TarInfo(name)
        info.size = 1
        out.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(BackupError, match="not a Pigeon backup"):
        restore(archive, tmp_path / "new", force=False)
    assert not (tmp_path / "new").exists()
