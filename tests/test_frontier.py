"""Frontier expansion against the NumPy reference: exact parity, round after round."""

from __future__ import annotations

import numpy as np
import pytest

from panning import Frontier, reference


def _graph(n: int, k: int, seed: int, pad_fraction: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n, size=(n, k), dtype=np.int64)
    g[rng.random((n, k)) < pad_fraction] = -1
    return g


@pytest.mark.parametrize("n,k", [(1, 1), (63, 3), (64, 5), (65, 5), (5000, 10), (20_000, 32)])
def test_multi_round_parity_with_reference(n: int, k: int) -> None:
    rng = np.random.default_rng(n + k)
    graph = _graph(n, k, seed=n)
    frontier = Frontier(n)
    labeled = np.zeros(n, bool)
    pool = np.zeros(n, bool)
    for _ in range(8):
        batch = rng.integers(0, n, size=min(n, 50))  # repeats and already-labeled ids included
        got = frontier.expand(graph, batch)
        want = reference.expand_frontier(graph, batch, labeled, pool)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(frontier.pool_ids(), np.flatnonzero(pool))
        np.testing.assert_array_equal(frontier.labeled_ids(), np.flatnonzero(labeled))
        assert frontier.pool_size == pool.sum() and frontier.labeled_count == labeled.sum()
        # the pool never holds a labeled id, and the entering ids are new
        assert not np.any(pool & labeled)


def test_pool_recomputed_from_scratch_matches_incremental() -> None:
    n, k = 3000, 8
    graph = _graph(n, k, seed=1, pad_fraction=0.0)
    rng = np.random.default_rng(2)
    frontier = Frontier(n)
    all_labeled: list[np.ndarray] = []
    for _ in range(6):
        batch = rng.choice(n, size=40, replace=False)
        frontier.expand(graph, batch)
        all_labeled.append(batch)
    labeled = np.unique(np.concatenate(all_labeled))
    scratch = np.setdiff1d(np.unique(graph[labeled].ravel()), labeled)
    np.testing.assert_array_equal(frontier.pool_ids(), scratch)


def test_strided_graph_and_empty_batch() -> None:
    n = 100
    wide = _graph(n, 20, seed=3)
    graph = wide[:, ::2]  # a strided view: no copy needed
    frontier = Frontier(n)
    assert frontier.expand(graph, np.zeros(0, np.int64)).shape == (0,)
    labeled, pool = np.zeros(n, bool), np.zeros(n, bool)
    batch = np.array([5, 7, 5])
    np.testing.assert_array_equal(
        frontier.expand(graph, batch), reference.expand_frontier(graph, batch, labeled, pool)
    )


def test_invalid_ids_raise_and_leave_state_intact() -> None:
    n = 10
    graph = _graph(n, 3, seed=4, pad_fraction=0.0)
    frontier = Frontier(n)
    frontier.expand(graph, np.array([1]))
    before = (frontier.pool_ids().copy(), frontier.labeled_ids().copy())
    with pytest.raises(ValueError, match=r"new_ids\[1\] = 10 is not a dataset id in \[0, 10\)"):
        frontier.expand(graph, np.array([2, 10]))
    with pytest.raises(ValueError, match=r"new_ids\[0\] = -3"):
        frontier.expand(graph, np.array([-3]))
    bad = graph.copy()
    bad[4, 2] = 99
    with pytest.raises(ValueError, match="holds 99, which is neither -1 nor an id"):
        frontier.expand(bad, np.array([3, 4]))
    np.testing.assert_array_equal(frontier.pool_ids(), before[0])
    np.testing.assert_array_equal(frontier.labeled_ids(), before[1])


