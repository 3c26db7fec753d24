"""Nearest-neighbour indexes: :class:`HNSWIndex` (approximate), :class:`FlatIndex` (exact) and
:func:`knn_graph`.

Both indexes share one API: ``add`` vectors under int64 ids of your choosing, ``search`` for the
``k`` nearest, optionally leaving out ids (SEALS excludes labeled items). Distances follow
hnswlib's conventions:

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
"""

from __future__ import annotations

import functools
import os
import socket
import tempfile
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from . import _core
from ._arrays import as_matrix, is_cupy, is_torch, on_cuda

__all__ = ["FlatIndex", "HNSWIndex", "knn_graph"]

Metric = Literal["l2", "ip", "cosine"]
Storage = Literal["float32", "float16"]

_METRICS = {"l2": 0, "ip": 1, "cosine": 2}
_STORAGES = {"float32": 0, "float16": 1}
_DTYPES = {np.dtype(np.float32): 0, np.dtype(np.float16): 1}

DEFAULT_EF = 64


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


_TEMP_PREFIX = ".panning-index-"


def _temp_prefix() -> str:
    # host and pid in the name let a later save tell whether the writer is gone
    host = socket.gethostname().replace("-", "_") or "host"
    return f"{_TEMP_PREFIX}{host}-{os.getpid()}-"


def _remove_stale_temporaries(directory: str) -> None:
    """Delete temporary files of saves killed midway: ours only (by name), on this host, whose
    writing process is gone. A live writer's file, or another host's, is never touched."""
    if os.name == "nt":  # os.kill(pid, 0) would not probe there
        return
    host = socket.gethostname().replace("-", "_") or "host"
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(_TEMP_PREFIX) and name.endswith(".tmp")):
            continue
        parts = name[len(_TEMP_PREFIX) : -len(".tmp")].rsplit("-", 2)
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue  # alive (or reused by another process: leave the file)
        except ProcessLookupError:
            pass
        except OSError:
            continue
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass


def _metric_code(metric: str) -> int:
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {tuple(_METRICS)}")
    return _METRICS[metric]


def _threads(threads: int | None) -> int:
    if threads is None:
        return 0
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads must be a positive integer or None; got {threads!r}")
    if not 1 <= threads <= _core.MAX_THREADS:
        raise ValueError(f"threads must be in [1, {_core.MAX_THREADS}] or None; got {threads}")
    return int(threads)


