"""SEALS session files: resume restores the exact state, errors leave the file intact, and a
process killed in the middle of a round loses no label that ``teach`` accepted."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from panning.neighbors import exact_knn_graph, index_checksum, legacy_session_graph
from panning.seals import Seals


def clustered(n: int = 500, d: int = 12, clusters: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, d)) * 3.0
    labels = rng.integers(0, clusters, size=n)
    return (centers[labels] + rng.normal(size=(n, d))).astype(np.float32), labels


@pytest.fixture(scope="module")
def data():
    x, labels = clustered()
    return x, (labels == 1).astype(np.int64), exact_knn_graph(x, 12)


def seeded(x, y, graph, path=None, **kw):
    s = Seals(x, neighbors=graph, k=12, path=path, exclude=np.arange(450, 500), seed=4, **kw)
    rng = np.random.default_rng(0)
    ids = np.r_[
        rng.choice(np.flatnonzero(y[:450] == 1), 5, replace=False),
        rng.choice(np.flatnonzero(y[:450] == 0), 20, replace=False),
    ]
    s.teach(ids, y[ids])
    return s


def file_digest(path) -> str:
    with sqlite3.connect(path) as conn:  # checkpoint so the main file holds everything
        conn.execute("PRAGMA wal_checkpoint(FULL)")
    h = hashlib.sha256()
    for suffix in ("", "-wal"):
        if os.path.exists(f"{path}{suffix}"):
            with open(f"{path}{suffix}", "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def log_rows(path):
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT id, label, round FROM labels ORDER BY seq").fetchall()


@pytest.mark.parametrize("strategy", ["max_entropy", "random", "information_density"])
def test_resume_restores_pool_and_next_query(tmp_path, data, strategy):
    x, y, graph = data
    path = tmp_path / "s.db"
    live = seeded(x, y, graph, path, strategy=strategy)
    for _ in range(4):
        ids = live.query(15)
        live.teach(ids, y[ids])
    nxt = live.query(15)
    live.close()
    back = Seals.resume(path, x, neighbors=graph)
    np.testing.assert_array_equal(back.pool, live.pool)
    np.testing.assert_array_equal(back.labeled[0], live.labeled[0])
    np.testing.assert_array_equal(back.labeled[1], live.labeled[1])
    np.testing.assert_array_equal(back.query(15), nxt)
    assert back.fraction_scored == live.fraction_scored
    assert [r.pool_size for r in back.history] == [r.pool_size for r in live.history]
    assert [r.positives for r in back.history] == [r.positives for r in live.history]
    # and it keeps going in the same file
    back.teach(nxt, y[nxt])
    back.close()
    again = Seals.resume(path, x, neighbors=graph)
    assert again.n_labeled == live.n_labeled + 15
    assert [r[2] for r in log_rows(path)][-1] == 5
    again.close()


def test_resume_loads_the_saved_index_never_rebuilds_it(tmp_path, data):
    x, y, _ = data
    path = tmp_path / "s.db"
    live = Seals(x, k=8, path=path, seed=1)
    ids = np.r_[np.flatnonzero(y == 1)[:3], np.flatnonzero(y == 0)[:10]]
    live.teach(ids, y[ids])
    q = live.query(10)
    live.close()
    index_file = f"{path}.hnsw"
    assert os.path.exists(index_file)
    back = Seals.resume(path, x)
    np.testing.assert_array_equal(back.query(10), q)
    back.close()
    with pytest.raises(ValueError, match="its own index"):
        Seals.resume(path, x, neighbors=exact_knn_graph(x, 100, metric="l2"))
    # moved: found again through index_path=
    moved = tmp_path / "elsewhere.hnsw"
    os.replace(index_file, moved)
    with pytest.raises(FileNotFoundError, match="rebuild_index=True"):
        Seals.resume(path, x)
    with Seals.resume(path, x, index_path=moved) as again:
        np.testing.assert_array_equal(again.query(10), q)
    # another index in its place (a rebuild differs): refused, named
    other = Seals(x, k=8, path=tmp_path / "other.db", seed=1)
    other.close()
    os.replace(tmp_path / "other.db.hnsw", index_file)
    if index_checksum(index_file) != index_checksum(moved):
        with pytest.raises(ValueError, match="checksum differs"):
            Seals.resume(path, x)
    os.unlink(index_file)
    # rebuilt on request: recorded, the labels kept, the session goes on
    with Seals.resume(path, x, rebuild_index=True) as rebuilt:
        assert rebuilt.n_labeled == ids.shape[0]
        nxt = rebuilt.query(10)
        rebuilt.teach(nxt, y[nxt])
    with Seals.resume(path, x) as after:
        assert after.n_labeled == ids.shape[0] + 10


def test_legacy_session_without_index_replays_its_deterministic_graph(tmp_path, data):
    # Sessions written before sessions kept their index recorded only the hash of a graph
    # built on one thread; resuming one rebuilds exactly that graph.
    x, y, _ = data
    path = tmp_path / "old.db"
    graph = legacy_session_graph(x, 100, metric="cosine")
    live = Seals(x, neighbors=graph, k=8, path=path, seed=1)
    ids = np.r_[np.flatnonzero(y == 1)[:3], np.flatnonzero(y == 0)[:10]]
    live.teach(ids, y[ids])
    q = live.query(10)
    live.close()
    with Seals.resume(path, x) as back:
        np.testing.assert_array_equal(back.query(10), q)
    with pytest.raises(ValueError, match="graph differs"):
        Seals.resume(path, x, neighbors=exact_knn_graph(x, 100, metric="l2"))


def test_resume_refuses_other_embeddings_and_leaves_file_intact(tmp_path, data):
    x, y, graph = data
    path = tmp_path / "s.db"
    seeded(x, y, graph, path).close()
    before = file_digest(path)
    other = x.copy()
    other[-1] += 1.0
    with pytest.raises(ValueError, match="fingerprint"):
        Seals.resume(path, other, neighbors=graph)
    with pytest.raises(ValueError, match="shape"):
        Seals.resume(path, x[:400], neighbors=graph[:400])
    with pytest.raises(ValueError, match="model"):
        s = Seals(x, neighbors=graph, k=12, path=tmp_path / "m.db", model=_Const())
        s.close()
        Seals.resume(tmp_path / "m.db", x, neighbors=graph)
    assert file_digest(path) == before


def test_bad_teach_leaves_file_intact(tmp_path, data):
    x, y, graph = data
    path = tmp_path / "s.db"
    s = seeded(x, y, graph, path, classes=[0, 1])
    labeled = s.labeled[0]
    rows = log_rows(path)
    free = int(np.setdiff1d(np.arange(450), labeled)[0])
    for ids, labs, exc in [
        ([999], [0], ValueError),
        ([int(labeled[0])], [0], ValueError),
        ([free, free], [0, 0], ValueError),
        ([free], [1.0], TypeError),
        ([free], ["yes"], TypeError),
        ([free], [2], ValueError),
        ([470], [0], ValueError),  # excluded (held out)
    ]:
        with pytest.raises(exc):
            s.teach(ids, labs)
    assert log_rows(path) == rows
    s.close()


def test_label_log_is_append_only(tmp_path, data):
    x, y, graph = data
    path = tmp_path / "s.db"
    seeded(x, y, graph, path).close()
    with sqlite3.connect(path) as conn:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE labels SET label = 1 - label")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM labels")


def test_create_and_open_errors(tmp_path, data):
    x, y, graph = data
    path = tmp_path / "s.db"
    seeded(x, y, graph, path).close()
    with pytest.raises(FileExistsError, match="resume"):
        Seals(x, neighbors=graph, path=path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="not a panning SEALS session"):
        Seals.resume(junk, x)
    assert junk.read_bytes() == b"this is not a database" * 100
    with pytest.raises(FileNotFoundError):
        Seals.resume(tmp_path / "none.db", x)


class _Const:
    classes_ = np.array([0, 1])

    def fit(self, X, y):  # noqa: N803
        return self

    def predict_proba(self, X):  # noqa: N803
        return np.full((len(X), 2), 0.5)


_CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from panning.seals import Seals
    x = np.load(sys.argv[1]); y = np.load(sys.argv[2]); graph = np.load(sys.argv[3])
    s = Seals(x, neighbors=graph, k=12, path=sys.argv[4], seed=5, exclude=np.arange(450, 500))
    seed = np.r_[np.flatnonzero(y[:450] == 1)[:5], np.flatnonzero(y[:450] == 0)[:20]]
    s.teach(seed, y[seed])
    print("taught", s.n_labeled, flush=True)
    while True:
        ids = s.query(10)
        if ids.size == 0:
            break
        time.sleep(0.003)           # a human (or an oracle) takes a moment
        s.teach(ids, y[ids])
        print("taught", s.n_labeled, " ".join(map(str, ids.tolist())), flush=True)
        time.sleep(0.002)
    """
)


