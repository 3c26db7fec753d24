"""SEALS sessions: pool invariants against a from-scratch recomputation, strategies against
NumPy twins, the full-scan mode, errors, and the NumPy logistic regression.

All data is generated here (clustered Gaussians); nothing depends on ../shared/data.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import panning
from panning import reference
from panning.models import LogisticRegression
from panning.neighbors import (
    IndexSource,
    KnnGraphSource,
    build_index,
    check_index,
    exact_knn_graph,
    fingerprint,
    load_or_build_graph,
)
from panning.seals import RoundRecord, Seals, average_precision
from panning.strategies import (
    InformationDensity,
    MostLikelyPositive,
    SelectionContext,
    get_strategy,
    global_density,
)


def clustered(n: int = 600, d: int = 16, clusters: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, d)) * 3.0
    labels = rng.integers(0, clusters, size=n)
    x = (centers[labels] + rng.normal(size=(n, d))).astype(np.float32)
    return x, labels.astype(np.int64)


@pytest.fixture(scope="module")
def data():
    x, labels = clustered()
    graph = exact_knn_graph(x, 30)
    return x, labels, graph


def seed_ids(y: np.ndarray, rng_seed: int = 0, pos: int = 5, neg: int = 30) -> np.ndarray:
    rng = np.random.default_rng(rng_seed)
    return np.r_[
        rng.choice(np.flatnonzero(y == 1), pos, replace=False),
        rng.choice(np.flatnonzero(y == 0), neg, replace=False),
    ]


def expected_pool(graph, k, ids, labels, excluded, expand, positive=1):
    """The SEALS pool recomputed from scratch: neighbours of the expanding labeled ids, minus
    labeled and excluded ids."""
    ids = np.asarray(ids)
    labels = np.asarray(labels)
    expanders = ids if expand == "all" else ids[labels == positive]
    nb = graph[expanders, :k].ravel()
    nb = nb[nb >= 0]
    out = np.setdiff1d(np.unique(nb), np.r_[ids, excluded])
    return out.astype(np.int64)


# ---- neighbour sources ---------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_exact_knn_graph_matches_reference(metric):
    x, _ = clustered(300, 8, seed=1)
    got = exact_knn_graph(x, 7, metric=metric, block=64)
    want, _ = reference.knn_graph(x, 7, metric=metric)
    # float32 blocks vs float64 reference: allow near-ties to swap; sets must agree almost always
    agree = np.mean([len(set(a) & set(b)) / 7 for a, b in zip(got, want)])
    assert agree > 0.995
    assert not np.any(got == np.arange(300)[:, None])


def test_exact_knn_graph_pads_small_inputs():
    x = np.eye(3, dtype=np.float32)
    g = exact_knn_graph(x, 5)
    assert g.shape == (3, 5)
    assert np.all(g[:, 2:] == -1)
    assert np.all(g[:, :2] >= 0)


def test_load_or_build_graph_caches_and_checks(tmp_path):
    x, _ = clustered(200, 8)
    path = tmp_path / "g.npz"
    g1 = load_or_build_graph(x, 10, path)
    assert path.exists()
    g2 = load_or_build_graph(x, 5, path)  # fewer columns: sliced from the cache
    np.testing.assert_array_equal(g2, g1[:, :5])
    with pytest.raises(ValueError, match="other embeddings"):
        load_or_build_graph(x[::-1].copy(), 5, path)


def test_fingerprint_sensitive_to_values_and_shape():
    x, _ = clustered(100, 8)
    y = x.copy()
    y[-1, 0] += 1.0
    assert fingerprint(x) == fingerprint(x.copy())
    assert fingerprint(x) != fingerprint(y)
    assert fingerprint(x) != fingerprint(x[:99])


class FakeIndex:
    """An object with the issue-3 index API over exact NumPy search."""

    def __init__(self, x):
        self.x = x

    def search(self, q, k, *, ef=None, exclude=None):
        return reference.knn_search(q, self.x, k, metric="cosine")

    def knn_graph(self, k):
        return reference.knn_graph(self.x, k, metric="cosine")


def test_index_source_matches_graph_source(data):
    x, labels, graph = data
    y = (labels == 3).astype(int)
    a = Seals(x, neighbors=graph, k=10, expand="all", seed=1)
    b = Seals(x, neighbors=FakeIndex(x), k=10, max_k=a.max_k, expand="all", seed=1)
    assert isinstance(b._source, IndexSource)
    s = seed_ids(y)
    for sess in (a, b):
        sess.teach(s, y[s])
    # near-ties between float32 and float64 distances may swap a neighbour or two
    overlap = np.intersect1d(a.pool, b.pool).size / max(a.pool.size, b.pool.size)
    assert overlap > 0.98


# ---- the pool ----------------------------------------------------------------------------------
@pytest.mark.parametrize("expand", ["positives", "all"])
@pytest.mark.parametrize("strategy", ["max_entropy", "most_likely_positive", "random"])
def test_pool_matches_recomputation_every_round(data, expand, strategy):
    x, labels, graph = data
    y = (labels == 2).astype(int)
    exclude = np.arange(0, 600, 10)
    y_seed = seed_ids(np.where(np.isin(np.arange(600), exclude), -1, y))
    s = Seals(
        x, neighbors=graph, k=8, expand=expand, strategy=strategy, exclude=exclude, seed=3,
        expand_budget=None,  # the plain k rule (the budget has its own test)
    )  # fmt: skip
    s.teach(y_seed, y[y_seed])
    seen_queries = []
    for _ in range(6):
        pool_before = s.pool
        ids = s.query(20)
        np.testing.assert_array_equal(ids, s.query(20))  # query does not change the state
        assert np.unique(ids).size == ids.size
        assert not np.any(np.isin(ids, exclude))
        in_pool = np.isin(ids, pool_before)
        # ids outside the pool only when the pool was too small (random fill)
        assert in_pool.all() or pool_before.size < 20
        s.teach(ids, y[ids])
        seen_queries.append(ids)
        lab_ids, lab_vals = s.labeled
        want = expected_pool(graph, s.k_effective, lab_ids, lab_vals, exclude, expand)
        np.testing.assert_array_equal(s.pool, want)
        assert not np.any(np.isin(np.concatenate(seen_queries), s.pool))
        assert s.pool.size <= s.k_effective * s.n_labeled
    rec = s.history[-1]
    assert rec.labels == 35 + 6 * 20 == s.n_labeled
    assert rec.positives == int(y[s.labeled[0]].sum())
    assert rec.pool_size == s.pool.size


def _numpy_expand(self, pool, expanders, start, stop, rows=None):
    """The NumPy twin of Seals._expand (the pool update before the native Frontier took it)."""
    if expanders.size == 0 or self._source is None:
        return pool
    if rows is None:
        rows = self._neighbors(expanders)
    nb = np.unique(rows[:, start:stop])
    nb = nb[nb >= 0]
    blocked = np.isin(nb, self.labeled[0]) | np.isin(nb, self._excluded_ids)
    return np.union1d(pool, nb[~blocked])


@pytest.mark.parametrize("budget", [None, 300])
def test_native_frontier_pool_matches_numpy_twin(data, monkeypatch, budget):
    """Seals' pool state (the native Frontier: bitmaps, column ranges, exclusions) against the
    NumPy set operations it replaced, round by round, through widening and an expand budget."""
    x, labels, graph = data
    y = (labels == 4).astype(int)
    excluded = np.flatnonzero(np.random.default_rng(3).random(x.shape[0]) < 0.15)
    excluded = excluded[y[excluded] == 0]
    make = dict(neighbors=graph, k=3, max_k=30, min_pool=20, expand_budget=budget,
                positive_label=1, exclude=excluded, seed=2)  # fmt: skip
    native = Seals(x, **make)
    with monkeypatch.context() as m:
        m.setattr(Seals, "_expand", _numpy_expand)
        twin = Seals(x, **make)
        pools = []
        s = seed_ids(y)
        s = s[~np.isin(s, excluded)]
        twin.teach(s, y[s])
        pools.append((twin.pool, twin.k_effective))
        for _ in range(8):
            q = twin.query(15)
            twin.teach(q, y[q])
            pools.append((twin.pool, twin.k_effective))
    native.teach(s, y[s])
    widened = False
    for i, (pool, k_eff) in enumerate(pools):
        if i:
            q = native.query(15)
            native.teach(q, y[q])
        np.testing.assert_array_equal(native.pool, pool)
        assert native.k_effective == k_eff
        assert not np.any(np.isin(native.pool, excluded))
        widened |= k_eff > 3
    assert widened  # the column ranges were exercised


def test_candidates_all_is_a_full_scan(data):
    x, labels, graph = data
    y = (labels == 4).astype(int)
    s = Seals(x, candidates="all", seed=0)
    ids0 = seed_ids(y)
    s.teach(ids0, y[ids0])
    ids = s.query(15)
    unl = np.setdiff1d(np.arange(600), ids0)
    m = LogisticRegression().fit(x[np.sort(ids0)], y[np.sort(ids0)])
    p = m.predict_proba(x[unl]).astype(np.float32)
    want = unl[reference.most_uncertain(p, 15, method="entropy")]
    np.testing.assert_array_equal(ids, want)
    assert s.pool.size == 600 - ids0.size
    assert s.fraction_scored == pytest.approx((600 - ids0.size) / 600)


def test_knn_with_every_neighbour_equals_full_scan(data):
    x, labels, _ = data
    y = (labels == 5).astype(int)
    graph = exact_knn_graph(x, 599)
    a = Seals(x, neighbors=graph, k=599, expand="all", seed=2)
    b = Seals(x, candidates="all", seed=2)
    ids0 = seed_ids(y)
    for _ in range(3):
        for s in (a, b):
            s.teach(ids0, y[ids0])
        qa, qb = a.query(25), b.query(25)
        np.testing.assert_array_equal(qa, qb)
        ids0 = qa


def test_ids_stable_and_history_fields(data):
    x, labels, graph = data
    y = (labels == 1).astype(int)
    test = np.arange(500, 600)
    s = Seals(x, neighbors=graph, k=10, exclude=test, eval_set=(x[test], y[test]), seed=0)
    ids0 = seed_ids(np.where(np.arange(600) >= 500, -1, y))
    s.teach(ids0, y[ids0])
    s.run(lambda ids: y[ids], budget=95)
    assert [r.labels for r in s.history] == [35, 95]
    for r in s.history:
        assert isinstance(r, RoundRecord)
        assert set(r.as_dict()) >= {
            "labels",
            "positives",
            "pool_size",
            "fraction_scored",
            "average_precision",
            "recall",
            "seconds",
        }
        assert 0.0 <= r.average_precision <= 1.0
    assert set(s.history[-1].seconds) == {"index", "training", "scoring", "selection"}
    assert 0 < s.history[-1].fraction_scored < 1


def test_run_stops_when_everything_is_labeled():
    x, labels = clustered(60, 4, clusters=3)
    y = (labels == 0).astype(int)
    s = Seals(x, k=5, expand="all", seed=0)
    s.teach([int(np.flatnonzero(y)[0]), int(np.flatnonzero(y == 0)[0])], [1, 0])
    s.run(lambda ids: y[ids], budget=1000, batch_size=25)
    assert s.n_labeled == 60
    assert s.query(10).size == 0


def test_cold_start_queries_are_random_and_seeded(data):
    x, _, graph = data
    a = Seals(x, neighbors=graph, k=5, seed=9)
    b = Seals(x, neighbors=graph, k=5, seed=9)
    q = a.query(10)
    np.testing.assert_array_equal(q, b.query(10))
    assert np.unique(q).size == 10


def test_multiclass_session(data):
    x, labels, graph = data
    test = np.arange(0, 600, 5)
    s = Seals(
        x,
        neighbors=graph,
        k=10,
        expand="all",
        positive_label=None,
        strategy="margin",
        exclude=test,
        eval_set=(x[test], labels[test]),
    )
    train = np.setdiff1d(np.arange(600), test)
    first = train[:60]
    s.teach(first, labels[first])
    s.run(lambda ids: labels[ids], budget=200, batch_size=40)
    assert s.n_labeled == 200
    assert s.history[-1].average_precision > 0.5
    with pytest.raises(ValueError, match="positive_label"):
        Seals(x, neighbors=graph, positive_label=None)


def test_memmap_and_float16_embeddings(tmp_path, data):
    x, labels, graph = data
    path = tmp_path / "x.npy"
    np.save(path, x.astype(np.float16))
    mm = np.load(path, mmap_mode="r")
    y = (labels == 0).astype(int)
    s = Seals(mm, neighbors=graph, k=10)
    ids0 = seed_ids(y)
    s.teach(ids0, y[ids0])
    assert s.query(10).shape == (10,)


@pytest.mark.slow  # importing torch takes seconds
def test_torch_embeddings(data):
    torch = pytest.importorskip("torch")
    x, labels, graph = data
    y = (labels == 0).astype(int)
    a = Seals(torch.from_numpy(x), neighbors=graph, k=10)
    b = Seals(x, neighbors=graph, k=10)
    ids0 = seed_ids(y)
    a.teach(ids0, y[ids0])
    b.teach(ids0, y[ids0])
    np.testing.assert_array_equal(a.query(10), b.query(10))


# ---- errors ------------------------------------------------------------------------------------
def test_teach_errors_leave_the_session_unchanged(data):
    x, labels, graph = data
    y = (labels == 0).astype(int)
    s = Seals(x, neighbors=graph, k=10, exclude=[599], classes=[0, 1])
    ids0 = seed_ids(y)
    s.teach(ids0, y[ids0])
    pool = s.pool
    bad_calls = [
        (ValueError, "unknown id", [600], [1]),
        (ValueError, "unknown id", [-1], [1]),
        (ValueError, "already labeled", [int(ids0[0])], [1]),
        (ValueError, "twice", [1, 1], [0, 0]),
        (ValueError, "excluded", [599], [0]),
        (TypeError, "integers or booleans", [int(np.setdiff1d(np.arange(599), ids0)[0])], [0.5]),
        (TypeError, "integers or booleans", [int(np.setdiff1d(np.arange(599), ids0)[0])], ["cat"]),
        (ValueError, "not one of the classes", [int(np.setdiff1d(np.arange(599), ids0)[0])], [7]),
        (ValueError, "expected 2 labels", [3, 4], [1]),
        (TypeError, "ids must be integers", [1.5], [1]),
    ]
    for exc, msg, ids, labs in bad_calls:
        with pytest.raises(exc, match=msg):
            s.teach(ids, labs)
    assert s.n_labeled == ids0.size
    np.testing.assert_array_equal(s.pool, pool)
    assert len(s.history) == 1


def test_constructor_errors(data):
    x, _, graph = data
    with pytest.raises(ValueError, match="candidates"):
        Seals(x, neighbors=graph, candidates="some")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fewer than k"):
        Seals(x, neighbors=graph, k=31)
    with pytest.raises(ValueError, match="N=600"):
        Seals(x, neighbors=graph[:10], k=5)
    with pytest.raises(ValueError, match="unknown strategy"):
        Seals(x, neighbors=graph, strategy="best")
    with pytest.raises(TypeError, match="select"):
        Seals(x, neighbors=graph, strategy=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside"):
        KnnGraphSource(np.array([[5]]))


# ---- strategies ----------------------------------------------------------------------------------
def _context(x, proba, graph=None, pool=None):
    return SelectionContext(
        proba=lambda ids: proba[ids].astype(np.float32),
        rows=lambda ids: x[ids].astype(np.float32),
        neighbors=None if graph is None else (lambda ids: graph[ids]),
        unlabeled=lambda: pool,
        rng=np.random.default_rng(0),
        positive_column=1,
        cache={},
    )


def test_uncertainty_strategies_match_reference():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=200)
    x = rng.normal(size=(200, 4))
    cands = np.sort(rng.choice(200, 80, replace=False))
    for name, method in [
        ("max_entropy", "entropy"),
        ("margin", "margin"),
        ("least_confidence", "least_confidence"),
    ]:
        got = get_strategy(name).select(cands, 10, _context(x, p))
        want = cands[reference.most_uncertain(p[cands], 10, method=method)]
        np.testing.assert_array_equal(got, want)
    got = MostLikelyPositive().select(cands, 10, _context(x, p))
    np.testing.assert_array_equal(got, cands[np.lexsort((cands, -p[cands, 1]))[:10]])


def test_random_strategy_is_seeded():
    x = np.zeros((50, 2))
    p = np.full((50, 2), 0.5)
    a = get_strategy("random").select(np.arange(50), 7, _context(x, p))
    b = get_strategy("random").select(np.arange(50), 7, _context(x, p))
    np.testing.assert_array_equal(a, b)


def test_information_density_knn_matches_brute_force():
    x, _ = clustered(150, 6)
    graph = exact_knn_graph(x, 9)
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(2), size=150)
    cands = np.arange(0, 150, 2)
    ctx = _context(x, p, graph)
    got = InformationDensity(beta=1.0).select(cands, 12, ctx)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    dens = np.array([np.mean((1 + xn[graph[i]] @ xn[i]) / 2) for i in cands])
    score = reference.entropy(p[cands]) * dens
    np.testing.assert_array_equal(got, cands[np.lexsort((cands, -score))[:12]])
    assert len(ctx.cache["knn_density"]) == cands.size  # cached for later rounds


def test_information_density_global_quadratic_equals_linear():
    x, _ = clustered(300, 5)
    rows = lambda ids: x[ids]  # noqa: E731
    cands, pool = np.arange(0, 300, 3), np.arange(300)
    a = global_density(rows, cands, pool, tile=37)
    b = global_density(rows, cands, pool, quadratic=False)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    c = ((1 + xn[cands] @ xn.T) / 2).mean(1)
    np.testing.assert_allclose(a, c, rtol=1e-5)
    np.testing.assert_allclose(b, c, rtol=1e-5)


def test_information_density_sessions(data):
    x, labels, graph = data
    y = (labels == 6).astype(int)
    ids0 = seed_ids(y)
    for strategy, cand in [
        (InformationDensity(), "knn"),
        (InformationDensity(scope="global"), "all"),
    ]:
        s = Seals(x, neighbors=graph, k=10, strategy=strategy, candidates=cand)
        s.teach(ids0, y[ids0])
        s.run(lambda ids: y[ids], budget=95, batch_size=30)
        assert s.n_labeled == 95


def test_custom_strategy(data):
    x, labels, graph = data
    y = (labels == 7).astype(int)

    class Lowest:
        name = "lowest_id"

        def select(self, candidates, n, context):
            return candidates[:n]

    s = Seals(x, neighbors=graph, k=10, strategy=Lowest())
    ids0 = seed_ids(y)
    s.teach(ids0, y[ids0])
    np.testing.assert_array_equal(s.query(5), s.pool[:5])

    class Broken:
        name = "broken"

        def select(self, candidates, n, context):
            return np.array([-5] * n)

    s = Seals(x, neighbors=graph, k=10, strategy=Broken())
    s.teach(ids0, y[ids0])
    with pytest.raises(RuntimeError, match="strategy"):
        s.query(3)


# ---- the model and metrics -----------------------------------------------------------------------
def test_logistic_regression_matches_sklearn():
    sk = pytest.importorskip("sklearn.linear_model")
    x, labels = clustered(400, 10, clusters=4)
    for y in [(labels == 1).astype(int), labels]:
        ours = LogisticRegression(C=1.0, tol=1e-7, max_iter=500).fit(x, y)
        theirs = sk.LogisticRegression(C=1.0, tol=1e-8, max_iter=2000).fit(x, y)
        np.testing.assert_array_equal(ours.classes_, theirs.classes_)
        np.testing.assert_allclose(ours.predict_proba(x), theirs.predict_proba(x), atol=2e-3)


def test_logistic_regression_is_deterministic_and_handles_one_class():
    x, labels = clustered(200, 6)
    y = (labels == 0).astype(int)
    a = LogisticRegression().fit(x, y).predict_proba(x)
    b = LogisticRegression().fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(a, b)
    one = LogisticRegression().fit(x, np.zeros(200, dtype=int))
    assert one.predict_proba(x[:3]).tolist() == [[1.0], [1.0], [1.0]]


def test_average_precision_matches_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300), 2)  # ties on purpose
    assert average_precision(y, s) == pytest.approx(metrics.average_precision_score(y, s))


def test_sklearn_model_plugs_in(data):
    sk = pytest.importorskip("sklearn.linear_model")
    x, labels, graph = data
    y = (labels == 8).astype(int)
    s = Seals(x, neighbors=graph, k=10, model=sk.LogisticRegression())
    ids0 = seed_ids(y)
    s.teach(ids0, y[ids0])
    assert s.query(10).shape == (10,)


def test_default_index_neighbours_are_close_to_exact_and_reloaded_identically(tmp_path):
    # The default source is panning's HNSW index, built on every thread (so two builds may
    # differ): its neighbours must agree with the exact graph, and a resumed session must read
    # the very same rows from the index file the session saved (never a rebuilt index).
    x, y = clustered(1500, 16)
    path = tmp_path / "s.db"
    s = Seals(x, k=10, path=path)
    ids = np.arange(len(x))
    a = s._source.neighbors(ids)
    exact = exact_knn_graph(x, a.shape[1])
    recall = np.mean([len(np.intersect1d(a[i], exact[i])) / a.shape[1] for i in range(len(x))])
    assert recall >= 0.95
    assert s._source.index.threads == 0 and os.path.exists(f"{path}.hnsw")  # 0: every thread
    s.close()
    with Seals.resume(path, x) as r:
        np.testing.assert_array_equal(r._source.neighbors(ids), a)


def test_pool_widens_when_it_runs_dry(data):
    x, labels, graph = data
    y = (labels == 9).astype(int)
    s = Seals(x, neighbors=graph, k=3, max_k=24, min_pool=40, expand="positives", seed=0)
    assert s.max_k == 24
    ids0 = seed_ids(y, pos=2, neg=5)
    s.teach(ids0, y[ids0])
    widths = [s.k_effective]
    for _ in range(8):
        ids = s.query(10)
        s.teach(ids, y[ids])
        widths.append(s.k_effective)
        lab_ids, lab_vals = s.labeled
        want = expected_pool(graph, s.k_effective, lab_ids, lab_vals, [], "positives")
        np.testing.assert_array_equal(s.pool, want)
    assert widths[0] >= 3 and widths[-1] > 3 and widths == sorted(widths)
    assert widths[-1] <= 24
    no_widen = Seals(x, neighbors=graph, k=3, max_k=3, expand="positives")
    no_widen.teach(ids0, y[ids0])
    assert no_widen.k_effective == 3


def test_named_information_density_is_global_on_full_scans(data):
    x, _, _ = data
    s = Seals(x, candidates="all", strategy="information_density")
    assert isinstance(s.strategy, InformationDensity) and s.strategy.scope == "global"
    assert s._source is None  # no graph needed


# ---- the session's own index, full scans in place, the random fill ---------------------------


def test_build_index_streams_blocks_and_keeps_float16(tmp_path):
    x, _ = clustered(700, 16)
    x16 = x.astype(np.float16)
    path = tmp_path / "x.npy"
    np.save(path, x16)
    mm = np.load(path, mmap_mode="r")
    index = build_index(mm, metric="l2", block=128)  # six blocks
    assert len(index) == 700 and index.storage == "float16"
    assert build_index(x, metric="l2").storage == "float32"
    ids, _ = index.search(x16[:5], 1)
    assert ids[:, 0].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="block"):
        build_index(x, block=0)


def test_check_index_refuses_an_index_of_other_data(tmp_path):
    x, _ = clustered(400, 8)
    index = build_index(x, metric="cosine")
    check_index(index, x, "cosine", "f")  # its own data: fine
    other = np.random.default_rng(5).normal(size=x.shape).astype(np.float32)
    with pytest.raises(ValueError, match="does not hold these embeddings"):
        check_index(index, other, "cosine", "f")
    with pytest.raises(ValueError, match="is a cosine index"):
        check_index(index, x, "l2", "f")
    with pytest.raises(ValueError, match="indexes 400"):
        check_index(index, x[:300], "cosine", "f")
    # a new session over an index file of other data refuses it before recording anything
    index.save(tmp_path / "i.hnsw")
    with pytest.raises(ValueError, match="does not hold these embeddings"):
        Seals(other, path=tmp_path / "s.db", index_path=tmp_path / "i.hnsw")
    assert not os.path.exists(tmp_path / "s.db")


def test_index_source_searches_each_id_once_and_drops_itself(data):
    x, _, graph = data

    class Counting:
        def __init__(self) -> None:
            self.inner = panning.FlatIndex(x.shape[1], metric="cosine")
            self.inner.add(x)
            self.asked = 0

        def search(self, q, k, **kw):
            self.asked += q.shape[0]
            return self.inner.search(q, k, **kw)

    idx = Counting()
    src = IndexSource(idx, x, k=30)
    ids = np.array([5, 9, 5, 100])
    got = src.neighbors(ids)
    assert idx.asked == 3  # 5 searched once
    np.testing.assert_array_equal(got, graph[ids])  # exact index: the exact graph, self dropped
    src.neighbors(np.array([9, 100]))
    assert idx.asked == 3


def test_full_scan_scores_in_place_like_the_gathered_rows(data):
    # candidates="all": ascending ids that fill their span are scored over the contiguous
    # rows (no gather); the probabilities must equal the gathered ones exactly.
    x, labels, graph = data
    y = (labels == 3).astype(int)
    s = Seals(x, candidates="all", seed=0)
    ids0 = seed_ids(y)
    s.teach(ids0, y[ids0])
    s._fit()
    cands = s._candidate_ids()
    assert cands.shape[0] < x.shape[0]  # labeled rows are holes in the span
    np.testing.assert_array_equal(s._proba(cands), s.model.predict_proba(x[cands]))
    sparse = cands[::7]
    np.testing.assert_array_equal(s._proba(sparse), s.model.predict_proba(x[sparse]))


def test_round_records_count_random_fills(data):
    x, labels, graph = data
    y = (labels == 3).astype(int)
    s = Seals(x, neighbors=graph, k=2, max_k=2, seed=0)
    ids0 = seed_ids(y, pos=2, neg=3)
    s.teach(ids0, y[ids0])
    ids = s.query(200)  # the pool of 2-neighbourhoods of 2 positives holds at most 4
    pool = s.pool.shape[0]
    s.teach(ids, y[ids])
    assert s.history[-1].filled_random == 200 - pool > 0
    assert s.history[-1].as_dict()["filled_random"] == 200 - pool


def test_expand_budget_reaches_further_for_few_new_positives(tmp_path, data):
    x, labels, graph = data
    y = (labels == 3).astype(int)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    path = tmp_path / "b.db"
    s = Seals(x, neighbors=graph, k=3, max_k=24, min_pool=0, expand_budget=20, seed=0, path=path)
    assert s.config.expand_budget == 20
    s.teach(np.r_[pos[:1], neg[:4]], [1, 0, 0, 0, 0])  # one new positive: ceil(20/1) -> 20
    want = expected_pool(graph, 20, *s.labeled, [], "positives")
    np.testing.assert_array_equal(s.pool, want)
    s.teach(pos[1:11], np.ones(10, int))  # ten new positives: ceil(20/10) = 2 < k -> k = 3
    lab_ids, lab_vals = s.labeled
    first = expected_pool(graph, 20, lab_ids[:5], lab_vals[:5], [], "positives")
    rest = graph[pos[1:11], :3].ravel()
    want = np.setdiff1d(np.union1d(first, rest), lab_ids)
    np.testing.assert_array_equal(s.pool, want)
    q = s.query(5)
    s.close()
    with Seals.resume(path, x, neighbors=graph) as back:  # stored in the session's config
        assert back.expand_budget == 20
        np.testing.assert_array_equal(back.pool, want)
        np.testing.assert_array_equal(back.query(5), q)
    with pytest.raises(ValueError, match="expand_budget"):
        Seals(x, neighbors=graph, expand_budget=0)


def test_sessions_written_before_the_budget_replay_without_it():
    # a stored config without expand_budget predates it: those sessions expanded by k alone
    from panning.seals import DEFAULT_EXPAND_BUDGET, SealsConfig

    assert SealsConfig.from_stored({"k": 5, "seed": 1}).expand_budget is None
    assert SealsConfig().expand_budget == DEFAULT_EXPAND_BUDGET
    stored = SealsConfig(k=7).as_stored()
    assert SealsConfig.from_stored(stored) == SealsConfig(k=7)


def test_full_scan_reads_torch_bfloat16_rows(data):
    # the in-place full-scan path reads contiguous rows through neighbors.row_block, which
    # converts what numpy cannot view (bfloat16) like the gathered path does
    torch = pytest.importorskip("torch")
    x, labels, _ = data
    y = (labels == 3).astype(int)
    s = Seals(torch.from_numpy(x).to(torch.bfloat16), candidates="all", seed=0)
    ids0 = seed_ids(y)
    s.teach(ids0, y[ids0])
    s._fit()
    cands = s._candidate_ids()
    np.testing.assert_array_equal(s._proba(cands), s.model.predict_proba(s._rows(cands)))
    assert s.query(5).shape == (5,)


# ---- the probe ----------------------------------------------------------------------------------
def two_islands(seed: int = 0):
    """A concept in two far-apart clusters (ids 0-59 and 60-89) among 20 negative ones: both
    islands share a direction (feature 0) the model learns, but no neighbour list of one island
    reaches the other, so only a search by the model's score finds the second."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(22, 24)) * 4.0
    centers[:, 0] = 0.0
    centers[:2, 0] = 6.0
    labels = np.r_[np.zeros(60, int), np.ones(30, int), rng.integers(2, 22, size=1200)]
    x = (centers[labels] + rng.normal(size=(labels.shape[0], 24))).astype(np.float32)
    y = (labels <= 1).astype(int)
    return x, y, labels


