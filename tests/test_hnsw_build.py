"""HNSWIndex.build (graph construction from exact kNN candidates) and the batched beam search, on
the CPU: the twins of the CUDA kernels (tests/test_hnsw_build_gpu.py), checked against the
NumPy references and brute-force kNN."""

from __future__ import annotations

import numpy as np
import pytest

import panning
from panning import _core, reference
from panning.hnsw import beam_search
from panning.knn import NONE


def clustered(n: int, d: int, seed: int = 0, clusters: int = 20, centers: int = 0) -> np.ndarray:
    """Points around `clusters` centres drawn from seed `centers` (queries share the data's
    centres unless they ask for others)."""
    c = np.random.default_rng(centers).normal(size=(clusters, d)) * 4
    rng = np.random.default_rng(seed)
    x = c[rng.integers(0, clusters, n)] + rng.normal(size=(n, d))
    return x.astype(np.float32)


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    hits = sum(len(set(f[f >= 0]) & set(e[e >= 0])) for f, e in zip(found, exact))
    return hits / exact.size


def as_u32(ids: np.ndarray) -> np.ndarray:
    out = ids.astype(np.uint32)
    out[ids < 0] = NONE
    return out


def as_i64(ids: np.ndarray) -> np.ndarray:
    out = ids.astype(np.int64)
    out[ids == NONE] = -1
    return out


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_prune_matches_reference(metric: str) -> None:
    x = np.random.default_rng(1).normal(size=(150, 6)).astype(np.float32)
    if metric == "ip":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    cand, cd = panning.knn_graph(x, 24, metric=metric)
    code = 0 if metric == "l2" else 1
    got, got_d = _core.prune_candidates(x, code, as_u32(cand), cd, None, None, 8, 1)
    want = reference.prune_candidates(x, cand, cd, 8, metric)
    np.testing.assert_array_equal(as_i64(np.asarray(got)), want)
    # distances travel with their ids
    ok = np.asarray(got) != NONE
    rows = np.nonzero(ok)[0]
    np.testing.assert_allclose(
        np.asarray(got_d)[ok],
        reference.pairwise_distances(x, x, metric)[rows, as_i64(np.asarray(got))[ok]],
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.parametrize("reverse_cap", [0, 3, 8])
def test_reverse_merge_matches_reference(reverse_cap: int) -> None:
    x = np.random.default_rng(2).normal(size=(120, 5)).astype(np.float32)
    cand, cd = panning.knn_graph(x, 16)
    pruned, pd = _core.prune_candidates(x, 0, as_u32(cand), cd, None, None, 6, 1)
    got, _ = _core.reverse_merge(x, 0, pruned, pd, reverse_cap, 8, 2)
    fwd = as_i64(np.asarray(pruned))
    want = reference.hnsw_level_links(x, fwd, np.asarray(pd), reverse_cap, 8)
    np.testing.assert_array_equal(as_i64(np.asarray(got)), want)


def test_reverse_merge_is_thread_count_independent() -> None:
    x = clustered(2000, 8, seed=3)
    cand, cd = panning.knn_graph(x, 32)
    pruned, pd = _core.prune_candidates(x, 0, as_u32(cand), cd, None, None, 16, 1)
    one = _core.reverse_merge(x, 0, pruned, pd, 16, 16, 1)
    two = _core.reverse_merge(x, 0, pruned, pd, 16, 16, 2)
    np.testing.assert_array_equal(np.asarray(one[0]), np.asarray(two[0]))


def test_graph_steps_reject_bad_ids() -> None:
    x = np.zeros((4, 2), np.float32)
    bad = np.array([[1], [9], [0], [1]], dtype=np.uint32)
    with pytest.raises(ValueError, match="outside"):
        _core.prune_candidates(x, 0, bad, np.zeros((4, 1), np.float32), None, None, 1, 1)
    with pytest.raises(ValueError, match="outside"):
        _core.reverse_merge(x, 0, bad, np.zeros((4, 1), np.float32), 1, 1, 1)


def test_nan_distances_rank_last() -> None:
    """knn_math.hpp's order: a NaN distance (an overflowed norm) ranks after every number, +inf
    included, never as the nearest. Nodes 1, 2, 3 each offer themselves to node 0 at distances
    NaN, 0.5, 0.2; node 0 keeps its two nearest offers, 3 then 2 (an order that let NaN compare
    false either way kept 1, the NaN, first)."""
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    fwd = np.array([[NONE], [0], [0], [0]], dtype=np.uint32)
    fwd_d = np.array([[np.inf], [np.nan], [0.5], [0.2]], dtype=np.float32)
    links, dist = _core.reverse_merge(x, 0, fwd, fwd_d, 2, 3, 1)
    assert np.asarray(links)[0].tolist() == [3, 2, NONE]
    np.testing.assert_array_equal(np.asarray(dist)[0], np.float32([0.2, 0.5, np.inf]))
    links, dist = _core.reverse_merge(x, 0, fwd, fwd_d, 3, 3, 1)
    assert np.asarray(links)[0].tolist() == [3, 2, 1]
    assert np.isnan(np.asarray(dist)[0, 2])


def test_knn_graph_overflowing_norms() -> None:
    """Finite rows whose squared norm overflows float32 (|x| ~ 3e19): the expansion that ranks
    candidates gives inf - inf = NaN between the two big rows. No NaN reaches the output and no
    pair ranks as nearer than its true distance: small rows keep each other first, and the big
    rows, whose distance to everything overflows, rank last with +inf (or pad with -1)."""
    x = np.array([[0, 0], [1, 0], [0, 2], [3e19, 0], [3e19, 1]], dtype=np.float32)
    ids, dist = panning.knn_graph(x, 4)
    assert not np.isnan(dist).any()
    assert (dist[:, 1:] >= dist[:, :-1]).all()
    np.testing.assert_array_equal(ids[:3], [[1, 2, 3, 4], [0, 2, 3, 4], [0, 1, 3, 4]])
    assert np.isinf(dist[:3, 2:]).all()
    assert (np.isinf(dist[3:]) | (ids[3:] < 0)).all()


def test_build_offset_data() -> None:
    """Rows far from the origin (1000 + 0.01 randn): |a|^2 + |b|^2 - 2<a, b> cancels every digit
    of the neighbours' distances in float32, so the build ranks l2 candidates on centred rows
    (l2 ignores a shift). Measured: recall 0.39 uncentred, 0.99 centred."""
    x = 1000 + 0.01 * clustered(2000, 16, seed=18)
    q = 1000 + 0.01 * clustered(150, 16, seed=19)
    exact, _ = reference.knn_search(q, x, 10)
    built = panning.HNSWIndex.build(x, M=8)
    assert recall(built.search(q, 10, ef=64)[0], exact) >= 0.95


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_build_recall_against_brute_force(metric: str) -> None:
    x = clustered(3000, 24, seed=4)
    if metric == "ip":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = clustered(200, 24, seed=5)
    exact, _ = reference.knn_search(q, x, 10, metric)
    built = panning.HNSWIndex.build(x, metric=metric, M=12)
    ids, dist = built.search(q, 10, ef=64)
    assert recall(ids, exact) >= 0.95
    inserted = panning.HNSWIndex(24, metric=metric, M=12)
    inserted.add(x)
    # the built graph is at least about as good as the insertion-built one
    assert recall(ids, exact) >= recall(inserted.search(q, 10, ef=64)[0], exact) - 0.02
    np.testing.assert_allclose(
        dist[:, 0], reference.pairwise_distances(q, x[ids[:, 0]], metric).diagonal(), atol=1e-3
    )


def test_build_queries_between_clusters() -> None:
    """Queries far from every cluster centre need edges between clusters, which exact kNN
    candidates alone do not give; the links each node borrows from its nearest upper-level node
    do. Measured when written: 0.91 (0.79 with only the upper nodes' own links, 0.65 with none;
    an insertion-built graph 0.98)."""
    x = clustered(3000, 24, seed=4)
    q = clustered(300, 24, seed=5, centers=9)
    exact, _ = reference.knn_search(q, x, 10)
    built = panning.HNSWIndex.build(x, M=12)
    assert recall(built.search(q, 10, ef=64)[0], exact) >= 0.85


def test_build_is_an_ordinary_index(tmp_path) -> None:
    x = clustered(1500, 16, seed=6)
    ids = np.arange(1500, dtype=np.int64) * 7 + 3
    index = panning.HNSWIndex.build(x, ids=ids, M=8, storage="float16", seed=9)
    assert len(index) == 1500 and index.storage == "float16" and index.M == 8
    np.testing.assert_array_equal(index.ids, ids)
    got, _ = index.search(x[:20], 1)
    np.testing.assert_array_equal(got[:, 0], ids[:20])
    index.save(tmp_path / "built.pnidx")
    loaded = panning.HNSWIndex.load(tmp_path / "built.pnidx")
    np.testing.assert_array_equal(loaded.search(x[:50], 5)[0], index.search(x[:50], 5)[0])
    # later inserts link into the built graph
    extra = clustered(300, 16, seed=7)
    index.add(extra, ids=np.arange(300) + 100_000)
    exact, _ = reference.knn_search(extra[:50], np.vstack([x, extra]), 5)
    found, _ = index.search(extra[:50], 5, ef=64)
    all_ids = np.concatenate([ids, np.arange(300) + 100_000])
    assert recall(found, all_ids[exact]) >= 0.9


def test_build_levels_follow_the_seed() -> None:
    x = clustered(800, 8, seed=8)
    a = panning.HNSWIndex.build(x, M=4, seed=1)
    b = panning.HNSWIndex.build(x, M=4, seed=1)
    np.testing.assert_array_equal(a._index.export_links()[0], b._index.export_links()[0])
    assert a._index.max_level() == b._index.max_level() >= 1
    # the graph is a valid HNSW graph: links within range, no self links
    level0 = a._index.export_links()[0]
    valid = level0 != NONE
    assert (level0[valid] < 800).all()
    assert not (level0 == np.arange(800, dtype=np.uint32)[:, None]).any()


def test_build_tiny_and_bad_inputs() -> None:
    one = panning.HNSWIndex.build(np.ones((1, 3), np.float32))
    assert one.search(np.ones((1, 3), np.float32), 2)[0].tolist() == [[0, -1]]
    two = panning.HNSWIndex.build(np.array([[0.0], [1.0]], np.float32))
    assert two.search(np.array([[0.9]], np.float32), 2)[0].tolist() == [[1, 0]]
    x = np.ones((10, 3), np.float32)
    x[4, 1] = np.nan
    with pytest.raises(ValueError, match="row 4"):
        panning.HNSWIndex.build(x)
    with pytest.raises(ValueError, match="2-D"):
        panning.HNSWIndex.build(np.ones(5, np.float32))
    with pytest.raises(TypeError, match="dtype"):
        panning.HNSWIndex.build(np.ones((5, 2), np.int32))
    with pytest.raises(ValueError, match="device"):
        panning.HNSWIndex.build(np.ones((5, 2), np.float32), device="tpu")
    with pytest.raises(ValueError, match="entries"):
        panning.HNSWIndex.build(np.ones((5, 2), np.float32), ids=[1, 2])


@pytest.mark.skipif(panning.build_info()["cuda"], reason="checks the no-CUDA error")
def test_cuda_requests_fail_clearly_without_cuda() -> None:
    x = np.ones((5, 2), np.float32)
    with pytest.raises(RuntimeError, match="without CUDA"):
        panning.HNSWIndex.build(x, device="cuda")
    with pytest.raises(RuntimeError, match="without CUDA"):
        panning.knn_graph(x, 2, device="cuda")


def test_cuda_requests_fail_clearly_without_a_gpu() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    x = np.ones((5, 2), np.float32)
    with pytest.raises(RuntimeError, match="CUDA"):
        panning.HNSWIndex.build(x, device="cuda")


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_beam_search_twin(metric: str) -> None:
    x = clustered(2500, 16, seed=10)
    q = clustered(150, 16, seed=11)
    index = panning.HNSWIndex.build(x, metric=metric, M=8)
    exact, exact_d = reference.knn_search(q, x, 10, metric)
    ids, dist = beam_search(index, q, 10, ef=64)
    assert recall(ids, exact) >= 0.95
    # the beam search and the CPU search find about the same neighbours
    cpu_ids, _ = index.search(q, 10, ef=64)
    assert recall(ids, cpu_ids) >= 0.95
    # with a beam as large as the data every reachable node is seen: exact results
    small = panning.HNSWIndex.build(x[:300], metric=metric, M=8)
    full_ids, full_d = beam_search(small, q[:20], 5, ef=300)
    want, want_d = reference.knn_search(q[:20], x[:300], 5, metric)
    np.testing.assert_array_equal(full_ids, want)
    np.testing.assert_allclose(full_d, want_d, rtol=1e-4, atol=1e-4)


def test_beam_search_pads_and_checks() -> None:
    x = clustered(5, 4)
    index = panning.HNSWIndex.build(x, M=4)
    ids, dist = beam_search(index, x[:2], 8, ef=4)
    assert (ids[:, 5:] == -1).all() and np.isinf(dist[:, 5:]).all()
    assert sorted(ids[0, :5].tolist()) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="NaN"):
        beam_search(index, np.full((1, 4), np.nan, np.float32), 2)
    with pytest.raises(ValueError, match="2-D"):
        beam_search(index, np.ones((1, 3), np.float32), 2)
