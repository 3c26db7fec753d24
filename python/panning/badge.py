"""BADGE (Ash et al., ICLR 2020): k-means++ seeding over last-layer gradient embeddings.

The gradient embedding of example i is ``g_i = (p_i - onehot(argmax p_i)) ⊗ h_i`` (the loss
gradient w.r.t. the last layer's weights under the model's own hard label), of size
``classes x d``. It is never materialised: with ``a_i = p_i - onehot(argmax p_i)``,

    ||g_i - g_j||² = ||a_i||² ||h_i||² + ||a_j||² ||h_j||² - 2 (a_i · a_j)(h_i · h_j),

so each k-means++ step costs O(N (C + d)) and memory stays O(N) beyond the inputs (no
``N x Cd`` matrix, no ``N x N`` distances). The first center is the largest gradient norm (as in
the paper's code), each next one is drawn with probability proportional to the squared distance
to the nearest center. numpy arrays run on the CPU, torch tensors on their device (CPU or CUDA);
the draws use a numpy generator seeded by ``seed``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import as_float_array, is_torch

__all__ = ["badge_select"]


def _to_numpy(a: Any) -> np.ndarray:
    return np.asarray(a.detach().cpu().numpy()) if is_torch(a) else np.asarray(a)


def badge_select(probs: Any, features: Any, n: int, *, seed: int = 0) -> np.ndarray:
    """Positions of ``n`` rows chosen by BADGE's k-means++ seeding, in pick order.

    Parameters
    ----------
    probs : array [N, C]
        Class probabilities (float; numpy or torch, CPU or CUDA).
    features : array [N, d]
        Last-layer inputs (the model's embedding), same framework and device as ``probs``.
    n : int
        How many to pick, ``0 <= n <= N``.
    seed : int
        Seeds the k-means++ draws.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1], [0.5, 0.5], [0.5, 0.5], [0.2, 0.8]])
    >>> h = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    >>> badge_select(p, h, 2).tolist()  # row 1 has the largest gradient embedding
    [1, 3]
    """
    p = as_float_array(probs, "probs")
    h = as_float_array(features, "features")
    if p.ndim != 2 or h.ndim != 2 or p.shape[0] != h.shape[0]:
        raise ValueError(f"probs {tuple(p.shape)} and features {tuple(h.shape)} must be [N, .]")
    rows = int(p.shape[0])
    n = int(n)
    if not 0 <= n <= rows:
        raise ValueError(f"n={n} is out of range for {rows} rows")
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if is_torch(p):
        import torch

        a = p.to(torch.float64).clone()
        a[torch.arange(rows, device=a.device), a.argmax(dim=1)] -= 1.0
        hh = h.to(torch.float64)
    else:
        a = np.array(p, dtype=np.float64)
        a[np.arange(rows), a.argmax(axis=1)] -= 1.0
        hh = np.asarray(h, dtype=np.float64)
    an = (a * a).sum(1)
    hn = (hh * hh).sum(1)
    norms = _to_numpy(an * hn)
    rng = np.random.default_rng(seed)
    chosen = [int(np.argmax(norms))]
    min_d2 = np.full(rows, np.inf)
    for _ in range(1, n):
        j = chosen[-1]
        d2 = _to_numpy(an * hn + an[j] * hn[j] - 2.0 * (a @ a[j]) * (hh @ hh[j]))
        np.minimum(min_d2, np.maximum(d2, 0.0), out=min_d2)
        min_d2[chosen] = 0.0
        total = float(min_d2.sum())
        if total > 0.0:
            nxt = int(np.searchsorted(np.cumsum(min_d2), rng.random() * total, side="right"))
            nxt = min(nxt, rows - 1)
            while min_d2[nxt] == 0.0:  # rounding put the draw on a chosen row: step back
                nxt -= 1
        else:  # every remaining row duplicates a center: the lowest unchosen one
            free = np.ones(rows, dtype=bool)
            free[chosen] = False
            nxt = int(np.flatnonzero(free)[0])
        chosen.append(nxt)
    return np.asarray(chosen, dtype=np.int64)