def test_probe_is_the_exact_top_of_the_model_over_eligible_ids():
    """With an exact index the probe is the NumPy twin: the ``probe`` ids of highest cosine
    with the model's weight vector among ids neither labeled, excluded nor in the pool."""
    x, y, _ = two_islands()
    index = panning.FlatIndex(x.shape[1], metric="cosine")
    index.add(x)
    exclude = np.arange(1000, 1060)  # negatives
    s = Seals(x, neighbors=index, k=5, max_k=10, probe=25, exclude=exclude, seed=0)
    seed = np.r_[np.arange(0, 5), np.arange(300, 330)]  # positives of island 0 only
    s.teach(seed, y[seed])
    s.query(20)  # fits the model
    w = s.model.coef_[1] - s.model.coef_[0]
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    score = unit.astype(np.float64) @ (w / np.linalg.norm(w))
    score[np.r_[seed, exclude, s.pool]] = -np.inf
    want = np.sort(np.argsort(-score, kind="stable")[:25])
    got = s._probe_ids()
    # float32 index vs float64 twin: at most one near-tie at the cut may swap
    assert np.intersect1d(got, want).size >= 24 and got.size == 25
    assert not np.any(np.isin(got, np.r_[seed, exclude, s.pool]))


def test_probe_reaches_the_island_no_neighbour_list_touches():
    x, y, labels = two_islands(1)
    index = panning.FlatIndex(x.shape[1], metric="cosine")
    index.add(x)
    seed = np.r_[np.arange(0, 5), np.arange(300, 330)]  # positives of island 0 only
    island = {}
    for probe in (0, 40):
        s = Seals(x, neighbors=index, k=5, max_k=10, probe=probe, seed=0,
                  strategy="most_likely_positive")  # fmt: skip
        s.teach(seed, y[seed])
        for _ in range(3):
            q = s.query(10)
            s.teach(q, y[q])
            assert s.history[-1].filled_random == 0  # the pool never ran dry
        seen = np.r_[s.pool, s.labeled[0]]
        island[probe] = int(np.sum(labels[seen] == 1))
    assert island[0] == 0 and island[40] >= 15


