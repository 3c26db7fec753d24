"""HNSW graph construction from exact kNN candidates, on the CPU or a CUDA GPU.

:meth:`panning.HNSWIndex.build` builds every level of an HNSW graph in four steps instead of
inserting nodes one by one (``csrc/include/panning/hnsw_build.hpp`` holds the shared math):

1. **candidates**: the ``candidates`` exact nearest neighbours of each node among the level's
   nodes (on the GPU the kernels of :func:`panning.knn.gpu_knn_graph`: a distance tile on tensor
   or CUDA cores, then a per-row top-k merge; a blocked brute force on the CPU), plus the links
   one level up of the node's nearest upper-level node (levels are built top-down): long-range
   edges between
   clusters that exact neighbours alone never give;
2. **prune**: HNSW's heuristic neighbour selection keeps at most the level's link budget;
3. **reverse**: each kept edge ``u -> v`` offers ``u`` to ``v``, which keeps its nearest offers;
4. **merge**: forward and reverse links, deduplicated, selected again.

Node levels are drawn exactly as :meth:`HNSWIndex.add` draws them, and the result is an ordinary
``HNSWIndex``: it searches on the CPU, saves, loads and takes further ``add`` calls. Steps 2-4
run the same C++ functions on both devices, so a GPU build differs from a CPU build only where
floating-point distances differ. The CPU route costs ``O(n^2 d)`` for the exact candidates and
is meant for tests and small sets; the GPU route is the fast one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core, _device
from ._native_index import METRICS, kernel_metric
from .knn import (
    MAX_GPU_K,
    NONE,
    FlatIndex,
    device_matrix,
    gpu_candidates,
    gpu_merge,
    refine_host,
)

__all__ = ["build_levels"]


# ---- building the levels ------------------------------------------------------------------------


def _cpu_candidates(xl: np.ndarray, k: int, metric: str, threads: int | None) -> Any:
    flat = FlatIndex(xl.shape[1], metric=kernel_metric(metric), threads=threads)
    flat.add(xl)
    ids, dist = flat.knn_graph(k)
    out = ids.astype(np.uint32)
    out[ids < 0] = NONE
    return out, np.ascontiguousarray(dist, dtype=np.float32)


def build_levels(
    x: np.ndarray,
    levels: np.ndarray,
    *,
    M: int,
    metric: str,
    candidates: int,
    device: str,
    threads: int | None,
    rank_dtype: str = "float32",
) -> list[np.ndarray]:
    """Link lists of every level for :meth:`HNSWIndex.build` (uint32 row numbers, kNone pads).

    ``x`` is float32 ``[n, d]``, already normalised for cosine (which then runs as ``"ip"``);
    ``levels`` the drawn level of each row. On the GPU, ``rank_dtype="float16"`` ranks the exact
    candidates on a float16 copy (tensor cores); their distances are then recomputed in float32.
    ``"auto"`` chooses float16 where it ranks as float32 does (:func:`_float16_ranks_like_float32`
    measures it on a sample of rows), else float32.

    For ``l2`` the rows are centred first. l2 distances ignore a shift, but the expanded form
    ``|a|^2 + |b|^2 - 2<a, b>`` that ranks candidates loses ``eps * |a|^2`` to cancellation: on
    rows like ``1000 + 0.01 * randn`` that is every digit of the neighbours' distances, in float32
    as in float16 (whose spacing near 1000 is 0.5).

    Levels are built top-down. Exact kNN candidates alone stay inside tight clusters, and a query
    that falls between clusters would find no way across; so each node also borrows, as extra
    candidates, the links one level up of its nearest node on that level (its own links when it
    is on that level too). Those links span the sparser upper level: the long-range edges that an
    insertion-built graph gets from its early inserts.
    """
    eff = kernel_metric(metric)
    code = METRICS[eff]
    th = -1 if threads is None else threads
    top = int(levels.max()) if len(levels) else -1
    dev = _device.Device(None, device) if device != "cpu" else None
    # The shift is subtracted in float32 on both devices, so both build from the same values.
    shift = x.mean(axis=0, dtype=np.float64).astype(np.float32) if eff == "l2" and len(x) else None
    x_dev = None
    if dev is not None:
        x_dev = dev.put(x)
        if shift is not None:
            x_dev -= dev.put(shift)  # in place: the device's own copy
    elif shift is not None:
        x = x - shift
    if rank_dtype == "auto":
        float16 = dev is not None and _float16_ranks_like_float32(
            dev, x_dev, min(candidates, len(x) - 1), code
        )
        rank_dtype = "float16" if float16 else "float32"
    out: list[np.ndarray] = [np.zeros((0, 0), np.uint32)] * (top + 1)
    above: tuple[np.ndarray, np.ndarray] | None = None  # the upper level's nodes and links
    for level in range(top, -1, -1):
        nodes = np.flatnonzero(levels >= level)
        m = 2 * M if level == 0 else M
        count = len(nodes)
        if count <= 1:
            links = np.full((count, m), NONE, dtype=np.uint32)
        else:
            k = min(candidates, count - 1)
            if dev is None:
                xl = x if level == 0 else np.ascontiguousarray(x[nodes])
                extra = extra_d = None
                if above is not None:
                    rep = _cpu_nearest(xl, np.ascontiguousarray(x[above[0]]), eff, threads)
                    ids = _borrowed_links(nodes, above, rep)
                    got, extra_d = refine_host(xl, xl, ids, eff)
                    extra = np.where(got < 0, NONE, got).astype(np.uint32)
                cand, cd = _cpu_candidates(xl, k, eff, threads)
                pruned, pd = _core.prune_candidates(xl, code, cand, cd, extra, extra_d, m, th)
                links, _ = _core.reverse_merge(xl, code, pruned, pd, m, m, th)
            else:
                links = _gpu_level(dev, x_dev, nodes, level, k, m, code, above, rank_dtype)
        links = np.asarray(links)
        above = (nodes, links)
        glob = np.where(links == NONE, NONE, nodes[np.minimum(links, count - 1)].astype(np.uint32))
        out[level] = np.ascontiguousarray(glob, dtype=np.uint32)
    return out


_PROBE_ROWS = 256
# Share of a probe row's candidates float16 ranking must find. Measured (float16-rounded inputs
# against float32, K = 33 and 129): >= 0.998 on clustered and normal data, CLINC150 and WordNet
# embeddings (l2 and cosine); <= 0.6 where float16 cannot resolve the neighbours (two clusters at
# +-100 with spread 0.05; 1000 + 0.01 randn before centring: 0.03).
_FLOAT16_AGREEMENT = 0.99


def _float16_ranks_like_float32(dev: _device.Device, x_dev: Any, k: int, code: int) -> bool:
    """Whether ranking on float16 copies finds the candidates float32 ranking finds: the exact
    top-(k + 1) of up to 256 evenly spread rows (themselves included) both ways, compared as
    sets. A precision check where a range check (every value below 65504) says nothing: float16
    keeps 11 bits of each value, so rows far from the origin relative to their neighbours'
    distances lose them. Costs two 256-row passes over the level."""
    n = int(x_dev.shape[0])
    if n < 2 or k < 1:
        return False
    rows = np.unique(np.linspace(0, n - 1, min(n, _PROBE_ROWS)).astype(np.int64))
    kk = min(k + 1, MAX_GPU_K, n)
    q = dev.gather(x_dev, rows)
    ws_bytes = int(_core.knn_workspace_bytes(len(rows), n))
    ws = dev.empty((max(1, ws_bytes),), "uint8")
    found = []
    for half in (False, True):
        qq, xx = (dev.half(q), dev.half(x_dev)) if half else (q, x_dev)
        ids = dev.empty((len(rows), kk), "uint32")
        dist = dev.empty((len(rows), kk), "float32")
        _core.knn_reset_cuda(len(rows), kk, dev.ptr(ids), dev.ptr(dist), dev.index, dev.stream)
        gpu_merge(dev, qq, -1, xx, 0, code, kk, ids, dist, ws, ws_bytes)
        found.append(dev.get(ids, np.uint32))
        del qq, xx, ids, dist
    same = sum(len(np.intersect1d(a, b)) for a, b in zip(*found))
    return same >= _FLOAT16_AGREEMENT * found[0].size


def _cpu_nearest(xl: np.ndarray, x_up: np.ndarray, metric: str, threads: int | None) -> Any:
    """Row number in x_up of each row of xl's nearest x_up row (itself when present)."""
    flat = FlatIndex(xl.shape[1], metric=kernel_metric(metric), threads=threads)
    flat.add(x_up)
    return flat.search(xl, 1)[0][:, 0]


