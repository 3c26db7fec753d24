"""Greedy k-centers (farthest-first traversal) in O(N) memory, on the CPU or the GPU.

Sener & Savarese (ICLR 2018) select the point farthest from everything chosen so far; Selection via
Proxy (Coleman et al., ICLR 2020) runs it on a proxy's penultimate-layer features. Public versions
keep an ``|L| x N`` distance matrix (DeepCore, DISTIL) — hundreds of GB at ImageNet scale. Here the
state is one running minimum distance per point (``N`` floats), updated after every pick with one
matrix-vector product over the pool; the distances from an initial set of centers are computed in
``tile x tile`` blocks of matrix products, so no temporary grows with ``|L| * N``.

Distances are squared Euclidean, ``|x|^2 + |c|^2 - 2 x.c`` clamped at 0, computed in float32 (or
float64 for float64 input). NumPy's BLAS runs the CPU path; torch tensors run on their own device
(CPU or CUDA) and cupy arrays on theirs, with the picks kept on the device until the end.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import numpy.typing as npt

from ._arrays import as_int, check_float_dtype, is_cupy, is_torch

__all__ = ["greedy_k_centers"]

_DEFAULT_TILE = 16384


def greedy_k_centers(
    features: Any,
    budget: int,
    *,
    initial_centers: npt.ArrayLike | None = None,
    candidates: npt.ArrayLike | None = None,
    random_seeds: int = 1,
    seed: int = 0,
    tile: int = _DEFAULT_TILE,
) -> np.ndarray:
    """Pick ``budget`` rows of ``features`` by greedy farthest-first traversal.

    Each pick is the candidate whose distance to its nearest center (the initial centers and
    every earlier pick) is largest; ties go to the lower row index. Memory beyond the features is
    O(N): one running minimum distance and one squared norm per row, plus a bounded tile.

    Parameters
    ----------
    features : array [N, d]
        A numpy array (a memory map too), a torch tensor (CPU or CUDA), a cupy array or a
        nested list. float32 and float64 are used as they are; float16 and bfloat16 are
        converted to float32 once; integer, boolean and complex features are refused with a
        TypeError (the package's dtype policy, ``panning._arrays``).
    budget : int
        How many rows to pick, ``0 <= budget <= number of candidates``.
    initial_centers : array of int, optional
        Rows already chosen (e.g. the labeled set in active learning). They are centers from the
        start and are never picked. When given and non-empty, no random seed points are drawn.
    candidates : array of int, optional
        Rows that may be picked (default: every row not in ``initial_centers``).
    random_seeds : int
        With no initial centers, this many random candidates start the traversal. They are part
        of the ``budget`` (the reference code added them on top of it).
    seed : int
        Seed of the random starting points.
    tile : int
        Rows per block when computing distances from the initial centers.

    Returns
    -------
    int64 numpy array [budget]: the picked rows in pick order.

    Examples
    --------
    >>> import numpy as np
    >>> from panning.kcenter import greedy_k_centers
    >>> x = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [0.0, 3.0]], dtype=np.float32)
    >>> greedy_k_centers(x, 2, initial_centers=[0]).tolist()
    [2, 3]
    """
    budget = as_int(budget, "budget")
    random_seeds = as_int(random_seeds, "random_seeds")
    tile = as_int(tile, "tile")
    if tile <= 0:
        raise ValueError(f"tile must be positive, got {tile}")
    if not hasattr(features, "shape"):
        features = np.asarray(features)
    check_float_dtype(features.dtype, "features")  # the package's dtype policy
    shape = tuple(features.shape)
    if len(shape) != 2:
        raise ValueError(f"features must be 2-D [rows, dims], got shape {shape}")
    n = int(shape[0])
    init = np.unique(np.asarray([] if initial_centers is None else initial_centers, np.int64))
    if init.size and (init[0] < 0 or init[-1] >= n):
        raise ValueError(f"initial_centers must be row indices in [0, {n})")
    allowed = np.ones(n, dtype=bool)
    if candidates is not None:
        cand = np.asarray(candidates, dtype=np.int64).ravel()
        if cand.size and (cand.min() < 0 or cand.max() >= n):
            raise ValueError(f"candidates must be row indices in [0, {n})")
        allowed[:] = False
        allowed[cand] = True
    allowed[init] = False
    n_allowed = int(allowed.sum())
    if budget < 0 or budget > n_allowed:
        raise ValueError(
            f"budget={budget} is out of range: {n_allowed} rows can be picked "
            "(need 0 <= budget <= candidates)"
        )
    if random_seeds < 0:
        raise ValueError(f"random_seeds must be >= 0, got {random_seeds}")
    if budget == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.empty(0, dtype=np.int64)
    if init.size == 0:
        n_start = max(1, min(random_seeds, budget))
        rng = np.random.default_rng(seed)
        starts = rng.choice(np.flatnonzero(allowed), size=n_start, replace=False).astype(np.int64)
    if is_torch(features):
        return _torch_k_centers(features, budget, init, starts, allowed, tile)
    xp: Any = np
    if is_cupy(features):
        xp = sys.modules["cupy"]
    return _array_k_centers(xp, features, budget, init, starts, allowed, tile)


def _array_k_centers(
    xp: Any,
    features: Any,
    budget: int,
    init: np.ndarray,
    starts: np.ndarray,
    allowed: np.ndarray,
    tile: int,
) -> np.ndarray:
    """numpy (BLAS) or cupy (cuBLAS) traversal; both expose the same array API."""
    x = features
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    n = x.shape[0]
    dtype = x.dtype
    sq_norms = xp.empty(n, dtype=dtype)
    for s in range(0, n, tile):  # a memory map is read in tiles, never fully materialised twice
        block = xp.asarray(x[s : s + tile])
        sq_norms[s : s + tile] = xp.einsum("ij,ij->i", block, block)
    min_dist = xp.full(n, np.inf, dtype=dtype)
    for c0 in range(0, init.size, tile):
        centers = xp.asarray(x[init[c0 : c0 + tile]])
        c_norms = sq_norms[xp.asarray(init[c0 : c0 + tile])]
        for s in range(0, n, tile):
            block = xp.asarray(x[s : s + tile])
            d = block @ centers.T
            d *= -2.0
            d += sq_norms[s : s + tile, None]
            d += c_norms[None, :]
            xp.minimum(min_dist[s : s + tile], d.min(axis=1), out=min_dist[s : s + tile])
    xp.maximum(min_dist, 0.0, out=min_dist)  # rounding in |x|^2 + |c|^2 - 2 x.c
    # Rows that may not be picked get -1 so argmax never returns them (true distances are >= 0).
    min_dist[xp.asarray(~allowed)] = -1.0
    picks = np.empty(budget, dtype=np.int64)
    for i in range(budget):
        if i < starts.size:
            idx = int(starts[i])
        else:
            idx = int(xp.argmax(min_dist))  # first maximum: ties go to the lower index
        picks[i] = idx
        center = xp.asarray(x[idx])
        d = x @ center
        d *= -2.0
        d += sq_norms
        d += sq_norms[idx]
        xp.maximum(d, 0.0, out=d)
        xp.minimum(min_dist, d, out=min_dist)
        min_dist[idx] = -1.0
    return picks


def _torch_k_centers(
    features: Any,
    budget: int,
    init: np.ndarray,
    starts: np.ndarray,
    allowed: np.ndarray,
    tile: int,
) -> np.ndarray:
    """The same traversal in torch; on CUDA the picks stay on the device until the end."""
    import torch

    x = features
    if x.dtype not in (torch.float32, torch.float64):
        x = x.to(torch.float32)
    dev = x.device
    n = x.shape[0]
    with torch.no_grad():
        sq_norms = (x * x).sum(dim=1)
        min_dist = torch.full((n,), float("inf"), dtype=x.dtype, device=dev)
        init_t = torch.as_tensor(init, device=dev)
        for c0 in range(0, init.size, tile):
            cidx = init_t[c0 : c0 + tile]
            centers = x[cidx]
            for s in range(0, n, tile):
                d = x[s : s + tile] @ centers.T
                d.mul_(-2.0).add_(sq_norms[s : s + tile, None]).add_(sq_norms[cidx][None, :])
                torch.minimum(
                    min_dist[s : s + tile], d.min(dim=1).values, out=min_dist[s : s + tile]
                )
        min_dist.clamp_(min=0.0)  # rounding in |x|^2 + |c|^2 - 2 x.c
        min_dist[torch.as_tensor(~allowed, device=dev)] = -1.0
        picks = torch.empty(budget, dtype=torch.int64, device=dev)
        starts_t = torch.as_tensor(starts, device=dev)
        for i in range(budget):
            if i < starts.size:
                idx = starts_t[i]
            else:
                idx = torch.argmax(min_dist)  # first maximum; no host sync per pick
            picks[i] = idx
            center = x[idx]
            d = x @ center
            d.mul_(-2.0).add_(sq_norms).add_(sq_norms[idx]).clamp_(min=0.0)
            torch.minimum(min_dist, d, out=min_dist)
            min_dist[idx] = -1.0
        return picks.cpu().numpy().astype(np.int64)
