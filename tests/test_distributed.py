"""Ray: the sharded index on actors (against the local twin and exact search, through an actor
killed mid-query), distributed scoring against the single-process kernels, SEALS over Ray.

One local Ray instance (2 CPUs) serves the whole module; shard actors reserve 0.1 CPU each and the
scoring pool 0.25 per actor, leaving Ray Data a CPU for its own tasks. Skipped without Ray.
Data is generated here; nothing depends on ../shared/data.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")
ray_data = pytest.importorskip("ray.data")

from test_distributed_local import clustered, recall  # noqa: E402

import panning  # noqa: E402
from panning import distributed  # noqa: E402
from panning.distributed import LocalShardedIndex, RayShardedIndex, build_shards  # noqa: E402
from panning.models import LogisticRegression  # noqa: E402
from panning.seals import Seals  # noqa: E402

# Ray Data's DataContext trips these on creation (Ray 2.60, ray/data/context.py); nothing here
# sets the options.
pytestmark = [
    pytest.mark.filterwarnings(f"ignore:`{option}` is deprecated:DeprecationWarning")
    for option in ("use_push_based_shuffle", "use_polars", "use_arrow_tensor_v2")
]

SHARD_CPUS = 0.1
POOL = {"concurrency": 2, "num_cpus": 0.25}


@pytest.fixture(scope="module")
def ray_session():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    ray_data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def shards(ray_session, tmp_path_factory):
    x = clustered(4000, 24)
    manifest = build_shards(x, tmp_path_factory.mktemp("shards"), 4, metric="cosine", threads=1)
    index = RayShardedIndex(manifest, num_cpus=SHARD_CPUS)
    yield x, manifest, index
    index.close()


def test_ray_search_equals_local_and_exact(shards):
    x, manifest, index = shards
    local = LocalShardedIndex.load(manifest)
    assert index.shard_sizes == local.shard_sizes == [1000] * 4
    assert index.dim == 24 and index.metric == "cosine" and len(index) == 4000
    q = clustered(500, 24, seed=0)[::-1] + np.float32(0.05)
    exclude = np.arange(0, 4000, 7)
    for k, ef, ex in [(1, None, None), (10, 64, None), (10, 32, exclude), (50, 100, exclude)]:
        ids, dist = index.search(q, k, ef=ef, exclude=ex)
        ref_ids, ref_dist = local.search(q, k, ef=ef, exclude=ex)
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_array_equal(dist.view(np.uint32), ref_dist.view(np.uint32))  # bits
        if ex is not None:
            assert not np.isin(ids, ex).any()
    exact = panning.FlatIndex(24, metric="cosine")
    exact.add(x)
    ids, _ = index.search(q, 10, ef=64)
    assert recall(ids, exact.search(q, 10)[0]) >= 0.97
    with pytest.raises(ValueError, match="dim 24"):
        index.search(q[:, :3], 5)
    info = index.shard_info()
    assert [i["size"] for i in info] == [1000] * 4 and all(i["memory_bytes"] > 0 for i in info)


def test_shard_killed_mid_query_recovers_identically(shards):
    x, manifest, index = shards
    victim = index.actors[1]
    pid_before = ray.get(victim.info.remote())["pid"]
    # A batch big enough that the search is still under way 0.3 s in (a few seconds per shard on
    # a 2-core machine); a faster machine gets a bigger batch rather than a test without a kill.
    for reps in (3, 12, 48):
        q = np.tile(x, (reps, 1)) + np.float32(0.01)
        result: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        t = threading.Thread(
            target=lambda q=q, out=result: out.setdefault("r", index.search(q, 10, ef=200))
        )
        t.start()
        time.sleep(0.3)
        if t.is_alive():
            break
        t.join()
    else:
        pytest.fail("every search finished before the shard could be killed")
    ray.kill(victim, no_restart=False)
    t.join(timeout=300)
    assert not t.is_alive()
    ids, dist = result["r"]
    expected = LocalShardedIndex.load(manifest).search(q, 10, ef=200)  # the same bits as Ray's
    np.testing.assert_array_equal(ids, expected[0])
    np.testing.assert_array_equal(dist, expected[1])
    assert ray.get(victim.info.remote())["pid"] != pid_before  # restarted from its file


def test_shard_that_cannot_load_is_reported(ray_session, tmp_path):
    path = tmp_path / "shard.pnidx"
    path.write_bytes(b"not an index")
    with pytest.raises(Exception, match="failed to load"):
        RayShardedIndex([str(path)], num_cpus=SHARD_CPUS)


def test_distributed_scores_equal_single_process(ray_session, tmp_path):
    rng = np.random.default_rng(5)
    # Probabilities on a coarse grid: many exactly equal scores, so ties decide the order.
    p = rng.dirichlet(np.ones(6), size=30_000)
    p = np.round(p * 8) + 0.01
    p = (p / p.sum(1, keepdims=True)).astype(np.float32)
    path = tmp_path / "probs.npy"
    np.save(path, p)
    ids, scores = distributed.score(p, method="margin", batch_size=4096, **POOL)
    np.testing.assert_array_equal(ids, np.arange(30_000))
    np.testing.assert_array_equal(scores, panning.margin(p))
    exclude = rng.choice(30_000, 500, replace=False)
    for method, source, ex in [("entropy", p, None), ("margin", str(path), exclude)]:
        got = distributed.most_uncertain(
            source, 300, method=method, exclude=ex, batch_size=2500, **POOL
        )
        keep = np.setdiff1d(np.arange(30_000), [] if ex is None else ex)
        want = keep[panning.most_uncertain(p[keep], 300, method=method)]
        np.testing.assert_array_equal(got, want)
    assert np.unique(panning.entropy(p)[got]).shape[0] < 300  # ties were part of the answer


def test_distributed_scoring_of_a_dataset_and_errors(ray_session):
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(5000, 4)).astype(np.float32)
    ids = rng.permutation(5000) + 10_000  # any int ids, in any order
    ds = ray_data.from_items([{"id": int(i), "data": row} for i, row in zip(ids, logits)])
    got = distributed.most_uncertain(
        ds, 40, method="least_confidence", from_logits=True, batch_size=700, **POOL
    )
    order = np.argsort(ids)
    want = panning.most_uncertain(logits[order], 40, method="least_confidence", from_logits=True)
    np.testing.assert_array_equal(got, ids[order][want])
    with pytest.raises(ValueError, match="out of range"):
        distributed.most_uncertain(logits, 5001)
    with pytest.raises(ValueError, match="unknown method"):
        distributed.most_uncertain(logits, 5, method="variance")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="source must be"):
        distributed.most_uncertain([[0.5, 0.5]], 1)
    with pytest.raises(ValueError, match="missing"):
        distributed.most_uncertain(ds, 5, column="probs")


def seed_labels(y: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.r_[rng.choice(np.flatnonzero(y == 1), 4, replace=False),
                 rng.choice(np.flatnonzero(y == 0), 30, replace=False)]  # fmt: skip


def test_full_scan_on_ray_equals_the_sessions_query(ray_session):
    x = clustered(6000, 16, seed=4)
    y = (np.linalg.norm(x - x[0], axis=1) < 4.5).astype(np.int64)
    s = Seals(x, candidates="all", seed=1)
    seed = seed_labels(y)
    s.teach(seed, y[seed])
    want = s.query(50)  # fits the model
    labeled, _ = s.labeled
    got = distributed.most_uncertain(
        x, 50, model=s.model, exclude=labeled, method="entropy", batch_size=1500, **POOL
    )
    np.testing.assert_array_equal(got, want)
    assert isinstance(s.model, LogisticRegression)


def test_seals_over_ray_reproduces_the_local_session(shards):
    x, manifest, _ = shards
    y = np.zeros(4000, dtype=np.int64)
    y[np.argsort(np.linalg.norm(x - x[5], axis=1))[:150]] = 1  # a compact concept, 3.75%

    def run(neighbors):
        s = Seals(x, neighbors=neighbors, k=10, max_k=20, seed=3)
        seed = seed_labels(y)
        s.teach(seed, y[seed])
        out = []
        for _ in range(5):
            ids = s.query(20)
            out.append(ids)
            s.teach(ids, y[ids])
        return np.concatenate(out), s.pool, s.history[-1].positives

    index = RayShardedIndex(manifest, num_cpus=SHARD_CPUS, ef=200)
    try:
        ray_queries, ray_pool, positives = run(index)
    finally:
        index.close()
    local_queries, local_pool, _ = run(LocalShardedIndex.load(manifest, ef=200))
    np.testing.assert_array_equal(ray_queries, local_queries)
    np.testing.assert_array_equal(ray_pool, local_pool)
    assert positives > 4 and ray_pool.size > 0  # the session did find more of the concept
