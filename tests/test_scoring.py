"""Uncertainty scoring: every CPU kernel against the float64 NumPy reference.

Tolerances: float32 results are compared with the float64 reference evaluated on the *same*
(already rounded) inputs, so the error is only the kernel's float32 arithmetic:
|err| <= 1e-5 + 1e-5 |ref| for up to 1,000 classes and 1e-4 for 32,768 (longer sums).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import panning
from panning import reference as ref

HAS_TORCH = importlib.util.find_spec("torch") is not None

METHODS = ["entropy", "margin", "least_confidence"]


def _logits(rng: np.random.Generator, n: int, c: int, scale: float = 3.0) -> np.ndarray:
    return (rng.standard_normal((n, c)) * scale).astype(np.float32)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _atol(c: int) -> float:
    return 1e-4 if c > 1000 else 1e-5


def _check(method: str, x: np.ndarray, from_logits: bool, c: int) -> None:
    got = getattr(panning, method)(x, from_logits=from_logits)
    want = getattr(ref, method)(np.asarray(x, dtype=np.float64), from_logits=from_logits)
    assert got.dtype == np.float32
    assert got.shape == (x.shape[0],)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=_atol(c))


SHAPES = [(0, 3), (1, 1), (7, 2), (7, 3), (1000, 17), (1000, 100), (200, 1000), (5, 32768)]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n,c", SHAPES)
@pytest.mark.parametrize("from_logits", [False, True])
def test_float32_matches_reference(
    simd_level: str, method: str, n: int, c: int, from_logits: bool
) -> None:
    rng = np.random.default_rng(n * 7919 + c)
    z = _logits(rng, n, c)
    x = z if from_logits else _softmax(z)
    _check(method, x, from_logits, c)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize(
    "layout", ["fortran", "every_other_column", "every_other_row", "reversed", "broadcast_row"]
)
def test_strided_layouts(simd_level: str, method: str, from_logits: bool, layout: str) -> None:
    rng = np.random.default_rng(1)
    z = _logits(rng, 300, 40)
    base = z if from_logits else _softmax(z)
    x = {
        "fortran": np.asfortranarray(base),
        "every_other_column": np.repeat(base, 2, axis=1)[:, ::2],
        "every_other_row": np.repeat(base, 2, axis=0)[::2],
        "reversed": base[::-1, ::-1],
        "broadcast_row": np.broadcast_to(base[:1], (50, base.shape[1])),
    }[layout]
    assert not x.flags.c_contiguous or layout == "every_other_row"
    _check(method, x, from_logits, x.shape[1])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("c", [3, 17, 100])
def test_float16_accumulates_in_float32(
    simd_level: str, method: str, from_logits: bool, c: int
) -> None:
    rng = np.random.default_rng(2)
    z = _logits(rng, 500, c)
    x = (z if from_logits else _softmax(z)).astype(np.float16)
    _check(method, x, from_logits, c)
    # strided half rows take the gather path
    _check(method, np.asfortranarray(x), from_logits, c)


def test_bfloat16_numpy_via_ml_dtypes(simd_level: str) -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    rng = np.random.default_rng(3)
    z = _logits(rng, 300, 33).astype(ml_dtypes.bfloat16)
    for method in METHODS:
        got = getattr(panning, method)(z, from_logits=True)
        want = getattr(ref, method)(z.astype(np.float64), from_logits=True)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_extreme_logits_are_exact(simd_level: str, method: str) -> None:
    rng = np.random.default_rng(4)
    z = rng.uniform(-1e4, 1e4, size=(200, 50)).astype(np.float32)
    # near-ties at magnitude 1e4 (spacing of float32 there is ~1e-3): a real, non-trivial softmax
    z[:50] = 1e4 - rng.integers(0, 4, size=(50, 50)).astype(np.float32)
    z[50:100] = -1e4 + rng.standard_normal((50, 50)).astype(np.float32)
    z[100, :] = -np.inf
    z[100, 7] = 5.0  # one finite logit: a one-hot softmax
    got = getattr(panning, method)(z, from_logits=True)
    want = getattr(ref, method)(z.astype(np.float64), from_logits=True)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_known_values() -> None:
    p = np.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0], [0.7, 0.2, 0.1, 0.0]], np.float32)
    np.testing.assert_allclose(panning.entropy(p), [np.log(4), 0.0, 0.8018185], rtol=1e-6)
    np.testing.assert_allclose(panning.margin(p), [0.0, 1.0, 0.5], atol=1e-7)
    np.testing.assert_allclose(panning.least_confidence(p), [0.75, 0.0, 0.3], atol=1e-7)
    one = np.array([[0.3]], np.float32)  # a single class: the runner-up counts as 0
    assert panning.margin(one)[0] == pytest.approx(0.3)
    assert panning.margin(np.zeros((1, 1), np.float32), from_logits=True)[0] == 1.0


@pytest.mark.parametrize("method", METHODS)
def test_invalid_rows_score_nan(simd_level: str, method: str) -> None:
    p = np.full((6, 5), 0.2, np.float32)
    p[1, 3] = np.nan
    p[3, 0] = -0.1
    s = getattr(panning, method)(p)
    assert np.isnan(s[[1, 3]]).all() and np.isfinite(s[[0, 2, 4, 5]]).all()

    # +inf is not a probability either (issue 11): the row scores NaN like the reference's
    p[5, 2] = np.inf
    s = getattr(panning, method)(p)
    assert np.isnan(s[[1, 3, 5]]).all() and np.isfinite(s[[0, 2, 4]]).all()
    np.testing.assert_array_equal(np.isnan(s), np.isnan(getattr(ref, method)(p)))

    z = np.zeros((6, 5), np.float32)
    z[0, 2] = np.nan
    z[2, 1] = np.inf
    z[4, :] = -np.inf  # softmax undefined
    z[5, :3] = -np.inf  # fine: those classes have probability 0
    s = getattr(panning, method)(z, from_logits=True)
    assert np.isnan(s[[0, 2, 4]]).all() and np.isfinite(s[[1, 3, 5]]).all()
    np.testing.assert_array_equal(np.isnan(s), np.isnan(getattr(ref, method)(z, from_logits=True)))


# ---- most_uncertain -----------------------------------------------------------------------------


def _ranked_by_own_scores(x: np.ndarray, method: str, from_logits: bool, k: int) -> np.ndarray:
    """The exact answer for the kernel's own float32 scores: full sort, ties by index."""
    key = ref.uncertainty_key(getattr(panning, method)(x, from_logits=from_logits), method)
    return np.lexsort((np.arange(key.shape[0]), -key))[:k]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize(
    "n,c,k", [(1, 1, 1), (7, 3, 0), (7, 3, 7), (5000, 10, 50), (3000, 100, 3000)]
)
def test_most_uncertain_matches_full_sort(
    simd_level: str, method: str, from_logits: bool, n: int, c: int, k: int
) -> None:
    rng = np.random.default_rng(n + c + k)
    z = _logits(rng, n, c, scale=2.0)
    x = z if from_logits else _softmax(z)
    got = panning.most_uncertain(x, k, method=method, from_logits=from_logits)
    assert got.dtype == np.int64 and got.shape == (k,)
    np.testing.assert_array_equal(got, _ranked_by_own_scores(x, method, from_logits, k))
    if k:  # and it agrees with the float64 reference up to near-ties
        want = ref.most_uncertain(x, k, method=method, from_logits=from_logits)
        overlap = len(np.intersect1d(got, want)) / k
        assert overlap >= 0.99


