"""BADGE: the factored O(N)-memory k-means++ against the materialised NumPy twin; the strategy
in Seals and svp."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from panning import Seals, reference, svp
from panning.badge import badge_select
from panning.models import SoftmaxRegression

HAS_TORCH = importlib.util.find_spec("torch") is not None


def _inputs(n: int = 800, c: int = 5, d: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(c), size=n)
    h = rng.normal(size=(n, d))
    return p, h


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_badge_matches_the_materialised_twin(seed: int) -> None:
    p, h = _inputs(seed=seed)
    got = badge_select(p, h, 40, seed=seed)
    np.testing.assert_array_equal(got, reference.badge_select(p, h, 40, seed=seed))
    assert np.unique(got).size == 40


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_badge_torch_matches_numpy() -> None:
    import torch

    p, h = _inputs(seed=3)
    got = badge_select(torch.from_numpy(p), torch.from_numpy(h), 30, seed=3)
    np.testing.assert_array_equal(got, badge_select(p, h, 30, seed=3))


def test_badge_edge_cases() -> None:
    p, h = _inputs(50)
    assert badge_select(p, h, 0).shape == (0,)
    assert np.unique(badge_select(p, h, 50)).size == 50  # every row, no repeats
    same = badge_select(np.tile(p[:1], (5, 1)), np.tile(h[:1], (5, 1)), 3)
    assert same.tolist() == [0, 1, 2]  # duplicates: lowest unchosen rows
    with pytest.raises(ValueError, match="out of range"):
        badge_select(p, h, 51)
    with pytest.raises(TypeError, match="int64"):
        badge_select(p, np.ones((50, 2), np.int64), 3)


def test_badge_strategy_in_svp_and_seals() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1)
    labeled = np.arange(0, 500, 10)
    m = SoftmaxRegression(epochs=5).fit(x[labeled], y[labeled])
    ids = svp.select(m, x, 15, strategy="badge", labeled=labeled, seed=1)
    assert ids.shape == (15,) and np.unique(ids).size == 15 and not np.isin(ids, labeled).any()
    s = Seals(x, k=10, strategy="badge", candidates="all")
    s.teach(labeled, y[labeled])
    assert s.query(8).shape == (8,)
