"""Pure-NumPy reference twins of panning's kernels, computed in float64.

They define the semantics the native kernels are tested against; they are exact but slow and
materialise whatever they need. Inputs are numpy arrays (convert other frameworks first).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "badge_select",
    "bald",
    "entropy",
    "expand_frontier",
    "hnsw_level_links",
    "knn_graph",
    "knn_search",
    "least_confidence",
    "margin",
    "most_uncertain",
    "pairwise_distances",
    "prune_candidates",
    "uncertainty_key",
]


def _as_float64(x: npt.ArrayLike) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.name == "bfloat16":  # ml_dtypes
        a = a.astype(np.float32)
    a = a.astype(np.float64)
    if a.ndim != 2 or a.shape[1] == 0:
        raise ValueError(f"expected a 2-D [rows, classes] array with classes > 0, got {a.shape}")
    return a


def _invalid_probs(p: np.ndarray) -> np.ndarray:
    """Rows holding a NaN, a negative or an infinite probability."""
    valid: np.ndarray = np.all((p >= 0) & (p < np.inf), axis=1)  # NaN compares False
    return ~valid


def _softmax_parts(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(invalid rows, max, S = sum exp(z - m), e = exp(z - m)) for logits z."""
    invalid = np.any(np.isnan(z) | (z == np.inf), axis=1) | np.all(z == -np.inf, axis=1)
    zz = np.where(invalid[:, None], 0.0, z)
    m = zz.max(axis=1)
    with np.errstate(invalid="ignore"):
        d = zz - m[:, None]
    e = np.exp(d)
    return invalid, m, e.sum(axis=1), e


def _probabilities(x: npt.ArrayLike, from_logits: bool) -> tuple[np.ndarray, np.ndarray]:
    """The invalid-row mask and the rows as probabilities (softmax of logits; invalid rows 0)."""
    a = _as_float64(x)
    if from_logits:
        invalid, _, s, e = _softmax_parts(a)
        return invalid, e / s[:, None]
    invalid = _invalid_probs(a)
    return invalid, np.where(invalid[:, None], 0.0, a)


def entropy(x: npt.ArrayLike, *, from_logits: bool = False) -> np.ndarray:
    """-sum p log p per row (natural log, 0 log 0 = 0); NaN for invalid rows."""
    invalid, p = _probabilities(x, from_logits)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    h = np.maximum(-terms.sum(axis=1), 0.0)
    return np.where(invalid, np.nan, h)


