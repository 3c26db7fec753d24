"""kNN-graph frontier expansion: the candidate-pool update of SEALS.

SEALS scores only a candidate pool: the neighbours of the labeled examples in a kNN graph. When a
batch of examples is labeled, the pool gains their neighbours that are neither labeled nor already
in the pool, and loses the newly labeled examples themselves. :class:`Frontier` keeps the labeled
set and the pool as bitmaps over dataset ids ``[0, n)`` (n / 8 bytes each, whatever the pool size),
on the CPU (numpy) or on a CUDA device (torch or cupy), and updates both in one native call.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from . import _core, _device

__all__ = ["Frontier", "bitmap_set", "bitmap_test"]


def _words(n: int) -> int:
    return (n + 63) // 64


def _bits_to_ids(words: np.ndarray, n: int) -> np.ndarray:
    bits = np.unpackbits(words.view(np.uint8), bitorder="little")[:n]
    return np.flatnonzero(bits).astype(np.int64)


def _ids_to_bits(ids: np.ndarray, n: int) -> np.ndarray:
    bits = np.zeros(_words(n) * 64, dtype=np.uint8)
    bits[ids] = 1
    return np.packbits(bits, bitorder="little").view(np.uint64)


def bitmap_test(words: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Whether each of ``ids`` (int64, in range) is set in the uint64 bitmap ``words``."""
    shift = (ids & 63).astype(np.uint64)
    out: np.ndarray = ((words[ids >> 6] >> shift) & np.uint64(1)).astype(bool)
    return out


def bitmap_set(words: np.ndarray, ids: np.ndarray) -> None:
    """Set the bits of ``ids`` (int64, in range) in the uint64 bitmap ``words``, in place."""
    if ids.shape[0] > words.shape[0]:  # many: one pass over the words
        words |= _ids_to_bits(ids, words.shape[0] * 64)
    elif ids.shape[0]:
        np.bitwise_or.at(words, ids >> 6, np.uint64(1) << (ids & 63).astype(np.uint64))


def _columns(columns: tuple[int, int] | None, k: int) -> tuple[int, int]:
    if columns is None:
        return 0, k
    start, stop = (operator.index(c) for c in columns)
    if not 0 <= start <= stop <= k:
        raise ValueError(f"columns must satisfy 0 <= start <= stop <= {k}; got {(start, stop)}")
    return start, stop


