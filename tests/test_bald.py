"""BALD (mutual information of Monte-Carlo samples): the native kernel against the NumPy twin.

Tolerances: float64 inputs |err| <= 1e-13 (the kernel's own exp/log, in float64); float32 and
float16 inputs (accumulated in float32) |err| <= 2e-6 + 1e-5 |ref| against the reference on the
same rounded inputs. The fused top-k must equal a full sort of the kernel's own scores.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import panning
from panning import reference as ref

HAS_TORCH = importlib.util.find_spec("torch") is not None


def _samples(seed: int, s: int, n: int, c: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(c, 0.5), size=(s, n))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("s,n,c", [(1, 5, 3), (2, 100, 2), (20, 500, 10), (5, 40, 1000)])
def test_bald_matches_reference(simd_level: str, dtype: type, s: int, n: int, c: int) -> None:
    x = _samples(s * n + c, s, n, c).astype(dtype)
    got = panning.bald(x)
    assert got.dtype == (np.float64 if dtype == np.float64 else np.float32)
    want = ref.bald(x)
    if dtype == np.float64:
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6 if c < 1000 else 2e-5)
    if s == 1:  # one sample: no disagreement
        np.testing.assert_array_equal(got, 0)


@pytest.mark.parametrize("layout", ["rows_samples_classes", "column_major", "every_other_class"])
def test_bald_strided_layouts(layout: str) -> None:
    x = _samples(3, 8, 200, 6)
    if layout == "rows_samples_classes":  # what a [N, S, C] model output looks like, transposed
        v = np.ascontiguousarray(x.transpose(1, 0, 2)).transpose(1, 0, 2)
    elif layout == "column_major":
        v = np.asfortranarray(x)
    else:
        v = np.repeat(x, 2, axis=2)[:, :, ::2]
    np.testing.assert_allclose(panning.bald(v), ref.bald(x), rtol=1e-13, atol=1e-13)


def test_bald_known_values_and_invalid_rows() -> None:
    agree = [[0.5, 0.5], [0.5, 0.5]]
    disagree = [[1.0, 0.0], [0.0, 1.0]]
    bad_nan = [[0.5, 0.5], [np.nan, 0.5]]
    bad_inf = [[np.inf, 0.0], [0.5, 0.5]]
    probs = np.array([agree, disagree, bad_nan, bad_inf]).transpose(1, 0, 2)
    got = panning.bald(probs)
    np.testing.assert_allclose(got[:2], [0.0, np.log(2)], rtol=1e-15)
    assert np.isnan(got[2:]).all()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref.bald(probs)))
    with pytest.raises(ValueError, match="row 2 is invalid"):
        panning.most_uncertain(probs, 1, method="bald")
    assert panning.most_uncertain(probs, 1, method="bald", candidates=[0, 1]).tolist() == [1]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_bald_top_k_is_fused_and_exact(simd_level: str, dtype: type) -> None:
    x = _samples(7, 10, 3000, 5).astype(dtype)
    own = panning.bald(x)
    order = np.lexsort((np.arange(own.size), -own))
    np.testing.assert_array_equal(panning.most_uncertain(x, 50, method="bald"), order[:50])
    cand = np.random.default_rng(1).choice(3000, 400, replace=False)
    ids, scores = panning.most_uncertain(
        x, 20, method="bald", candidates=cand, exclude=cand[:5], return_scores=True
    )
    want = ref.most_uncertain(
        x.astype(np.float64), 20, method="bald", candidates=cand, exclude=cand[:5]
    )
    if dtype == np.float64:
        np.testing.assert_array_equal(ids, want)
    else:  # near-ties of the float32 accumulation may swap neighbours
        assert len(np.intersect1d(ids, want)) >= 19
    np.testing.assert_array_equal(scores, own[ids])


def test_bald_bad_inputs() -> None:
    with pytest.raises(ValueError, match="3-D"):
        panning.bald(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="no samples"):
        panning.bald(np.zeros((0, 3, 4)))
    with pytest.raises(TypeError, match="int64"):
        panning.bald(np.zeros((2, 3, 4), np.int64))
    with pytest.raises(ValueError, match="k=5 is out of range"):
        panning.most_uncertain(np.full((2, 3, 2), 0.5), 5, method="bald")


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_bald_torch_matches_a_torch_composite() -> None:
    import torch

    p = torch.softmax(torch.randn(20, 500, 10, generator=torch.Generator().manual_seed(0)), -1)
    mean = p.mean(0)
    want = torch.special.entr(mean).sum(-1) - torch.special.entr(p).sum(-1).mean(0)
    got = panning.bald(p)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    torch.testing.assert_close(got, want.clamp_min(0), rtol=1e-5, atol=2e-6)
    got64 = panning.bald(p.double().transpose(0, 1).contiguous().transpose(0, 1))
    torch.testing.assert_close(got64, ref_torch(p.double()), rtol=1e-12, atol=1e-12)


def ref_torch(p: object) -> object:
    import torch

    assert isinstance(p, torch.Tensor)
    return torch.from_numpy(ref.bald(p.numpy()))
