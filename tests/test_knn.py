"""The packed (GEMM-style) exact scan behind knn_graph and batched FlatIndex searches, against
panning.reference on every distance SIMD level this CPU runs.

Data is generated here. Tolerances as in test_hnsw.py: distances within 1e-4 relative of the
float64 reference, ids equal wherever the reference has no near-tie; on integer-valued data every
distance is exact in float32, so ids (ties to the lower row included) must match exactly.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from test_hnsw import assert_same_neighbours, clustered

import panning
from panning import _core, reference

METRICS = ["l2", "ip", "cosine"]
LEVELS = panning.build_info()["simd_available"]


@pytest.fixture(params=LEVELS)
def distance_level(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a test once per distance-kernel SIMD level, restoring the default after."""
    default = _core.distance_simd_level()
    _core.set_distance_simd_level(request.param)
    try:
        yield request.param
    finally:
        _core.set_distance_simd_level(default)


# Odd dimensions (masked / scalar tails), row counts that are no multiple of any tile or task
# size (mr in 4, 6, 12; nr in 8, 16, 32; queries per task 16 * mr).
SHAPES = [(150, 1), (203, 3), (257, 17), (131, 385), (1001, 24)]


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("n, d", SHAPES)
def test_knn_graph_matches_reference(distance_level, n, d, metric, dtype):
    x = clustered(n, d, seed=n + d).astype(dtype)
    for k in (1, 7):
        ids, dist = panning.knn_graph(x, k, metric=metric)
        assert ids.shape == (n, k) and ids.dtype == np.int64 and dist.dtype == np.float32
        ref_ids, ref_dist = reference.knn_graph(x, k, metric)
        assert_same_neighbours(ids, dist, ref_ids, ref_dist)
        assert not (ids == np.arange(n)[:, None]).any()


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_ties_go_to_the_lower_row_exactly(distance_level, metric):
    # Small integers: every dot product and norm is exact in float32, so the norm expansion and
    # the reference agree bit for bit, and the many exact ties must all go to the lower row.
    rng = np.random.default_rng(7)
    x = rng.integers(-2, 3, size=(389, 5)).astype(np.float32)
    x[200:260] = x[:60]  # exact duplicates, across tiles
    ids, dist = panning.knn_graph(x, 12, metric=metric)
    ref_ids, ref_dist = reference.knn_graph(x, 12, metric)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(dist, ref_dist)


@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_k_at_least_n_pads(distance_level, n):
    x = clustered(n, 17, seed=n)
    for metric in METRICS:
        ids, dist = panning.knn_graph(x, n + 2, metric=metric)
        ref_ids, ref_dist = reference.knn_graph(x, n + 2, metric)
        np.testing.assert_array_equal(ids, ref_ids)
        assert (ids[:, n - 1 :] == -1).all() and np.isinf(dist[:, n - 1 :]).all()
        np.testing.assert_allclose(dist[:, : n - 1], ref_dist[:, : n - 1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("metric", METRICS)
def test_batched_search_with_exclusions(distance_level, metric):
    # 150 queries take the packed path (>= 64); excluded labels never appear.
    x = clustered(900, 33, seed=5)
    q = clustered(150, 33, seed=5, draw=1)
    labels = np.arange(900, dtype=np.int64) * 3 + 11
    flat = panning.FlatIndex(33, metric=metric)
    flat.add(x, ids=labels)
    excluded = labels[::4]
    ids, dist = flat.search(q, 9, exclude=excluded)
    keep = np.setdiff1d(np.arange(900), np.arange(900)[::4])
    ref_ids, ref_dist = reference.knn_search(q, x[keep], 9, metric)
    assert not np.isin(ids, excluded).any()
    assert_same_neighbours(ids, dist, labels[keep][ref_ids], ref_dist)


def test_packed_and_direct_paths_agree(distance_level):
    x = clustered(700, 40, seed=8)
    q = clustered(64, 40, seed=8, draw=1)
    flat = panning.FlatIndex(40)
    flat.add(x)
    packed = flat.search(q, 10)  # 64 queries: packed
    direct = [flat.search(q[:32], 10), flat.search(q[32:], 10)]  # 32 each: direct
    direct_ids = np.concatenate([d[0] for d in direct])
    direct_dist = np.concatenate([d[1] for d in direct])
    assert_same_neighbours(*packed, direct_ids, direct_dist)


def test_results_do_not_depend_on_threads():
    # 9,000 rows: a search of 64 queries is split into slices of rows across threads, and the
    # merged result must equal the one-thread scan bit for bit.
    x = clustered(9000, 12, seed=2)
    q = clustered(64, 12, seed=2, draw=1)
    flat = panning.FlatIndex(12, threads=1)
    flat.add(x)
    one = flat.search(q, 15)
    flat.threads = 2
    two = flat.search(q, 15)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    small = x[:1500]
    g1 = panning.knn_graph(small, 5, threads=1)
    g2 = panning.knn_graph(small, 5, threads=2)
    for a, b in zip(g1, g2):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("exact_search", [False, True])
def test_l2_far_from_the_origin(exact_search):
    # The packed scan ranks by |q|^2 + |x|^2 - 2<q, x>: without centring, data at 1000 + noise
    # would be ranked by rounding error (0.05% of ids right before the fix).
    x = (1000 + 0.01 * np.random.default_rng(0).normal(size=(1500, 24))).astype(np.float32)
    if exact_search:
        index = panning.FlatIndex(24)
        index.add(x)
        ids, _ = index.search(x[:80] + 0.001, 5)
        ref, _ = reference.knn_search(x[:80] + 0.001, x, 5, "l2")
    else:
        ids, _ = panning.knn_graph(x, 8)
        ref, _ = reference.knn_graph(x, 8, "l2")
    assert (ids == ref).mean() >= 0.99
