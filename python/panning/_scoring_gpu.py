"""GPU glue of ``most_uncertain``: candidate ids on the device, outputs, workspace, the launch.

``candidates`` and ``exclude`` are folded into one device vector of unique, in-range row ids
(an exclusion mask of ``rows`` bytes on the device, ids only: ``x`` itself is never gathered);
the kernels then read those rows in place. :func:`candidate_ids` runs the same torch or cupy
code on CPU tensors too, which is how it is tested on machines without a GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _core
from ._arrays import Matrix, Samples
from ._device import Device, is_torch


def _as_ids(ids: Any, like: Any, what: str) -> Any:
    """``ids`` as a 1-D int64 torch tensor / cupy array on the device of ``like``."""
    if is_torch(like):
        import torch

        t = torch.as_tensor(ids, device=like.device)
        if t.numel() and (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool):
            raise TypeError(f"{what} must hold integer row ids; got dtype {t.dtype}")
        return t.reshape(-1).to(torch.int64)
    import cupy

    with cupy.cuda.Device(like.device.id):
        a = cupy.asarray(ids).reshape(-1)
        if a.size and a.dtype.kind not in "iu":
            raise TypeError(f"{what} must hold integer row ids; got dtype {a.dtype}")
        return a.astype(cupy.int64)


def candidate_ids(like: Any, rows: int, candidates: Any, exclude: Any) -> Any:
    """The unique in-range row ids to rank, as an int64 vector beside ``like`` (torch or cupy).

    Raises ValueError for out-of-range or repeated candidates and out-of-range exclusions, like
    the CPU kernel does."""
    if candidates is not None:
        cand = _as_ids(candidates, like, "candidates")
        if cand.shape[0]:
            lo, hi = int(cand.min()), int(cand.max())
            if lo < 0 or hi >= rows:
                bad = lo if lo < 0 else hi
                raise ValueError(f"candidate id {bad} is out of range for {rows} rows")
            if _unique_count(cand) != cand.shape[0]:
                raise ValueError("candidate ids repeat")
    else:
        cand = None
    if exclude is None:
        return cand
    excl = _as_ids(exclude, like, "exclude")
    if excl.shape[0]:
        lo, hi = int(excl.min()), int(excl.max())
        if lo < 0 or hi >= rows:
            bad = lo if lo < 0 else hi
            raise ValueError(f"exclude id {bad} is out of range for {rows} rows")
    keep = _bool_vector(like, rows, True)
    keep[excl] = False
    if cand is None:
        return _nonzero(keep)
    return cand[keep[cand]]


def _unique_count(a: Any) -> int:
    if is_torch(a):
        return int(a.unique().shape[0])
    import cupy

    return int(cupy.unique(a).shape[0])


def _bool_vector(like: Any, n: int, value: bool) -> Any:
    if is_torch(like):
        import torch

        return torch.full((n,), value, dtype=torch.bool, device=like.device)
    import cupy

    with cupy.cuda.Device(like.device.id):
        return cupy.full((n,), value, dtype=bool)


def _nonzero(mask: Any) -> Any:
    if is_torch(mask):
        return mask.nonzero().reshape(-1)
    return mask.nonzero()[0]


def _top_k_gpu(
    m: Matrix,
    k: int,
    candidates: Any,
    exclude: Any,
    return_scores: bool,
    score_dtype: str,
    rank: Callable[[int, int, int, int, int, int], None],
) -> tuple[Any, Any]:
    """The device side of a fused top-k: folds ``candidates`` and ``exclude`` into one id vector,
    allocates the outputs (in the input's framework) and the workspace, and calls
    ``rank(out, out_scores, candidates, num_candidates, workspace, workspace_bytes)`` with device
    addresses (0 for an absent output or for "every row"). The launch raises ValueError naming
    the first invalid ranked row."""
    cand = candidate_ids(m.source, m.rows, candidates, exclude)
    n = m.rows if cand is None else int(cand.shape[0])
    if k > n:
        raise ValueError(f"k={k} is out of range for {n} eligible rows")
    device = Device.of(m.source)
    out = device.empty((k,), "int64")
    scores = device.empty((k,), score_dtype) if return_scores else None
    if k == 0:
        return out, scores
    nbytes = _core.most_uncertain_cuda_workspace_bytes(n, k)
    workspace = device.empty((nbytes,), "uint8")
    rank(
        device.ptr(out),
        0 if scores is None else device.ptr(scores),
        0 if cand is None else device.ptr(cand),
        n,
        device.ptr(workspace),
        nbytes,
    )
    return out, scores


def most_uncertain_gpu(
    m: Matrix,
    code: int,
    from_logits: bool,
    k: int,
    candidates: Any,
    exclude: Any,
    return_scores: bool,
    score_dtype: str,
) -> tuple[Any, Any]:
    """The CUDA top-k of :func:`panning.most_uncertain`: (ids, scores or None)."""
    return _top_k_gpu(
        m,
        k,
        candidates,
        exclude,
        return_scores,
        score_dtype,
        lambda out, scores, cand, n, ws, nbytes: _core.most_uncertain_cuda(
            m.view(),
            code,
            from_logits,
            k,
            out,
            scores,
            cand,
            n,
            ws,
            nbytes,
            m.device,
            m.stream,
        ),
    )


def bald_top_k_gpu(
    s: Samples,
    k: int,
    candidates: Any,
    exclude: Any,
    return_scores: bool,
    score_dtype: str,
) -> tuple[Any, Any]:
    """The CUDA BALD top-k: (ids, scores or None)."""
    m = s.first
    return _top_k_gpu(
        m,
        k,
        candidates,
        exclude,
        return_scores,
        score_dtype,
        lambda out, scores, cand, n, ws, nbytes: _core.bald_top_k_cuda(
            s.view(),
            k,
            out,
            scores,
            cand,
            n,
            ws,
            nbytes,
            m.device,
            m.stream,
        ),
    )
