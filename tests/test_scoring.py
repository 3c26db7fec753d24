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
        (np.zeros((4, 3), np.float64), TypeError, "dtype float64"),
        (np.zeros((4, 3), np.int32), TypeError, "dtype int32"),
        (np.zeros((4, 3), ">f4"), TypeError, "byte order"),
        ([[0.5, 0.5]], TypeError, "dtype float64"),
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
    with pytest.raises(ValueError, match="unknown method 'bald'"):
        panning.most_uncertain(p, 1, method="bald")  # type: ignore[arg-type]


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

    with pytest.raises(TypeError, match="torch.float64"):
        panning.entropy(torch.zeros(3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="2-D"):
        panning.entropy(torch.zeros(3, dtype=torch.float32))