def test_probe_is_off_without_an_index_or_a_linear_model(data):
    x, labels, graph = data
    y = (labels == 3).astype(int)
    s = seed_ids(y)
    with_graph = Seals(x, neighbors=graph, k=10, probe=30, seed=0)
    with_graph.teach(s, y[s])
    with_graph.query(10)
    assert with_graph._probe_ids().size == 0
    index = panning.FlatIndex(x.shape[1], metric="l2")
    index.add(x)
    l2 = Seals(x, neighbors=index, k=10, probe=30, seed=0)
    l2.teach(s, y[s])
    l2.query(10)
    assert l2._probe_ids().size == 0  # an l2 index does not rank by the model's score

    class Blackbox:  # no coef_
        def fit(self, x, y):
            self.inner = LogisticRegression().fit(x, y)
            self.classes_ = self.inner.classes_
            return self

        def predict_proba(self, x):
            return self.inner.predict_proba(x)

    index = panning.FlatIndex(x.shape[1], metric="cosine")
    index.add(x)
    opaque = Seals(x, neighbors=index, k=10, probe=30, model=Blackbox(), seed=0)
    opaque.teach(s, y[s])
    opaque.query(10)
    assert opaque._probe_ids().size == 0
    assert panning.seals.SealsConfig.from_stored({}).probe == 0  # files from before the probe
    with pytest.raises(ValueError, match="probe must be a non-negative integer"):
        Seals(x, neighbors=graph, probe=-1)
