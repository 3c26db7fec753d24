"""Exact nearest neighbours: :class:`FlatIndex` and the kNN graph (:func:`knn_graph`) on the CPU
or a CUDA GPU.

:class:`FlatIndex` is the exact twin of :class:`panning.HNSWIndex`, with the same ``add`` /
``search`` API. Distances follow hnswlib's conventions:

* ``"l2"``: squared Euclidean distance,
* ``"ip"``: ``1 - <a, b>``,
* ``"cosine"``: ``1 - cos(a, b)`` (vectors are normalised on insert and on query).

Results are ``(ids, distances)``: int64 and float32 arrays of shape ``[n_queries, k]``, nearest
first. When fewer than ``k`` vectors qualify (a small index, or most of it excluded) the rows are
padded with id ``-1`` and distance ``+inf``.

Inputs are 2-D numpy float32 or float16 arrays (CPU torch tensors are viewed without a copy). Other
dtypes raise ``TypeError`` rather than being converted silently. The GIL is released while adding
and searching, so several Python threads can search one index at once; an ``add`` waits for
running searches and searches wait for an ``add``. Ctrl-C stops a long ``add`` between chunks of
insertions and keeps the vectors inserted so far.

On the GPU (:func:`gpu_knn_graph`) the exact graph is a distance tile on tensor or CUDA cores
merged into per-row top-k lists (:func:`gpu_merge`), then the winners' distances recomputed
directly (the refine kernel, whose host twin is :func:`refine_host`). :mod:`panning.hnsw_build`
takes its candidates from the same functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from . import _core, _device
from ._arrays import as_matrix
from ._device import is_cupy, is_torch, on_cuda
from ._native_index import (
    METRICS,
    Metric,
    NativeIndex,
    as_ids,
    as_rows,
    check_threads,
    metric_code,
    positive_int,
)

__all__ = ["FlatIndex", "gpu_knn_graph", "knn_graph", "unit_rows"]

NONE = np.uint32(0xFFFFFFFF)  # hnsw_build.hpp's kNone: no neighbour
MAX_GPU_K = 256  # the per-row top-k kernel's limit


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in float64, as float32 (zero rows stay zero): how cosine
    inputs are normalised before the ``"ip"`` kernels, as the C++ indexes do."""
    norms = np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-30), dtype=np.float32)


