"""The run journal as other processes see it: a driver looks at per-shot journals that
workers may have left in any state, including killed before their tables existed."""

from __future__ import annotations

import sqlite3

import pytest

from vmaftune.errors import OutputError
from vmaftune.steps.shots import Shot
from vmaftune.work.journal import Journal
from vmaftune.work.pershot import PerShot

SHOT = Shot(index=3, start=0, end=10, start_time=0.0, end_time=0.4, cut="start")


def test_a_journal_killed_before_its_tables_is_nobodys_run(tmp_path):
    per = PerShot(tmp_path, "key")
    path = per.folder(SHOT) / "journal.sqlite"
    path.parent.mkdir(parents=True)
    # What a writer killed right after sqlite3.connect() leaves: a file, maybe in WAL mode,
    # without tables.
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    assert not per.finished(SHOT)
    assert per.cut(SHOT) is None
    path.write_bytes(b"")
    assert not per.finished(SHOT)
    # The shot's own writer then takes the file over and records this run.
    work = per.open(SHOT)
    assert not work.journal.resumed
    work.journal.set_meta(f"cut{SHOT.index}", None)
    work.journal.close()
    assert Journal(path, "key", read_only=True).resumed


def test_a_journal_that_is_not_sqlite_is_an_error_not_a_fresh_start(tmp_path):
    path = tmp_path / "journal.sqlite"
    path.write_bytes(b"this is not an SQLite database, but somebody's file" * 100)
    with pytest.raises(OutputError, match="cannot read the run journal"):
        Journal(path, "key", read_only=True)
    assert path.read_bytes().startswith(b"this is not")