@pytest.mark.parametrize("kill_after", [1, 3, 6])
def test_kill_mid_round_loses_no_accepted_label(tmp_path, data, kill_after):
    x, y, graph = data
    files = [tmp_path / n for n in ("x.npy", "y.npy", "g.npy")]
    for f, a in zip(files, (x, y, graph)):
        np.save(f, a)
    path = tmp_path / "killed.db"
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(script), *map(str, files), str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    accepted: list[int] = []
    assert proc.stdout is not None
    try:
        for _ in range(kill_after + 1):
            line = proc.stdout.readline()
            assert line.startswith("taught"), line
            accepted += [int(t) for t in line.split()[2:]]
        # The child is now somewhere in its next query / teach: kill it without warning.
        time.sleep(0.001 * kill_after)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    back = Seals.resume(path, x, neighbors=graph)
    ids, labels = back.labeled
    assert set(accepted) <= set(ids.tolist())  # every label teach returned from is there
    assert back.n_labeled >= 25 + 10 * kill_after
    assert back.n_labeled % 10 == 5  # whole rounds only
    np.testing.assert_array_equal(labels, y[ids])
    # the resumed pool is the one recomputed from its labels
    pos = ids[labels == 1]
    want = np.setdiff1d(np.unique(graph[pos, : back.k_effective]), np.r_[ids, np.arange(450, 500)])
    np.testing.assert_array_equal(back.pool, want)
    # and the session continues
    q = back.query(10)
    back.teach(q, y[q])
    back.close()