class Frontier:
    """Labeled set and candidate pool over dataset ids ``[0, n)``, kept as bitmaps.

    Parameters
    ----------
    n : int
        Number of dataset ids.
    device : str
        ``"cpu"`` (numpy) or ``"cuda"`` / ``"cuda:i"``: on a GPU the bitmaps live on the device
        (as torch tensors when torch is installed, else cupy arrays) and :meth:`expand` /
        :meth:`expand_rows` take the neighbour lists and ids as device arrays of that framework.
    exclude : array-like of int, optional
        Ids that never enter the pool (a held-out split); kept as a third bitmap.

    Examples
    --------
    >>> import numpy as np
    >>> from panning import Frontier
    >>> graph = np.array([[1, 2], [0, 2], [3, 1], [2, -1]])  # row i: the neighbours of id i
    >>> f = Frontier(4)
    >>> f.expand(graph, np.array([0])).tolist()  # label 0: its neighbours 1 and 2 enter
    [1, 2]
    >>> f.expand(graph, np.array([2])).tolist()  # label 2: 3 enters, 1 is already in the pool
    [3]
    >>> f.pool_ids().tolist(), f.labeled_ids().tolist()
    ([1, 3], [0, 2])

    Without a whole graph (SEALS over an index): label first, then expand from the neighbour
    rows an index query returned, a column range at a time; excluded ids never enter.

    >>> f = Frontier(6, exclude=[5])
    >>> f.label(np.array([0, 1]))
    >>> rows = np.array([[2, 5, 3], [4, 2, -1]])  # the neighbours of 0 and 1, nearest first
    >>> f.expand_rows(rows, columns=(0, 2)).tolist()  # the first two of each; 5 is excluded
    [2, 4]
    >>> f.expand_rows(rows, columns=(2, 3)).tolist()  # widening: the third
    [3]
    """

    def __init__(self, n: int, *, device: str = "cpu", exclude: Any = None) -> None:
        n = operator.index(n)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self.n = n
        self.device = device
        self._dev: _device.Device | None = None
        excluded = None
        if exclude is not None:
            ids = self._host_ids(exclude, "exclude")
            excluded = _ids_to_bits(ids, n)
        self._excluded_host = excluded
        if device == "cpu":
            self.labeled_bitmap: Any = np.zeros(_words(n), np.uint64)
            self.pool_bitmap: Any = np.zeros(_words(n), np.uint64)
            self.excluded_bitmap: Any = excluded
        elif device.startswith("cuda"):
            self._dev = _device.Device(None, device)
            self.labeled_bitmap = self._dev.zeros((_words(n),), "uint64")
            self.pool_bitmap = self._dev.zeros((_words(n),), "uint64")
            self.excluded_bitmap = None
            if excluded is not None:
                self.excluded_bitmap = self._dev.zeros((_words(n),), "uint64")
                self._dev.assign(self.excluded_bitmap, excluded)
        else:
            raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'cuda[:i]'")

    def _host_ids(self, ids: Any, what: str) -> np.ndarray:
        a = np.asarray(ids)
        if a.size == 0:
            return np.zeros(0, np.int64)
        if a.dtype.kind not in "iu" or a.ndim > 1:
            raise TypeError(f"{what} must be a 1-D array of integer ids, got {a.dtype} {a.shape}")
        a = a.astype(np.int64, copy=False).ravel()
        if a.min() < 0 or a.max() >= self.n:
            raise ValueError(f"{what} ids must lie in [0, {self.n})")
        return a

    # ---- queries ---------------------------------------------------------------------------

    def _host(self, words: Any) -> np.ndarray:
        return np.asarray(words) if self._dev is None else self._dev.get(words)

    def pool_ids(self) -> np.ndarray:
        """Ids in the candidate pool, ascending (int64 numpy array)."""
        return _bits_to_ids(self._host(self.pool_bitmap), self.n)

    def labeled_ids(self) -> np.ndarray:
        """Labeled ids, ascending (int64 numpy array)."""
        return _bits_to_ids(self._host(self.labeled_bitmap), self.n)

    def free_ids(self) -> np.ndarray:
        """Ids neither labeled nor excluded, ascending (int64 numpy array): a full scan's pool."""
        words = self._host(self.labeled_bitmap)
        if self._excluded_host is not None:
            words = words | self._excluded_host
        return _bits_to_ids(~words, self.n)

    def is_labeled(self, ids: Any) -> np.ndarray:
        """Whether each id (int64 numpy, in ``[0, n)``) is labeled."""
        return bitmap_test(self._host(self.labeled_bitmap), np.asarray(ids, dtype=np.int64))

    def is_excluded(self, ids: Any) -> np.ndarray:
        """Whether each id (int64 numpy, in ``[0, n)``) is excluded."""
        ids = np.asarray(ids, dtype=np.int64)
        if self._excluded_host is None:
            return np.zeros(ids.shape, dtype=bool)
        return bitmap_test(self._excluded_host, ids)

    @property
    def pool_size(self) -> int:
        return int(np.unpackbits(self._host(self.pool_bitmap).view(np.uint8)).sum())

    @property
    def labeled_count(self) -> int:
        return int(np.unpackbits(self._host(self.labeled_bitmap).view(np.uint8)).sum())

    # ---- updates ---------------------------------------------------------------------------

    def expand(
        self, graph: Any, new_labeled: Any, *, columns: tuple[int, int] | None = None
    ) -> Any:
        """Label ``new_labeled`` and return the ids entering the pool (ascending, deduplicated).

        Parameters
        ----------
        graph : int64 array [n, k]
            Row ``i`` lists the neighbours of id ``i``; ``-1`` marks padding.
        new_labeled : int64 array [m]
            Ids labeled in this round (repeats are fine). They leave the pool; their neighbours
            that are not labeled, not excluded and not yet in the pool enter it.
        columns : (start, stop), optional
            Take only columns ``start:stop`` of each row (default: all ``k``).

        Returns
        -------
        int64 array of the entering ids, in the framework and on the device of the bitmaps.

        Raises
        ------
        ValueError
            When an id is outside ``[0, n)`` or a graph entry in the columns taken is neither
            ``-1`` nor an id; the bitmaps are left unchanged.
        """
        return self._run(graph, new_labeled, columns, label=True)

    def expand_rows(self, neighbors: Any, *, columns: tuple[int, int] | None = None) -> Any:
        """Add the neighbours listed in ``neighbors`` (one row per expanding id) to the pool.

        For sources without a whole graph in memory (an index queried for the expanders): row
        ``i`` lists the neighbours of the ``i``-th expanding id, ``-1`` marks padding. Nothing
        is labeled (call :meth:`label` for that). Returns the entering ids, as :meth:`expand`.
        """
        return self._run(neighbors, None, columns, label=False)

    def label(self, ids: Any) -> None:
        """Mark ``ids`` labeled (they leave the pool and never enter it) without expanding."""
        if self._dev is None:
            empty = np.zeros((self.n, 0), np.int64)
            self._run(empty, ids, None, label=True)
        else:
            self._run(None, ids, None, label=True)

    def _run(self, graph: Any, ids: Any, columns: tuple[int, int] | None, *, label: bool) -> Any:
        if self._dev is None:
            g = self._check_host_graph(graph, rows_form=ids is None)
            start, stop = _columns(columns, int(g.shape[1]))
            if ids is not None:
                ids = np.asarray(ids)
                if ids.ndim != 1 or ids.dtype != np.int64:
                    raise TypeError(f"ids must be a 1-D int64 array, got {ids.dtype} {ids.shape}")
            entered: np.ndarray = _core.expand_frontier(
                g,
                ids,
                self.labeled_bitmap,
                self.pool_bitmap,
                self.excluded_bitmap,
                self.n,
                start,
                stop,
                label,
            )
            return entered
        return self._run_cuda(graph, ids, columns, label)

    def _check_host_graph(self, graph: Any, *, rows_form: bool) -> np.ndarray:
        g = np.asarray(graph)
        if g.ndim != 2 or (not rows_form and g.shape[0] != self.n):
            want = "[m, k] (one row per expanding id)" if rows_form else f"[n={self.n}, k]"
            raise ValueError(f"graph must be {want}; got shape {g.shape}")
        if g.dtype != np.int64:
            raise TypeError(f"graph must hold int64 ids, got {g.dtype}")
        if g.strides[0] % 8 or g.strides[1] % 8:
            g = np.ascontiguousarray(g)
        return g

    def _run_cuda(self, graph: Any, ids: Any, columns: tuple[int, int] | None, label: bool) -> Any:
        dev = self._dev
        assert dev is not None
        if graph is None:  # label only: a zero-width graph whose rows are the ids
            rows, k, row_stride, col_stride, g_ptr = self.n, 0, 0, 1, 0
        if dev.torch is not None:
            torch = dev.torch
            where = self.pool_bitmap.device
            for name, a in (("graph", graph), ("ids", ids)):
                if a is None:
                    continue
                if not isinstance(a, torch.Tensor):
                    raise TypeError(f"on a torch CUDA frontier, {name} must be a torch tensor")
                if a.device != where:
                    raise ValueError(f"{name} must be on {where}")
                if a.dtype != torch.int64:
                    raise TypeError(f"{name} must be int64")
            if ids is not None:
                ids = ids.contiguous()
            if graph is not None:
                g = graph
                row_stride, col_stride = (int(s) for s in graph.stride())
        else:
            cupy = dev.cupy
            if ids is not None:
                ids = cupy.ascontiguousarray(cupy.asarray(ids))
                if ids.dtype != cupy.int64:
                    raise TypeError("ids must be int64")
            if graph is not None:
                g = cupy.asarray(graph)
                if g.dtype != cupy.int64:
                    raise TypeError("graph must be int64")
                row_stride, col_stride = g.strides[0] // 8, g.strides[1] // 8
        if graph is not None:
            if g.ndim != 2 or (ids is not None and g.shape[0] != self.n):
                raise ValueError(f"graph must be [n={self.n}, k] (or [m, k] rows) and 2-D")
            rows, k = (int(s) for s in g.shape)
            g_ptr = dev.ptr(g)
        if ids is not None and ids.ndim != 1:
            raise ValueError("ids must be 1-D")
        if ids is not None and int(ids.shape[0]) == 0:
            return dev.empty((0,), "int64")  # (an empty array's pointer may be 0: rows form)
        start, stop = _columns(columns, k)
        count = rows if ids is None else int(ids.shape[0])
        width = stop - start
        nbytes = _core.expand_frontier_cuda_workspace_bytes(count, width)
        ws = dev.empty((nbytes,), "uint8")
        out = dev.empty((max(1, count * width),), "int64")
        got = _core.expand_frontier_cuda(
            _core.DeviceGraph(g_ptr, rows, k, row_stride, col_stride),
            0 if ids is None else dev.ptr(ids),
            count,
            dev.ptr(self.labeled_bitmap),
            dev.ptr(self.pool_bitmap),
            0 if self.excluded_bitmap is None else dev.ptr(self.excluded_bitmap),
            self.n,
            start,
            stop,
            label,
            dev.ptr(out),
            dev.ptr(ws),
            nbytes,
            dev.index,
            dev.stream,
        )
        return out[:got]

    def discard(self, ids: Any) -> None:
        """Remove ``ids`` from the pool (without labeling them)."""
        idx = np.asarray(ids, dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise ValueError(f"ids must lie in [0, {self.n})")
        host = self._host(self.pool_bitmap).copy()
        np.bitwise_and.at(host, idx >> 6, ~(np.uint64(1) << (idx & 63).astype(np.uint64)))
        self._store_pool(host)

    def _store_pool(self, host: np.ndarray) -> None:
        if self._dev is None:
            self.pool_bitmap[...] = host
        else:
            self._dev.assign(self.pool_bitmap, host)
