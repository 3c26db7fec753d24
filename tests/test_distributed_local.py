"""The sharded index without Ray: exact merge, HNSW shards against exact search, SEALS over shards,
manifests and errors. Runs where Ray is not installed; `import panning` must not import Ray.

Data is generated here; nothing depends on ../shared/data.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import panning
from panning import reference
from panning.distributed import LocalShardedIndex, build_shards, merge_topk, read_manifest
from panning.seals import Seals


def clustered(n: int, d: int, *, seed: int = 0, clusters: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = 3.0 * rng.normal(size=(clusters, d))
    return (centers[rng.integers(0, clusters, n)] + rng.normal(size=(n, d))).astype(np.float32)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(a[a >= 0]) & set(b[b >= 0])) for a, b in zip(found, truth)]
    return float(np.sum(hits) / np.sum(truth >= 0))


def flat_shards(x: np.ndarray, parts: list[np.ndarray], metric: str) -> list[panning.FlatIndex]:
    shards = []
    for ids in parts:
        f = panning.FlatIndex(x.shape[1], metric=metric)
        f.add(x[ids], ids=ids)
        shards.append(f)
    return shards


def test_import_panning_does_not_import_ray():
    code = (
        "import sys, panning, panning.distributed, panning.distributed.scoring; "
        "assert 'ray' not in sys.modules, 'ray imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_merge_of_exact_shards_is_exact_search(metric):
    # Integer-valued vectors: many equal distances, so the tie order (lower id) is exercised.
    rng = np.random.default_rng(1)
    x = rng.integers(-2, 3, size=(900, 6)).astype(np.float32)
    x[np.all(x == 0, axis=1), 0] = 1.0  # cosine needs non-zero vectors
    q = rng.integers(-2, 3, size=(50, 6)).astype(np.float32)
    q[np.all(q == 0, axis=1), 0] = 1.0
    perm = rng.permutation(900)  # shards over scattered ids, not row ranges
    parts = [np.sort(p) for p in np.array_split(perm, 4)]
    sharded = LocalShardedIndex(flat_shards(x, parts, metric))
    whole = panning.FlatIndex(6, metric=metric)
    whole.add(x)
    exclude = rng.choice(900, 100, replace=False)
    for k, ex in [(1, None), (10, None), (25, exclude)]:
        ids, dist = sharded.search(q, k, exclude=ex)
        ref_ids, ref_dist = whole.search(q, k, exclude=ex)
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_array_equal(dist, ref_dist)
        if ex is None and metric == "l2":
            # and the float64 NumPy reference agrees on the ids (ties by lower id there too);
            # integer l2 distances are exact in float32, cosine ones are not
            np.testing.assert_array_equal(ids, reference.knn_search(q, x, k, metric)[0])
    ids, dist = sharded.search(q[:3], 1000)  # more than the data: padded at the end
    assert (ids[:, 900:] == -1).all() and np.isinf(dist[:, 900:]).all()
    assert sorted(ids[0, :900].tolist()) == list(range(900))


def test_merge_topk_orders_ties_by_id_and_pads_last():
    a = (np.array([[7, 2, -1]]), np.array([[1.0, 3.0, np.inf]], dtype=np.float32))
    b = (np.array([[5, 1, 9]]), np.array([[1.0, 3.0, 3.0]], dtype=np.float32))
    ids, dist = merge_topk([a, b], 6)
    assert ids.tolist() == [[5, 7, 1, 2, 9, -1]]
    assert dist.tolist() == [[1.0, 1.0, 3.0, 3.0, 3.0, np.inf]]
    with pytest.raises(ValueError, match="no shard results"):
        merge_topk([], 3)


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    x = clustered(4000, 24)
    directory = tmp_path_factory.mktemp("shards")
    return x, build_shards(x, directory, 4, metric="cosine", threads=1)


def test_hnsw_shards_recall_against_exact(shard_dir):
    x, manifest = shard_dir
    index = LocalShardedIndex.load(manifest)
    assert index.shard_sizes == [1000, 1000, 1000, 1000] and len(index) == 4000
    assert index.dim == 24 and index.metric == "cosine"
    q = clustered(300, 24, seed=0, clusters=12)[:300] + np.float32(0.1)
    ids, dist = index.search(q, 10, ef=64)
    exact = panning.FlatIndex(24, metric="cosine")
    exact.add(x)
    truth, _ = exact.search(q, 10)
    assert recall(ids, truth) >= 0.97
    assert np.all(np.diff(dist, axis=1) >= 0)
    # every shard holds its row range under the row numbers
    for i, shard in enumerate(index.shards):
        np.testing.assert_array_equal(np.sort(shard.ids), np.arange(1000 * i, 1000 * (i + 1)))
    # the same answers with one thread (no pool) and with several
    serial = LocalShardedIndex.load(manifest, workers=1)
    np.testing.assert_array_equal(serial.search(q, 10, ef=64)[0], ids)


def test_manifest_contents_and_errors(shard_dir, tmp_path):
    x, manifest = shard_dir
    shards, settings = read_manifest(os.path.dirname(manifest))
    assert [(s.start, s.stop) for s in shards] == [(i, i + 1000) for i in range(0, 4000, 1000)]
    assert settings["dim"] == 24 and settings["metric"] == "cosine" and settings["rows"] == 4000
    with pytest.raises(FileNotFoundError, match="no shard manifest"):
        read_manifest(tmp_path / "nowhere")
    bad = tmp_path / "manifest.json"
    bad.write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="not a panning shard manifest"):
        read_manifest(bad)
    meta = json.loads(pathlib.Path(manifest).read_text())
    meta["shards"][0]["path"] = "missing.pnidx"
    bad.write_text(json.dumps(meta))
    with pytest.raises(FileNotFoundError, match="missing shard file"):
        read_manifest(bad)
    with pytest.raises(FileNotFoundError, match="no index file"):
        LocalShardedIndex.load([str(tmp_path / "none.pnidx")])
    with pytest.raises(ValueError, match="unsupported shard location"):
        LocalShardedIndex.load("s3://bucket/shards")
    with pytest.raises(ValueError, match="more than the 10 rows"):
        build_shards(x[:10], tmp_path / "b", 11)
    with pytest.raises(ValueError, match="2-D"):
        build_shards(x[0], tmp_path / "b", 2)
    with pytest.raises(TypeError, match="float64"):
        build_shards(x.astype(np.float64), tmp_path / "b", 2)


def test_search_errors(shard_dir):
    x, manifest = shard_dir
    index = LocalShardedIndex.load(manifest)
    with pytest.raises(ValueError, match="dim 24"):
        index.search(x[:2, :10], 5)
    with pytest.raises(ValueError, match=r"k must be in \[1, "):
        index.search(x[:2], 0)
    with pytest.raises(TypeError, match="float64"):
        index.search(x[:2].astype(np.float64), 5)
    with pytest.raises(TypeError, match="integers"):
        index.search(x[:2], 5, exclude=[0.5])
    a, b = panning.FlatIndex(3), panning.FlatIndex(4)
    with pytest.raises(ValueError, match="shards disagree"):
        LocalShardedIndex([a, b])
    with pytest.raises(ValueError, match="at least one shard"):
        LocalShardedIndex([])
    ids, dist = index.search(x[:0], 5)
    assert ids.shape == (0, 5) and dist.shape == (0, 5)


def seals_queries(x, y, neighbors, rounds=6, batch=20):
    # probe=0: the comparison is of neighbour sources (a graph has no probe)
    s = Seals(x, neighbors=neighbors, k=10, max_k=20, seed=3, probe=0)
    rng = np.random.default_rng(0)
    seed = np.r_[rng.choice(np.flatnonzero(y == 1), 4, replace=False),
                 rng.choice(np.flatnonzero(y == 0), 30, replace=False)]  # fmt: skip
    s.teach(seed, y[seed])
    out = []
    for _ in range(rounds):
        ids = s.query(batch)
        out.append(ids)
        s.teach(ids, y[ids])
    return np.concatenate(out), s.pool


def test_seals_over_local_shards_matches_one_exact_index(tmp_path):
    x = clustered(1200, 16, seed=2)
    y = (np.random.default_rng(2).random(1200) < 0.05).astype(np.int64)
    y[np.linalg.norm(x - x[0], axis=1) < 4.0] = 1  # a compact concept the kNN pool can follow
    manifest = build_shards(x, tmp_path, 3, metric="cosine", threads=1)
    sharded = LocalShardedIndex.load(manifest, ef=200)
    exact = panning.FlatIndex(16, metric="cosine")
    exact.add(x)
    # The premise: at ef=200 the shards answer exactly for every row (k + 1 = 21 as SEALS asks).
    assert recall(sharded.search(x, 21)[0], exact.search(x, 21)[0]) == 1.0
    q_sharded, pool_sharded = seals_queries(x, y, sharded)
    q_exact, pool_exact = seals_queries(x, y, exact.knn_graph(20)[0])
    np.testing.assert_array_equal(q_sharded, q_exact)
    np.testing.assert_array_equal(pool_sharded, pool_exact)
