"""Property-based tests over every public entry point: a correct result or a clean error.

Hypothesis draws hostile inputs (odd dtypes and shapes, NaN/inf, huge or negative sizes, foreign
ids, mutated files) and each test asserts that the call either returns what the exact NumPy
reference (panning.reference) returns, or raises ``ValueError`` / ``TypeError`` /
``MemoryError`` (``FileNotFoundError`` for paths) — never a crash, a hang, another exception type
or a silently wrong answer. The example budget is fixed (``PANNING_HYPOTHESIS_EXAMPLES``, default
25 per test) so CI stays fast; the sanitizer run (.ci/sanitize) executes this file too.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import panning  # noqa: E402
from panning import reference  # noqa: E402
from panning.distributed import LocalShardedIndex, build_shards, read_manifest  # noqa: E402

CLEAN = (ValueError, TypeError, MemoryError)
EXAMPLES = int(os.environ.get("PANNING_HYPOTHESIS_EXAMPLES", "25"))
budget = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples every run: no CI flakiness
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# sizes from the harmless to the absurd
sizes = st.one_of(
    st.integers(-3, 40),
    st.sampled_from([2**31 - 1, 2**31, 2**32, 2**62, 2**63 - 1, 2**63, 2**64, 10**12, -(2**63)]),
)
dtypes = st.sampled_from(
    [np.float32, np.float16, np.float64, np.int32, np.int64, np.uint8, np.bool_, np.complex64]
)
SPECIALS = np.array([np.nan, np.inf, -np.inf, -1.0, 0.0, 1e30, 2.0])


@st.composite
def arrays(draw: st.DrawFn, max_side: int = 12) -> np.ndarray:
    """Any-dtype arrays of 0-3 dimensions (empty included), mostly probability-like values with
    NaN, inf, negative and huge entries sprinkled in."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=max_side))
    dtype = draw(dtypes)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = (
        rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
        if len(shape) and shape[-1]
        else (rng.random(shape))
    )
    values = np.asarray(values, np.float64).reshape(shape)
    if values.size and draw(st.booleans()):
        flat = values.reshape(-1)
        flat[rng.integers(0, flat.size, size=2)] = SPECIALS[rng.integers(0, len(SPECIALS), 2)]
    with np.errstate(all="ignore"):
        return values.astype(dtype)


def probability_rows(n_max: int = 30, c_max: int = 8) -> st.SearchStrategy:
    """Valid probability matrices (rows sum to 1), float32."""
    return st.tuples(st.integers(1, n_max), st.integers(1, c_max), st.integers(0, 2**32 - 1)).map(
        lambda t: np.random.default_rng(t[2]).dirichlet(np.ones(t[1]), size=t[0]).astype(np.float32)
    )


# ---- scoring -----------------------------------------------------------------------------------
@budget
@given(x=arrays(), method=st.sampled_from(["entropy", "margin", "least_confidence"]))
def test_scoring_on_anything(x, method):
    try:
        got = getattr(panning, method)(x)
    except CLEAN:
        return
    ref = getattr(reference, method)(x)
    got = np.asarray(got, dtype=np.float64)
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    tol = 2e-2 if np.asarray(x).dtype == np.float16 else 1e-4
    np.testing.assert_allclose(got[finite], ref[finite], rtol=tol, atol=tol)


