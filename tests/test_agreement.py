"""Rank correlations and overlap, against hand values and (when installed) scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from panning.agreement import kendall_tau, rankdata, selection_overlap, spearman


def test_rankdata_average_ties():
    assert rankdata([3, 1, 3, 2, 3]).tolist() == [4.0, 1.0, 4.0, 2.0, 4.0]


def test_hand_values():
    assert spearman([1, 2, 3], [1, 2, 3]) == 1.0
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0
    # x = [1, 2, 3, 4], y = [1, 3, 2, 4]: 5 concordant, 1 discordant pair -> tau = 4/6
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # tau-b with ties: x = [1, 1, 2], y = [1, 2, 3]: C=2, D=0, x-ties=1 -> 2 / sqrt(2 * 3)
    assert kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6))
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(kendall_tau([1, 2, 3], [5, 5, 5]))


def _brute_tau_b(x, y):
    n = len(x)
    c = d = tx = ty = 0
    for i in range(n):
        for j in range(i + 1, n):
            sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            if sx == 0 and sy == 0:
                continue
            if sx == 0:
                tx += 1
            elif sy == 0:
                ty += 1
            elif sx == sy:
                c += 1
            else:
                d += 1
    return (c - d) / math.sqrt((c + d + tx) * (c + d + ty))


@pytest.mark.parametrize("n", [2, 3, 10, 57, 200])
def test_kendall_matches_brute_force_with_ties(n):
    rng = np.random.default_rng(n)
    x = rng.integers(0, 6, n).astype(float)
    y = rng.integers(0, 4, n) + 0.5 * x
    if np.unique(x).size < 2 or np.unique(y).size < 2:
        x[0], y[0] = -1.0, -1.0
    assert kendall_tau(x, y) == pytest.approx(_brute_tau_b(x, y), abs=1e-12)


def test_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 50, 3000).astype(np.float32)
    y = x + rng.normal(0, 20, 3000)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
    assert kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y)[0], abs=1e-12)


def test_errors_and_overlap():
    with pytest.raises(ValueError, match="same length"):
        spearman([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="NaN"):
        kendall_tau([1.0, np.nan], [1, 2])
    with pytest.raises(ValueError, match="at least 2"):
        kendall_tau([1], [1])
    assert selection_overlap([1, 2, 3, 4], [4, 3, 9, 8]) == 0.5
    assert selection_overlap(np.arange(10), np.arange(5)) == 1.0
    with pytest.raises(ValueError, match="non-empty"):
        selection_overlap([], [1])
