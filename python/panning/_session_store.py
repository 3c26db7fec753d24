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

One writer at a time: a store opened for writing holds an exclusive advisory lock on
``<file>.lock`` (``flock``; released by the OS when the process dies), so a second session on the
same file, in this process or another, gets :class:`SessionInUseError` when it opens, not an
error at its first ``teach``. Creating a file is atomic (``O_CREAT | O_EXCL``): of two processes
creating the same path, exactly one owns it and the other gets ``FileExistsError``.

A file is untrusted input: :meth:`SessionStore.open` checks the schema, the format version and
every ``meta`` entry, and :meth:`SessionStore.rounds` every replayed row (id range, duplicates,
label in ``classes``, excluded ids), reporting the file, the table and the row.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import urllib.request
from collections.abc import Sequence
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


class SessionInUseError(RuntimeError):
    """The session file is already open for writing (by this process or another)."""


_META_KEYS = ("rows", "dim", "fingerprint", "config")
_CONFIG_KEYS = {
    "k": int,
    "expand": str,
    "candidates": str,
    "seed": int,
    "metric": str,
    "strategy": str,
    "model": str,
}
_TABLES = {"meta", "excluded", "labels", "rounds"}


class _WriterLock:
    """An exclusive, non-blocking advisory lock on ``path + '.lock'`` for the store's lifetime."""

    def __init__(self, path: str) -> None:
        self.path = path + ".lock"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock_fd(fd)
        except OSError:
            os.close(fd)
            raise SessionInUseError(
                f"{path} is already open for writing by another session (lock {self.path}); "
                "close that session first (one writer per session file)"
            ) from None
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def _lock_fd(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _check_folder(p: str) -> None:
    folder = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot use session file {p}: folder {folder} does not exist")


class SessionStore:
    """A session file. Use :meth:`create` or :meth:`open`."""

    def __init__(self, conn: sqlite3.Connection, path: str, lock: _WriterLock | None) -> None:
        self._conn = conn
        self._lock = lock
        self.path = path
        self.writable = lock is not None

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
        _check_folder(p)
        try:
            # Atomic: of several creators of one path exactly one gets here.
            os.close(os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            raise FileExistsError(
                f"{p} already exists; continue it with Seals.resume or pick a new path"
            ) from None
        try:
            lock = _WriterLock(p)
        except BaseException:
            os.unlink(p)
            raise
        try:
            conn = cls._connect(p)
        except BaseException:
            lock.release()
            raise
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
            lock.release()
            raise
        return cls(conn, p, lock)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, write: bool = True) -> SessionStore:
        """Open a session file, validated; ``write=False``: no writer lock, no writes."""
        p = os.fspath(path)
        if not os.path.exists(p):
            raise FileNotFoundError(f"no session file at {p}")
        # Read-only probe first, so that a foreign file is reported and never modified. The URI
        # is built from a quoted path: '?', '%' and '#' are legal in file names.
        uri = "file:" + urllib.request.pathname2url(os.path.abspath(p)) + "?mode=ro"
        try:
            probe = sqlite3.connect(uri, uri=True)
            try:
                tables = {
                    r[0] for r in probe.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
                if not _TABLES <= tables:
                    missing = ", ".join(sorted(_TABLES - tables))
                    raise ValueError(
                        f"{p} is not a panning SEALS session file (missing tables: {missing})"
                    )
                row = probe.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
            finally:
                probe.close()
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{p} is not a panning SEALS session file ({exc})") from None
        if row is None:
            raise ValueError(f"{p} is not a panning SEALS session file (no format version)")
        try:
            version = int(row[0])
        except (TypeError, ValueError):
            raise ValueError(
                f"{p}: table meta, key format_version: {row[0]!r} is not an integer"
            ) from None
        if version > FORMAT_VERSION:
            raise ValueError(
                f"{p} was written by a newer panning (session format {version} > {FORMAT_VERSION})"
            )
        if version < 1:
            raise ValueError(f"{p}: table meta, key format_version: invalid version {version}")
        lock = _WriterLock(p) if write else None
        try:
            store = cls(cls._connect(p), p, lock)
            store.meta()  # validated now, before anything replays it
        except BaseException:
            if "store" in locals():
                store.close()
            elif lock is not None:
                lock.release()
            raise
        return store

    def _bad(self, table: str, where: str, why: str) -> ValueError:
        return ValueError(f"{self.path}: table {table}, {where}: {why}")

    def meta(self) -> dict[str, Any]:
        """The ``meta`` table, validated: required keys with the right types."""
        try:
            rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._bad("meta", "all rows", str(exc)) from None
        out: dict[str, Any] = {}
        for k, v in rows:
            if k == "format_version":
                out[k] = int(v)
                continue
            try:
                out[k] = json.loads(v)
            except (TypeError, ValueError):
                raise self._bad("meta", f"key {k!r}", f"not valid JSON ({v!r:.60})") from None
        for key in _META_KEYS:
            if key not in out:
                raise self._bad("meta", f"key {key!r}", "missing")
        for key in ("rows", "dim"):
            if not isinstance(out[key], int) or isinstance(out[key], bool) or out[key] < 0:
                raise self._bad("meta", f"key {key!r}", f"expected a count, got {out[key]!r}")
        cfg = out["config"]
        if not isinstance(cfg, dict):
            raise self._bad("meta", "key 'config'", f"expected an object, got {cfg!r:.60}")
        for key, kind in _CONFIG_KEYS.items():
            if key not in cfg:
                raise self._bad("meta", f"config key {key!r}", "missing")
            value = cfg[key]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise self._bad(
                    "meta", f"config key {key!r}", f"expected {kind.__name__}, got {value!r:.60}"
                )
        classes = cfg.get("classes")
        if classes is not None and (
            not isinstance(classes, list)
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in classes)
        ):
            raise self._bad(
                "meta", "config key 'classes'", f"expected integers, got {classes!r:.60}"
            )
        return out

    def excluded(self, n_rows: int | None = None) -> np.ndarray:
        """Excluded ids, ascending; each checked to be an id in ``[0, n_rows)``."""
        rows = self._conn.execute("SELECT id FROM excluded ORDER BY id").fetchall()
        for (i,) in rows:
            if not isinstance(i, int) or i < 0 or (n_rows is not None and i >= n_rows):
                raise self._bad("excluded", f"id {i!r}", f"not a dataset id in [0, {n_rows})")
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    def rounds(
        self,
        n_rows: int | None = None,
        classes: Sequence[int] | None = None,
        excluded: np.ndarray | None = None,
    ) -> list[tuple[int, bool, dict[str, Any] | None, np.ndarray, np.ndarray]]:
        """``(round, queried, record, ids, labels)`` per round, in order, ids in log order.

        Every row is checked before anything is returned: integer id in ``[0, n_rows)``, never
        repeated, not excluded; integer label, one of ``classes`` when given; integer round.
        """
        out = []
        info: dict[int, tuple[bool, dict[str, Any] | None]] = {}
        for r, q, rec in self._conn.execute("SELECT round, queried, record FROM rounds"):
            if not isinstance(r, int) or q not in (0, 1):
                raise self._bad("rounds", f"round {r!r}", f"invalid row (queried={q!r})")
            try:
                record = json.loads(rec) if rec else None
            except (TypeError, ValueError):
                raise self._bad("rounds", f"round {r}", "record is not valid JSON") from None
            if record is not None and not isinstance(record, dict):
                raise self._bad("rounds", f"round {r}", "record is not a JSON object")
            info[r] = (bool(q), record)
        log = self._conn.execute("SELECT seq, round, id, label FROM labels ORDER BY seq").fetchall()
        allowed = None if classes is None else set(int(c) for c in classes)
        seen: set[int] = set()
        held_out = set() if excluded is None else set(int(i) for i in excluded)
        by_round: dict[int, list[tuple[int, int]]] = {}
        for seq, r, i, lab in log:
            where = f"row seq={seq}"
            if not isinstance(r, int) or r < 0:
                raise self._bad("labels", where, f"invalid round {r!r}")
            if not isinstance(i, int) or i < 0 or (n_rows is not None and i >= n_rows):
                raise self._bad("labels", where, f"id {i!r} is not a dataset id in [0, {n_rows})")
            if i in seen:
                raise self._bad("labels", where, f"id {i} is labeled twice")
            if i in held_out:
                raise self._bad("labels", where, f"id {i} is excluded from the session")
            if not isinstance(lab, int):
                raise self._bad("labels", where, f"label {lab!r} is not an integer")
            if allowed is not None and lab not in allowed:
                raise self._bad("labels", where, f"label {lab} is not one of the classes {classes}")
            seen.add(i)
            by_round.setdefault(r, []).append((i, lab))
        for r in sorted(by_round):
            queried, rec = info.get(r, (False, None))
            pairs = by_round[r]
            ids = np.asarray([p[0] for p in pairs], dtype=np.int64)
            labels = np.asarray([p[1] for p in pairs], dtype=np.int64)
            out.append((r, queried, rec, ids, labels))
        return out

    def append(
        self,
        round_: int,
        queried: bool,
        ids: np.ndarray,
        labels: np.ndarray,
        record: dict[str, Any] | None = None,
    ) -> None:
        """Append one round's labels (and what replaying them needs besides, ``record``: the
        round record's first version); durable when this returns, or nothing is written."""
        if not self.writable:
            raise SessionInUseError(f"{self.path} was opened read-only")
        ts = time.time()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO labels (id, label, round, ts) VALUES (?, ?, ?, ?)",
                ((int(i), int(lab), round_, ts) for i, lab in zip(ids, labels)),
            )
            conn.execute(
                "INSERT INTO rounds (round, queried, record) VALUES (?, ?, ?)",
                (round_, int(queried), None if record is None else json.dumps(record)),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def set_meta(self, key: str, value: Any) -> None:
        """Replace one ``meta`` entry (JSON), durable when it returns."""
        if not self.writable:
            raise SessionInUseError(f"{self.path} is open read-only")
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def set_record(self, round_: int, record: dict[str, Any]) -> None:
        if not self.writable:
            return  # a read-only view records nothing
        # autocommit: one statement, durable when it returns
        self._conn.execute(
            "UPDATE rounds SET record = ? WHERE round = ?", (json.dumps(record), round_)
        )

    def close(self) -> None:
        self._conn.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None
