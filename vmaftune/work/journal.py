"""The run journal: an SQLite file in the work folder that records every finished probe
and shot as it completes, so a run killed at any moment resumes without redoing them.

A record is written only after its segment file has been renamed into place, and each
write is its own transaction: whatever the journal holds is complete. The run key covers
everything that changes a result (source identity, encoder, preset, pixel format, target,
scoring); a different key means a different run and the journal starts over.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from vmaftune.errors import OutputError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shots (run TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS probes (
    shot INTEGER NOT NULL, setting REAL NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (shot, setting));
CREATE TABLE IF NOT EXISTS done (shot INTEGER PRIMARY KEY, data TEXT NOT NULL);
"""


class Journal:
    def __init__(self, path: Path, run_key: str, *, read_only: bool = False) -> None:
        self._lock = threading.Lock()
        if read_only:
            # Another process may own the journal: look, never reset or write.
            try:
                self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                                           check_same_thread=False)  # fmt: skip
                # A writer killed between creating the file and its tables leaves a
                # journal without them: that is no run's journal yet, not a broken one.
                has_meta = self._db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
                ).fetchone()
                row = (
                    self._db.execute("SELECT value FROM meta WHERE key='run'").fetchone()
                    if has_meta
                    else None
                )
            except sqlite3.Error as exc:
                raise OutputError(f"{path}: cannot read the run journal ({exc})") from exc
            self.resumed = row is not None and row[0] == run_key
            return
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='run'").fetchone()
        except sqlite3.Error as exc:
            raise OutputError(f"{path}: cannot use the run journal ({exc})") from exc
        self.resumed = row is not None and row[0] == run_key
        if not self.resumed:
            try:
                self._db.execute("BEGIN")
                for table in ("meta", "shots", "probes", "done"):
                    self._db.execute(f"DELETE FROM {table}")
                self._db.execute("INSERT INTO meta VALUES ('run', ?)", (run_key,))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise OutputError(f"{path}: cannot write the run journal ({exc})") from exc

    def close(self) -> None:
        self._db.close()

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            try:
                self._db.execute(sql, args)
            except sqlite3.Error as exc:
                raise OutputError(f"cannot write the run journal ({exc})") from exc

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._db.execute(sql, args).fetchall())
            except sqlite3.Error as exc:
                raise OutputError(f"cannot read the run journal ({exc})") from exc

    def save_shots(self, shots: list[dict[str, Any]]) -> None:
        self._write("INSERT INTO shots VALUES ('run', ?)", (json.dumps(shots),))

    def shots(self) -> list[dict[str, Any]] | None:
        rows = self._read("SELECT data FROM shots")
        return json.loads(rows[0][0]) if rows else None

    def add_probe(self, shot: int, setting: float, data: dict[str, Any]) -> None:
        self._write(
            "INSERT OR REPLACE INTO probes VALUES (?, ?, ?)", (shot, setting, json.dumps(data))
        )

    def probes(self, shot: int) -> dict[float, dict[str, Any]]:
        rows = self._read("SELECT setting, data FROM probes WHERE shot=?", (shot,))
        return {float(s): json.loads(d) for s, d in rows}

    def has_trials(self) -> bool:
        return bool(self._read("SELECT 1 FROM probes LIMIT 1"))

    def finish_shot(self, shot: int, data: dict[str, Any]) -> None:
        self._write("INSERT OR REPLACE INTO done VALUES (?, ?)", (shot, json.dumps(data)))

    def finished(self) -> dict[int, dict[str, Any]]:
        return {int(s): json.loads(d) for s, d in self._read("SELECT shot, data FROM done")}

    def set_meta(self, key: str, value: Any) -> None:
        """A run-wide fact worth keeping across a resume (e.g. the shots' predictions)."""
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def meta(self, key: str) -> Any:
        rows = self._read("SELECT value FROM meta WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else None
