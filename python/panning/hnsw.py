"""Approximate nearest neighbours: :class:`HNSWIndex`, a hierarchical navigable small-world graph
searched on the CPU or, for queries on a CUDA device, by a batched beam search on the GPU.

The index shares :class:`panning.FlatIndex`'s API and conventions (:mod:`panning.knn` lists
them: distances, padding, dtypes, threads, Ctrl-C). It is built by insertion
(:meth:`~HNSWIndex.add`) or from exact kNN candidates (:meth:`HNSWIndex.build`,
:mod:`panning.hnsw_build`), and saved to and loaded from a versioned, checksummed file
(:meth:`~HNSWIndex.save`, :meth:`~HNSWIndex.load`).

:func:`beam_search` is the CPU twin of the GPU batched search used by :meth:`HNSWIndex.search`
for queries that live on a CUDA device.
"""

from __future__ import annotations

import functools
import os
import socket
import tempfile
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from . import _core, _device
from ._arrays import as_matrix
from ._device import is_torch, on_cuda
from ._native_index import (
    Metric,
    NativeIndex,
    as_ids,
    as_rows,
    check_threads,
    kernel_metric,
    metric_code,
    positive_int,
)
from .hnsw_build import build_levels
from .knn import NONE, device_matrix, unit_rows

__all__ = ["HNSWIndex", "beam_search"]

Storage = Literal["float32", "float16"]

_STORAGES = {"float32": 0, "float16": 1}

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


class HNSWIndex(NativeIndex):
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
        dim = positive_int(dim, "dim", _core.MAX_DIM)
        code = metric_code(metric)
        if storage not in _STORAGES:
            raise ValueError(f"unknown storage {storage!r}; expected one of {tuple(_STORAGES)}")
        M = positive_int(M, "M", _core.MAX_M)
        if M < 2:
            raise ValueError(f"M must be in [2, {_core.MAX_M}]; got {M}")
        ef_construction = positive_int(
            ef_construction, "ef_construction", _core.MAX_EF_CONSTRUCTION
        )
        if not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
            raise ValueError(f"seed must be an integer in [0, 2**64); got {seed!r}")
        self._threads = check_threads(threads)
        self._ef = DEFAULT_EF
        self._index = _core.HnswIndex(dim, code, _STORAGES[storage], M, ef_construction, int(seed))

    @classmethod
    def _wrap(cls, native: Any, threads: int | None) -> HNSWIndex:
        self = cls.__new__(cls)
        self._threads = check_threads(threads)
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
        self._ef = positive_int(value, "ef")

    # ---- building and searching ---------------------------------------------------------------

    def reserve(self, n: int) -> None:
        """Make room for ``n`` vectors in total before adding them in several calls.

        Each ``add`` that outgrows the index grows it by half and copies every node, so adding
        a large set in blocks briefly holds two copies; reserving once avoids both. No effect
        when ``n <= `` the current capacity.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"n must be an integer; got {type(n).__name__}")
        if not 0 <= n <= 2**32 - 2:  # internal node numbers are 32-bit
            raise ValueError(f"n must be in [0, {2**32 - 2}]; got {n}")
        self._index.reserve(int(n))

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
        rows, dtype = as_rows(q, self.dim, "q")
        k = positive_int(k, "k")
        ef = self._ef if ef is None else positive_int(ef, "ef")
        ex = None if exclude is None else as_ids(exclude, "exclude")
        ids, dist = self._index.search(rows, dtype, k, ef, ex, self._threads)
        return np.asarray(ids), np.asarray(dist)

    def _search_cuda(self, q: Any, k: int, ef: int | None, exclude: Any) -> tuple[Any, Any]:
        """Batched beam search on the GPU over a device copy of the graph (made on first use,
        remade after ``add``): one warp per query; results on the queries' device."""
        if exclude is not None:
            raise ValueError("exclude is not supported for GPU queries; search with numpy queries")
        k = positive_int(k, "k")
        ef = max(k, self._ef if ef is None else positive_int(ef, "ef"))
        dev = _device.Device.of(q)
        key = (len(self), dev.index, dev.framework)
        cached: tuple[tuple[int, int, str], GpuGraph] | None = getattr(self, "_gpu_graph", None)
        if cached is None or cached[0] != key:
            cached = (key, GpuGraph(self, dev))
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

        Every level is built in four steps (see :mod:`panning.hnsw_build`): the
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
            in float32 (:mod:`panning.hnsw_build`), else ``"float32"``; the CPU always ranks in
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
        rows, dtype = as_rows(arr, index.dim, "x")
        id_arr = None if ids is None else as_ids(ids, "ids", len(rows))
        if not np.isfinite(rows).all():
            bad = int(np.flatnonzero(~np.isfinite(rows).all(axis=1))[0])
            raise ValueError(f"x row {bad} holds NaN or inf")
        if device != "cpu" and not device.startswith("cuda"):
            raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'cuda[:i]'")
        k = min(8 * index.M, 256) if candidates is None else positive_int(candidates, "candidates")
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
        k = positive_int(k, "k")
        ef = self._ef if ef is None else positive_int(ef, "ef")
        ids, dist = self._index.knn_graph(k, ef, self._threads)
        return np.asarray(ids), np.asarray(dist)

    # ---- files --------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to ``path`` atomically.

        The file (format version 2: header, data, links, checksum) is written to a temporary
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
    return metric_code(kernel_metric(index.metric))


def _queries_f32(index: HNSWIndex, q: np.ndarray) -> np.ndarray:
    if q.ndim != 2 or q.shape[1] != index.dim:
        raise ValueError(f"queries must be 2-D [nq, {index.dim}]; got shape {q.shape}")
    qf = np.ascontiguousarray(q, dtype=np.float32)
    if not np.isfinite(qf).all():
        raise ValueError("queries hold NaN or inf")
    return unit_rows(qf) if index.metric == "cosine" else qf


def _labels(index: HNSWIndex, internal: np.ndarray) -> np.ndarray:
    labels = index.ids
    out = np.full(internal.shape, -1, dtype=np.int64)
    ok = internal != NONE
    out[ok] = labels[internal[ok].astype(np.int64)]
    return out


class GpuGraph:
    """A device copy of an HNSWIndex's graph and vectors for batched GPU search."""

    def __init__(self, index: HNSWIndex, dev: _device.Device) -> None:
        self.dev = dev
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
            device_matrix(self.dev, self.x),
            self.metric,
            self.M,
            self.dev.ptr(self.level0),
            self.dev.ptr(self.upper),
            self.dev.ptr(self.offset),
            self.entry,
            self.max_level,
            device_matrix(self.dev, qf),
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
