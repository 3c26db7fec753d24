"""Neighbour sources for SEALS: where the candidate pool's k nearest neighbours come from.

SEALS needs one operation from an index: "the k nearest neighbours of these dataset ids". Two
sources provide it:

- :class:`KnnGraphSource` over a precomputed kNN graph ``ids [N, k]`` (int64, row ``i`` lists the
  neighbours of dataset id ``i`` nearest first, ``-1`` pads short rows). Lookups are a row gather.
- :class:`IndexSource` over any object with the ``HNSWIndex`` / ``FlatIndex`` API
  (``search(q, k, *, ef=None, exclude=None) -> (ids, dists)``); it reads the embedding rows of
  the asked ids, searches for ``k + 1`` neighbours, drops the id itself and keeps the rows it
  found (a search per id, once per session).

A SEALS session's default source is an ``HNSWIndex`` built by :func:`build_index` (every
thread, the embeddings streamed in blocks, float16 storage for float16 embeddings) and saved
beside the session file, so :meth:`panning.Seals.resume` loads it instead of rebuilding it.

:func:`exact_knn_graph` builds an exact graph in float32 NumPy blocks (matrix multiply + partial
top-k). Its cost is ``O(N^2 d)`` flops and ``O(block * N)`` memory: about 4 minutes for the
117,659 x 384 wordnet embeddings on 2 cores, so cache it with :func:`load_or_build_graph`.
:func:`panning.knn_graph` (``exact=True``) builds the same graph with panning's packed native scan,
2.3-2.6x faster on a quiet 2-core AVX2 machine (bench/README.md, "kNN graph (CPU)").
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ._device import framework, is_cupy, is_torch, on_cuda, to_numpy

__all__ = [
    "IndexSource",
    "build_index",
    "index_checksum",
    "KnnGraphSource",
    "NeighborSource",
    "exact_knn_graph",
    "check_index",
    "fingerprint",
    "graph_hash",
    "load_or_build_graph",
    "rows_as_float32",
]


def rows_as_float32(embeddings: Any, ids: npt.ArrayLike) -> np.ndarray:
    """The rows ``ids`` of ``embeddings`` as a float32 numpy array ``[len(ids), d]``.

    Works for numpy arrays, ``np.memmap`` (only the asked rows are read), torch tensors (CPU or
    CUDA) and cupy arrays.

    Examples
    --------
    >>> import numpy as np
    >>> rows_as_float32(np.eye(3, dtype=np.float16), [2, 0]).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    idx = np.asarray(ids, dtype=np.int64)
    mod = framework(embeddings)
    if mod == "torch":
        import torch

        t = embeddings[torch.as_tensor(idx, device=embeddings.device)]
        return np.asarray(t.detach().float().cpu().numpy(), dtype=np.float32)
    if mod == "cupy":
        import cupy

        return np.asarray(embeddings[cupy.asarray(idx)].get(), dtype=np.float32)
    return np.asarray(np.asarray(embeddings)[idx], dtype=np.float32)


def _shape(embeddings: Any) -> tuple[int, int]:
    shape = tuple(int(s) for s in embeddings.shape)
    if len(shape) != 2:
        raise ValueError(f"embeddings must be 2-D [rows, dim]; got shape {shape}")
    return shape[0], shape[1]


def fingerprint(embeddings: Any, *, samples: int = 64) -> str:
    """A short hash of an embedding array: its shape and the values of ``samples`` spread rows.

    Reading every row of a memmap of billions of rows to check a resumed session would cost
    minutes; evenly spaced rows (always including the first and the last) catch a different
    file, a different order or a different model at the cost of a few row reads.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(12, dtype=np.float32).reshape(4, 3)
    >>> fingerprint(x) == fingerprint(x.copy()), fingerprint(x) == fingerprint(x[::-1])
    (True, False)
    """
    n, d = _shape(embeddings)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{n}x{d}".encode())
    if n:
        rows = np.unique(np.linspace(0, n - 1, num=min(samples, n)).astype(np.int64))
        h.update(np.ascontiguousarray(rows_as_float32(embeddings, rows)).tobytes())
    return h.hexdigest()