def _positive_int(value: Any, name: str, limit: int | None = None) -> int:
    """``value`` as an int in ``[1, limit]`` (default limit: :data:`MAX_K`), else a TypeError or
    a ValueError naming ``name`` and the range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__}")
    hi = _core.MAX_K if limit is None else limit
    if not 1 <= value <= hi:
        raise ValueError(f"{name} must be in [1, {hi}]; got {value}")
    return int(value)


def _rows(x: Any, dim: int, what: str) -> tuple[np.ndarray, int]:
    """``x`` as a 2-D float32/float16 numpy view and its dtype code, or TypeError/ValueError."""
    if is_torch(x):
        if x.device.type != "cpu":
            raise TypeError(f"{what} is a torch tensor on {x.device}; indexes take CPU tensors")
        x = x.detach().resolve_conj().resolve_neg()
        import torch

        if x.dtype not in (torch.float32, torch.float16):
            raise TypeError(f"{what} has dtype {x.dtype}; expected float32 or float16")
        x = x.numpy()
    elif not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.dtype not in _DTYPES:
        raise TypeError(
            f"{what} has dtype {x.dtype}; expected float32 or float16 "
            f"(convert explicitly, e.g. {what}.astype(np.float32))"
        )
    if not x.dtype.isnative:
        raise TypeError(f"{what} has non-native byte order {x.dtype.str}")
    if x.ndim != 2:
        raise ValueError(f"{what} must be 2-D [n, {dim}]; got shape {tuple(x.shape)}")
    if x.shape[1] != dim:
        raise ValueError(f"{what} has shape {tuple(x.shape)} but the index has dim {dim}")
    return x, _DTYPES[x.dtype]


def _id_array(ids: Any, what: str, n: int | None = None) -> np.ndarray:
    a = np.asarray(ids.numpy() if is_torch(ids) else ids)
    if a.size == 0:
        a = a.reshape(0)
    if a.size and a.dtype.kind not in "iu":
        raise TypeError(f"{what} must hold integers; got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{what} must be 1-D; got shape {tuple(a.shape)}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{what} has {a.shape[0]} entries for {n} rows")
    if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{what} holds values beyond int64")
    return np.ascontiguousarray(a, dtype=np.int64)


class _NativeIndex:
    """What HNSWIndex and its exact twin FlatIndex share: size, shape, threads, ids, add."""

    _index: Any
    _threads: int

    def __len__(self) -> int:
        return int(self._index.size())

    @property
    def dim(self) -> int:
        """Vector length."""
        return int(self._index.dim)

    @property
    def metric(self) -> str:
        """``"l2"``, ``"ip"`` or ``"cosine"``."""
        return str(self._index.metric)

    @property
    def threads(self) -> int:
        """Threads used by ``add``, ``search`` and ``knn_graph``; 0 means every OpenMP thread.

        Settable (``None`` for every thread). Searches give the same results with any thread
        count; an HNSW build is reproducible only with one thread.
        """
        return self._threads

    @threads.setter
    def threads(self, value: int | None) -> None:
        self._threads = _threads(value)

    @property
    def ids(self) -> np.ndarray:
        """The ids of the stored vectors, in insertion order (int64)."""
        return np.asarray(self._index.labels())

    def memory_bytes(self) -> int:
        """Bytes held by the index (vectors, links, ids, locks, capacity included)."""
        return int(self._index.memory_bytes())

    def add(self, x: npt.ArrayLike, ids: npt.ArrayLike | None = None) -> None:
        """Insert the rows of ``x`` under ``ids`` (default: consecutive from ``len(self)``).

        Parameters
        ----------
        x : array [n, dim], float32 or float16
            Vectors; NaN and inf are refused.
        ids : array [n] of int, optional
            Non-negative, unique, not yet in the index; refused with ``ValueError`` naming the
            first offending id otherwise.

        Nothing is inserted when validation fails. When interrupted (Ctrl-C) the rows inserted
        so far stay in the index.
        """
        rows, dtype = _rows(x, self.dim, "x")
        id_arr = None if ids is None else _id_array(ids, "ids", rows.shape[0])
        self._index.add(rows, dtype, id_arr, self._threads)


class HNSWIndex(_NativeIndex):
    """Approximate nearest-neighbour index: a hierarchical navigable small-world graph.

    Malkov & Yashunin (2018), with the heuristic neighbour selection of their Algorithm 4,
    built in parallel on all cores.

    Parameters
    ----------
    dim : int
        Vector length.
    metric : {"l2", "ip", "cosine"}
        Distance (see the module docstring).
    M : int
        Links per node (``2 * M`` on the bottom level). Larger: better recall, more memory.
    ef_construction : int
        Candidate list size while inserting. Larger: better graph, slower build.
    seed : int
        Seeds the level of every node. With ``threads=1`` a build is reproducible; with more
        threads the graph depends on scheduling.
    storage : {"float32", "float16"}
        How vectors are stored. ``"float16"`` halves vector memory; distances are still
        accumulated in float32.
    threads : int or None
        Threads for ``add``, ``search`` and ``knn_graph``; None uses all cores.

    Examples
    --------
    >>> import numpy as np, panning
    >>> x = np.random.default_rng(0).normal(size=(1000, 16)).astype(np.float32)
    >>> index = panning.HNSWIndex(16, metric="l2")
    >>> index.add(x)
    >>> ids, dist = index.search(x[:2], 3)
    >>> ids[:, 0].tolist()
    [0, 1]
    >>> ids, dist = index.search(x[:1], 3, exclude=[0])
    >>> 0 in ids
    False
    """

    def __init__(
        self,
        dim: int,
        *,
        metric: Metric = "l2",
        M: int = 16,
        ef_construction: int = 200,
        seed: int = 0,
        storage: Storage = "float32",
        threads: int | None = None,
    ) -> None:
        dim = _positive_int(dim, "dim", _core.MAX_DIM)
        metric_code = _metric_code(metric)
        if storage not in _STORAGES:
            raise ValueError(f"unknown storage {storage!r}; expected one of {tuple(_STORAGES)}")
        M = _positive_int(M, "M", _core.MAX_M)
        if M < 2:
            raise ValueError(f"M must be in [2, {_core.MAX_M}]; got {M}")
        ef_construction = _positive_int(
            ef_construction, "ef_construction", _core.MAX_EF_CONSTRUCTION
        )
        if not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
            raise ValueError(f"seed must be an integer in [0, 2**64); got {seed!r}")
        self._threads = _threads(threads)
        self._ef = DEFAULT_EF
        self._index = _core.HnswIndex(
            dim, metric_code, _STORAGES[storage], M, ef_construction, int(seed)
        )

    @classmethod
    def _wrap(cls, native: Any, threads: int | None) -> HNSWIndex:
        self = cls.__new__(cls)
        self._threads = _threads(threads)
        self._ef = DEFAULT_EF
        self._index = native
        return self

    # ---- properties ---------------------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"HNSWIndex(dim={self.dim}, metric={self.metric!r}, M={self.M}, "
            f"ef_construction={self.ef_construction}, storage={self.storage!r}, size={len(self)})"
        )

    @property
    def storage(self) -> str:
        """``"float32"`` or ``"float16"``."""
        return str(self._index.storage)

    @property
    def M(self) -> int:  # noqa: N802 (the paper's name)
        """Links per node on the upper levels."""
        return int(self._index.M)

    @property
    def ef_construction(self) -> int:
        """Candidate list size used while inserting."""
        return int(self._index.ef_construction)

    @property
    def ef(self) -> int:
        """Default candidate list size of :meth:`search` (raised to ``k`` when smaller)."""
        return self._ef

    @ef.setter
    def ef(self, value: int) -> None:
        self._ef = _positive_int(value, "ef")

    # ---- building and searching ---------------------------------------------------------------

    def search(
        self,
        q: npt.ArrayLike,
        k: int,
        *,
        ef: int | None = None,
        exclude: npt.ArrayLike | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` approximate nearest stored vectors of each query row.

        Parameters
        ----------
        q : array [nq, dim], float32 or float16
        k : int
        ef : int, optional
            Candidate list size (default :attr:`ef`); raised to ``k`` when smaller.
        exclude : array of int, optional
            Ids never returned (unknown ids are ignored).

        Returns
        -------
        ids : int64 array [nq, k]
        distances : float32 array [nq, k]
            Nearest first; padded with ``-1`` / ``+inf`` when fewer than ``k`` qualify.
        """
        if on_cuda(q):
            return self._search_cuda(q, k, ef, exclude)
        rows, dtype = _rows(q, self.dim, "q")
        k = _positive_int(k, "k")
        ef = self._ef if ef is None else _positive_int(ef, "ef")
        ex = None if exclude is None else _id_array(exclude, "exclude")
        ids, dist = self._index.search(rows, dtype, k, ef, ex, self._threads)
        return np.asarray(ids), np.asarray(dist)

    def _search_cuda(self, q: Any, k: int, ef: int | None, exclude: Any) -> tuple[Any, Any]:
        """Batched beam search on the GPU over a device copy of the graph (made on first use,
        remade after ``add``): one warp per query; results on the queries' device."""
        from .graph_build import GpuGraph

        if exclude is not None:
            raise ValueError("exclude is not supported for GPU queries; search with numpy queries")
        k = _positive_int(k, "k")
        ef = max(k, self._ef if ef is None else _positive_int(ef, "ef"))
        device = q.device.index if is_torch(q) else q.device.id
        key = (len(self), int(device or 0), "torch" if is_torch(q) else "cupy")
        cached: tuple[tuple[int, int, str], Any] | None = getattr(self, "_gpu_graph", None)
        if cached is None or cached[0] != key:
            cached = (key, GpuGraph(self, q))
            self._gpu_graph = cached
        return cached[1].search(q, k, ef)

    @classmethod
    def build(
        cls,
        x: npt.ArrayLike,
        *,
        metric: Metric = "l2",
        M: int = 16,
        ef_construction: int = 200,
        seed: int = 0,
        storage: Storage = "float32",
        ids: npt.ArrayLike | None = None,
        device: str = "cpu",
        candidates: int | None = None,
        rank_dtype: str | None = None,
        threads: int | None = None,
    ) -> HNSWIndex:
        """Build an index over ``x`` from exact kNN candidates instead of inserting row by row.

        Every level is built in four steps (see :mod:`panning.graph_build`): the
        ``candidates`` exact nearest neighbours of each node among the level's nodes (plus the
        upper-level links of its nearest upper-level node, for long-range edges), HNSW's
        heuristic pruning to the level's link budget (``2 * M`` on level 0, ``M`` above),
        reverse edges, and a second pruning of forward + reverse links. Node levels are drawn as
        :meth:`add` draws them. The result is an ordinary index: CPU search, ``save``/``load``
        and further ``add`` calls work as for any other.

        Parameters
        ----------
        x : array [n, dim], float32 or float16 (numpy, or a torch / cupy array)
        device : str
            ``"cuda"`` / ``"cuda:i"``: candidates, pruning and merging run on the GPU (the
            fast route, ``O(n^2 d)`` tensor/CUDA-core work). ``"cpu"``: the same steps on the
            CPU with an exact blocked brute force for the candidates, for small sets and tests.
        candidates : int, optional
            Exact neighbours per node before pruning (default ``min(8 * M, 256)``; 256 is
            the GPU limit). More: a better graph at low ``ef``, a slower build.
        rank_dtype : {"float32", "float16"}, optional
            On the GPU, the precision the exact candidates are ranked in: ``"float16"`` uses
            tensor cores (several times the float32 rate); the chosen candidates' distances are
            recomputed in float32 either way, so only near-ties at the K-th candidate can differ.
            Default: ``"float16"`` on the GPU when every value fits it (|x| <= 65504 after the
            cosine normalisation) and a sample of rows finds the same candidates in float16 as
            in float32 (:mod:`panning.graph_build`), else ``"float32"``; the CPU always ranks in
            float32.
        Other parameters as for :class:`HNSWIndex`; ``ef_construction`` is kept for later
        ``add`` calls.

        Examples
        --------
        >>> import numpy as np, panning
        >>> x = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
        >>> index = panning.HNSWIndex.build(x, M=8)
        >>> index.search(x[:3], 1)[0].ravel().tolist()
        [0, 1, 2]
        """
        from .graph_build import build_levels, unit_rows

        src: Any = x
        if on_cuda(src):
            m = as_matrix(src, "x")
            if device == "cpu":
                device = f"cuda:{m.device}"
            src = src.detach().float().cpu().numpy() if is_torch(src) else src.get()
        arr = np.asarray(src)
        if arr.ndim != 2:
            raise ValueError(f"x must be 2-D [n, dim]; got shape {arr.shape}")
        index = cls(
            int(arr.shape[1]),
            metric=metric,
            M=M,
            ef_construction=ef_construction,
            seed=seed,
            storage=storage,
            threads=threads,
        )
        rows, dtype = _rows(arr, index.dim, "x")
        id_arr = None if ids is None else _id_array(ids, "ids", len(rows))
        if not np.isfinite(rows).all():
            bad = int(np.flatnonzero(~np.isfinite(rows).all(axis=1))[0])
            raise ValueError(f"x row {bad} holds NaN or inf")
        if device != "cpu" and not device.startswith("cuda"):
            raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'cuda[:i]'")
        k = min(8 * index.M, 256) if candidates is None else _positive_int(candidates, "candidates")
        xf = np.ascontiguousarray(rows, dtype=np.float32)
        if metric == "cosine":
            xf = unit_rows(xf)
        levels = np.asarray(index._index.levels_of(0, len(xf)))
        fits_float16 = bool(np.abs(xf).max(initial=0) <= 65504)
        if rank_dtype not in (None, "float32", "float16"):
            raise ValueError(f"rank_dtype must be 'float32' or 'float16'; got {rank_dtype!r}")
        if rank_dtype == "float16" and not fits_float16:
            raise ValueError("rank_dtype='float16': x holds values beyond the float16 range")
        if rank_dtype is None:  # "auto": build_levels checks float16's precision on a sample
            rank_dtype = "auto" if device != "cpu" and fits_float16 else "float32"
        links = build_levels(
            xf,
            levels,
            M=index.M,
            metric=metric,
            candidates=k,
            device=device,
            threads=threads,
            rank_dtype=rank_dtype if device != "cpu" else "float32",
        )
        index._index.assemble(rows, dtype, id_arr, links, index._threads)
        return index

    def knn_graph(self, k: int, *, ef: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Approximate kNN graph of the stored vectors.

        Row ``i`` lists the ids of the ``k`` nearest *other* stored vectors of the ``i``-th
        vector in insertion order (an HNSW search for ``k + 1`` that drops the vector itself).
        The graph's own pruned links are not a kNN graph, hence the searches.

        Returns
        -------
        ids : int64 array [len(self), k]
        distances : float32 array [len(self), k]
        """
        k = _positive_int(k, "k")
        ef = self._ef if ef is None else _positive_int(ef, "ef")
        ids, dist = self._index.knn_graph(k, ef, self._threads)
        return np.asarray(ids), np.asarray(dist)

    # ---- files --------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to ``path`` atomically.

        The file (format version 1: header, data, links, checksum) is written to a temporary
        file in the same directory, flushed to disk and renamed over ``path``, so readers see
        the old file or the new one, never a partial one.
        """
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"cannot save to {path!r}: folder {directory!r} does not exist")
        _remove_stale_temporaries(directory)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(), suffix=".tmp", dir=directory)
        os.close(fd)
        try:
            # mkstemp creates 0600; give the file the permissions open() would have given it.
            os.chmod(tmp, 0o666 & ~_umask())
            self._index.save(tmp)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        if hasattr(os, "O_DIRECTORY"):
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, threads: int | None = None) -> HNSWIndex:
        """Read an index written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            No such file.
        ValueError
            The file is truncated, corrupted (checksum or structure), not an index file, or
            written by a newer panning.
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no index file at {path!r}")
        return cls._wrap(_core.HnswIndex.load(path), threads)


class FlatIndex(_NativeIndex):
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
        dim = _positive_int(dim, "dim", _core.MAX_DIM)
        self._threads = _threads(threads)
        self._index = _core.FlatIndex(dim, _metric_code(metric))

    def __repr__(self) -> str:
        return f"FlatIndex(dim={self.dim}, metric={self.metric!r}, size={len(self)})"

    def search(
        self, q: npt.ArrayLike, k: int, *, exclude: npt.ArrayLike | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The exact ``k`` nearest stored vectors of each query row; see
        :meth:`HNSWIndex.search`."""
        rows, dtype = _rows(q, self.dim, "q")
        k = _positive_int(k, "k")
        ex = None if exclude is None else _id_array(exclude, "exclude")
        ids, dist = self._index.search(rows, dtype, k, ex, self._threads)
        return np.asarray(ids), np.asarray(dist)

    def knn_graph(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact kNN graph of the stored vectors; see :meth:`HNSWIndex.knn_graph`."""
        k = _positive_int(k, "k")
        ids, dist = self._index.knn_graph(k, self._threads)
        return np.asarray(ids), np.asarray(dist)


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
        (:func:`panning.graph_build.gpu_knn_graph`: tiled distances on tensor or CUDA cores and
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
    k = _positive_int(k, "k")
    if device is None:
        device = "cuda" if on_cuda(x) else "cpu"
    if device != "cpu":
        if not exact:
            raise ValueError("device='cuda' builds the exact graph; pass exact=True")
        from .graph_build import gpu_knn_graph

        return gpu_knn_graph(x, k, metric=metric, device=device, block_rows=block_rows)
    index: FlatIndex | HNSWIndex
    if exact:
        index = FlatIndex(dim, metric=metric, threads=threads)
        index.add(x)
        return index.knn_graph(k)
    index = HNSWIndex(
        dim, metric=metric, M=M, ef_construction=ef_construction, seed=seed, threads=threads
    )
    index.add(x)
    return index.knn_graph(k, ef=max(DEFAULT_EF, k + 1) if ef is None else ef)
