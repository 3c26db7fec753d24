"""Greedy k-centers against a slow, obviously-correct NumPy version."""

from __future__ import annotations

import numpy as np
import pytest

from panning.kcenter import greedy_k_centers


def slow_k_centers(x, budget, initial=(), random_start=None):
    """Farthest-first traversal with every distance recomputed from scratch (float64)."""
    x = np.asarray(x, dtype=np.float64)
    centers = list(initial)
    picks = []
    if not centers:
        centers.append(random_start)
        picks.append(random_start)
    while len(picks) < budget:
        best, best_d = -1, -1.0
        for i in range(x.shape[0]):
            if i in centers:
                continue
            d = min(float(((x[i] - x[c]) ** 2).sum()) for c in centers)
            if d > best_d:  # strict: ties keep the lower index
                best, best_d = i, d
        centers.append(best)
        picks.append(best)
    return picks


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n,d,budget", [(60, 3, 15), (150, 8, 40)])
def test_matches_slow_reference_from_random_start(dtype, n, d, budget):
    rng = np.random.default_rng(n + d)
    x = rng.normal(size=(n, d)).astype(dtype)
    got = greedy_k_centers(x, budget, seed=7, tile=16)
    start = int(np.random.default_rng(7).choice(np.arange(n), size=1, replace=False)[0])
    assert got[0] == start
    assert got.tolist() == slow_k_centers(x, budget, random_start=start)


def test_matches_slow_reference_with_initial_centers_and_tiles():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(90, 5))
    init = [4, 17, 50, 51, 88]
    expected = slow_k_centers(x, 20, initial=init)
    for tile in (1, 7, 1000):
        assert greedy_k_centers(x, 20, initial_centers=init, tile=tile).tolist() == expected


def test_random_seed_points_count_inside_budget():
    x = np.random.default_rng(0).normal(size=(50, 2))
    picks = greedy_k_centers(x, 5, random_seeds=3, seed=1)
    assert picks.size == 5
    assert len(set(picks.tolist())) == 5
    assert greedy_k_centers(x, 2, random_seeds=3, seed=1).size == 2


def test_ties_go_to_lower_index_and_chosen_rows_are_not_repicked():
    x = np.zeros((6, 2), dtype=np.float32)
    x[3:] = 1.0
    assert greedy_k_centers(x, 5, initial_centers=[0]).tolist() == [3, 1, 2, 4, 5]


def test_candidates_restrict_the_picks():
    x = np.random.default_rng(1).normal(size=(40, 3)).astype(np.float32)
    cand = np.arange(10, 30)
    picks = greedy_k_centers(x, 8, initial_centers=[0, 1], candidates=cand)
    assert set(picks.tolist()) <= set(cand.tolist())
    full = slow_k_centers(x[np.r_[0, 1, cand]], 8, initial=[0, 1])
    assert picks.tolist() == [int(np.r_[0, 1, cand][i]) for i in full]


def test_memmap_and_float16_inputs(tmp_path):
    x = np.random.default_rng(2).normal(size=(70, 4)).astype(np.float16)
    path = tmp_path / "x.npy"
    np.save(path, x)
    mm = np.load(path, mmap_mode="r")
    expected = greedy_k_centers(x.astype(np.float32), 12, initial_centers=[5])
    assert greedy_k_centers(mm, 12, initial_centers=[5], tile=8).tolist() == expected.tolist()


def test_errors():
    x = np.zeros((5, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="out of range"):
        greedy_k_centers(x, 6)
    with pytest.raises(ValueError, match="out of range"):
        greedy_k_centers(x, 5, initial_centers=[0])
    with pytest.raises(ValueError, match="2-D"):
        greedy_k_centers(np.zeros(5), 1)
    with pytest.raises(ValueError, match="initial_centers"):
        greedy_k_centers(x, 1, initial_centers=[9])
    with pytest.raises(TypeError, match="integer"):
        greedy_k_centers(x, 1.5)  # type: ignore[arg-type]
    assert greedy_k_centers(x, 0).size == 0


def test_torch_path_matches_numpy():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).normal(size=(120, 6))
    for init in ([], [3, 99]):
        expected = greedy_k_centers(x, 25, initial_centers=init, seed=2, tile=32)
        got = greedy_k_centers(torch.from_numpy(x), 25, initial_centers=init, seed=2, tile=32)
        assert got.tolist() == expected.tolist()


@pytest.mark.gpu
def test_cuda_paths_match_numpy():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    x = np.random.default_rng(5).normal(size=(3000, 16)).astype(np.float32)
    expected = greedy_k_centers(x.astype(np.float64), 50, initial_centers=[1, 2], tile=512)
    got = greedy_k_centers(
        torch.from_numpy(x).double().cuda(), 50, initial_centers=[1, 2], tile=512
    )
    assert got.tolist() == expected.tolist()
    try:
        import cupy
    except ImportError:
        return
    got_cp = greedy_k_centers(cupy.asarray(x, dtype=cupy.float64), 50, initial_centers=[1, 2])
    assert got_cp.tolist() == expected.tolist()