def _borrowed_links(
    nodes: np.ndarray, above: tuple[np.ndarray, np.ndarray], rep: np.ndarray
) -> np.ndarray:
    """The upper-level links of each node's representative ``rep`` (row numbers of the upper
    level), as row numbers of this level; the node itself removed; kNone last in each row."""
    up_nodes, up_links = above
    borrowed = np.asarray(up_links)[np.asarray(rep, dtype=np.int64)]
    valid = borrowed != NONE
    glob = up_nodes[np.where(valid, borrowed, 0).astype(np.int64)]
    local = np.searchsorted(nodes, glob).astype(np.uint32)
    local = np.where(valid, local, NONE).astype(np.uint32)
    local[local == np.arange(len(nodes), dtype=np.uint32)[:, None]] = NONE
    return np.sort(local, axis=1)  # kNone (the largest uint32) last


def _gpu_level(
    dev: _device.Device,
    x_dev: Any,
    nodes: np.ndarray,
    level: int,
    k: int,
    m: int,
    code: int,
    above: tuple[np.ndarray, np.ndarray] | None,
    rank_dtype: str = "float32",
) -> np.ndarray:
    xl = x_dev if level == 0 else dev.gather(x_dev, nodes)
    n = int(xl.shape[0])
    e_ids = e_d = None
    n_extra = 0
    if above is not None:
        rep = _gpu_nearest(dev, xl, dev.gather(x_dev, above[0]), code)
        e_ids = dev.put(_borrowed_links(nodes, above, rep))
        n_extra = int(e_ids.shape[1])
        e_d = dev.empty((n, n_extra), "float32")
        xm = device_matrix(dev, xl)
        _core.knn_refine_cuda(
            xm, xm, code, n_extra, dev.ptr(e_ids), dev.ptr(e_d), dev.index, dev.stream
        )
    ranked = dev.half(xl) if rank_dtype == "float16" else None
    cand, cd = gpu_candidates(dev, xl, k, code, ranked)
    del ranked
    pruned = dev.empty((n, m), "uint32")
    pd = dev.empty((n, m), "float32")
    _core.prune_candidates_cuda(
        device_matrix(dev, xl), code, dev.ptr(cand), dev.ptr(cd), k,
        dev.ptr(e_ids) if e_ids is not None else 0, dev.ptr(e_d) if e_d is not None else 0,
        n_extra, m, dev.ptr(pruned), dev.ptr(pd), dev.index, dev.stream,
    )  # fmt: skip
    del cand, cd, e_ids, e_d
    links = dev.empty((n, m), "uint32")
    ld = dev.empty((n, m), "float32")
    ws_bytes = int(_core.reverse_merge_workspace_bytes(n, m, dev.index))
    ws = dev.empty((max(1, ws_bytes),), "uint8")
    _core.reverse_merge_cuda(
        device_matrix(dev, xl), code, dev.ptr(pruned), dev.ptr(pd), m, m, m, dev.ptr(links),
        dev.ptr(ld), dev.ptr(ws), ws_bytes, dev.index, dev.stream,
    )  # fmt: skip
    return dev.get(links, np.uint32)


def _gpu_nearest(dev: _device.Device, xl: Any, x_up: Any, code: int) -> np.ndarray:
    """Host array: row number in x_up of each xl row's nearest x_up row."""
    n, n_up = int(xl.shape[0]), int(x_up.shape[0])
    ids = dev.empty((n, 1), "uint32")
    dist = dev.empty((n, 1), "float32")
    _core.knn_reset_cuda(n, 1, dev.ptr(ids), dev.ptr(dist), dev.index, dev.stream)
    ws_bytes = int(_core.knn_workspace_bytes(n, n_up))
    ws = dev.empty((max(1, ws_bytes),), "uint8")
    gpu_merge(dev, xl, -1, x_up, 0, code, 1, ids, dist, ws, ws_bytes)
    return dev.get(ids, np.uint32)[:, 0].astype(np.int64)
