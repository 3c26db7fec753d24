"""Neighbour sources for SEALS: where the candidate pool's k nearest neighbours come from.

SEALS needs one operation from an index: "the k nearest neighbours of these dataset ids". Two
sources provide it:

- :class:`KnnGraphSource` over a precomputed kNN graph ``ids [N, k]`` (int64, row ``i`` lists the
  neighbours of dataset id ``i`` nearest first, ``-1`` pads short rows). Lookups are a row gather.
- :class:`IndexSource` over any object with the ``HNSWIndex`` / ``FlatIndex`` API
  (``search(q, k, *, ef=None, exclude=None) -> (ids, dists)`` and ``knn_graph(k)``); it reads the
  embedding rows of the asked ids and searches for ``k + 1`` neighbours, dropping the id itself.

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

from ._arrays import on_cuda

__all__ = [
    "IndexSource",
    "KnnGraphSource",
    "NeighborSource",
    "exact_knn_graph",
    "fingerprint",
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
    mod = type(embeddings).__module__.split(".")[0]
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

    @property
    def k(self) -> int:
        return self._k

    def neighbors(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        out = np.full((ids.shape[0], self._k), -1, dtype=np.int64)
        if ids.size == 0:
            return out
        q = rows_as_float32(self._embeddings, ids)
        # ef only when set: exact indexes (FlatIndex) take no ef
        extra = {} if self.ef is None else {"ef": self.ef}
        found, _ = self.index.search(q, self._k + 1, **extra)
        found = np.asarray(found, dtype=np.int64)
        for r in range(ids.shape[0]):  # drop the id itself (an ANN index may not list it first)
            row = found[r][(found[r] != ids[r]) & (found[r] >= 0)][: self._k]
            out[r, : row.shape[0]] = row
        return out


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
) -> np.ndarray:
    """A kNN graph of ``embeddings`` with at least ``k`` columns, cached in ``path`` (``.npz``).

    When ``path`` exists and was built from the same embeddings (fingerprint and shape) with the
    same metric and at least ``k`` neighbours, its first ``k`` columns are returned; otherwise the
    graph is built (exactly on the GPU when the embeddings are a CUDA torch tensor or cupy array
    and panning has CUDA; else ``panning.HNSWIndex`` when this build of panning has it, else
    :func:`exact_knn_graph`) and written to ``path`` atomically.

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
                return np.asarray(f["ids"][:, :k], dtype=np.int64)
    graph = _build_default_graph(embeddings, k, metric=metric, progress=progress)
    if path is not None:
        tmp = f"{os.fspath(path)}.tmp-{os.getpid()}.npz"
        np.savez(tmp, ids=graph, fingerprint=np.str_(fp), metric=np.str_(metric))
        os.replace(tmp, path)
    return graph


def _build_default_graph(embeddings: Any, k: int, *, metric: str, progress: bool) -> np.ndarray:
    import panning

    # Embeddings on a GPU: the exact graph there (tiled distances + per-row top-k), in place.
    if on_cuda(embeddings) and panning.build_info()["cuda"]:
        ids, _ = panning.knn_graph(embeddings, k, metric=metric)  # type: ignore[arg-type]
        mod = type(ids).__module__.split(".")[0]
        host = ids.cpu().numpy() if mod == "torch" else ids.get() if mod == "cupy" else ids
        return np.asarray(host, dtype=np.int64)
    # The one place that lights up panning's own HNSW index once it is part of the build.
    hnsw = getattr(panning, "HNSWIndex", None)
    if hnsw is not None:
        n, d = _shape(embeddings)
        # Built on one thread: a parallel HNSW build depends on scheduling, and Seals.resume
        # rebuilds this graph and checks it is the one the session was made with. Searches are
        # independent per query, so the kNN-graph pass runs on every thread and stays exact.
        index = hnsw(d, metric=metric, threads=1)
        index.add(rows_as_float32(embeddings, np.arange(n)))
        index.threads = None
        ids, _ = index.knn_graph(k)
        return np.asarray(ids, dtype=np.int64)
    return exact_knn_graph(embeddings, k, metric=metric, progress=progress)
