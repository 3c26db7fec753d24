"""Graph construction from exact kNN candidates, on the CPU or a CUDA GPU.

:meth:`panning.HNSWIndex.build` builds every level of an HNSW graph in four steps instead of
inserting nodes one by one (``csrc/include/panning/graph_build.hpp`` holds the shared math):

1. **candidates**: the ``candidates`` exact nearest neighbours of each node among the level's
   nodes (:func:`gpu_knn_graph` on the GPU: a distance tile on tensor or CUDA cores, then a
   per-row top-k merge; a blocked brute force on the CPU), plus the links one level up of the
   node's nearest upper-level node (levels are built top-down): long-range edges between
   clusters that exact neighbours alone never give;
2. **prune**: HNSW's heuristic neighbour selection keeps at most the level's link budget;
3. **reverse**: each kept edge ``u -> v`` offers ``u`` to ``v``, which keeps its nearest offers;
4. **merge**: forward and reverse links, deduplicated, selected again.

Node levels are drawn exactly as :meth:`HNSWIndex.add` draws them, and the result is an ordinary
``HNSWIndex``: it searches on the CPU, saves, loads and takes further ``add`` calls. Steps 2-4
run the same C++ functions on both devices, so a GPU build differs from a CPU build only where
floating-point distances differ. The CPU route costs ``O(n^2 d)`` for the exact candidates and
is meant for tests and small sets; the GPU route is the fast one.

:func:`beam_search` is the CPU twin of the GPU batched search used by :meth:`HNSWIndex.search`
for queries that live on a CUDA device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from . import _core
from ._arrays import DTYPE_FLOAT32, as_matrix, is_cupy, is_torch

if TYPE_CHECKING:
    from .index import HNSWIndex

__all__ = ["beam_search", "build_levels", "gpu_knn_graph", "unit_rows"]

NONE = np.uint32(0xFFFFFFFF)  # graph_build.hpp's kNone
_METRICS = {"l2": 0, "ip": 1, "cosine": 2}
_MAX_GPU_K = 256


# ---- device arrays (torch or cupy) ---------------------------------------------------------------


class _Device:
    """Allocation and copies on one CUDA device through torch or cupy (whichever the caller uses;
    torch first for numpy input)."""

    def __init__(self, like: Any, device: str) -> None:
        if not _core.build_info()["cuda"]:
            raise RuntimeError("panning was built without CUDA; use device='cpu'")
        if not device.startswith("cuda"):
            raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'cuda[:i]'")
        self.index = int(device.split(":")[1]) if ":" in device else 0
        if is_torch(like) and like.is_cuda:
            self.index = int(like.device.index or 0)
        if is_cupy(like):
            self.index = int(like.device.id)
        self.where = f"cuda:{self.index}"  # torch's name of the device
        self.torch: Any = None
        self.cupy: Any = None
        if is_cupy(like):
            import cupy

            self.cupy = cupy
        else:
            try:
                import torch
            except ImportError:
                try:
                    import cupy
                except ImportError:
                    raise RuntimeError(
                        "GPU graph building needs torch or cupy to hold device arrays"
                    ) from None
                self.cupy = cupy
            else:
                if not torch.cuda.is_available():
                    raise RuntimeError("device='cuda' was asked for but torch sees no CUDA device")
                self.torch = torch

    @property
    def stream(self) -> int:
        if self.torch is not None:
            return int(self.torch.cuda.current_stream(self.index).cuda_stream)
        with self.cupy.cuda.Device(self.index):
            return int(self.cupy.cuda.get_current_stream().ptr)

    def empty(self, shape: tuple[int, ...], dtype: str) -> Any:
        if self.torch is not None:
            tdt = {
                "float32": self.torch.float32,
                "uint32": self.torch.int32,
                "int64": self.torch.int64,
                "uint8": self.torch.uint8,
            }[dtype]
            return self.torch.empty(shape, dtype=tdt, device=self.where)
        with self.cupy.cuda.Device(self.index):
            return self.cupy.empty(shape, dtype=dtype)

    def put(self, a: np.ndarray) -> Any:
        a = np.ascontiguousarray(a)
        if self.torch is not None:
            if a.dtype.name == "bfloat16":  # ml_dtypes: torch reads its bits
                bits = self.torch.from_numpy(a.view(np.uint16).view(np.int16))
                return bits.view(self.torch.bfloat16).to(self.where)
            src = a.view(np.int32) if a.dtype == np.uint32 else a
            return self.torch.from_numpy(src).to(self.where)
        with self.cupy.cuda.Device(self.index):
            return self.cupy.asarray(a)

    def get(self, a: Any, dtype: Any = None) -> np.ndarray:
        out: np.ndarray = a.cpu().numpy() if self.torch is not None else self.cupy.asnumpy(a)
        return out.view(dtype) if dtype is not None else out

    @staticmethod
    def ptr(a: Any) -> int:
        return int(a.data_ptr()) if hasattr(a, "data_ptr") else int(a.data.ptr)

    def synchronize(self) -> None:
        if self.torch is not None:
            self.torch.cuda.synchronize(self.index)
        else:
            with self.cupy.cuda.Device(self.index):
                self.cupy.cuda.get_current_stream().synchronize()


# ---- exact kNN on the GPU ------------------------------------------------------------------------


def _merge(
    dev: _Device,
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
    qm, xm = as_matrix(q, "x"), as_matrix(x, "x")
    _core.knn_merge_cuda(
        dev.ptr(q),  # element (0, 0), storage offset included
        qm.rows,
        qm.row_stride,
        qm.col_stride,
        qm.dtype,
        q_base,
        dev.ptr(x),
        xm.rows,
        xm.row_stride,
        xm.col_stride,
        xm.dtype,
        x_base,
        qm.cols,
        metric,
        k,
        dev.ptr(ids),
        dev.ptr(dist),
        dev.ptr(ws),
        ws_bytes,
        dev.index,
        dev.stream,
    )


def _gpu_candidates(
    dev: _Device, x: Any, k: int, metric: int, ranked: Any = None
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
    _merge(dev, r, 0, r, 0, metric, k, ids, dist, ws, ws_bytes)
    m = as_matrix(x, "x")
    _core.knn_refine_cuda(
        dev.ptr(x), m.rows, m.row_stride, m.col_stride, m.dtype,
        dev.ptr(x), m.rows, m.row_stride, m.col_stride, m.dtype,
        m.cols, metric, k, dev.ptr(ids), dev.ptr(dist), dev.index, dev.stream,
    )  # fmt: skip
    return ids, dist


def _refine_host(
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
    dev: _Device, x: Any, ids: np.ndarray, metric: int
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
        qm, xm = as_matrix(qd, "x"), as_matrix(xd, "x")
        _core.knn_refine_cuda(
            dev.ptr(qd), qm.rows, qm.row_stride, qm.col_stride, qm.dtype,
            dev.ptr(xd), xm.rows, xm.row_stride, xm.col_stride, xm.dtype,
            dim, metric, k, dev.ptr(id_d), dev.ptr(dist_d), dev.index, dev.stream,
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
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {tuple(_METRICS)}")
    m = as_matrix(x, "x")
    if k > _MAX_GPU_K:
        raise ValueError(f"k must be at most {_MAX_GPU_K} on the GPU; got {k}")
    on_gpu = m.on_gpu
    if not on_gpu and block_rows is not None and block_rows <= 0:
        raise ValueError(f"block_rows must be positive; got {block_rows}")
    dev = _Device(x if on_gpu else None, device if not on_gpu else f"cuda:{m.device}")
    n = m.rows
    kk = min(k, max(n - 1, 0))
    if on_gpu or block_rows is None or block_rows >= n:
        xd = x if on_gpu else dev.put(np.ascontiguousarray(x))
        if kk > 0:
            ids, dist = _gpu_candidates(dev, xd, kk, _METRICS[metric])
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
            _merge(dev, qd, i0, xd, j0, _METRICS[metric], kk, sub_ids, sub_dist, ws, ws_bytes)
        dev.synchronize()  # the next block's copy reuses host staging
    return _padded(*_refine_streamed(dev, x, dev.get(ids, np.uint32), _METRICS[metric]), k)


def _padded(ids: np.ndarray, dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Host results [n, kk] (int64 ids, -1 pads) widened to k columns of -1 / +inf."""
    n, kk = ids.shape
    out_ids = np.full((n, k), -1, dtype=np.int64)
    out_dist = np.full((n, k), np.inf, dtype=np.float32)
    out_ids[:, :kk], out_dist[:, :kk] = ids, dist
    return out_ids, out_dist