@pytest.mark.parametrize("method", METHODS)
def test_most_uncertain_ties_break_by_lower_index(method: str) -> None:
    p = np.tile(np.array([[0.6, 0.4]], np.float32), (1000, 1))
    p[[10, 500, 900]] = [0.5, 0.5]  # three equally most-uncertain rows
    np.testing.assert_array_equal(panning.most_uncertain(p, 5, method=method), [10, 500, 900, 0, 1])


def test_most_uncertain_names_the_first_invalid_row() -> None:
    p = np.full((100, 4), 0.25, np.float32)
    p[70, 1] = np.nan
    p[42, 0] = -1.0
    with pytest.raises(ValueError, match="row 42 is invalid"):
        panning.most_uncertain(p, 3)
    z = np.zeros((10, 3), np.float32)
    z[9, 0] = np.inf
    with pytest.raises(ValueError, match="row 9 is invalid"):
        panning.most_uncertain(z, 1, from_logits=True)
    q = np.full((50, 3), 1 / 3)
    q[17, 2] = np.inf  # issue 11: an infinite probability is refused like a NaN, naming the row
    with pytest.raises(ValueError, match="row 17 is invalid"):
        panning.most_uncertain(q, 1)
    with pytest.raises(ValueError, match="row 17 is invalid"):
        ref.most_uncertain(q, 1)
    # a row that can never be returned is never judged
    assert panning.most_uncertain(q, 1, exclude=[17]).tolist() == [0]


