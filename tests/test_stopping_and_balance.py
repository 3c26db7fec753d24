"""Class-balanced selection and stopping criteria, in Seals and svp loops (data made here)."""

from __future__ import annotations

import numpy as np
import pytest

from panning import Seals, svp
from panning.models import SoftmaxRegression
from panning.stopping import MaxConfidence, StabilizingPredictions, cohen_kappa
from panning.strategies import ClassBalanced, _quotas


def blobs(n: int = 600, classes: int = 3, seed: int = 0, weights=None):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, size=(classes, 5))
    y = rng.choice(classes, n, p=weights)
    return (centers[y] + rng.normal(size=(n, 5))).astype(np.float32), y


def test_quotas() -> None:
    assert _quotas(np.array([100, 100, 100]), 9, "equal").tolist() == [3, 3, 3]
    assert _quotas(np.array([80, 10, 10]), 10, "proportional").tolist() == [8, 1, 1]
    assert _quotas(np.array([1, 50, 50]), 9, "equal").tolist() == [1, 4, 4]  # refilled
    assert _quotas(np.array([5, 5]), 10, "equal").tolist() == [5, 5]


@pytest.mark.parametrize("mode", ["equal", "proportional"])
def test_class_balanced_in_svp_and_seals(mode: str) -> None:
    x, y = blobs(weights=[0.8, 0.1, 0.1])
    labeled = np.arange(0, 600, 6)
    m = SoftmaxRegression(epochs=30).fit(x[labeled], y[labeled])
    strat = ClassBalanced("margin", mode=mode)
    ids = svp.select(m, x, 30, strategy=strat, labeled=labeled)
    assert ids.shape == (30,) and np.unique(ids).size == 30
    pred = m.predict_proba(x[ids]).argmax(1)
    counts = np.bincount(pred, minlength=3)
    unl = np.setdiff1d(np.arange(600), labeled)
    sizes = np.bincount(m.predict_proba(x[unl]).argmax(1), minlength=3)
    np.testing.assert_array_equal(counts, _quotas(sizes[sizes > 0], 30, mode))
    # within a class the base strategy's order: the class's own most uncertain first
    plain = svp.select(m, x, 30, strategy="margin", labeled=labeled)
    assert np.bincount(m.predict_proba(x[plain]).argmax(1), minlength=3).tolist() != counts.tolist()
    s = Seals(x, k=10, strategy=strat, candidates="all")
    s.teach(labeled, y[labeled])
    assert s.query(12).shape == (12,)


def test_cohen_kappa_matches_its_definition() -> None:
    a = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    b = np.array([0, 1, 1, 1, 2, 0, 0, 1])
    po = np.mean(a == b)
    pe = sum(np.mean(a == c) * np.mean(b == c) for c in range(3))
    assert cohen_kappa(a, b) == pytest.approx((po - pe) / (1 - pe))
    assert cohen_kappa(np.zeros(4), np.zeros(4)) == 1.0


def test_stopping_criteria_in_a_seals_loop() -> None:
    x, y = blobs(900, seed=1)
    stop_set = x[np.arange(1, 900, 9)]
    s = Seals(x, k=10, strategy="entropy", expand="all", candidates="all", seed=0)
    seed = np.r_[[np.flatnonzero(y == c)[0] for c in range(3)]]
    s.teach(seed, y[seed])
    stable = StabilizingPredictions(threshold=0.99, window=2)
    confident = MaxConfidence(threshold=0.6)
    rounds = 0
    while not (stable.stop and confident.stop) and rounds < 30:
        ids = s.query(10)
        confident.update(s.predict_proba(x[ids]))
        s.teach(ids, y[ids])
        stable.update(s.predict_proba(stop_set))
        rounds += 1
    assert stable.stop and confident.stop and rounds < 30  # easy blobs: it stops early
    assert len(stable.kappas) == rounds - 1 and min(stable.kappas[-2:]) >= 0.99
    assert confident.history[-1] >= 0.6


def test_stopping_criteria_in_an_svp_loop_and_bad_arguments() -> None:
    x, y = blobs(seed=2)
    labeled = np.arange(0, 600, 50)
    crit = MaxConfidence(threshold=0.999999)
    m = SoftmaxRegression(epochs=5).fit(x[labeled], y[labeled])
    ids = svp.select(m, x, 5, strategy="least_confidence", labeled=labeled)
    assert not crit.update(m.predict_proba(x[ids]))  # the most uncertain are not that confident
    with pytest.raises(ValueError):
        StabilizingPredictions(threshold=0.0)
    with pytest.raises(ValueError):
        MaxConfidence(threshold=1.5)