def _finish(
    dev: _Device, ids: Any, dist: Any, n: int, k: int, kk: int, on_gpu: bool
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


# ---- building the levels ------------------------------------------------------------------------


def _cpu_candidates(xl: np.ndarray, k: int, metric: str, threads: int | None) -> Any:
    from .index import FlatIndex

    flat = FlatIndex(xl.shape[1], metric="l2" if metric == "l2" else "ip", threads=threads)
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
    eff = "l2" if metric == "l2" else "ip"
    code = _METRICS[eff]
    th = -1 if threads is None else threads
    top = int(levels.max()) if len(levels) else -1
    dev = _Device(None, device) if device != "cpu" else None
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
                    got, extra_d = _refine_host(xl, xl, ids, eff)
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


def _float16_ranks_like_float32(dev: _Device, x_dev: Any, k: int, code: int) -> bool:
    """Whether ranking on float16 copies finds the candidates float32 ranking finds: the exact
    top-(k + 1) of up to 256 evenly spread rows (themselves included) both ways, compared as
    sets. A precision check where a range check (every value below 65504) says nothing: float16
    keeps 11 bits of each value, so rows far from the origin relative to their neighbours'
    distances lose them. Costs two 256-row passes over the level."""
    n = int(x_dev.shape[0])
    if n < 2 or k < 1:
        return False
    rows = np.unique(np.linspace(0, n - 1, min(n, _PROBE_ROWS)).astype(np.int64))
    kk = min(k + 1, _MAX_GPU_K, n)
    q = _gather(dev, x_dev, rows)
    ws_bytes = int(_core.knn_workspace_bytes(len(rows), n))
    ws = dev.empty((max(1, ws_bytes),), "uint8")
    found = []
    for half in (False, True):
        qq, xx = (_float16(dev, q), _float16(dev, x_dev)) if half else (q, x_dev)
        ids = dev.empty((len(rows), kk), "uint32")
        dist = dev.empty((len(rows), kk), "float32")
        _core.knn_reset_cuda(len(rows), kk, dev.ptr(ids), dev.ptr(dist), dev.index, dev.stream)
        _merge(dev, qq, -1, xx, 0, code, kk, ids, dist, ws, ws_bytes)
        found.append(dev.get(ids, np.uint32))
        del qq, xx, ids, dist
    same = sum(len(np.intersect1d(a, b)) for a, b in zip(*found))
    return same >= _FLOAT16_AGREEMENT * found[0].size


def _float16(dev: _Device, a: Any) -> Any:
    return a.half() if dev.torch is not None else a.astype(dev.cupy.float16)


def _cpu_nearest(xl: np.ndarray, x_up: np.ndarray, metric: str, threads: int | None) -> Any:
    """Row number in x_up of each row of xl's nearest x_up row (itself when present)."""
    from .index import FlatIndex

    flat = FlatIndex(xl.shape[1], metric="l2" if metric == "l2" else "ip", threads=threads)
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
    dev: _Device,
    x_dev: Any,
    nodes: np.ndarray,
    level: int,
    k: int,
    m: int,
    code: int,
    above: tuple[np.ndarray, np.ndarray] | None,
    rank_dtype: str = "float32",
) -> np.ndarray:
    xl = x_dev if level == 0 else _gather(dev, x_dev, nodes)
    n, dim = int(xl.shape[0]), int(xl.shape[1])
    e_ids = e_d = None
    n_extra = 0
    if above is not None:
        rep = _gpu_nearest(dev, xl, _gather(dev, x_dev, above[0]), code)
        e_ids = dev.put(_borrowed_links(nodes, above, rep))
        n_extra = int(e_ids.shape[1])
        e_d = dev.empty((n, n_extra), "float32")
        _core.knn_refine_cuda(
            dev.ptr(xl), n, dim, 1, DTYPE_FLOAT32, dev.ptr(xl), n, dim, 1, DTYPE_FLOAT32,
            dim, code, n_extra, dev.ptr(e_ids), dev.ptr(e_d), dev.index, dev.stream,
        )  # fmt: skip
    ranked = _float16(dev, xl) if rank_dtype == "float16" else None
    cand, cd = _gpu_candidates(dev, xl, k, code, ranked)
    del ranked
    pruned = dev.empty((n, m), "uint32")
    pd = dev.empty((n, m), "float32")
    _core.prune_candidates_cuda(
        dev.ptr(xl), n, dim, code, dev.ptr(cand), dev.ptr(cd), k,
        dev.ptr(e_ids) if e_ids is not None else 0, dev.ptr(e_d) if e_d is not None else 0,
        n_extra, m, dev.ptr(pruned), dev.ptr(pd), dev.index, dev.stream,
    )  # fmt: skip
    del cand, cd, e_ids, e_d
    links = dev.empty((n, m), "uint32")
    ld = dev.empty((n, m), "float32")
    ws_bytes = int(_core.reverse_merge_workspace_bytes(n, m, dev.index))
    ws = dev.empty((max(1, ws_bytes),), "uint8")
    _core.reverse_merge_cuda(
        dev.ptr(xl), n, dim, code, dev.ptr(pruned), dev.ptr(pd), m, m, m, dev.ptr(links),
        dev.ptr(ld), dev.ptr(ws), ws_bytes, dev.index, dev.stream,
    )  # fmt: skip
    return dev.get(links, np.uint32)


