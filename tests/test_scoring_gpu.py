"""CUDA uncertainty scoring against the float64 NumPy reference (skipped without a GPU).

Tolerances as for the CPU kernels: |err| <= 1e-5 + 1e-5 |ref| (1e-4 above 1,000 classes); the
GPU top-k must equal a full sort of the GPU's own scores exactly.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import panning
from panning import reference as ref

pytestmark = pytest.mark.gpu

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_CUPY = importlib.util.find_spec("cupy") is not None
METHODS = ["entropy", "margin", "least_confidence"]
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
needs_cupy = pytest.mark.skipif(not HAS_CUPY, reason="cupy is not installed")


def _logits(seed: int, n: int, c: int, scale: float = 3.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, c)) * scale).astype(np.float32)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _atol(c: int) -> float:
    return 1e-4 if c > 1000 else 1e-5


def _layout(t: object, layout: str) -> object:
    import torch

    assert isinstance(t, torch.Tensor)
    if layout == "contiguous":
        return t
    if layout == "column_major":
        return t.t().contiguous().t()
    if layout == "every_other_column":
        return t.repeat_interleave(2, dim=1)[:, ::2]
    if layout == "offset_columns":  # misaligned row starts: the scalar-load path
        pad = torch.nn.functional.pad(t, (1, 0))
        return pad[:, 1:]
    raise AssertionError(layout)


@needs_torch
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("dtype_name", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize(
    "n,c", [(1, 1), (7, 2), (1000, 3), (1000, 17), (3000, 100), (300, 1000), (40, 5000), (5, 32768)]
)
def test_torch_cuda_matches_reference(
    method: str, from_logits: bool, dtype_name: str, n: int, c: int
) -> None:
    import torch

    z = _logits(n * 31 + c, n, c)
    x = torch.from_numpy(z if from_logits else _softmax(z)).to(getattr(torch, dtype_name)).cuda()
    got = getattr(panning, method)(x, from_logits=from_logits)
    assert got.device == x.device and got.dtype == torch.float32
    want = getattr(ref, method)(x.float().cpu().numpy(), from_logits=from_logits)
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-5, atol=_atol(c))


@needs_torch
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize(
    "layout", ["contiguous", "column_major", "every_other_column", "offset_columns"]
)
@pytest.mark.parametrize("dtype_name", ["float32", "float16"])
def test_torch_cuda_layouts(method: str, from_logits: bool, layout: str, dtype_name: str) -> None:
    import torch

    z = _logits(9, 777, 45)
    base = torch.from_numpy(z if from_logits else _softmax(z)).to(getattr(torch, dtype_name)).cuda()
    x = _layout(base, layout)
    got = getattr(panning, method)(x, from_logits=from_logits)
    want = getattr(ref, method)(x.float().cpu().numpy(), from_logits=from_logits)
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-5, atol=1e-5)


@needs_torch
@pytest.mark.parametrize("method", METHODS)
def test_extreme_and_invalid_logits_on_gpu(method: str) -> None:
    import torch

    rng = np.random.default_rng(4)
    z = rng.uniform(-1e4, 1e4, size=(200, 50)).astype(np.float32)
    z[:50] = 1e4 - rng.integers(0, 4, size=(50, 50)).astype(np.float32)
    z[100, :] = -np.inf
    z[100, 7] = 5.0
    z[150, 3] = np.nan
    z[151, 4] = np.inf
    z[152, :] = -np.inf
    got = getattr(panning, method)(torch.from_numpy(z).cuda(), from_logits=True).cpu().numpy()
    want = getattr(ref, method)(z, from_logits=True)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=1e-5)


def _ranked(scores: np.ndarray, method: str, k: int) -> np.ndarray:
    key = ref.uncertainty_key(scores, method)
    return np.lexsort((np.arange(key.shape[0]), -key))[:k]


@needs_torch
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize(
    "n,c,k", [(1, 1, 1), (7, 3, 7), (5000, 10, 50), (100_000, 20, 1000), (20_000, 100, 20_000)]
)
def test_torch_cuda_most_uncertain_is_exact(
    method: str, from_logits: bool, n: int, c: int, k: int
) -> None:
    import torch

    z = _logits(n + k, n, c, scale=2.0)
    x = torch.from_numpy(z if from_logits else _softmax(z)).cuda()
    got = panning.most_uncertain(x, k, method=method, from_logits=from_logits)
    assert got.device == x.device and got.dtype == torch.int64
    scores = getattr(panning, method)(x, from_logits=from_logits).cpu().numpy()
    np.testing.assert_array_equal(got.cpu().numpy(), _ranked(scores, method, k))
    cpu = panning.most_uncertain(x.cpu(), k, method=method, from_logits=from_logits).numpy()
    assert len(np.intersect1d(cpu, got.cpu().numpy())) / k >= 0.99


@needs_torch
def test_gpu_ties_and_invalid_rows() -> None:
    import torch

    p = np.tile(np.array([[0.6, 0.4]], np.float32), (100_000, 1))
    p[[10, 500, 99_999]] = [0.5, 0.5]
    x = torch.from_numpy(p).cuda()
    for method in METHODS:
        got = panning.most_uncertain(x, 5, method=method).cpu().numpy()
        np.testing.assert_array_equal(got, [10, 500, 99_999, 0, 1])
    p[70_000, 1] = np.nan
    p[42_000, 0] = -1.0
    with pytest.raises(ValueError, match="row 42000 is invalid"):
        panning.most_uncertain(torch.from_numpy(p).cuda(), 3)


@needs_torch
def test_runs_on_the_callers_stream() -> None:
    import torch

    z = torch.from_numpy(_logits(11, 50_000, 100)).cuda()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        y = z * 2.0  # produced on `stream`: scoring must be ordered after it
        h = panning.entropy(y, from_logits=True)
        ids = panning.most_uncertain(y, 100, from_logits=True)
    stream.synchronize()
    want = ref.entropy(y.cpu().numpy(), from_logits=True)
    np.testing.assert_allclose(h.cpu().numpy(), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ids.cpu().numpy(), _ranked(h.cpu().numpy(), "entropy", 100))


@needs_torch
def test_empty_and_zero_k_on_gpu() -> None:
    import torch

    x = torch.zeros(0, 4, device="cuda")
    assert panning.entropy(x).shape == (0,)
    assert panning.most_uncertain(x, 0).shape == (0,)
    assert panning.most_uncertain(torch.ones(3, 2, device="cuda") / 2, 0).shape == (0,)


@needs_cupy
@pytest.mark.parametrize("dtype_name", ["float32", "float16"])
@pytest.mark.parametrize("method", METHODS)
def test_cupy_arrays(dtype_name: str, method: str) -> None:
    import cupy

    z = _logits(12, 2000, 37)
    x = cupy.asarray(z).astype(dtype_name)
    got = getattr(panning, method)(x, from_logits=True)
    assert isinstance(got, cupy.ndarray) and got.dtype == cupy.float32
    want = getattr(ref, method)(cupy.asnumpy(x).astype(np.float32), from_logits=True)
    np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=1e-5, atol=1e-5)
    ids = panning.most_uncertain(x[:, ::2], 25, method=method, from_logits=True)
    assert isinstance(ids, cupy.ndarray)
    scores = cupy.asnumpy(getattr(panning, method)(x[:, ::2], from_logits=True))
    np.testing.assert_array_equal(cupy.asnumpy(ids), _ranked(scores, method, 25))


# ---- issue 13: float64, candidates / exclude / return_scores, BALD on the GPU --------------------
# float64 rows are scored in double on the device (exp/log of CUDA's libdevice): |err| <= 1e-12;
# the top-k ranks float64 scores by their float32 rounding, so picks are compared as sets with
# the float64 reference up to near-ties, and exactly against the GPU's own float32-rounded keys.


@needs_torch
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("from_logits", [False, True])
def test_float64_on_the_gpu_matches_reference(method: str, from_logits: bool) -> None:
    import torch

    z = np.random.default_rng(5).standard_normal((3000, 17)) * 3
    x = z if from_logits else np.exp(z) / np.exp(z).sum(1, keepdims=True)
    got = getattr(panning, method)(torch.from_numpy(x).cuda(), from_logits=from_logits)
    assert got.dtype == torch.float64
    want = getattr(ref, method)(x, from_logits=from_logits)
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-12, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_candidates_exclude_and_scores_on_the_gpu(method: str, dtype_name: str) -> None:
    import torch

    rng = np.random.default_rng(6)
    p = rng.dirichlet(np.ones(9), size=20000)
    x = torch.from_numpy(p).to(getattr(torch, dtype_name)).cuda()
    cand = rng.choice(20000, 3000, replace=False)
    excl = cand[:100]
    ids, scores = panning.most_uncertain(
        x, 64, method=method, candidates=cand, exclude=excl, return_scores=True
    )
    assert ids.device == x.device and scores.dtype == x.dtype
    got = ids.cpu().numpy()
    assert np.isin(got, cand).all() and not np.isin(got, excl).any()
    own = getattr(panning, method)(x).cpu().numpy()
    np.testing.assert_array_equal(scores.cpu().numpy(), own[got])
    want = ref.most_uncertain(p, 64, method=method, candidates=cand, exclude=excl)
    assert len(np.intersect1d(got, want)) >= 63


@needs_torch
@pytest.mark.parametrize("dtype_name", ["float16", "float32", "float64"])
def test_bald_on_the_gpu_matches_reference(dtype_name: str) -> None:
    import torch

    p = np.random.default_rng(7).dirichlet(np.full(10, 0.5), size=(20, 5000))
    x = torch.from_numpy(p).to(getattr(torch, dtype_name)).cuda()
    got = panning.bald(x).cpu().numpy()
    want = ref.bald(x.double().cpu().numpy())
    tol = 1e-12 if dtype_name == "float64" else 2e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    ids = panning.most_uncertain(x, 50, method="bald").cpu().numpy()
    assert len(np.intersect1d(ids, ref.most_uncertain(p, 50, method="bald"))) >= 49