# ---- input validation ---------------------------------------------------------------------------


def test_empty_pool_gives_empty_results() -> None:
    x = np.zeros((0, 4), np.float32)
    for method in METHODS:
        assert getattr(panning, method)(x).shape == (0,)
    assert panning.most_uncertain(x, 0).shape == (0,)


@pytest.mark.parametrize(
    "x,exc,match",
    [
        (np.zeros(5, np.float32), ValueError, "must be 2-D"),
        (np.zeros((2, 3, 4), np.float32), ValueError, "must be 2-D"),
        (np.zeros((4, 0), np.float32), ValueError, "empty class axis"),
        (np.zeros((4, 3), np.int32), TypeError, "dtype int32"),
        (np.zeros((4, 3), ">f4"), TypeError, "byte order"),
        (np.zeros((4, 3), ">f8"), TypeError, "byte order"),
        ([[1, 0]], TypeError, "dtype int64"),
        (np.zeros((4, 3), np.complex128), TypeError, "complex"),
        (np.zeros((4, 3), bool), TypeError, "dtype bool"),
    ],
)
def test_bad_inputs_raise_clear_errors(x: object, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        panning.entropy(x)
    with pytest.raises(exc, match=match):
        panning.most_uncertain(x, 1)


def test_bad_k_and_method() -> None:
    p = np.full((5, 2), 0.5, np.float32)
    with pytest.raises(ValueError, match="k=6 is out of range"):
        panning.most_uncertain(p, 6)
    with pytest.raises(ValueError, match="k=-1 is out of range"):
        panning.most_uncertain(p, -1)
    with pytest.raises(TypeError, match="k must be an integer"):
        panning.most_uncertain(p, 2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="k must be an integer"):
        panning.most_uncertain(p, True)
    assert panning.most_uncertain(p, np.int64(2)).tolist() == [0, 1]
    with pytest.raises(ValueError, match="unknown method 'badge'"):
        panning.most_uncertain(p, 1, method="badge")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"3-D \[samples, rows, classes\]"):
        panning.most_uncertain(p, 1, method="bald")  # BALD needs Monte-Carlo samples


def test_readonly_and_memmap_inputs(tmp_path: object) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "p.npy"
    p = _softmax(_logits(np.random.default_rng(5), 100, 7))
    np.save(path, p)
    mm = np.load(path, mmap_mode="r")
    assert not mm.flags.writeable
    np.testing.assert_array_equal(panning.entropy(mm), panning.entropy(p))
    np.testing.assert_array_equal(panning.most_uncertain(mm, 10), panning.most_uncertain(p, 10))


