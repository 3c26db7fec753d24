"""Does a proxy rank the data like the target? Rank correlations and selection overlap.

Selection via Proxy rests on one measurement (Coleman et al., ICLR 2020, section 3): the rank
correlation between a small proxy's and a large target's uncertainty scores over the unlabeled
pool is high, and so the sets they select overlap. These functions measure both, in NumPy with
O(n log n) time and O(n) memory, so pools of millions are fine. Ties get average ranks, as in
``scipy.stats.spearmanr`` and ``scipy.stats.kendalltau`` (tau-b), which they agree with.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ._device import to_numpy

__all__ = ["kendall_tau", "rankdata", "selection_overlap", "spearman"]


def _as_1d(x: Any, what: str) -> np.ndarray:
    a = to_numpy(x)  # torch tensors on any device and cupy arrays are copied to the host
    if a.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if np.isnan(a).any():
        raise ValueError(f"{what} contains NaN")
    return a


def _pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_1d(a, "a"), _as_1d(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same length, got {x.size} and {y.size}")
    if x.size < 2:
        raise ValueError("rank correlation needs at least 2 items")
    return x, y


def rankdata(x: npt.ArrayLike) -> np.ndarray:
    """Ranks 1..n of a 1-D array, ties sharing the average of their ranks (float64).

    Examples
    --------
    >>> from panning.agreement import rankdata
    >>> rankdata([10, 20, 10, 30]).tolist()
    [1.5, 3.0, 1.5, 4.0]
    """
    a = _as_1d(x, "x")
    n = a.size
    order = np.argsort(a, kind="stable")
    sorted_a = a[order]
    starts = np.flatnonzero(np.r_[True, sorted_a[1:] != sorted_a[:-1]]) if n else np.empty(0, int)
    ends = np.r_[starts[1:], n]
    avg = (starts + ends + 1) / 2.0  # mean of the 1-based ranks starts+1 .. ends
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def spearman(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Spearman's rank correlation: the Pearson correlation of average ranks.

    Returns NaN when either input is constant (as scipy does).

    Examples
    --------
    >>> from panning.agreement import spearman
    >>> spearman([1, 2, 3, 4], [10, 20, 30, 40])
    1.0
    >>> spearman([1, 2, 3, 4], [4, 3, 2, 1])
    -1.0
    """
    x, y = _pair(a, b)
    rx, ry = rankdata(x), rankdata(y)
    rx -= rx.mean()
    ry -= ry.mean()
    denom = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    if denom == 0.0:
        return float("nan")
    return float(np.clip((rx * ry).sum() / denom, -1.0, 1.0))


def _dense_ranks(a: np.ndarray) -> np.ndarray:
    return np.unique(a, return_inverse=True)[1].astype(np.int64).ravel()


def _tie_pairs(keys: np.ndarray) -> int:
    counts = np.unique(keys, return_counts=True)[1].astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def _count_inversions(v: np.ndarray) -> int:
    """Pairs i < j with v[i] > v[j], by a bottom-up merge sort vectorised per level."""
    n = v.size
    if n < 2:
        return 0
    m = int(v.max()) + 1
    idx = np.arange(n, dtype=np.int64)
    inversions = 0
    width = 1
    while width < n:
        pair = idx // (2 * width)
        is_right = (idx // width) % 2 == 1
        keys = pair * m + v  # v is sorted inside every block of `width`
        left = keys[~is_right]  # globally sorted: pair ids ascend, blocks are sorted
        right_keys = keys[is_right]
        right_pair = pair[is_right]
        not_greater = np.searchsorted(left, right_keys, side="right")
        left_end = np.searchsorted(left, (right_pair + 1) * m, side="left")
        inversions += int((left_end - not_greater).sum())
        v = np.sort(keys) - pair * m  # merge: each pair of blocks becomes one sorted block
        width *= 2
    return inversions


def kendall_tau(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Kendall's tau-b (ties accounted for), in O(n log^2 n) time and O(n) memory.

    Returns NaN when either input is constant (as scipy does).

    Examples
    --------
    >>> from panning.agreement import kendall_tau
    >>> kendall_tau([1, 2, 3, 4], [1, 3, 2, 4])
    0.6666666666666666
    """
    x, y = _pair(a, b)
    rx, ry = _dense_ranks(x), _dense_ranks(y)
    n = rx.size
    total = n * (n - 1) // 2
    x_ties = _tie_pairs(rx)
    y_ties = _tie_pairs(ry)
    joint_ties = _tie_pairs(rx * (int(ry.max()) + 1) + ry)
    # Sorted by (x, y), pairs tied in x are in y order, so the strict inversions of y are exactly
    # the discordant pairs (Knight 1966).
    order = np.lexsort((ry, rx))
    discordant = _count_inversions(ry[order])
    concordant = total - x_ties - y_ties + joint_ties - discordant
    denom = np.sqrt(float(total - x_ties) * float(total - y_ties))
    if denom == 0.0:
        return float("nan")
    return float(np.clip((concordant - discordant) / denom, -1.0, 1.0))


def selection_overlap(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Fraction of shared items between two selections: ``|A & B| / min(|A|, |B|)``.

    For two selections of the same size this is the share of one that the other also picked
    (1.0 = identical sets). Order does not matter; duplicates are ignored.

    Examples
    --------
    >>> from panning.agreement import selection_overlap
    >>> selection_overlap([1, 2, 3, 4], [3, 4, 5, 6])
    0.5
    """
    sa = np.unique(np.asarray(a).ravel())
    sb = np.unique(np.asarray(b).ravel())
    if sa.size == 0 or sb.size == 0:
        raise ValueError("selection_overlap needs two non-empty selections")
    shared = np.intersect1d(sa, sb, assume_unique=True).size
    return float(shared / min(sa.size, sb.size))