def test_bad_types_and_shapes() -> None:
    graph = _graph(10, 3, seed=5)
    frontier = Frontier(10)
    with pytest.raises(TypeError, match="int64"):
        frontier.expand(graph.astype(np.int32), np.array([1]))
    with pytest.raises(TypeError, match="int64"):
        frontier.expand(graph, np.array([1], dtype=np.int32))
    with pytest.raises(ValueError, match=r"\[n=10, k\]"):
        frontier.expand(graph[:5], np.array([1]))
    with pytest.raises(ValueError, match="unknown device"):
        Frontier(10, device="tpu")
    with pytest.raises(ValueError, match=">= 0"):
        Frontier(-1)


def test_discard_removes_from_pool_only() -> None:
    graph = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])
    frontier = Frontier(4)
    frontier.expand(graph, np.array([0]))
    frontier.discard([2])
    assert frontier.pool_ids().tolist() == [1, 3]
    assert frontier.labeled_ids().tolist() == [0]
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        frontier.discard([4])


@pytest.mark.parametrize("n,k", [(64, 5), (5000, 10), (20_000, 32)])
def test_excluded_columns_and_rows_form_match_reference(n: int, k: int) -> None:
    """SEALS' use: label every new id, expand only some of them (from index rows or the graph),
    a column range at a time (widening), never admitting an excluded id."""
    rng = np.random.default_rng(k)
    graph = _graph(n, k, seed=n + 1)
    exclude = rng.choice(n, size=n // 5, replace=False)
    excluded = np.zeros(n, bool)
    excluded[exclude] = True
    frontier = Frontier(n, exclude=exclude)
    labeled, pool = np.zeros(n, bool), np.zeros(n, bool)
    for r in range(8):
        batch = rng.choice(np.flatnonzero(~excluded), size=min(n // 4, 40), replace=False)
        frontier.label(batch)
        reference.expand_frontier(graph[:, :0], batch, labeled, pool)
        expanders = batch[: len(batch) // 3]
        start = r % 3
        cols = (start, min(k, start + 4))
        if r % 2:  # rows form: the expanders' neighbour lists as an index query returns them
            got = frontier.expand_rows(graph[expanders], columns=cols)
            want = reference.expand_frontier(
                graph[expanders], None, labeled, pool, excluded=excluded, columns=cols
            )
        else:  # graph form, already labeled expanders
            got = frontier.expand(graph, expanders, columns=cols)
            want = reference.expand_frontier(
                graph, expanders, labeled, pool, excluded=excluded, columns=cols
            )
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(frontier.pool_ids(), np.flatnonzero(pool))
        np.testing.assert_array_equal(frontier.labeled_ids(), np.flatnonzero(labeled))
        assert not np.any(pool & (labeled | excluded))
    np.testing.assert_array_equal(frontier.free_ids(), np.flatnonzero(~(labeled | excluded)))
    probe = rng.integers(0, n, size=200)
    np.testing.assert_array_equal(frontier.is_labeled(probe), labeled[probe])
    np.testing.assert_array_equal(frontier.is_excluded(probe), excluded[probe])


def test_rows_form_and_column_errors() -> None:
    frontier = Frontier(10, exclude=[9])
    rows = np.array([[1, 2, 3], [4, -1, 12]])
    with pytest.raises(ValueError, match=r"row 1 of the neighbour lists holds 12"):
        frontier.expand_rows(rows)
    assert frontier.pool_size == 0  # nothing changed
    assert frontier.expand_rows(rows, columns=(0, 2)).tolist() == [1, 2, 4]
    with pytest.raises(ValueError, match="columns"):
        frontier.expand_rows(rows, columns=(2, 4))
    with pytest.raises(ValueError, match="columns"):
        frontier.expand_rows(rows, columns=(2, 1))
    with pytest.raises(ValueError, match=r"exclude ids must lie in \[0, 10\)"):
        Frontier(10, exclude=[10])
    with pytest.raises(TypeError, match="integer ids"):
        Frontier(10, exclude=[0.5])
    with pytest.raises(ValueError, match=r"new_ids\[0\] = 10"):
        frontier.label(np.array([10]))
    frontier.label(np.array([2]))
    assert frontier.pool_ids().tolist() == [1, 4] and frontier.labeled_ids().tolist() == [2]