# ---- torch on the CPU ---------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("dtype_name", ["float32", "float16", "bfloat16"])
def test_torch_cpu_tensors_zero_copy(dtype_name: str) -> None:
    import torch

    dtype = getattr(torch, dtype_name)
    z = torch.from_numpy(_logits(np.random.default_rng(6), 400, 30)).to(dtype)
    z.requires_grad_(True)  # scores never need gradients: inputs are detached, not copied
    for x in (z, z.t().contiguous().t()):  # contiguous and column-major
        for method in METHODS:
            got = getattr(panning, method)(x, from_logits=True)
            assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
            want = getattr(ref, method)(x.detach().float().numpy(), from_logits=True)
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)
        ids = panning.most_uncertain(x, 7, method="margin", from_logits=True)
        assert isinstance(ids, torch.Tensor) and ids.dtype == torch.int64
        np.testing.assert_array_equal(
            ids.numpy(), _ranked_by_own_scores(x.detach().float().numpy(), "margin", True, 7)
        )


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_torch_matches_torch_composites() -> None:
    import torch

    z = torch.randn(256, 12, generator=torch.Generator().manual_seed(0)) * 4
    want = torch.distributions.Categorical(logits=z).entropy()
    torch.testing.assert_close(panning.entropy(z, from_logits=True), want, rtol=1e-5, atol=1e-5)
    p = torch.softmax(z, dim=-1)
    torch.testing.assert_close(
        panning.entropy(p), torch.special.entr(p).sum(-1), rtol=1e-5, atol=1e-5
    )


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_torch_bad_dtype() -> None:
    import torch

    with pytest.raises(TypeError, match="torch.int64"):
        panning.entropy(torch.zeros(3, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match="torch.complex64"):
        panning.entropy(torch.zeros(3, 3, dtype=torch.complex64))
    with pytest.raises(ValueError, match="2-D"):
        panning.entropy(torch.zeros(3, dtype=torch.float32))


# ---- float64 and array-likes (the dtype policy: float64 is scored in float64) -------------------
# Tolerances: the float64 kernels use their own exp/log polynomials (truncation < 2e-16), so
# |err| <= 1e-13 + 1e-13 |ref| against the float64 reference, at every SIMD level.


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "n,c",
    [(0, 3), (1, 1), (7, 2), (130, 3), (130, 4), (1000, 10), (1000, 17), (500, 100), (20, 5000)],
)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("layout", ["contiguous", "column_major", "every_other_column"])
def test_float64_matches_reference(
    simd_level: str, method: str, n: int, c: int, from_logits: bool, layout: str
) -> None:
    rng = np.random.default_rng(n * 13 + c)
    z = rng.standard_normal((n, c)) * 3.0
    x = z if from_logits else np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    if layout == "column_major":
        x = np.asfortranarray(x)
    elif layout == "every_other_column":
        x = np.repeat(x, 2, axis=1)[:, ::2]
    got = getattr(panning, method)(x, from_logits=from_logits)
    assert got.dtype == np.float64 and got.shape == (n,)
    want = getattr(ref, method)(x, from_logits=from_logits)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("method", METHODS)
def test_float64_extreme_and_invalid_values(simd_level: str, method: str) -> None:
    # logits far beyond float32's range, and probabilities below float32's smallest normal
    z = np.array([[1e300, 1e300 - 1e285, -1e300], [-1e-300, 0.0, 1e-300], [700.0, -700.0, 0.0]])
    np.testing.assert_allclose(
        getattr(panning, method)(z, from_logits=True),
        getattr(ref, method)(z, from_logits=True),
        rtol=1e-13,
        atol=1e-13,
    )
    p = np.array([[1 - 2e-300, 1e-300, 1e-300], [0.5, 0.5 - 1e-12, 1e-12]])
    np.testing.assert_allclose(getattr(panning, method)(p), getattr(ref, method)(p), atol=1e-15)
    bad = np.full((4, 3), 1 / 3)
    bad[0, 1], bad[1, 0], bad[2, 2] = np.nan, -1e-300, np.inf
    s = getattr(panning, method)(bad)
    np.testing.assert_array_equal(np.isnan(s), [True, True, True, False])
    np.testing.assert_array_equal(np.isnan(s), np.isnan(getattr(ref, method)(bad)))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("c", [1, 2, 3, 4, 8, 10, 31, 32, 33])
@pytest.mark.parametrize("layout", ["contiguous", "padded_rows"])
def test_float64_short_rows_by_block(simd_level: str, method: str, c: int, layout: str) -> None:
    # rows of <= 32 float64 probabilities are scored 64 rows at a time, laid end to end (or
    # transposed); invalid rows inside a block must come out NaN alone, at any block position
    rng = np.random.default_rng(c)
    n = 1000
    p = rng.dirichlet(np.full(c, 0.5), size=n)
    p[rng.random((n, c)) < 0.05] = 0.0  # exact zeros: 0 log 0 = 0
    p[[0, 63, 64, 500, 999], :] = np.eye(c)[0]  # one-hot rows at block edges
    p[130, c - 1] = np.nan
    p[131, 0] = -1e-300
    p[700, 0] = np.inf
    if layout == "padded_rows":
        wide = np.zeros((n, c + 3))
        wide[:, :c] = p
        p = wide[:, :c]  # row stride c + 3, unit column stride
    got = getattr(panning, method)(p)
    want = getattr(ref, method)(p)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    ok = np.flatnonzero(~np.isnan(want))
    for cand in (ok, ok[::-1].copy(), rng.permutation(ok)[:300]):
        excl = np.concatenate([cand[:20], cand[5:9]])  # overlaps the candidates, repeats
        ids, scores = panning.most_uncertain(
            p, 50, method=method, candidates=cand, exclude=excl, return_scores=True
        )
        want_ids, want_scores = ref.most_uncertain(
            p, 50, method=method, candidates=cand, exclude=excl, return_scores=True
        )
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(scores, want_scores, rtol=1e-13, atol=1e-13)