def _gather(dev: _Device, x_dev: Any, rows: np.ndarray) -> Any:
    """Rows of a device matrix as a new contiguous device matrix."""
    idx = dev.put(rows.astype(np.int64))
    if dev.torch is not None:
        return x_dev[idx].contiguous()
    return dev.cupy.ascontiguousarray(x_dev[idx])


def _gpu_nearest(dev: _Device, xl: Any, x_up: Any, code: int) -> np.ndarray:
    """Host array: row number in x_up of each xl row's nearest x_up row."""
    n, n_up = int(xl.shape[0]), int(x_up.shape[0])
    ids = dev.empty((n, 1), "uint32")
    dist = dev.empty((n, 1), "float32")
    _core.knn_reset_cuda(n, 1, dev.ptr(ids), dev.ptr(dist), dev.index, dev.stream)
    ws_bytes = int(_core.knn_workspace_bytes(n, n_up))
    ws = dev.empty((max(1, ws_bytes),), "uint8")
    _merge(dev, xl, -1, x_up, 0, code, 1, ids, dist, ws, ws_bytes)
    return dev.get(ids, np.uint32)[:, 0].astype(np.int64)


# ---- batched beam search ------------------------------------------------------------------------


def beam_search(
    index: HNSWIndex, q: npt.ArrayLike, k: int, *, ef: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The CPU twin of the GPU batched search: greedy descent, then one sorted beam of ``ef``
    entries expanded nearest-first. Same results as the GPU kernel up to float rounding; recall
    close to :meth:`HNSWIndex.search` at equal ``ef``. Returns labels (``-1`` pads) and
    distances."""
    qf = _queries_f32(index, np.asarray(q))
    level0, upper, offset, entry, max_level = index._index.export_links()
    x = index._index.export_vectors()
    ef_v = index.ef if ef is None else int(ef)
    ids, dist = _core.beam_search(
        x,
        _search_metric(index),
        index.M,
        level0,
        upper,
        offset,
        int(entry),
        int(max_level),
        qf,
        int(k),
        ef_v,
        index.threads,
    )
    return _labels(index, np.asarray(ids)), np.asarray(dist)


def _search_metric(index: HNSWIndex) -> int:
    return 0 if index.metric == "l2" else 1


def _queries_f32(index: HNSWIndex, q: np.ndarray) -> np.ndarray:
    if q.ndim != 2 or q.shape[1] != index.dim:
        raise ValueError(f"queries must be 2-D [nq, {index.dim}]; got shape {q.shape}")
    qf = np.ascontiguousarray(q, dtype=np.float32)
    if not np.isfinite(qf).all():
        raise ValueError("queries hold NaN or inf")
    return unit_rows(qf) if index.metric == "cosine" else qf


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in float64, as float32 (zero rows stay zero): how cosine
    inputs are normalised before the ``"ip"`` kernels, as the C++ indexes do."""
    norms = np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-30), dtype=np.float32)


