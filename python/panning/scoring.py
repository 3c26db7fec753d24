"""Batched uncertainty scores: entropy, margin, least confidence, and a fused top-k.

Every function takes a 2-D ``[rows, classes]`` array of probabilities (or logits with
``from_logits=True``) as a numpy array, a torch tensor (CPU or CUDA), a cupy array, or any
array-like (a list of lists), in float64, float32, float16 or bfloat16, contiguous or strided.
Nothing is converted or copied: float64 inputs (scikit-learn's ``predict_proba``) are scored in
float64 and give float64 scores; the others are accumulated in float32 and give float32 scores.
Integer, boolean and complex inputs are refused with a ``TypeError`` (the package's dtype policy,
see ``panning._arrays``). GPU inputs are scored on their own device and stream; results come back
in the input's framework and on its device.

Sign convention: entropy and least confidence grow with uncertainty; margin (p1 - p2) shrinks
with it. ``most_uncertain`` ranks by "more uncertain first" in every case and returns scores in
the kernel's own convention.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from . import _core
from ._arrays import (
    DTYPE_FLOAT64,
    Matrix,
    Samples,
    as_int,
    as_matrix,
    as_samples,
    device_ptr,
    empty_like_framework,
    host_buffer,
)

__all__ = ["bald", "entropy", "margin", "least_confidence", "most_uncertain", "Method"]

Method = Literal["entropy", "margin", "least_confidence", "bald"]
_METHOD_CODES: dict[str, int] = {"entropy": 0, "margin": 1, "least_confidence": 2}


def _method_code(method: str) -> int:
    try:
        return _METHOD_CODES[method]
    except (KeyError, TypeError):
        names = ", ".join(map(repr, [*_METHOD_CODES, "bald"]))
        raise ValueError(f"unknown method {method!r}; expected one of {names}") from None


def _require_cuda(m: Matrix) -> None:
    if not _core.build_info()["cuda"]:
        raise RuntimeError(
            f"{m.framework} input is on a CUDA device but panning was built without CUDA; "
            "reinstall with PANNING_CUDA=ON"
        )


def _score_dtype(m: Matrix) -> str:
    return "float64" if m.dtype == DTYPE_FLOAT64 else "float32"


def _score(x: Any, method: str, from_logits: bool) -> Any:
    code = _method_code(method)
    m = as_matrix(x, allow_float64=True)
    out = empty_like_framework(m, m.rows, _score_dtype(m))
    if m.rows == 0:
        return out
    if m.on_gpu:
        _require_cuda(m)
        _core.score_cuda(
            m.view(),
            code,
            bool(from_logits),
            device_ptr(out),
            m.device,
            m.stream,
        )
    else:
        assert m.host is not None
        _core.score(m.host, m.dtype, code, bool(from_logits), host_buffer(out))
    return out


def entropy(x: Any, *, from_logits: bool = False) -> Any:
    """Shannon entropy of each row, in nats (``0 log 0 = 0``); larger is more uncertain.

    Parameters
    ----------
    x : array [rows, classes]
        Probabilities, or logits when ``from_logits`` is true (the softmax is fused and computed
        with a log-sum-exp, exact for logits of any magnitude).
    from_logits : bool
        Treat ``x`` as unnormalised logits.

    Returns
    -------
    array [rows] in the input's framework and device: float64 for float64 input, float32
    otherwise. Rows holding NaN, a negative or an infinite probability (or NaN / +inf logits, or
    only -inf logits) score NaN.

    Examples
    --------
    >>> import numpy as np, panning
    >>> p = np.array([[0.5, 0.5], [1.0, 0.0]], dtype=np.float32)
    >>> print(panning.entropy(p).round(4))
    [0.6931 0.    ]
    """
    return _score(x, "entropy", from_logits)


def margin(x: Any, *, from_logits: bool = False) -> Any:
    """Difference between the two largest probabilities of each row; smaller is more uncertain.

    With a single class the missing runner-up counts as probability 0. Parameters, return value
    and invalid rows as in :func:`entropy`.

    Examples
    --------
    >>> import numpy as np, panning
    >>> print(panning.margin(np.array([[0.7, 0.2, 0.1]], dtype=np.float32)).round(4))
    [0.5]
    """
    return _score(x, "margin", from_logits)


def least_confidence(x: Any, *, from_logits: bool = False) -> Any:
    """One minus the largest probability of each row; larger is more uncertain.

    Parameters, return value and invalid rows as in :func:`entropy`.

    Examples
    --------
    >>> import numpy as np, panning
    >>> print(panning.least_confidence(np.array([[0.7, 0.2, 0.1]], dtype=np.float32)).round(4))
    [0.3]
    """
    return _score(x, "least_confidence", from_logits)


def _bald_out_dtype(s: Samples) -> str:
    return _score_dtype(s.first)


def bald(probs: Any) -> Any:
    """BALD: the mutual information between the prediction and the model, per row.

    From ``S`` Monte-Carlo samples of class probabilities (MC dropout, an ensemble, ...),
    ``H(mean_s p_s) - mean_s H(p_s)`` in nats (Houlsby et al. 2011, "Bayesian Active Learning
    for Classification and Preference Learning"; Gal et al. 2017); larger is more informative.
    One native pass over the samples, no copy of the tensor; rounding below 0 is clamped to 0.

    Parameters
    ----------
    probs : array [samples, rows, classes]
        float64, float32, float16 or bfloat16, any strides (e.g. a ``[rows, samples, classes]``
        tensor seen through ``.transpose(0, 1)``), numpy / torch / cupy, CPU or CUDA.

    Returns
    -------
    array [rows]: float64 for float64 input, else float32; NaN for rows where any sample holds
    a NaN, negative or infinite probability.

    Examples
    --------
    >>> import numpy as np, panning
    >>> agree = [[0.5, 0.5], [0.5, 0.5]]        # both samples unsure: no disagreement
    >>> disagree = [[1.0, 0.0], [0.0, 1.0]]     # each sample sure, of different classes
    >>> probs = np.array([agree, disagree]).transpose(1, 0, 2)  # [samples, rows, classes]
    >>> panning.bald(probs).round(4).tolist()
    [0.0, 0.6931]
    """
    s = as_samples(probs)
    m = s.first
    out = empty_like_framework(m, m.rows, _bald_out_dtype(s))
    if m.rows == 0:
        return out
    if m.on_gpu:
        _require_cuda(m)
        _core.bald_cuda(
            s.view(),
            device_ptr(out),
            m.device,
            m.stream,
        )
    else:
        assert s.host is not None
        _core.bald(s.host, m.dtype, host_buffer(out))
    return out


def _check_k(value: Any, m: Matrix, candidates: Any, exclude: Any) -> int:
    """``k`` as an int; ValueError when it cannot fit the rows (the eligible rows are counted by
    the kernels, which check ``k`` against them)."""
    k = as_int(value, "k")
    if k < 0 or (candidates is None and exclude is None and k > m.rows):
        raise ValueError(f"k={k} is out of range for {m.rows} rows (need 0 <= k <= rows)")
    return k


def _host_top_k(
    m: Matrix,
    k: int,
    candidates: Any,
    exclude: Any,
    return_scores: bool,
    score_dtype: str,
    rank: Callable[[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None], None],
) -> tuple[Any, Any]:
    """The CPU top-k: id vectors and outputs for ``rank(out, out_scores, candidates, exclude)``
    (a ``_core`` ranking call), which raises ValueError for an invalid eligible row."""
    cand = None if candidates is None else _ids_vector(candidates, "candidates")
    excl = None if exclude is None else _ids_vector(exclude, "exclude")
    out = empty_like_framework(m, k, "int64")
    scores = empty_like_framework(m, k, score_dtype) if return_scores else None
    rank(host_buffer(out), None if scores is None else host_buffer(scores), cand, excl)
    return out, scores


def _bald_top_k(x: Any, k: int, candidates: Any, exclude: Any, return_scores: bool) -> Any:
    s = as_samples(x)
    m = s.first
    k = _check_k(k, m, candidates, exclude)
    if m.on_gpu:
        _require_cuda(m)
        from ._scoring_gpu import bald_top_k_gpu

        out, scores = bald_top_k_gpu(s, k, candidates, exclude, return_scores, _bald_out_dtype(s))
    else:
        assert s.host is not None
        host = s.host
        out, scores = _host_top_k(
            m,
            k,
            candidates,
            exclude,
            return_scores,
            _bald_out_dtype(s),
            lambda o, os, c, e: _core.bald_top_k(host, m.dtype, k, o, os, c, e),
        )
    return (out, scores) if return_scores else out


def _ids_vector(ids: Any, what: str) -> np.ndarray:
    """A contiguous int64 vector of row ids (from any integer array-like); TypeError otherwise."""
    a = np.asarray(ids.cpu() if hasattr(ids, "cpu") and not isinstance(ids, np.ndarray) else ids)
    if a.ndim != 1:
        a = a.reshape(-1)
    if a.size and a.dtype.kind not in "iu":
        raise TypeError(f"{what} must hold integer row ids; got dtype {a.dtype}")
    if a.dtype.kind == "u" and a.size and int(a.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{what} holds an id beyond int64")
    return np.ascontiguousarray(a, dtype=np.int64)


def most_uncertain(
    x: Any,
    k: int,
    *,
    method: Method = "entropy",
    from_logits: bool = False,
    candidates: Any = None,
    exclude: Any = None,
    return_scores: bool = False,
) -> Any:
    """Indices of the ``k`` most uncertain rows, most uncertain first.

    The scores and the selection are fused: each thread (CPU) keeps a bounded buffer of its best
    rows and the buffers are merged; the GPU runs a radix select over per-row keys and sorts only
    the ``k`` winners. Nothing of size ``rows`` is sorted. Ties are broken by the lower row index.

    Parameters
    ----------
    x : array [rows, classes], or [samples, rows, classes] for ``method="bald"``
        Probabilities or logits, as in :func:`entropy` (float64 is scored in float64).
    k : int
        How many rows to select, ``0 <= k <=`` the number of eligible rows.
    method : {"entropy", "margin", "least_confidence", "bald"}
        Highest entropy, smallest margin, highest least-confidence, or highest BALD (mutual
        information of Monte-Carlo samples, see :func:`bald`) first.
    from_logits : bool
        Treat ``x`` as logits (not with ``"bald"``).
    candidates : int array-like, optional
        Row ids to rank (no repeats). Only these rows are read, in place: ``x`` is never
        gathered or copied. Default: every row.
    exclude : int array-like, optional
        Row ids never to return (for example the labeled rows); repeats are allowed.
    return_scores : bool
        Also return the selected rows' scores, in the kernel's own convention (entropy and least
        confidence: larger is more uncertain; margin: smaller is more uncertain).

    Returns
    -------
    ids : int64 array [k] in the input's framework and device (dataset row ids, also when
        ``candidates`` is given).
    scores : array [k], only with ``return_scores=True``; float64 for float64 input, else
        float32.

    Raises
    ------
    ValueError
        If ``k`` is out of range, if a candidate or excluded id is out of range, if a candidate
        repeats, or if an eligible row is invalid (NaN, negative or infinite probability, NaN/+inf
        logits); the message names the first such row.

    Examples
    --------
    >>> import numpy as np, panning
    >>> p = np.array([[0.9, 0.1], [0.5, 0.5], [0.6, 0.4]])
    >>> panning.most_uncertain(p, 2).tolist()
    [1, 2]
    >>> ids, scores = panning.most_uncertain(p, 1, method="margin", exclude=[1], return_scores=True)
    >>> ids.tolist(), scores.round(3).tolist()
    ([2], [0.2])
    """
    if method == "bald":
        return _bald_top_k(x, k, candidates, exclude, return_scores)
    code = _method_code(method)
    m = as_matrix(x, allow_float64=True)
    k = _check_k(k, m, candidates, exclude)
    if m.on_gpu:
        _require_cuda(m)
        from ._scoring_gpu import most_uncertain_gpu

        out, scores = most_uncertain_gpu(
            m, code, bool(from_logits), k, candidates, exclude, return_scores, _score_dtype(m)
        )
    else:
        assert m.host is not None
        host = m.host
        out, scores = _host_top_k(
            m,
            k,
            candidates,
            exclude,
            return_scores,
            _score_dtype(m),
            lambda o, os, c, e: _core.most_uncertain(
                host, m.dtype, code, bool(from_logits), k, o, os, c, e
            ),
        )
    return (out, scores) if return_scores else out


def _top_k(key: np.ndarray, k: int, ids: np.ndarray | None = None) -> np.ndarray:
    """Positions of the ``k`` largest keys, largest first, equal keys by lower id (``ids``,
    default: the positions themselves); O(n) + O(k log k). Shared by SVP's selection and the
    distributed scan's per-block and final top-k."""
    n = key.shape[0]
    order_ids = np.arange(n) if ids is None else ids
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k >= n:
        return np.lexsort((order_ids, -key)).astype(np.int64)
    kth = np.partition(key, n - k)[n - k]
    above = np.flatnonzero(key > kth)
    tied = np.flatnonzero(key == kth)
    tied = tied[np.argsort(order_ids[tied], kind="stable")][: k - above.shape[0]]
    chosen = np.concatenate([above, tied])
    return chosen[np.lexsort((order_ids[chosen], -key[chosen]))].astype(np.int64)
