"""Writes the corpus of hostile files under tests/data/hostile/ (committed; rerun by hand when a
format changes: ``python tests/data/make_hostile.py``).

Every file is a well-formed file of its kind with one defect a crafted or damaged file could carry;
index files get a *recomputed* checksum, so only structural validation can catch them.
tests/test_hostile.py loads each and expects a ValueError naming the defect; ``CASES`` maps each
file to the words that error must contain.

- ``index/``: HNSW index files (format version 1) built from ``index_data()``.
- ``session/``: SEALS session files (SQLite) over ``session_data()``, tampered with SQL.
- ``manifests/``: shard manifests over two shard files in ``manifests/shards/``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import struct
import sys
from dataclasses import dataclass

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "hostile")

# file (relative to hostile/) -> words the ValueError must contain
CASES: dict[str, str] = {
    "index/upper_link_to_lower_node.pnidx": "which that node is not on",
    "index/link_target_out_of_range.pnidx": "link target",
    "index/link_count_too_large.pnidx": "link count",
    "index/entry_not_on_top_level.pnidx": "entry point",
    "index/node_above_top_level.pnidx": "above the top level",
    "index/nan_vector.pnidx": "NaN or inf",
    "index/inf_vector_float16.pnidx": "NaN or inf",
    "index/duplicate_labels.pnidx": "labels",
    "index/negative_level.pnidx": "invalid level",
    "session/label_id_negative.db": "not a dataset id",
    "session/label_id_out_of_range.db": "not a dataset id",
    "session/label_outside_classes.db": "not one of the classes",
    "session/label_id_repeated.db": "labeled twice",
    "session/label_not_integer.db": "not an integer",
    "session/label_of_excluded_id.db": "excluded",
    "session/meta_config_not_json.db": "not valid JSON",
    "session/meta_missing_fingerprint.db": "'fingerprint'",
    "session/config_missing_k.db": "config key 'k'",
    "session/config_k_not_int.db": "config key 'k'",
    "session/format_version_future.db": "newer panning",
    "session/format_version_text.db": "format_version",
    "session/record_not_json.db": "record",
    "session/missing_labels_table.db": "missing tables",
    "session/not_sqlite.db": "not a panning SEALS session",
    "manifests/duplicate_shard.json": "already listed",
    "manifests/path_escapes_folder.json": "'..'",
    "manifests/count_mismatch.json": "holds 50 vectors",
    "manifests/dim_mismatch.json": "dim",
    "manifests/metric_mismatch.json": "metric",
    "manifests/range_mismatch.json": "outside its manifest range",
    "manifests/rows_mismatch.json": "add up to",
    "manifests/ranges_overlap.json": "overlap",
    "manifests/count_not_int.json": "count must be an integer",
    "manifests/start_stop_disagree.json": "do not describe",
    "manifests/not_json.json": "invalid JSON",
    "manifests/no_shards.json": "non-empty list",
}

SESSION_CLASSES = [0, 1]
SESSION_EXCLUDED = [299]


def index_data() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(120, 8)).astype(np.float32)


def session_data() -> np.ndarray:
    return np.random.default_rng(11).normal(size=(300, 8)).astype(np.float32)


# ---- index files -------------------------------------------------------------------------------
HEADER = struct.Struct("<8sIIIIqIIQqqiI8s")  # format versions 1 and 2, 80 bytes
_M64 = 0xFFFFFFFFFFFFFFFF


def fnv1a(data: bytes) -> int:
    """Format version 1's checksum."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & _M64
    return h


def word_sum(data: bytes) -> int:
    """Format version 2's checksum (csrc/cpu/hnsw/serialize.cpp, WordSum): the reference twin."""
    p1, p2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (64 - r))) & _M64

    lanes = [p1, p2, ~p1 & _M64, ~p2 & _M64]
    blocks = len(data) // 32
    words = struct.unpack_from(f"<{4 * blocks}Q", data)
    for i in range(0, 4 * blocks, 4):
        for k in range(4):
            lanes[k] = rotl((lanes[k] + words[i + k] * p2) & _M64, 31) * p1 & _M64
    h = rotl(lanes[0], 1) + rotl(lanes[1], 7) + rotl(lanes[2], 12) + rotl(lanes[3], 18)
    h = (h + len(data) * p1) & _M64
    for b in data[32 * blocks :]:
        h = rotl(h ^ (b * p2 & _M64), 11) * p1 & _M64
    h ^= h >> 31
    h = h * p2 & _M64
    h ^= h >> 29
    h = h * p1 & _M64
    return h ^ (h >> 32)


