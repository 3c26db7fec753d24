"""SQLite persistence of a SEALS session: an append-only label log that ``teach`` commits.

One file holds

- ``meta``: format version, embedding shape and fingerprint, the session's configuration;
- ``excluded``: dataset ids the session never queries (a held-out test split);
- ``labels``: the append-only label log ``(seq, id, label, round, ts)``; triggers refuse UPDATE and
  DELETE, and ``id`` is UNIQUE, so a label once accepted can never be lost or overwritten;
- ``rounds``: one row per ``teach`` call: whether a query considered the candidate pool before it,
  and the round's history record (JSON; timings and average precision are informational).

Every write is one transaction committed before the call returns, with ``synchronous=FULL`` in
WAL mode, so a process killed at any instant leaves either the whole ``teach`` or none of it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any

import numpy as np

FORMAT_VERSION = 1

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE excluded (id INTEGER PRIMARY KEY);
CREATE TABLE labels (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    id    INTEGER NOT NULL UNIQUE,
    label INTEGER NOT NULL,
    round INTEGER NOT NULL,
    ts    REAL NOT NULL
);
CREATE TABLE rounds (round INTEGER PRIMARY KEY, queried INTEGER NOT NULL, record TEXT);
CREATE TRIGGER labels_no_update BEFORE UPDATE ON labels
    BEGIN SELECT RAISE(ABORT, 'the label log is append-only'); END;
CREATE TRIGGER labels_no_delete BEFORE DELETE ON labels
    BEGIN SELECT RAISE(ABORT, 'the label log is append-only'); END;
"""


class SessionStore:
    """A session file. Use :meth:`create` or :meth:`open`."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self.path = path

    @staticmethod
    def _connect(path: str) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT below
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], meta: dict[str, Any], excluded: np.ndarray
    ) -> SessionStore:
        p = os.fspath(path)
        if os.path.exists(p):
            raise FileExistsError(
                f"{p} already exists; continue it with Seals.resume or pick a new path"
            )
        conn = cls._connect(p)
        try:
            conn.execute("BEGIN")
            for stmt in _SCHEMA.split(";\n"):
                if stmt.strip():
                    conn.execute(stmt)
            rows = [("format_version", str(FORMAT_VERSION))]
            rows += [(k, json.dumps(v)) for k, v in meta.items()]
            conn.executemany("INSERT INTO meta VALUES (?, ?)", rows)
            conn.executemany("INSERT INTO excluded VALUES (?)", ((int(i),) for i in excluded))
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        return cls(conn, p)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> SessionStore:
        p = os.fspath(path)
        if not os.path.exists(p):
            raise FileNotFoundError(f"no session file at {p}")
        # Read-only probe first, so that a foreign file is reported and never modified.
        try:
            probe = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
            try:
                row = probe.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
            finally:
                probe.close()
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{p} is not a panning SEALS session file ({exc})") from None
        if row is None:
            raise ValueError(f"{p} is not a panning SEALS session file (no format version)")
        if int(row[0]) > FORMAT_VERSION:
            raise ValueError(
                f"{p} was written by a newer panning (session format {row[0]} > {FORMAT_VERSION})"
            )
        return cls(cls._connect(p), p)

    def meta(self) -> dict[str, Any]:
        rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
        return {k: (int(v) if k == "format_version" else json.loads(v)) for k, v in rows}

    def excluded(self) -> np.ndarray:
        rows = self._conn.execute("SELECT id FROM excluded ORDER BY id").fetchall()
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    def rounds(self) -> list[tuple[int, bool, dict[str, Any] | None, np.ndarray, np.ndarray]]:
        """``(round, queried, record, ids, labels)`` per round, in order, ids in log order."""
        out = []
        info = {
            r: (bool(q), json.loads(rec) if rec else None)
            for r, q, rec in self._conn.execute("SELECT round, queried, record FROM rounds")
        }
        log = self._conn.execute("SELECT round, id, label FROM labels ORDER BY seq").fetchall()
        by_round: dict[int, list[tuple[int, int]]] = {}
        for r, i, lab in log:
            by_round.setdefault(r, []).append((i, lab))
        for r in sorted(by_round):
            queried, rec = info.get(r, (False, None))
            pairs = by_round[r]
            ids = np.asarray([p[0] for p in pairs], dtype=np.int64)
            labels = np.asarray([p[1] for p in pairs], dtype=np.int64)
            out.append((r, queried, rec, ids, labels))
        return out

    def append(self, round_: int, queried: bool, ids: np.ndarray, labels: np.ndarray) -> None:
        """Append one round's labels; durable when this returns, or nothing is written."""
        ts = time.time()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO labels (id, label, round, ts) VALUES (?, ?, ?, ?)",
                ((int(i), int(lab), round_, ts) for i, lab in zip(ids, labels)),
            )
            conn.execute(
                "INSERT INTO rounds (round, queried, record) VALUES (?, ?, NULL)",
                (round_, int(queried)),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def set_record(self, round_: int, record: dict[str, Any]) -> None:
        # autocommit: one statement, durable when it returns
        self._conn.execute(
            "UPDATE rounds SET record = ? WHERE round = ?", (json.dumps(record), round_)
        )

    def close(self) -> None:
        self._conn.close()