def _labels(index: HNSWIndex, internal: np.ndarray) -> np.ndarray:
    labels = index.ids
    out = np.full(internal.shape, -1, dtype=np.int64)
    ok = internal != NONE
    out[ok] = labels[internal[ok].astype(np.int64)]
    return out


class GpuGraph:
    """A device copy of an HNSWIndex's graph and vectors for batched GPU search."""

    def __init__(self, index: HNSWIndex, like: Any) -> None:
        m = as_matrix(like, "queries")
        self.dev = _Device(like, f"cuda:{m.device}")
        level0, upper, offset, entry, max_level = index._index.export_links()
        self.x = self.dev.put(index._index.export_vectors())
        self.level0 = self.dev.put(level0)
        self.upper = self.dev.put(upper if len(upper) else np.zeros(1, np.uint32))
        self.offset = self.dev.put(offset)
        self.entry, self.max_level = int(entry), int(max_level)
        self.size, self.dim, self.M = len(index), index.dim, index.M
        self.metric = _search_metric(index)
        self.labels = self.dev.put(index.ids)
        self.normalise = index.metric == "cosine"

    def search(self, q: Any, k: int, ef: int) -> tuple[Any, Any]:
        m = as_matrix(q, "queries")
        if m.cols != self.dim:
            raise ValueError(f"queries have {m.cols} columns but the index has dim {self.dim}")
        if self.dev.torch is not None:
            qf = q.detach().float()
            if not bool(self.dev.torch.isfinite(qf).all()):
                raise ValueError("queries hold NaN or inf")
            if self.normalise:
                qf = qf / qf.norm(dim=1, keepdim=True).clamp_min(1e-30)
            qf = qf.contiguous()
        else:
            cp = self.dev.cupy
            qf = q.astype(cp.float32)
            if not bool(cp.isfinite(qf).all()):
                raise ValueError("queries hold NaN or inf")
            if self.normalise:
                qf = qf / cp.maximum(cp.linalg.norm(qf, axis=1, keepdims=True), 1e-30)
            qf = cp.ascontiguousarray(qf)
        nq = int(qf.shape[0])
        if self.size == 0:  # nothing to gather labels from
            ids64 = self.dev.put(np.full((nq, k), -1, dtype=np.int64))
            return ids64, self.dev.put(np.full((nq, k), np.inf, dtype=np.float32))
        ids = self.dev.empty((nq, k), "uint32")
        dist = self.dev.empty((nq, k), "float32")
        _core.beam_search_cuda(
            self.dev.ptr(self.x),
            self.size,
            self.dim,
            self.metric,
            self.M,
            self.dev.ptr(self.level0),
            self.dev.ptr(self.upper),
            self.dev.ptr(self.offset),
            self.entry,
            self.max_level,
            self.dev.ptr(qf),
            nq,
            k,
            ef,
            self.dev.ptr(ids),
            self.dev.ptr(dist),
            self.dev.index,
            self.dev.stream,
        )
        if self.dev.torch is not None:
            raw = ids.long() & 0xFFFFFFFF
            miss = raw == 0xFFFFFFFF
            lab = self.labels[raw.clamp_max(max(self.size - 1, 0))]
            return lab.masked_fill(miss, -1), dist
        cp = self.dev.cupy
        raw = ids.astype(cp.int64)
        miss = raw == 0xFFFFFFFF
        lab = self.labels[cp.minimum(raw, max(self.size - 1, 0))]
        return cp.where(miss, -1, lab), dist