def checksum(body: bytes) -> int:
    """The checksum an index file with this body (header first) must end with."""
    version = struct.unpack_from("<I", body, 8)[0]
    return fnv1a(body) if version == 1 else word_sum(body)


@dataclass
class IndexFile:
    """A parsed index file (format 1 or 2), editable and re-serialisable with a fresh checksum."""

    header: list[object]
    labels: np.ndarray
    levels: np.ndarray
    nodes: np.ndarray  # [count, node_bytes] uint8
    upper: list[np.ndarray]  # per node: levels[i] * (M + 1) uint32

    @property
    def M(self) -> int:  # noqa: N802
        return int(self.header[6])  # type: ignore[call-overload]

    @property
    def dim(self) -> int:
        return int(self.header[5])  # type: ignore[call-overload]

    @classmethod
    def parse(cls, data: bytes) -> IndexFile:
        h = list(HEADER.unpack_from(data, 0))
        count, node_bytes, m = int(h[9]), int(h[12]), int(h[6])
        pos = HEADER.size
        labels = np.frombuffer(data, np.int64, count, pos).copy()
        pos += 8 * count
        levels = np.frombuffer(data, np.int32, count, pos).copy()
        pos += 4 * count
        nodes = np.frombuffer(data, np.uint8, count * node_bytes, pos).reshape(count, node_bytes)
        pos += count * node_bytes
        upper = []
        for lv in levels:
            n = int(lv) * (m + 1)
            upper.append(np.frombuffer(data, np.uint32, n, pos).copy())
            pos += 4 * n
        return cls(h, labels, levels, nodes.copy(), upper)

    def links0_offset(self) -> int:
        elem = 2 if int(self.header[4]) == 1 else 4  # type: ignore[call-overload]
        return (self.dim * elem + 3) // 4 * 4

    def level0(self, i: int) -> np.ndarray:
        """Writable view of node i's level-0 block: [count, links...]."""
        off = self.links0_offset()
        return self.nodes[i, off : off + 4 * (2 * self.M + 1)].view(np.uint32)

    def serialize(self) -> bytes:
        body = HEADER.pack(*self.header) + self.labels.tobytes() + self.levels.tobytes()
        body += self.nodes.tobytes() + b"".join(u.tobytes() for u in self.upper)
        return body + struct.pack("<Q", checksum(body))


def _index_bytes(storage: str = "float32") -> bytes:
    import tempfile

    import panning

    index = panning.HNSWIndex(8, M=4, ef_construction=32, seed=3, storage=storage, threads=1)
    index.add(index_data())
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "ok.pnidx")
        index.save(path)
        with open(path, "rb") as f:
            return f.read()