def test_candidates_unsorted_repeated_and_too_few() -> None:
    rng = np.random.default_rng(9)
    p = rng.dirichlet(np.ones(10), size=3000)
    cand = np.sort(rng.choice(3000, size=400, replace=False))
    for method in METHODS:
        want = panning.most_uncertain(p, 30, method=method, candidates=cand)
        got = panning.most_uncertain(p, 30, method=method, candidates=rng.permutation(cand))
        np.testing.assert_array_equal(got, want)  # the order of the ids does not matter
    # repeats are refused, sorted or not
    with pytest.raises(ValueError, match="candidate id 7 is repeated"):
        panning.most_uncertain(p, 1, candidates=[1, 7, 7, 9])
    with pytest.raises(ValueError, match="candidate id 7 is repeated"):
        panning.most_uncertain(p, 1, candidates=[7, 1, 7])
    # the sorted fast path checks its ends
    with pytest.raises(ValueError, match="candidate id 3000 is out of range"):
        panning.most_uncertain(p, 1, candidates=[0, 5, 3000])
    with pytest.raises(ValueError, match="candidate id -2 is out of range"):
        panning.most_uncertain(p, 1, candidates=[-2, 5, 9])
    # k beyond the candidates, or beyond what exclusion leaves of them
    with pytest.raises(ValueError, match="k=4 is out of range for 3 eligible rows"):
        panning.most_uncertain(p, 4, candidates=[1, 2, 3])
    with pytest.raises(ValueError, match="k=3 is out of range for 2 eligible rows"):
        panning.most_uncertain(p, 3, candidates=[1, 2, 3], exclude=[2, 2, 2500])
    ids = panning.most_uncertain(p, 2, candidates=[1, 2, 3], exclude=[2])
    assert sorted(ids.tolist()) == [1, 3]


def test_float64_ranks_at_float64_precision() -> None:
    # margins 1e-12 apart are one float32 value; in float64 they are ranked, not tied
    p = np.array([[0.5 + d, 0.5 - d] for d in (3e-12, 1e-12, 2e-12)])
    assert panning.most_uncertain(p, 3, method="margin").tolist() == [1, 2, 0]
    assert ref.most_uncertain(p, 3, method="margin").tolist() == [1, 2, 0]


def test_lists_and_array_likes() -> None:
    p = [[0.9, 0.1], [0.5, 0.5], [0.6, 0.4]]
    np.testing.assert_allclose(panning.entropy(p), ref.entropy(p), rtol=1e-14)
    assert panning.most_uncertain(p, 2).tolist() == [1, 2]
    assert panning.most_uncertain(tuple(map(tuple, p)), 1, method="margin").tolist() == [1]


# ---- most_uncertain: candidates, exclude, return_scores -----------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_candidates_and_exclude_match_reference(simd_level: str, method: str, dtype: type) -> None:
    rng = np.random.default_rng(11)
    n = 5000
    x = rng.dirichlet(np.ones(7), size=n).astype(dtype)
    cand = rng.choice(n, size=600, replace=False)  # any order: ids, not positions
    excl = np.concatenate([cand[:50], rng.choice(n, size=200), cand[:10]])  # repeats allowed
    for kw in ({"candidates": cand}, {"exclude": excl}, {"candidates": cand, "exclude": excl}):
        ids, scores = panning.most_uncertain(x, 40, method=method, return_scores=True, **kw)
        want_ids, want_scores = ref.most_uncertain(
            _own_scores_input(x), 40, method=method, return_scores=True, **kw
        )
        np.testing.assert_array_equal(ids, want_ids)
        assert scores.dtype == (np.float64 if dtype == np.float64 else np.float32)
        np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-6)
        # the scores are the kernel's own, for exactly those rows
        np.testing.assert_array_equal(scores, getattr(panning, method)(x)[ids])
        if "candidates" in kw:
            assert np.isin(ids, cand).all()
        if "exclude" in kw:
            assert not np.isin(ids, excl).any()


