"""The package's one dtype policy (panning._arrays), checked at every entry point in one place.

Floating inputs are accepted as they are (float64 scored in float64); lists go through
numpy.asarray; integers, booleans and complex numbers are refused with a TypeError everywhere;
indexes store float32/float16 and refuse the rest with a TypeError naming the conversion.
"""

from __future__ import annotations

import numpy as np
import pytest

import panning
from panning import HNSWIndex, Seals, reference, svp
from panning.kcenter import greedy_k_centers

P64 = np.random.default_rng(0).dirichlet(np.ones(4), size=50)
KERNELS = [panning.entropy, panning.margin, panning.least_confidence]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_kernels_take_every_float_dtype_without_a_copy(kernel, dtype) -> None:
    x = P64.astype(dtype)
    got = kernel(x)
    assert got.dtype == (np.float64 if dtype == np.float64 else np.float32)
    want = getattr(reference, kernel.__name__)(x)
    np.testing.assert_allclose(got, want, rtol=1e-13 if dtype == np.float64 else 1e-5, atol=1e-6)


@pytest.mark.parametrize("kernel", [*KERNELS, lambda x: panning.most_uncertain(x, 1)])
@pytest.mark.parametrize(
    "bad,word",
    [
        (np.ones((3, 2), np.int64), "int64"),
        (np.ones((3, 2), np.uint8), "uint8"),
        (np.ones((3, 2), bool), "bool"),
        (np.ones((3, 2), np.complex64), "complex"),
        ([[1, 0], [0, 1]], "int64"),
        (np.array([["a", "b"]]), "<U1"),
    ],
)
def test_kernels_refuse_non_floats(kernel, bad, word) -> None:
    with pytest.raises(TypeError, match=word):
        kernel(bad)


def test_lists_are_array_likes() -> None:
    np.testing.assert_allclose(panning.entropy(P64.tolist()), panning.entropy(P64), rtol=0)


def test_seals_embeddings_follow_the_policy() -> None:
    x = np.random.default_rng(1).normal(size=(60, 4))
    Seals(x, k=5)  # float64 accepted
    with pytest.raises(TypeError, match="embeddings has dtype int64"):
        Seals(x.astype(np.int64), k=5)
    with pytest.raises(TypeError, match="complex"):
        Seals(x.astype(np.complex128), k=5)


def test_k_centers_follows_the_policy() -> None:
    x = np.random.default_rng(2).normal(size=(40, 3))
    a = greedy_k_centers(x, 5)
    np.testing.assert_array_equal(greedy_k_centers(x.tolist(), 5), a)
    with pytest.raises(TypeError, match="features has dtype int64"):
        greedy_k_centers(np.arange(40).reshape(20, 2), 3)


def test_indexes_store_float32_or_float16_and_say_so() -> None:
    index = HNSWIndex(4)
    with pytest.raises(TypeError, match="float32 or float16"):
        index.add(np.zeros((3, 4), np.float64))
    with pytest.raises(TypeError, match="float32 or float16"):
        index.add(np.zeros((3, 4), np.int32))


class Float64Model:
    """scikit-learn's convention: predict_proba returns float64."""

    def fit(self, x, y):
        self.classes_ = np.unique(y)
        self.w = np.random.default_rng(0).normal(size=(x.shape[1], self.classes_.size))
        return self

    def predict_proba(self, x):
        z = np.asarray(x, np.float64) @ self.w
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)


def test_svp_scores_float64_probabilities_in_float64() -> None:
    x = np.random.default_rng(3).normal(size=(200, 5))
    m = Float64Model().fit(x, np.arange(200) % 3)
    got = svp.select(m, x, 7, strategy="margin", labeled=[0, 1])
    cand = np.arange(2, 200)
    want = cand[reference.most_uncertain(m.predict_proba(x[cand]), 7, method="margin")]
    np.testing.assert_array_equal(got, want)
    assert svp.uncertainty_scores(m, x, "entropy").dtype == np.float64