def make_index_files() -> dict[str, bytes]:
    base = _index_bytes()
    out: dict[str, bytes] = {}

    def edited(fn: object) -> bytes:
        f = IndexFile.parse(base)
        fn(f)  # type: ignore[operator]
        return f.serialize()

    def upper_link_to_lower_node(f: IndexFile) -> None:
        top = next(i for i, lv in enumerate(f.levels) if lv >= 1 and f.upper[i][0] > 0)
        low = next(i for i, lv in enumerate(f.levels) if lv == 0)
        f.upper[top][1] = low  # level-1 link to a node that only lives on level 0

    def link_target_out_of_range(f: IndexFile) -> None:
        f.level0(0)[1] = len(f.labels) + 5

    def link_count_too_large(f: IndexFile) -> None:
        f.level0(1)[0] = 2 * f.M + 1

    def entry_not_on_top_level(f: IndexFile) -> None:
        f.header[10] = next(i for i, lv in enumerate(f.levels) if lv == 0)

    def node_above_top_level(f: IndexFile) -> None:
        i = next(i for i, lv in enumerate(f.levels) if lv == 0)
        f.levels[i] = int(f.header[11]) + 1  # type: ignore[call-overload]
        f.upper[i] = np.zeros(int(f.levels[i]) * (f.M + 1), np.uint32)

    def nan_vector(f: IndexFile) -> None:
        f.nodes[5, :4] = np.frombuffer(np.float32(np.nan).tobytes(), np.uint8)

    def duplicate_labels(f: IndexFile) -> None:
        f.labels[3] = f.labels[4]

    def negative_level(f: IndexFile) -> None:
        f.levels[2] = -1

    for fn in (
        upper_link_to_lower_node,
        link_target_out_of_range,
        link_count_too_large,
        entry_not_on_top_level,
        node_above_top_level,
        nan_vector,
        duplicate_labels,
        negative_level,
    ):
        out[f"index/{fn.__name__}.pnidx"] = edited(fn)
    f16 = IndexFile.parse(_index_bytes("float16"))
    f16.nodes[7, :2] = np.frombuffer(np.uint16(0x7C00).tobytes(), np.uint8)  # +inf
    out["index/inf_vector_float16.pnidx"] = f16.serialize()
    return out


# ---- session files -----------------------------------------------------------------------------
def _session(path: str) -> None:
    import panning

    x = session_data()
    y = (x[:, 0] > 0.8).astype(np.int64)
    s = panning.Seals(x, k=10, seed=0, path=path, classes=SESSION_CLASSES, exclude=SESSION_EXCLUDED)
    seed = np.r_[np.flatnonzero(y)[:3], np.flatnonzero(y == 0)[:7]]
    s.teach(seed, y[seed])
    ids = s.query(5)
    s.teach(ids, y[ids])
    s.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    conn.close()


_SQL = {
    "label_id_negative": "INSERT INTO labels (id, label, round, ts) VALUES (-1, 0, 1, 0)",
    "label_id_out_of_range": "INSERT INTO labels (id, label, round, ts) VALUES (100000, 0, 1, 0)",
    "label_outside_classes": "INSERT INTO labels (id, label, round, ts) VALUES (250, 7, 1, 0)",
    "label_not_integer": "INSERT INTO labels (id, label, round, ts) VALUES (251, 'yes', 1, 0)",
    "label_of_excluded_id": "INSERT INTO labels (id, label, round, ts) VALUES (299, 0, 1, 0)",
    "meta_config_not_json": "UPDATE meta SET value = '{\"k\": ' WHERE key = 'config'",
    "meta_missing_fingerprint": "DELETE FROM meta WHERE key = 'fingerprint'",
    "config_missing_k": "UPDATE meta SET value = json_remove(value, '$.k') WHERE key = 'config'",
    "config_k_not_int": (
        "UPDATE meta SET value = json_set(value, '$.k', 'ten') WHERE key = 'config'"
    ),
    "format_version_future": "UPDATE meta SET value = '99' WHERE key = 'format_version'",
    "format_version_text": "UPDATE meta SET value = 'one' WHERE key = 'format_version'",
    "record_not_json": "UPDATE rounds SET record = '{oops' WHERE round = 0",
    "missing_labels_table": "DROP TABLE labels",
    # the UNIQUE constraint is part of the table: a crafted file simply does not have it
    "label_id_repeated": """
        CREATE TABLE l2 (seq INTEGER PRIMARY KEY AUTOINCREMENT, id INTEGER NOT NULL,
                         label INTEGER NOT NULL, round INTEGER NOT NULL, ts REAL NOT NULL);
        INSERT INTO l2 SELECT * FROM labels;
        INSERT INTO l2 (id, label, round, ts) SELECT id, label, 1, 0 FROM labels LIMIT 1;
        DROP TABLE labels;
        ALTER TABLE l2 RENAME TO labels;""",
}