def test_probe_ids_are_stored_with_the_labels_and_replayed(tmp_path, data):
    """The probe's ids of each round go into the label transaction (the round record), so a
    resume rebuilds the same pool without refitting; a tampered list is refused, named."""
    x, y, _ = data
    path = tmp_path / "s.db"
    live = Seals(x, k=4, max_k=8, path=path, seed=2, probe=15)
    ids = np.r_[np.flatnonzero(y == 1)[:3], np.flatnonzero(y == 0)[:10]]
    live.teach(ids, y[ids])
    for _ in range(3):
        q = live.query(10)
        live.teach(q, y[q])
    nxt = live.query(10)
    live.close()
    with sqlite3.connect(path) as conn:
        records = [r[0] for r in conn.execute("SELECT record FROM rounds ORDER BY round")]
    probed = [json.loads(r).get("probed") for r in records]
    assert probed[0] is None and all(len(p) > 0 for p in probed[1:])  # the seed round: no query
    with Seals.resume(path, x) as back:
        np.testing.assert_array_equal(back.pool, live.pool)
        np.testing.assert_array_equal(back.query(10), nxt)
        assert back.fraction_scored == live.fraction_scored
    for bad in ([5, 3], [-1], [len(x)], ["7"], [True]):
        rec = json.loads(records[1])
        rec["probed"] = bad
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE rounds SET record = ? WHERE round = 1", (json.dumps(rec),))
        with pytest.raises(ValueError, match="round 1 record has an invalid 'probed' list"):
            Seals.resume(path, x)