def _own_scores_input(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def test_candidates_rank_like_a_gather() -> None:
    rng = np.random.default_rng(2)
    x = rng.dirichlet(np.ones(10), size=20000)
    cand = np.sort(rng.choice(20000, size=2000, replace=False))
    ids = panning.most_uncertain(x, 100, candidates=cand)
    pos = panning.most_uncertain(x[cand], 100)
    np.testing.assert_array_equal(ids, cand[pos])  # ties by lower id = lower position (sorted)


def test_candidates_with_logits_and_torch_ids() -> None:
    rng = np.random.default_rng(3)
    z = rng.standard_normal((300, 4)).astype(np.float32)
    got = panning.most_uncertain(
        z, 5, from_logits=True, method="margin", candidates=range(0, 300, 3)
    )
    want = ref.most_uncertain(z, 5, from_logits=True, method="margin", candidates=range(0, 300, 3))
    np.testing.assert_array_equal(got, want)


def test_candidates_and_exclude_errors() -> None:
    p = np.full((10, 2), 0.5)
    with pytest.raises(ValueError, match="candidate id 10 is out of range"):
        panning.most_uncertain(p, 1, candidates=[1, 10])
    with pytest.raises(ValueError, match="candidate id -1 is out of range"):
        panning.most_uncertain(p, 1, candidates=[-1])
    with pytest.raises(ValueError, match="candidate id 3 is repeated"):
        panning.most_uncertain(p, 1, candidates=[3, 4, 3])
    with pytest.raises(ValueError, match="exclude id 12 is out of range"):
        panning.most_uncertain(p, 1, exclude=[12])
    with pytest.raises(ValueError, match="k=3 is out of range for 2 eligible rows"):
        panning.most_uncertain(p, 3, candidates=[1, 2, 3], exclude=[3])
    with pytest.raises(TypeError, match="integer row ids"):
        panning.most_uncertain(p, 1, candidates=[0.5])
    with pytest.raises(ValueError, match="k=-1"):
        panning.most_uncertain(p, -1, candidates=[1])
    ids, scores = panning.most_uncertain(p, 0, candidates=[], return_scores=True)
    assert ids.shape == (0,) and scores.shape == (0,) and scores.dtype == np.float64
    # an invalid row outside the candidates is never judged; inside, it is named
    p[7, 0] = np.nan
    assert panning.most_uncertain(p, 2, candidates=[1, 2]).tolist() == [1, 2]
    with pytest.raises(ValueError, match="row 7 is invalid"):
        panning.most_uncertain(p, 2, candidates=[1, 7, 2])


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_torch_float64_and_return_scores() -> None:
    import torch

    z = torch.randn(200, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    got = panning.entropy(z, from_logits=True)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    want = torch.distributions.Categorical(logits=z).entropy()
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    ids, scores = panning.most_uncertain(
        z, 5, from_logits=True, exclude=torch.tensor([0, 1]), return_scores=True
    )
    assert isinstance(ids, torch.Tensor) and scores.dtype == torch.float64
    w_ids, w_scores = ref.most_uncertain(
        z.numpy(), 5, from_logits=True, exclude=[0, 1], return_scores=True
    )
    np.testing.assert_array_equal(ids.numpy(), w_ids)
    np.testing.assert_allclose(scores.numpy(), w_scores, rtol=1e-13)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_gpu_candidate_ids_glue_on_cpu_tensors() -> None:
    """The GPU path folds candidates and exclude into one id vector with torch ops; the same code
    runs here on CPU tensors against the reference's notion of eligible rows."""
    import torch

    from panning._scoring_gpu import candidate_ids

    like = torch.zeros(1)
    rng = np.random.default_rng(4)
    cand = rng.choice(100, size=30, replace=False)
    excl = np.concatenate([cand[:5], [99, 99]])
    got = candidate_ids(like, 100, torch.from_numpy(cand), excl)
    np.testing.assert_array_equal(got.numpy(), cand[~np.isin(cand, excl)])
    assert candidate_ids(like, 100, None, None) is None
    np.testing.assert_array_equal(candidate_ids(like, 5, None, [1, 3]).numpy(), [0, 2, 4])
    with pytest.raises(ValueError, match="candidate id 100 is out of range"):
        candidate_ids(like, 100, [100], None)
    with pytest.raises(ValueError, match="candidate ids repeat"):
        candidate_ids(like, 100, [1, 1], None)
    with pytest.raises(ValueError, match="exclude id -2 is out of range"):
        candidate_ids(like, 100, None, [-2])
    with pytest.raises(TypeError, match="integer row ids"):
        candidate_ids(like, 100, [0.5], None)