def make_session_files(tmp: str) -> dict[str, bytes]:
    good = os.path.join(tmp, "good.db")
    _session(good)
    out: dict[str, bytes] = {}
    for name, sql in _SQL.items():
        path = os.path.join(tmp, f"{name}.db")
        shutil.copy(good, path)
        conn = sqlite3.connect(path)
        # the append-only triggers would refuse some edits; a crafted file has none
        conn.executescript(
            "DROP TRIGGER IF EXISTS labels_no_update; DROP TRIGGER IF EXISTS labels_no_delete;"
            + sql
        )
        conn.commit()
        conn.execute("VACUUM")
        conn.close()
        with open(path, "rb") as f:
            out[f"session/{name}.db"] = f.read()
    out["session/not_sqlite.db"] = b"this is not a database file\n" * 40
    return out


# ---- manifests ---------------------------------------------------------------------------------
def make_manifests() -> dict[str, bytes]:
    import tempfile

    import panning

    x = np.random.default_rng(5).normal(size=(100, 6)).astype(np.float32)
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as d:
        for name, rows in (("a", range(0, 50)), ("b", range(50, 100))):
            index = panning.HNSWIndex(6, M=4, ef_construction=16, threads=1)
            index.add(x[rows.start : rows.stop], ids=np.arange(rows.start, rows.stop))
            index.save(os.path.join(d, f"{name}.pnidx"))
            with open(os.path.join(d, f"{name}.pnidx"), "rb") as f:
                out[f"manifests/shards/{name}.pnidx"] = f.read()
        index = panning.HNSWIndex(6, M=4, ef_construction=16, threads=1)
        index.add(x[:10])
        index.save(os.path.join(d, "outside.pnidx"))
        with open(os.path.join(d, "outside.pnidx"), "rb") as f:
            out["outside.pnidx"] = f.read()

    a = {"path": "shards/a.pnidx", "count": 50, "start": 0, "stop": 50}
    b = {"path": "shards/b.pnidx", "count": 50, "start": 50, "stop": 100}

    def manifest(shards: list[dict[str, object]], **over: object) -> bytes:
        meta: dict[str, object] = {
            "format": "panning-shards-1",
            "dim": 6,
            "metric": "l2",
            "rows": 100,
            "M": 4,
            "ef_construction": 16,
            "storage": "float32",
            "shards": shards,
        }
        meta.update(over)
        return json.dumps(meta, indent=1).encode()

    out["manifests/good.json"] = manifest([a, b])
    out["manifests/duplicate_shard.json"] = manifest([a, dict(a, path="./shards/a.pnidx")])
    out["manifests/path_escapes_folder.json"] = manifest(
        [a, dict(b, path="../outside.pnidx", count=10, start=-1, stop=-1)], rows=60
    )
    out["manifests/count_mismatch.json"] = manifest([a, dict(b, count=40, stop=90)], rows=90)
    out["manifests/dim_mismatch.json"] = manifest([a, b], dim=7)
    out["manifests/metric_mismatch.json"] = manifest([a, b], metric="cosine")
    out["manifests/range_mismatch.json"] = manifest(
        [dict(a, start=50, stop=100), dict(b, start=0, stop=50)]
    )
    out["manifests/rows_mismatch.json"] = manifest([a, b], rows=1000)
    out["manifests/ranges_overlap.json"] = manifest([a, dict(b, start=40, stop=90)])
    out["manifests/count_not_int.json"] = manifest([dict(a, count="50"), b])
    out["manifests/start_stop_disagree.json"] = manifest([dict(a, stop=-1), b])
    out["manifests/not_json.json"] = b'{"format": "panning-shards-1", "shards": ['
    out["manifests/no_shards.json"] = manifest([], rows=0)
    return out


def make_all() -> dict[str, bytes]:
    import tempfile

    files = make_index_files()
    with tempfile.TemporaryDirectory() as tmp:
        files.update(make_session_files(tmp))
    files.update(make_manifests())
    return files


def main() -> None:
    files = make_all()
    missing = set(CASES) - set(files)
    if missing:
        sys.exit(f"no file made for cases {sorted(missing)}")
    shutil.rmtree(OUT, ignore_errors=True)
    for rel, data in sorted(files.items()):
        path = os.path.join(OUT, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    print(f"wrote {len(files)} files under {OUT}")


if __name__ == "__main__":
    main()