@runtime_checkable
class NeighborSource(Protocol):
    """What SEALS asks of an index: the ``k`` nearest other dataset ids of each given id."""

    @property
    def k(self) -> int:
        """How many neighbours :meth:`neighbors` returns per id."""
        ...

    def neighbors(self, ids: np.ndarray) -> np.ndarray:
        """``int64 [len(ids), k]`` neighbour ids, nearest first, -1 pads; never ``ids[i]``."""
        ...


class KnnGraphSource:
    """Neighbours read from a precomputed kNN graph (``ids [N, >=k]``, row-aligned with data ids).

    Parameters
    ----------
    graph : int array [N, K]
        Row ``i`` holds the neighbours of dataset id ``i``, nearest first; ``-1`` pads.
    k : int, optional
        Use only the first ``k`` columns (default: all ``K``).

    Examples
    --------
    >>> import numpy as np
    >>> src = KnnGraphSource(np.array([[1, 2], [0, 2], [1, -1]]), k=1)
    >>> src.neighbors(np.array([0, 2])).tolist()
    [[1], [1]]
    """

    def __init__(self, graph: npt.ArrayLike, *, k: int | None = None) -> None:
        g = np.asarray(graph)
        if g.ndim != 2 or not np.issubdtype(g.dtype, np.integer):
            raise ValueError(f"a kNN graph is an integer [N, k] array; got {g.dtype} {g.shape}")
        kk = g.shape[1] if k is None else int(k)
        if not 0 < kk <= g.shape[1]:
            raise ValueError(f"k={kk} is out of range for a graph with {g.shape[1]} columns")
        if g.size and (g.max() >= g.shape[0] or g.min() < -1):
            raise ValueError("the kNN graph holds ids outside [-1, N)")
        self._graph = g[:, :kk]
        self._k = kk

    @property
    def k(self) -> int:
        return self._k

    @property
    def rows(self) -> int:
        """Number of dataset ids the graph covers."""
        return int(self._graph.shape[0])

    def neighbors(self, ids: np.ndarray) -> np.ndarray:
        return np.asarray(self._graph[np.asarray(ids, dtype=np.int64)], dtype=np.int64)


