"""What the exact and the approximate index share: metric codes, argument checks, and the
:class:`NativeIndex` base (size, shape, threads, ids, ``add``) of :class:`panning.FlatIndex` and
:class:`panning.HNSWIndex`.

Metric names are mapped to the native codes here and nowhere else (the ``Metric`` enum of
``csrc/include/panning/knn.hpp``); cosine runs as ``"ip"`` over unit rows wherever a kernel
knows only ``l2`` and ``ip``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from . import _core
from ._device import is_torch

Metric = Literal["l2", "ip", "cosine"]

METRICS = {"l2": 0, "ip": 1, "cosine": 2}
_DTYPES = {np.dtype(np.float32): 0, np.dtype(np.float16): 1}


def metric_code(metric: str) -> int:
    """The native code of a metric name, or a ValueError listing the names."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {tuple(METRICS)}")
    return METRICS[metric]


def kernel_metric(metric: str) -> Metric:
    """The metric the l2/ip kernels run for ``metric``: cosine runs as ``"ip"`` on unit rows."""
    return "l2" if metric == "l2" else "ip"


def check_threads(threads: int | None) -> int:
    """``threads`` as the native convention: 0 for None (every OpenMP thread), else ``[1, max]``."""
    if threads is None:
        return 0
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads must be a positive integer or None; got {threads!r}")
    if not 1 <= threads <= _core.MAX_THREADS:
        raise ValueError(f"threads must be in [1, {_core.MAX_THREADS}] or None; got {threads}")
    return int(threads)


def positive_int(value: Any, name: str, limit: int | None = None) -> int:
    """``value`` as an int in ``[1, limit]`` (default limit: ``_core.MAX_K``), else a TypeError
    or a ValueError naming ``name`` and the range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__}")
    hi = _core.MAX_K if limit is None else limit
    if not 1 <= value <= hi:
        raise ValueError(f"{name} must be in [1, {hi}]; got {value}")
    return int(value)


def as_rows(x: Any, dim: int, what: str) -> tuple[np.ndarray, int]:
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


def as_ids(ids: Any, what: str, n: int | None = None) -> np.ndarray:
    """``ids`` as a contiguous 1-D int64 array (``n`` entries when given), else a TypeError or
    a ValueError."""
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


class NativeIndex:
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
        self._threads = check_threads(value)

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
        rows, dtype = as_rows(x, self.dim, "x")
        id_arr = None if ids is None else as_ids(ids, "ids", rows.shape[0])
        self._index.add(rows, dtype, id_arr, self._threads)