class FlatIndex(NativeIndex):
    """Exact nearest-neighbour index: blocked brute force, SIMD and multithreaded.

    The exact twin of :class:`HNSWIndex`, with the same ``add`` / ``search`` API; ties go to
    the earlier inserted vector. Vectors are stored as float32.

    Examples
    --------
    >>> import numpy as np, panning
    >>> x = np.eye(3, dtype=np.float32)
    >>> index = panning.FlatIndex(3)
    >>> index.add(x, ids=[10, 20, 30])
    >>> ids, dist = index.search(x[1:2], 2)
    >>> ids.tolist(), dist.tolist()
    ([[20, 10]], [[0.0, 2.0]])
    """

    def __init__(self, dim: int, *, metric: Metric = "l2", threads: int | None = None) -> None:
        dim = positive_int(dim, "dim", _core.MAX_DIM)
        self._threads = check_threads(threads)
        self._index = _core.FlatIndex(dim, metric_code(metric))

    def __repr__(self) -> str:
        return f"FlatIndex(dim={self.dim}, metric={self.metric!r}, size={len(self)})"

    def search(
        self, q: npt.ArrayLike, k: int, *, exclude: npt.ArrayLike | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The exact ``k`` nearest stored vectors of each query row; see
        :meth:`HNSWIndex.search`."""
        rows, dtype = as_rows(q, self.dim, "q")
        k = positive_int(k, "k")
        ex = None if exclude is None else as_ids(exclude, "exclude")
        ids, dist = self._index.search(rows, dtype, k, ex, self._threads)
        return np.asarray(ids), np.asarray(dist)

    def knn_graph(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact kNN graph of the stored vectors; see :meth:`HNSWIndex.knn_graph`."""
        k = positive_int(k, "k")
        ids, dist = self._index.knn_graph(k, self._threads)
        return np.asarray(ids), np.asarray(dist)


# ---- exact kNN on the GPU ------------------------------------------------------------------------


def device_matrix(dev: _device.Device, a: Any) -> Any:
    """A device array as the CUDA launchers' one matrix argument (``_core.DeviceMatrix``): its
    layout and dtype from :func:`as_matrix`, its address of element (0, 0) from ``dev``."""
    return as_matrix(a, "x").at(dev.ptr(a))


def gpu_merge(
    dev: _device.Device,
    q: Any,
    q_base: int,
    x: Any,
    x_base: int,
    metric: int,
    k: int,
    ids: Any,
    dist: Any,
    ws: Any,
    ws_bytes: int,
) -> None:
    _core.knn_merge_cuda(
        device_matrix(dev, q),
        q_base,
        device_matrix(dev, x),
        x_base,
        metric,
        k,
        dev.ptr(ids),
        dev.ptr(dist),
        dev.ptr(ws),
        ws_bytes,
        dev.index,
        dev.stream,
    )


def gpu_candidates(
    dev: _device.Device, x: Any, k: int, metric: int, ranked: Any = None
) -> tuple[Any, Any]:
    """uint32 ids and float32 distances [n, k] on the device, x already on it. The neighbours are
    ranked on ``ranked`` (default x; e.g. a float16 copy for tensor cores) by the norm expansion,
    then the winners' distances are recomputed directly on x and re-sorted."""
    n = int(x.shape[0])
    ids = dev.empty((n, k), "uint32")
    dist = dev.empty((n, k), "float32")
    _core.knn_reset_cuda(n, k, dev.ptr(ids), dev.ptr(dist), dev.index, dev.stream)
    ws_bytes = int(_core.knn_workspace_bytes(n, n))
    ws = dev.empty((max(1, ws_bytes),), "uint8")
    r = x if ranked is None else ranked
    gpu_merge(dev, r, 0, r, 0, metric, k, ids, dist, ws, ws_bytes)
    xm = device_matrix(dev, x)
    _core.knn_refine_cuda(xm, xm, metric, k, dev.ptr(ids), dev.ptr(dist), dev.index, dev.stream)
    return ids, dist


def refine_host(
    q: np.ndarray, x: np.ndarray, ids: np.ndarray, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Direct distances from each row of q to its neighbours, rows of x (uint32 ids, kNone
    pads), re-sorted by (distance, id): the host twin of the refine kernel (the CPU build's
    borrowed-link distances, and the tests' fake kernel)."""
    out_ids = ids.astype(np.int64)
    out_ids[ids == NONE] = -1
    dist = np.full(ids.shape, np.inf, dtype=np.float32)
    for i0 in range(0, len(q), 2048):
        rows = np.asarray(q[i0 : i0 + 2048], dtype=np.float32)
        nb_ids = out_ids[i0 : i0 + 2048]
        nb = np.asarray(x[np.maximum(nb_ids, 0)], dtype=np.float32)
        if metric == "l2":
            d = ((rows[:, None, :] - nb) ** 2).sum(-1)
        else:
            dot = np.einsum("id,ikd->ik", rows, nb)
            if metric == "cosine":
                na = np.linalg.norm(rows, axis=1)[:, None]
                nbn = np.linalg.norm(nb, axis=2)
                dot = dot / np.maximum(na * nbn, 1e-30)
            d = 1.0 - dot
        d = np.where(nb_ids >= 0, d, np.inf).astype(np.float32)
        key = np.where(nb_ids >= 0, nb_ids, np.iinfo(np.int64).max)
        order = np.lexsort((key, d), axis=1)
        dist[i0 : i0 + 2048] = np.take_along_axis(d, order, 1)
        out_ids[i0 : i0 + 2048] = np.take_along_axis(nb_ids, order, 1)
    return out_ids, dist


_REFINE_CHUNK_BYTES = 1 << 28  # neighbour rows gathered per refine call of a streamed graph


def _refine_streamed(
    dev: _device.Device, x: Any, ids: np.ndarray, metric: int
) -> tuple[np.ndarray, np.ndarray]:
    """The refine kernel over numpy rows that do not fit on the device: each chunk of rows goes
    up with its neighbours' rows gathered beside it, so the distances are the kernel's own and
    a streamed graph is bit for bit the graph computed whole.

    ``ids`` is uint32 ``[n, k]`` (kNone pads). A row's neighbours are numbered, in the gathered
    matrix, in ascending order of their ids, so the kernel's (distance, id) order on those
    numbers is the (distance, id) order on the real ids. Returns int64 ids (-1 pads) and
    float32 distances on the host."""
    n, k = ids.shape
    dim = int(x.shape[1])
    out_ids = np.full((n, k), -1, dtype=np.int64)
    out_dist = np.full((n, k), np.inf, dtype=np.float32)
    itemsize = np.asarray(x[:1]).dtype.itemsize  # x may be a torch CPU tensor
    step = max(1, _REFINE_CHUNK_BYTES // max(1, k * dim * itemsize))
    for i0 in range(0, n, step):
        nb = np.sort(ids[i0 : i0 + step], axis=1)  # real ids ascending, kNone last
        rows = len(nb)
        valid = nb != NONE
        local = np.arange(rows * k, dtype=np.uint32).reshape(rows, k)
        local[~valid] = NONE
        qd = dev.put(np.asarray(x[i0 : i0 + rows]))
        xd = dev.put(np.asarray(x[np.where(valid, nb, 0).astype(np.int64).ravel()]))
        id_d = dev.put(local)
        dist_d = dev.empty((rows, k), "float32")
        _core.knn_refine_cuda(
            device_matrix(dev, qd), device_matrix(dev, xd), metric, k,
            dev.ptr(id_d), dev.ptr(dist_d), dev.index, dev.stream,
        )  # fmt: skip
        got = dev.get(id_d, np.uint32)
        hit = got != NONE
        out_ids[i0 : i0 + rows][hit] = nb.ravel()[got[hit].astype(np.int64)]
        out_dist[i0 : i0 + rows] = dev.get(dist_d)
    return out_ids, out_dist


def gpu_knn_graph(
    x: Any, k: int, *, metric: str = "l2", device: str = "cuda", block_rows: int | None = None
) -> tuple[Any, Any]:
    """Exact kNN graph on a CUDA GPU: each row's ``k`` nearest *other* rows.

    Called by :func:`panning.knn_graph` with ``device="cuda"``. ``x`` is a numpy array (copied to
    the device ``block_rows`` rows at a time, so arrays larger than GPU memory work in pieces;
    ``None`` copies it whole) or a torch / cupy CUDA array (used in place). float16 and bfloat16
    inputs run on tensor cores (sm_80+) with float32 accumulation.

    Returns int64 ids (``-1`` pads) and float32 distances ``[n, k]``: numpy arrays for numpy
    input, device arrays of the input's framework otherwise. Neighbours are ranked by
    ``|a|^2 + |b|^2 - 2<a, b>`` (l2) or normalised dot products (cosine); the winners' distances
    are then recomputed directly and re-sorted, as the CPU does, so results match the CPU's to
    float32 rounding (near-ties may swap), not bit for bit. Streamed (``block_rows``) and whole
    runs give identical results: the same kernels see the same values.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {tuple(METRICS)}")
    m = as_matrix(x, "x")
    if k > MAX_GPU_K:
        raise ValueError(f"k must be at most {MAX_GPU_K} on the GPU; got {k}")
    on_gpu = m.on_gpu
    if not on_gpu and block_rows is not None and block_rows <= 0:
        raise ValueError(f"block_rows must be positive; got {block_rows}")
    dev = _device.Device(x if on_gpu else None, device if not on_gpu else f"cuda:{m.device}")
    n = m.rows
    kk = min(k, max(n - 1, 0))
    if on_gpu or block_rows is None or block_rows >= n:
        xd = x if on_gpu else dev.put(np.ascontiguousarray(x))
        if kk > 0:
            ids, dist = gpu_candidates(dev, xd, kk, METRICS[metric])
        else:
            ids = dist = None
        return _finish(dev, ids, dist, n, k, kk, on_gpu)
    # Streaming: the running lists stay on the device; x passes through in blocks.
    ids = dev.empty((n, kk), "uint32")
    dist = dev.empty((n, kk), "float32")
    _core.knn_reset_cuda(n, kk, dev.ptr(ids), dev.ptr(dist), dev.index, dev.stream)
    ws_bytes = int(_core.knn_workspace_bytes(block_rows, block_rows))
    ws = dev.empty((max(1, ws_bytes),), "uint8")
    for i0 in range(0, n, block_rows):
        qd = dev.put(x[i0 : i0 + block_rows])
        for j0 in range(0, n, block_rows):
            xd = qd if j0 == i0 else dev.put(x[j0 : j0 + block_rows])
            sub_ids = ids[i0 : i0 + block_rows]
            sub_dist = dist[i0 : i0 + block_rows]
            gpu_merge(dev, qd, i0, xd, j0, METRICS[metric], kk, sub_ids, sub_dist, ws, ws_bytes)
        dev.synchronize()  # the next block's copy reuses host staging
    return _padded(*_refine_streamed(dev, x, dev.get(ids, np.uint32), METRICS[metric]), k)


def _padded(ids: np.ndarray, dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Host results [n, kk] (int64 ids, -1 pads) widened to k columns of -1 / +inf."""
    n, kk = ids.shape
    out_ids = np.full((n, k), -1, dtype=np.int64)
    out_dist = np.full((n, k), np.inf, dtype=np.float32)
    out_ids[:, :kk], out_dist[:, :kk] = ids, dist
    return out_ids, out_dist


def _finish(
    dev: _device.Device, ids: Any, dist: Any, n: int, k: int, kk: int, on_gpu: bool
) -> tuple[Any, Any]:
    got = np.zeros((n, 0), np.int64)
    got_dist = np.zeros((n, 0), np.float32)
    if kk > 0:
        got = dev.get(ids, np.uint32).astype(np.int64)
        got[got == int(NONE)] = -1
        got_dist = dev.get(dist)
    out_ids, out_dist = _padded(got, got_dist, k)
    if not on_gpu:
        return out_ids, out_dist
    return dev.put(out_ids), dev.put(out_dist)


# ---- the public graph ----------------------------------------------------------------------------


def knn_graph(
    x: npt.ArrayLike,
    k: int,
    *,
    metric: Metric = "l2",
    exact: bool = True,
    M: int = 16,
    ef_construction: int = 200,
    ef: int | None = None,
    seed: int = 0,
    threads: int | None = None,
    device: str | None = None,
    block_rows: int | None = None,
) -> tuple[Any, Any]:
    """Each row's ``k`` nearest *other* rows of ``x``.

    Parameters
    ----------
    x : array [n, d], float32 or float16
    k : int
    metric : {"l2", "ip", "cosine"}
    exact : bool
        True: brute force (:class:`FlatIndex`: a packed, register-tiled scan with a fused
        top-k), equal to :func:`panning.reference.knn_graph` up to float32 rounding (the k
        winners' distances are recomputed directly). It costs ``2 n^2 d`` flops, run at about
        50-60 GFLOP/s per AVX2 core: 2.3-2.6x faster than
        :func:`panning.neighbors.exact_knn_graph` on a quiet 2-core machine (bench/README.md,
        "kNN graph (CPU)").
        False: build an :class:`HNSWIndex` and search it for every row (``M``,
        ``ef_construction``, ``ef`` and ``seed`` apply only then; ``ef`` defaults to
        ``max(64, k + 1)``).
    threads : int or None
        None uses all cores.
    device : str, optional
        ``"cuda"`` / ``"cuda:i"``: the exact graph on a GPU
        (:func:`gpu_knn_graph`: tiled distances on tensor or CUDA cores and
        a per-row top-k; numpy input is streamed ``block_rows`` rows at a time, torch / cupy
        CUDA input is used in place and the results stay on its device). Default: the GPU when
        ``x`` lives on one, else the CPU.

    Returns
    -------
    ids : int64 array [n, k]
        Row numbers of ``x``; ties go to the lower row; padded with ``-1`` when ``k >= n``.
    distances : float32 array [n, k]

    Examples
    --------
    >>> import numpy as np, panning
    >>> x = np.array([[0.0], [1.0], [3.0]], dtype=np.float32)
    >>> ids, dist = panning.knn_graph(x, 1)
    >>> ids.ravel().tolist(), dist.ravel().tolist()
    ([1, 0, 1], [1.0, 1.0, 4.0])
    """
    arr: Any = x if isinstance(x, np.ndarray) or is_torch(x) or is_cupy(x) else np.asarray(x)
    dim = int(arr.shape[-1]) if len(arr.shape) == 2 else -1
    if dim == -1:
        raise ValueError(f"x must be 2-D [n, d]; got shape {tuple(arr.shape)}")
    if dim == 0:
        raise ValueError(f"x has an empty feature axis (shape {tuple(arr.shape)})")
    if dim > _core.MAX_DIM:
        raise ValueError(f"x has {dim} columns; at most {_core.MAX_DIM} are supported")
    x = arr
    k = positive_int(k, "k")
    if device is None:
        device = "cuda" if on_cuda(x) else "cpu"
    if device != "cpu":
        if not exact:
            raise ValueError("device='cuda' builds the exact graph; pass exact=True")
        return gpu_knn_graph(x, k, metric=metric, device=device, block_rows=block_rows)
    if exact:
        flat = FlatIndex(dim, metric=metric, threads=threads)
        flat.add(x)
        return flat.knn_graph(k)
    # the approximate route: hnsw builds on this module, so it is imported only when asked for
    from .hnsw import DEFAULT_EF, HNSWIndex

    index = HNSWIndex(
        dim, metric=metric, M=M, ef_construction=ef_construction, seed=seed, threads=threads
    )
    index.add(x)
    return index.knn_graph(k, ef=max(DEFAULT_EF, k + 1) if ef is None else ef)
