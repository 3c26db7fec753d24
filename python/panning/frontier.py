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

__all__ = ["Frontier"]


def _words(n: int) -> int:
    return (n + 63) // 64


def _bits_to_ids(words: np.ndarray, n: int) -> np.ndarray:
    bits = np.unpackbits(words.view(np.uint8), bitorder="little")[:n]
    return np.flatnonzero(bits).astype(np.int64)


class Frontier:
    """Labeled set and candidate pool over dataset ids ``[0, n)``, kept as bitmaps.

    Parameters
    ----------
    n : int
        Number of dataset ids.
    device : str
        ``"cpu"`` (numpy) or ``"cuda"`` / ``"cuda:i"``: on a GPU the bitmaps live on the device
        (as torch tensors when torch is installed, else cupy arrays) and :meth:`expand` takes the
        graph and ids as device arrays of that framework.

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
    """

    def __init__(self, n: int, *, device: str = "cpu") -> None:
        n = operator.index(n)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self.n = n
        self.device = device
        self._dev: _device.Device | None = None
        if device == "cpu":
            self.labeled_bitmap: Any = np.zeros(_words(n), np.uint64)
            self.pool_bitmap: Any = np.zeros(_words(n), np.uint64)
        elif device.startswith("cuda"):
            self._dev = _device.Device(None, device)
            self.labeled_bitmap = self._dev.zeros((_words(n),), "uint64")
            self.pool_bitmap = self._dev.zeros((_words(n),), "uint64")
        else:
            raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'cuda[:i]'")

    # ---- queries ---------------------------------------------------------------------------

    def _host(self, words: Any) -> np.ndarray:
        return np.asarray(words) if self._dev is None else self._dev.get(words)

    def pool_ids(self) -> np.ndarray:
        """Ids in the candidate pool, ascending (int64 numpy array)."""
        return _bits_to_ids(self._host(self.pool_bitmap), self.n)

    def labeled_ids(self) -> np.ndarray:
        """Labeled ids, ascending (int64 numpy array)."""
        return _bits_to_ids(self._host(self.labeled_bitmap), self.n)

    @property
    def pool_size(self) -> int:
        return int(np.unpackbits(self._host(self.pool_bitmap).view(np.uint8)).sum())

    @property
    def labeled_count(self) -> int:
        return int(np.unpackbits(self._host(self.labeled_bitmap).view(np.uint8)).sum())

    # ---- updates ---------------------------------------------------------------------------

    def expand(self, graph: Any, new_labeled: Any) -> Any:
        """Label ``new_labeled`` and return the ids entering the pool (ascending, deduplicated).

        Parameters
        ----------
        graph : int64 array [n, k]
            Row ``i`` lists the neighbours of id ``i``; ``-1`` marks padding.
        new_labeled : int64 array [m]
            Ids labeled in this round (repeats are fine). They leave the pool; their neighbours
            that are not labeled and not yet in the pool enter it.

        Returns
        -------
        int64 array of the entering ids, in the framework and on the device of the bitmaps.

        Raises
        ------
        ValueError
            When an id is outside ``[0, n)`` or a graph entry is neither ``-1`` nor an id; the
            bitmaps are left unchanged.
        """
        if self._dev is None:
            g = self._check_host_graph(graph)
            ids = np.asarray(new_labeled)
            if ids.ndim != 1 or ids.dtype != np.int64:
                raise TypeError(
                    f"new_labeled must be a 1-D int64 array, got {ids.dtype} {ids.shape}"
                )
            entered: np.ndarray = _core.expand_frontier(
                g, ids, self.labeled_bitmap, self.pool_bitmap
            )
            return entered
        return self._expand_cuda(graph, new_labeled)

    def _check_host_graph(self, graph: Any) -> np.ndarray:
        g = np.asarray(graph)
        if g.ndim != 2 or g.shape[0] != self.n:
            raise ValueError(f"graph must be [n={self.n}, k]; got shape {g.shape}")
        if g.dtype != np.int64:
            raise TypeError(f"graph must hold int64 ids, got {g.dtype}")
        if g.strides[0] % 8 or g.strides[1] % 8:
            g = np.ascontiguousarray(g)
        return g

    def _expand_cuda(self, graph: Any, new_labeled: Any) -> Any:
        dev = self._dev
        assert dev is not None
        if dev.torch is not None:
            torch = dev.torch
            if not (isinstance(graph, torch.Tensor) and isinstance(new_labeled, torch.Tensor)):
                raise TypeError(
                    "on a torch CUDA frontier, graph and new_labeled must be torch tensors"
                )
            where = self.pool_bitmap.device
            if graph.device != where or new_labeled.device != where:
                raise ValueError(f"graph and new_labeled must be on {where}")
            if graph.dtype != torch.int64 or new_labeled.dtype != torch.int64:
                raise TypeError("graph and new_labeled must be int64")
            if graph.ndim != 2 or graph.shape[0] != self.n or new_labeled.ndim != 1:
                raise ValueError(f"graph must be [n={self.n}, k] and new_labeled 1-D")
            g, ids = graph, new_labeled.contiguous()
            row_stride, col_stride = (int(s) for s in graph.stride())
        else:
            cupy = dev.cupy
            g, ids = cupy.asarray(graph), cupy.ascontiguousarray(cupy.asarray(new_labeled))
            if g.dtype != cupy.int64 or ids.dtype != cupy.int64:
                raise TypeError("graph and new_labeled must be int64")
            if g.ndim != 2 or g.shape[0] != self.n or ids.ndim != 1:
                raise ValueError(f"graph must be [n={self.n}, k] and new_labeled 1-D")
            row_stride, col_stride = g.strides[0] // 8, g.strides[1] // 8
        rows, k = (int(s) for s in g.shape)
        count = int(ids.shape[0])
        nbytes = _core.expand_frontier_cuda_workspace_bytes(count, k)
        ws = dev.empty((nbytes,), "uint8")
        out = dev.empty((max(1, count * k),), "int64")
        got = _core.expand_frontier_cuda(
            dev.ptr(g),
            rows,
            k,
            row_stride,
            col_stride,
            dev.ptr(ids),
            count,
            dev.ptr(self.labeled_bitmap),
            dev.ptr(self.pool_bitmap),
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