def _top2(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if p.shape[1] == 1:
        return p[:, 0], np.zeros(p.shape[0])
    part = -np.partition(-p, 1, axis=1)
    return part[:, 0], part[:, 1]


def margin(x: npt.ArrayLike, *, from_logits: bool = False) -> np.ndarray:
    """p(top1) - p(top2) per row (a missing second class counts as 0); NaN for invalid rows."""
    invalid, p = _probabilities(x, from_logits)
    first, second = _top2(p)
    return np.where(invalid, np.nan, first - np.maximum(second, 0.0))


def least_confidence(x: npt.ArrayLike, *, from_logits: bool = False) -> np.ndarray:
    """1 - max p per row; NaN for invalid rows."""
    a = _as_float64(x)
    if from_logits:
        invalid, _, s, _ = _softmax_parts(a)
        top = 1.0 / s
    else:
        invalid = _invalid_probs(a)
        top = np.where(invalid[:, None], 0.0, a).max(axis=1)
    return np.where(invalid, np.nan, 1.0 - top)


def bald(probs: npt.ArrayLike) -> np.ndarray:
    """H(mean_s p_s) - mean_s H(p_s) per row of ``probs [samples, rows, classes]`` (nats,
    clamped at 0); NaN where any sample's row is invalid."""
    a = np.asarray(probs)
    if a.dtype.name == "bfloat16":
        a = a.astype(np.float32)
    a = a.astype(np.float64)
    if a.ndim != 3 or a.shape[0] == 0:
        raise ValueError(f"expected [samples, rows, classes] with samples > 0, got {a.shape}")
    s, n, c = a.shape
    flat = a.reshape(s * n, c)
    per_sample = entropy(flat).reshape(s, n)
    invalid = np.isnan(per_sample).any(axis=0)
    mean = np.where(invalid[:, None], 1.0 / c, a.mean(axis=0))
    mi = np.maximum(entropy(mean) - per_sample.mean(axis=0), 0.0)
    return np.where(invalid, np.nan, mi)


def badge_select(probs: npt.ArrayLike, features: npt.ArrayLike, n: int, *, seed: int = 0) -> Any:
    """BADGE's k-means++ seeding with the gradient embeddings materialised ([N, C*d]) and
    explicit squared distances: the twin of :func:`panning.badge.badge_select`."""
    p = np.asarray(probs, dtype=np.float64)
    h = np.asarray(features, dtype=np.float64)
    a = p.copy()
    a[np.arange(p.shape[0]), p.argmax(axis=1)] -= 1.0
    g = (a[:, :, None] * h[:, None, :]).reshape(p.shape[0], -1)
    rng = np.random.default_rng(seed)
    chosen = [int(np.argmax((g * g).sum(1)))]
    min_d2 = np.full(p.shape[0], np.inf)
    for _ in range(1, n):
        d2 = ((g - g[chosen[-1]]) ** 2).sum(1)
        min_d2 = np.minimum(min_d2, d2)
        min_d2[chosen] = 0.0
        nxt = int(np.searchsorted(np.cumsum(min_d2), rng.random() * min_d2.sum(), side="right"))
        chosen.append(min(nxt, p.shape[0] - 1))
    return np.asarray(chosen, dtype=np.int64)


_FUNCS: dict[str, Any] = {
    "entropy": entropy,
    "margin": margin,
    "least_confidence": least_confidence,
    "bald": lambda x, from_logits=False: bald(x),
}


def uncertainty_key(scores: np.ndarray, method: str) -> np.ndarray:
    """Scores mapped so that larger means more uncertain (margin is negated)."""
    return -scores if method == "margin" else scores


def most_uncertain(
    x: npt.ArrayLike,
    k: int,
    *,
    method: str = "entropy",
    from_logits: bool = False,
    candidates: npt.ArrayLike | None = None,
    exclude: npt.ArrayLike | None = None,
    return_scores: bool = False,
) -> Any:
    """The k most uncertain eligible rows, most uncertain first, ties by lower row index (full
    sort); with ``return_scores`` also their scores in the kernel's convention."""
    scores = _FUNCS[method](x, from_logits=from_logits)
    n = scores.shape[0]
    eligible = np.ones(n, dtype=bool)
    if candidates is not None:
        cand = np.asarray(candidates, dtype=np.int64).reshape(-1)
        if cand.size and (cand.min() < 0 or cand.max() >= n):
            raise ValueError("candidate id out of range")
        if np.unique(cand).size != cand.size:
            raise ValueError("candidate ids repeat")
        eligible[:] = False
        eligible[cand] = True
    if exclude is not None:
        excl = np.asarray(exclude, dtype=np.int64).reshape(-1)
        if excl.size and (excl.min() < 0 or excl.max() >= n):
            raise ValueError("exclude id out of range")
        eligible[excl] = False
    bad = np.flatnonzero(np.isnan(scores) & eligible)
    if bad.size:
        raise ValueError(f"row {bad[0]} is invalid")
    rows = np.flatnonzero(eligible)
    if not 0 <= k <= rows.shape[0]:
        raise ValueError("k out of range")
    key = uncertainty_key(scores[rows], method)
    order = rows[np.lexsort((rows, -key))][:k].astype(np.int64)
    return (order, scores[order]) if return_scores else order


# ---- exact nearest neighbours -------------------------------------------------------------------
# Distances follow hnswlib's conventions: "l2" is the squared Euclidean distance, "ip" is
# 1 - <a, b>, "cosine" is 1 - cos(a, b).

METRICS = ("l2", "ip", "cosine")


def pairwise_distances(q: npt.ArrayLike, x: npt.ArrayLike, metric: str = "l2") -> np.ndarray:
    """Exact [len(q), len(x)] distance matrix in float64 (for small inputs and tests)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
    a = np.asarray(q, dtype=np.float64)
    b = np.asarray(x, dtype=np.float64)
    if metric == "cosine":
        a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-30)
        b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-30)
    dot: np.ndarray = a @ b.T
    if metric == "l2":
        d: np.ndarray = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * dot
        out: np.ndarray = np.maximum(d, 0.0)
        return out
    return 1.0 - dot


def knn_search(
    q: npt.ArrayLike, x: npt.ArrayLike, k: int, metric: str = "l2", *, block: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest rows of x for each query: (int64 ids [nq, k], float32 distances [nq, k]).

    Sorted nearest first, ties by lower id; padded with id -1 / distance +inf when k > len(x).
    """
    qa = np.asarray(q)
    xa = np.asarray(x)
    nq, n = qa.shape[0], xa.shape[0]
    ids = np.full((nq, k), -1, dtype=np.int64)
    dist = np.full((nq, k), np.inf, dtype=np.float32)
    kk = min(k, n)
    for s in range(0, nq, block):
        d = pairwise_distances(qa[s : s + block], xa, metric)
        order = np.lexsort((np.broadcast_to(np.arange(n), d.shape), d), axis=1)[:, :kk]
        ids[s : s + block, :kk] = order
        dist[s : s + block, :kk] = np.take_along_axis(d, order, axis=1)
    return ids, dist


def knn_graph(
    x: npt.ArrayLike, k: int, metric: str = "l2", *, block: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Exact kNN graph: each row's k nearest *other* rows (ids [n, k] int64, distances float32).

    Row i never lists itself; ties by lower id; padded with -1 / +inf when k >= len(x).
    """
    xa = np.asarray(x)
    n = xa.shape[0]
    ids = np.full((n, k), -1, dtype=np.int64)
    dist = np.full((n, k), np.inf, dtype=np.float32)
    kk = min(k, n - 1) if n else 0
    for s in range(0, n, block):
        d = pairwise_distances(xa[s : s + block], xa, metric)
        rows = np.arange(s, min(n, s + block))
        d[rows - s, rows] = np.inf  # exclude self
        order = np.lexsort((np.broadcast_to(np.arange(n), d.shape), d), axis=1)[:, :kk]
        ids[s : s + block, :kk] = order
        dist[s : s + block, :kk] = np.take_along_axis(d, order, axis=1)
    return ids, dist


# ---- frontier expansion -------------------------------------------------------------------------


def expand_frontier(
    graph: npt.ArrayLike,
    new_ids: npt.ArrayLike | None,
    labeled: np.ndarray,
    pool: np.ndarray,
    *,
    excluded: np.ndarray | None = None,
    columns: tuple[int, int] | None = None,
) -> np.ndarray:
    """Reference SEALS pool update on boolean masks (``labeled`` and ``pool`` modified in place).

    new_ids become labeled and leave the pool; their graph neighbours (-1 = padding) in columns
    ``columns`` (default: all) that are neither labeled, ``excluded`` nor in the pool enter it.
    ``new_ids=None``: ``graph`` holds one row of neighbours per expanding id and nothing is
    labeled (:meth:`panning.Frontier.expand_rows`). Returns the entering ids, ascending.
    """
    g = np.asarray(graph)
    n = labeled.shape[0]
    start, stop = (0, g.shape[1]) if columns is None else columns
    if new_ids is None:
        rows = g[:, start:stop].ravel()
    else:
        ids = np.asarray(new_ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise ValueError("new id out of range")
        rows = g[ids, start:stop].ravel() if ids.size else np.zeros(0, np.int64)
    if rows.size and (rows.min() < -1 or rows.max() >= n):
        raise ValueError("graph entry out of range")
    if new_ids is not None:
        labeled[ids] = True
        pool[ids] = False
    cand = np.unique(rows[rows >= 0])
    blocked = labeled[cand] | pool[cand]
    if excluded is not None:
        blocked |= excluded[cand]
    entering = cand[~blocked]
    pool[entering] = True
    out: np.ndarray = entering.astype(np.int64)
    return out


def _pair_distance(x: np.ndarray, a: int, b: int, metric: str) -> float:
    if metric == "l2":
        d = x[a] - x[b]
        return float(d @ d)
    return float(1.0 - x[a] @ x[b])


def _select_diverse(
    x: np.ndarray, cands: list[tuple[float, int]], m: int, metric: str
) -> list[tuple[float, int]]:
    """HNSW's heuristic selection over (distance, id) pairs sorted nearest first."""
    if len(cands) <= m:
        return list(cands)
    kept: list[tuple[float, int]] = []
    for d, c in cands:
        if len(kept) >= m:
            break
        if all(_pair_distance(x, c, r, metric) >= d for _, r in kept):
            kept.append((d, c))
    return kept


def prune_candidates(
    x: npt.ArrayLike, cand: npt.ArrayLike, cand_dist: npt.ArrayLike, m: int, metric: str = "l2"
) -> np.ndarray:
    """Twin of step 2 of :meth:`panning.HNSWIndex.build`: each row's candidates (``-1`` pads,
    sorted by (distance, id)) reduced by HNSW's heuristic to at most ``m`` ids (``-1`` pads).
    ``metric`` is ``"l2"`` or ``"ip"`` (cosine callers normalise ``x``)."""
    xf = np.asarray(x, dtype=np.float64)
    ids = np.asarray(cand)
    dist = np.asarray(cand_dist, dtype=np.float64)
    out = np.full((len(xf), m), -1, dtype=np.int64)
    for i in range(len(xf)):
        row = [(float(d), int(c)) for d, c in zip(dist[i], ids[i]) if c >= 0]
        kept = _select_diverse(xf, row, m, metric)
        out[i, : len(kept)] = [c for _, c in kept]
    return out


def hnsw_level_links(
    x: npt.ArrayLike,
    fwd: npt.ArrayLike,
    fwd_dist: npt.ArrayLike,
    reverse_cap: int,
    m: int,
    metric: str = "l2",
) -> np.ndarray:
    """Twin of steps 3-4 of :meth:`panning.HNSWIndex.build`: every row's forward links plus the
    ``reverse_cap`` nearest rows linking to it (by (distance, id)), deduplicated (the nearer
    copy stays), sorted, and selected again to at most ``m`` ids (``-1`` pads)."""
    xf = np.asarray(x, dtype=np.float64)
    f = np.asarray(fwd)
    fd = np.asarray(fwd_dist, dtype=np.float64)
    offers: list[list[tuple[float, int]]] = [[] for _ in range(len(xf))]
    for u in range(len(xf)):
        for v, d in zip(f[u], fd[u]):
            if v >= 0:
                offers[int(v)].append((float(d), u))
    out = np.full((len(xf), m), -1, dtype=np.int64)
    for v in range(len(xf)):
        rev = sorted(offers[v])[:reverse_cap]
        merged: list[tuple[float, int]] = []
        for d, c in sorted([(float(d), int(c)) for d, c in zip(fd[v], f[v]) if c >= 0] + rev):
            if all(c != c2 for _, c2 in merged):
                merged.append((d, c))
        kept = _select_diverse(xf, merged, m, metric)
        out[v, : len(kept)] = [c for _, c in kept]
    return out