@budget
@given(
    p=probability_rows(),
    k=sizes,
    method=st.sampled_from(["entropy", "margin", "least_confidence"]),
    poison=st.sampled_from([None, np.nan, np.inf, -0.5]),
)
def test_most_uncertain_is_reference_or_clean_error(p, k, method, poison):
    if poison is not None:
        p[len(p) // 2, 0] = poison
    try:
        got = panning.most_uncertain(p, k, method=method)
    except CLEAN:
        if poison is None and 0 <= k <= len(p):
            raise
        return
    if k == 0:  # nothing asked, nothing scanned
        assert got.shape == (0,)
        return
    assert poison is None, "a poisoned row was selected from"
    np.testing.assert_array_equal(got, reference.most_uncertain(p, k, method=method))


# ---- indexes and kNN graphs --------------------------------------------------------------------
def point_sets() -> st.SearchStrategy:
    return st.tuples(
        st.integers(0, 40), st.integers(1, 6), st.integers(0, 2**32 - 1), st.booleans()
    ).map(_points)


def _points(t: tuple[int, int, int, bool]) -> np.ndarray:
    n, d, seed, nan = t
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    if nan and n:
        x[n // 2, 0] = np.nan
    return x


@budget
@given(
    x=point_sets(),
    k=sizes,
    metric=st.sampled_from(["l2", "ip", "cosine", "hamming"]),
    exclude=st.one_of(st.none(), st.lists(st.integers(-(2**63), 2**63 - 1), max_size=5)),
)
def test_flat_index_is_exact_or_clean_error(x, k, metric, exclude):
    try:
        index = panning.FlatIndex(x.shape[1], metric=metric)
        index.add(x)
        ids, dist = index.search(x[:3], k, exclude=exclude)
    except CLEAN:
        return
    assert np.isfinite(x).all() and metric != "hamming" and 1 <= k <= 2**31 - 1
    keep = np.setdiff1d(np.arange(len(x)), np.asarray(exclude or [], np.int64))
    ref_ids, ref_dist = reference.knn_search(x[:3], x[keep], k, metric)
    valid = ref_ids >= 0
    np.testing.assert_array_equal(ids >= 0, valid)
    np.testing.assert_allclose(dist[valid], ref_dist[valid], rtol=1e-4, atol=1e-4)


@budget
@given(
    x=point_sets(),
    k=sizes,
    ef=st.one_of(st.none(), sizes),
    M=sizes,
    threads=st.one_of(st.none(), sizes),
    storage=st.sampled_from(["float32", "float16", "int8"]),
)
def test_hnsw_index_results_are_valid_or_clean_error(x, k, ef, M, threads, storage):
    try:
        index = panning.HNSWIndex(x.shape[1], M=M, storage=storage, threads=threads)
        index.add(x)
        ids, dist = index.search(x[:4], k, ef=ef)
    except CLEAN:
        return
    assert np.isfinite(x).all()
    assert ids.shape == dist.shape == (min(4, len(x)), k)
    found = ids >= 0
    assert np.all(ids[found] < len(x))
    assert np.all(np.isinf(dist[~found]))
    d = np.where(found, dist, np.inf)
    assert np.all(d[:, 1:] >= d[:, :-1])  # nearest first
    for row in ids:  # no id twice in a row
        real = row[row >= 0]
        assert len(np.unique(real)) == len(real)


@budget
@given(x=point_sets(), k=sizes, exact=st.booleans())
def test_knn_graph_is_reference_or_clean_error(x, k, exact):
    try:
        ids, dist = panning.knn_graph(x, k, exact=exact)
    except CLEAN:
        return
    assert np.isfinite(x).all() and 1 <= k <= 2**31 - 1
    ref_ids, ref_dist = reference.knn_graph(x, k)
    assert ids.shape == ref_ids.shape
    if exact:
        valid = ref_ids >= 0
        np.testing.assert_allclose(dist[valid], ref_dist[valid], rtol=1e-4, atol=1e-4)
    assert not np.any(ids == np.arange(len(x))[:, None])  # never the row itself


# ---- frontier ----------------------------------------------------------------------------------
@budget
@given(
    n=st.integers(1, 30),
    k=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    spread=st.integers(0, 3),
    new=st.lists(st.integers(-3, 33), max_size=6, unique=True),
)
def test_frontier_is_reference_or_clean_error(n, k, seed, spread, new):
    graph = np.random.default_rng(seed).integers(-1 - spread, n + spread, size=(n, k))
    f = panning.Frontier(n)
    labeled = np.zeros(n, bool)
    pool = np.zeros(n, bool)
    new_ids = np.asarray(new, np.int64)
    try:
        got = f.expand(graph, new_ids)
    except CLEAN:
        with pytest.raises(ValueError):
            reference.expand_frontier(graph, new_ids, labeled, pool)
        return
    want = reference.expand_frontier(graph, new_ids, labeled, pool)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(f.pool_ids(), np.flatnonzero(pool))


# ---- SEALS sessions ----------------------------------------------------------------------------
_X = np.random.default_rng(3).normal(size=(120, 6)).astype(np.float32)
ids_like = st.one_of(
    st.none(),
    st.integers(-5, 200),
    st.text(max_size=3),
    st.lists(st.one_of(st.integers(-5, 130), st.floats(), st.text(max_size=1)), max_size=6),
    hnp.arrays(st.sampled_from([np.int64, np.uint64, np.float32, np.int8]), st.integers(0, 6)),
)


@budget
@given(ids=ids_like, labels=ids_like)
def test_seals_teach_accepts_or_refuses_cleanly(ids, labels):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "s.db")
        s = panning.Seals(_X, k=5, classes=[0, 1], neighbors=np.zeros((120, 5), np.int64) + 1,
                          path=path)  # fmt: skip
        try:
            s.teach(ids, labels)
            taught = s.n_labeled
        except CLEAN:
            taught = 0
            assert s.n_labeled == 0
        s.close()
        r = panning.Seals.resume(path, _X, neighbors=np.zeros((120, 5), np.int64) + 1)
        assert r.n_labeled == taught  # the file holds exactly what was accepted
        if taught:
            got_ids, got_labels = r.labeled
            assert set(got_labels.tolist()) <= {0, 1}
            assert np.all((got_ids >= 0) & (got_ids < 120))
            r.query(3)
        r.close()


# ---- SVP ---------------------------------------------------------------------------------------
@budget
@given(
    initial=sizes,
    schedule=st.lists(sizes, max_size=3),
    strategy=st.sampled_from(["least_confidence", "entropy", "margin", "random", "nope"]),
)
def test_svp_active_learning_accepts_or_refuses_cleanly(initial, schedule, strategy):
    from panning import svp
    from panning.models import SoftmaxRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    try:
        run = svp.active_learning(
            x, y, proxy=SoftmaxRegression(epochs=2), initial=initial, schedule=schedule,
            strategy=strategy,
        )  # fmt: skip
    except CLEAN:
        return
    chosen = np.asarray(run.labeled)
    assert chosen.size > 0
    assert len(np.unique(chosen)) == len(chosen)
    assert np.all((chosen >= 0) & (chosen < 60))


# ---- manifests ---------------------------------------------------------------------------------
_MANIFEST_DIR = tempfile.mkdtemp(prefix="panning-prop-manifest-")
_GOOD = build_shards(
    np.random.default_rng(1).normal(size=(40, 4)).astype(np.float32), _MANIFEST_DIR, 2
)
_KEYS = ["format", "dim", "metric", "rows", "shards", "path", "count", "start", "stop"]
_VALUES = st.one_of(
    st.none(),
    st.integers(-5, 100),
    st.sampled_from(["l2", "x", "../shard-00000.pnidx", "/etc/passwd", "shard-00000.pnidx", ""]),
    st.lists(st.integers(0, 3), max_size=2),
    st.floats(allow_nan=True),
)


@budget
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(_KEYS), _VALUES, st.integers(0, 2)), min_size=1, max_size=3
    )
)
def test_mutated_manifests_load_correctly_or_refuse(edits):
    with open(_GOOD) as f:
        meta = json.load(f)
    for key, value, where in edits:
        if key in ("path", "count", "start", "stop"):
            shards = meta.get("shards")
            if isinstance(shards, list) and shards:
                target = shards[where % len(shards)]
                if isinstance(target, dict):
                    target[key] = value
        else:
            meta[key] = value
    with tempfile.TemporaryDirectory() as d:
        for name in os.listdir(_MANIFEST_DIR):
            if name.endswith(".pnidx"):
                shutil.copy(os.path.join(_MANIFEST_DIR, name), d)
        path = os.path.join(d, "manifest.json")
        with open(path, "w") as f:
            json.dump(meta, f)
        try:
            read_manifest(path)
            index = LocalShardedIndex.load(path)
        except (*CLEAN, FileNotFoundError):
            return
        # accepted: then it must be the real thing, every row found exactly once
        x = np.random.default_rng(1).normal(size=(40, 4)).astype(np.float32)
        ids, _ = index.search(x, 1)
        assert ids.ravel().tolist() == list(range(40))