class IndexSource:
    """Neighbours found by searching an index with the ``panning.HNSWIndex`` API.

    Each id is searched once: its row of neighbours is kept (int32 where the ids allow) and
    served from memory when asked again (replays, widening, density strategies), so the memory
    grows with the ids a session touches, not with the data.

    Parameters
    ----------
    index : object
        Has ``search(q, k, *, ef=None, exclude=None) -> (ids, distances)`` over the same dataset
        ids as ``embeddings`` (e.g. ``panning.HNSWIndex`` or ``panning.FlatIndex``).
    embeddings : array [N, d]
        The vectors the index holds; the query vector of id ``i`` is row ``i``.
    k : int
        Neighbours per id.
    ef : int, optional
        Passed to ``search``.

    Examples
    --------
    >>> import numpy as np, panning
    >>> x = np.array([[0.0], [1.0], [3.0], [7.0]], dtype=np.float32)
    >>> src = IndexSource(panning.FlatIndex(1), x, k=2)
    >>> src.index.add(x)
    >>> src.neighbors(np.array([0, 3])).tolist()
    [[1, 2], [2, 1]]
    """

    def __init__(self, index: Any, embeddings: Any, *, k: int, ef: int | None = None) -> None:
        if not callable(getattr(index, "search", None)):
            raise TypeError("index must have a search(q, k, *, ef=None, exclude=None) method")
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        self.index = index
        self._embeddings = embeddings
        self._k = int(k)
        self.ef = ef
        n = int(embeddings.shape[0])
        self._dtype = np.int32 if n < 2**31 else np.int64
        self._known: dict[int, np.ndarray] = {}

    @property
    def k(self) -> int:
        return self._k

    def neighbors(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        missing = np.unique(ids[[int(i) not in self._known for i in ids.tolist()]])
        if missing.size:
            for i, row in zip(missing.tolist(), self._search(missing)):
                self._known[i] = row
        out = np.full((ids.shape[0], self._k), -1, dtype=np.int64)
        for r, i in enumerate(ids.tolist()):
            out[r] = self._known[i]
        return out

    def _search(self, ids: np.ndarray) -> np.ndarray:
        q = rows_as_float32(self._embeddings, ids)
        # ef only when set: exact indexes (FlatIndex) take no ef
        extra = {} if self.ef is None else {"ef": self.ef}
        found, _ = self.index.search(q, self._k + 1, **extra)
        found = np.asarray(found, dtype=np.int64)
        # Drop the id itself (an ANN index may not list it first) and -1 padding, keeping the
        # order: a stable sort moves the dropped entries to the end of each row.
        keep = (found != ids[:, None]) & (found >= 0)
        order = np.argsort(~keep, axis=1, kind="stable")
        rows = np.where(np.take_along_axis(keep, order, 1), np.take_along_axis(found, order, 1), -1)
        return rows[:, : self._k].astype(self._dtype)


def row_block(embeddings: Any, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` as a CPU numpy array, float16 kept, anything else as float32.

    A slice, not a gather: a numpy array or memmap is read in place when it is already float16
    or float32; torch (any dtype, bfloat16 included) and cupy rows are copied to the host.
    """
    if is_torch(embeddings):
        t = embeddings[start:stop].detach()
        t = t if str(t.dtype) == "torch.float16" else t.float()
        return np.asarray(t.cpu().numpy())
    a: np.ndarray
    if is_cupy(embeddings):
        a = embeddings[start:stop].get()
    else:
        a = np.asarray(embeddings[start:stop])
    return a if a.dtype in (np.float16, np.float32) else a.astype(np.float32)


def build_index(
    embeddings: Any,
    *,
    metric: str = "cosine",
    storage: str | None = None,
    M: int = 16,  # noqa: N803 (the paper's name)
    ef_construction: int = 200,
    threads: int | None = None,
    block: int = 65536,
    progress: bool = False,
) -> Any:
    """An ``HNSWIndex`` over the rows of ``embeddings`` (ids = row numbers), built in parallel.

    The rows are streamed in blocks of ``block`` (a float16 ``np.memmap`` is read block by
    block, never copied whole), inserted on ``threads`` threads (default: all), and stored as
    float16 when the embeddings are float16 (``storage`` overrides), float32 otherwise. A
    parallel build depends on scheduling: two builds of the same data give slightly different
    graphs, so a session keeps the index it was built with (:meth:`HNSWIndex.save`).
    The index is sized for every row first (:meth:`HNSWIndex.reserve`), so peak memory is the
    index (``memory_bytes``: 1,042 bytes per row for d = 384 with float16 storage and M = 16,
    1,810 with float32) plus one block, plus the pages of a memmap the build reads.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float16)
    >>> index = build_index(x, metric="l2")
    >>> len(index), index.storage
    (500, 'float16')
    """
    import panning

    n, d = _shape(embeddings)
    if storage is None:
        storage = "float16" if str(embeddings.dtype) in ("float16", "torch.float16") else "float32"
    if isinstance(block, bool) or int(block) != block or block <= 0:
        raise ValueError(f"block must be a positive integer, got {block!r}")
    index = panning.HNSWIndex(
        d,
        metric=metric,  # type: ignore[arg-type]
        M=M,
        ef_construction=ef_construction,
        storage=storage,  # type: ignore[arg-type]
        threads=threads,
    )
    index.reserve(n)  # one allocation, not one growth (and copy) per block
    for s in _progress(range(0, n, int(block)), progress, "HNSW index"):
        index.add(row_block(embeddings, s, min(n, s + int(block))))
    return index


def index_checksum(path: str | os.PathLike[str]) -> str:
    """The checksum an index file ends with (hex): names one exact file without reading it all.

    ``HNSWIndex.load`` verifies it against the file's bytes; a session records it to know that
    the index it reloads is the one its pool came from.
    """
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() < 8:
            raise ValueError(f"{os.fspath(path)} is not an index file (too short)")
        f.seek(-8, os.SEEK_END)
        return f.read(8).hex()


def check_index(index: Any, embeddings: Any, metric: str, where: str) -> None:
    """Refuse an index that does not hold ``embeddings`` under their row numbers.

    Checks the size, dimension, metric and ids, and for ``l2`` / ``cosine`` that a sample of
    rows finds itself (its id among the 10 nearest, or a match at distance ~0) in at least half
    of the cases: a search is approximate, but an index of other data of the same shape fails.
    """
    n, d = _shape(embeddings)
    if len(index) != n or index.dim != d:
        raise ValueError(f"{where} indexes {len(index)} x {index.dim} vectors, not {n} x {d}")
    if index.metric != metric:
        raise ValueError(f"{where} is a {index.metric} index; the session uses {metric}")
    ids = np.asarray(index.ids)
    if not np.array_equal(ids, np.arange(n, dtype=ids.dtype)):
        raise ValueError(f"{where} does not store row i under id i (ids are not 0 .. {n - 1})")
    if metric in ("l2", "cosine") and n:
        rows = np.unique(np.linspace(0, n - 1, num=min(32, n)).astype(np.int64))
        q = rows_as_float32(embeddings, rows)
        found, dist = index.search(q, min(10, n), ef=256)
        scale = (q * q).sum(1) if metric == "l2" else np.ones(len(rows), dtype=np.float32)
        near = np.asarray(dist)[:, 0] <= 1e-2 * np.maximum(scale, 1e-12)
        hit = near | np.any(np.asarray(found) == rows[:, None], axis=1)
        if np.mean(hit) < 0.5:
            raise ValueError(
                f"{where} does not hold these embeddings (rows are not found at distance 0)"
            )


def exact_knn_graph(
    embeddings: Any,
    k: int,
    *,
    metric: str = "cosine",
    block: int = 2048,
    progress: bool = False,
) -> np.ndarray:
    """Exact kNN graph ``int64 [N, k]`` in float32 NumPy blocks; row ``i`` never lists ``i``.

    Each block of ``block`` rows is multiplied against all ``N`` rows (``O(N^2 d)`` flops in
    total, ``O(block * N)`` memory) and the ``k`` best are kept with ``argpartition``; equal
    distances are ordered by lower id. ``metric`` is ``"cosine"``, ``"ip"`` or ``"l2"`` (as in
    :mod:`panning.reference`). Rows beyond ``N - 1`` neighbours are padded with ``-1``.

    This is the NumPy twin of :func:`panning.knn_graph` (``exact=True``, the native scan), kept
    separate on purpose: it is the BLAS baseline ``bench/bench_knn.py`` measures the native scan
    against, and tests use it as a graph computed independently of the native code. The two agree
    except where two candidates at rank ``k`` lie within float32 rounding of each other (this one
    ranks by ``|b|^2 - 2 <a, b>``; the native scan recomputes the winners' distances directly).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0, 1.0], [0.1, 1.0], [1.0, 0.0]], dtype=np.float32)
    >>> exact_knn_graph(x, 1, metric="l2").tolist()
    [[1], [0], [1]]
    """
    if metric not in ("cosine", "ip", "l2"):
        raise ValueError(f"unknown metric {metric!r}; expected 'cosine', 'ip' or 'l2'")
    n, _ = _shape(embeddings)
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    out = np.full((n, k), -1, dtype=np.int64)
    kk = min(k, n - 1)
    if kk <= 0:
        return out
    x = rows_as_float32(embeddings, np.arange(n))
    if metric == "cosine":
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
    sq = (x * x).sum(1) if metric == "l2" else None
    starts = range(0, n, block)
    for s in _progress(starts, progress, "kNN graph"):
        e = min(n, s + block)
        # A smaller "distance" is nearer: -<a, b> for cosine/ip, |b|^2 - 2<a, b> for l2 (the
        # query's own |a|^2 does not change its ranking).
        d = x[s:e] @ x.T
        d *= -2.0 if sq is not None else -1.0
        if sq is not None:
            d += sq[None, :]
        d[np.arange(e - s), np.arange(s, e)] = np.inf
        part = np.argpartition(d, kk - 1, axis=1)[:, :kk]
        vals = np.take_along_axis(d, part, axis=1)
        order = np.lexsort((part, vals), axis=1)
        out[s:e, :kk] = np.take_along_axis(part, order, axis=1)
    return out


def _progress(it: Any, enable: bool, desc: str) -> Any:
    if not enable:
        return it
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return it
    return tqdm(it, desc=desc, leave=False)


def load_or_build_graph(
    embeddings: Any,
    k: int,
    path: str | os.PathLike[str] | None = None,
    *,
    metric: str = "cosine",
    progress: bool = False,
    threads: int | None = None,
) -> np.ndarray:
    """A kNN graph of ``embeddings`` with at least ``k`` columns, cached in ``path`` (``.npz``).

    When ``path`` exists and was built from the same embeddings (fingerprint and shape) with the
    same metric and at least ``k`` neighbours, its first ``k`` columns are returned; otherwise the
    graph is built (exactly on the GPU when the embeddings are a CUDA torch tensor or cupy array
    and panning has CUDA; else from a ``panning.HNSWIndex`` built by :func:`build_index` on
    ``threads`` threads, default all) and written to ``path`` atomically. Ids are int32 when the
    row count allows (int64 otherwise): 4 bytes per neighbour.

    A SEALS session does not need this graph (it searches its index for the ids it expands);
    it is for callers that want every row's neighbours at once.

    Raises
    ------
    ValueError
        If ``path`` holds a graph of other embeddings or another metric.
    """
    fp = fingerprint(embeddings)
    n, _ = _shape(embeddings)
    if path is not None and os.path.exists(path):
        with np.load(path, allow_pickle=False) as f:
            stored_fp, stored_metric = str(f["fingerprint"]), str(f["metric"])
            if stored_fp != fp or f["ids"].shape[0] != n:
                raise ValueError(
                    f"{path} holds a kNN graph of other embeddings; remove it or pick another path"
                )
            if stored_metric != metric:
                raise ValueError(f"{path} holds a {stored_metric} graph, not {metric}")
            if f["ids"].shape[1] >= k:
                return _compact_ids(f["ids"][:, :k], n)
    graph = _build_default_graph(embeddings, k, metric=metric, progress=progress, threads=threads)
    if path is not None:
        tmp = f"{os.fspath(path)}.tmp-{os.getpid()}.npz"
        try:
            np.savez(tmp, ids=graph, fingerprint=np.str_(fp), metric=np.str_(metric))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return graph


def _compact_ids(ids: np.ndarray, n: int) -> np.ndarray:
    """Graph ids as int32 when ``n`` fits (half the memory of int64), else int64."""
    return np.ascontiguousarray(ids, dtype=np.int32 if n < 2**31 else np.int64)


def graph_hash(graph: np.ndarray, *, block: int = 1 << 16) -> str:
    """A hash of a kNN graph's ids, the same for int32 and int64 storage (blocks, no full copy)."""
    h = hashlib.blake2b(digest_size=16)
    for s in range(0, graph.shape[0], block):
        h.update(np.ascontiguousarray(graph[s : s + block], dtype=np.int64).tobytes())
    return h.hexdigest()


def _build_default_graph(
    embeddings: Any, k: int, *, metric: str, progress: bool, threads: int | None = None
) -> np.ndarray:
    import panning

    n, _ = _shape(embeddings)
    # Embeddings on a GPU: the exact graph there (tiled distances + per-row top-k), in place.
    if on_cuda(embeddings) and panning.build_info()["cuda"]:
        ids, _ = panning.knn_graph(embeddings, k, metric=metric)  # type: ignore[arg-type]
        return _compact_ids(to_numpy(ids), n)
    index = build_index(embeddings, metric=metric, threads=threads, progress=progress)
    index.threads = None  # searches are independent per query: every thread, same result
    ids, _ = index.knn_graph(k)
    return _compact_ids(ids, n)


def legacy_session_graph(embeddings: Any, k: int, *, metric: str) -> np.ndarray:
    """The graph sessions made before panning kept their index rebuilt on every resume.

    One thread, float32 storage, every row in one ``add``: the deterministic build those
    sessions recorded the hash of. Only :meth:`panning.Seals.resume` of such a session
    without its graph cache calls this; new sessions save their index instead.
    """
    import panning

    n, d = _shape(embeddings)
    index = panning.HNSWIndex(d, metric=metric, threads=1)  # type: ignore[arg-type]
    index.add(rows_as_float32(embeddings, np.arange(n)))
    index.threads = None
    ids, _ = index.knn_graph(k)
    return _compact_ids(ids, n)
