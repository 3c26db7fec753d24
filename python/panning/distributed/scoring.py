"""Full-scan uncertainty scoring on Ray Data: an actor pool runs panning's kernels block by block.

The full scans of data selection (Selection via Proxy's rounds, SEALS' ``candidates="all"``
baseline, a first round before any kNN pool exists) score every item. :func:`most_uncertain`
spreads that over a cluster: ``map_batches`` with a pool of actors, each holding the model, scores
a batch with :func:`panning.entropy` / :func:`panning.margin` / :func:`panning.least_confidence`
and keeps only the batch's top ``k``; the driver merges those exactly. The ranking is
:func:`panning.most_uncertain`'s: larger key first (the score; the negated margin), equal keys to
the lower id. A row's score does not depend on the rows scored with it, so the ids are the ones a
single process would choose.

Sources are a numpy array (put in the object store once), the path of a ``.npy`` file that every
node can read (each actor memory-maps it and reads only its rows), or a ``ray.data.Dataset`` with
an id column and a row column. Ids are row numbers for arrays and files, the id column otherwise.
With a ``model``, rows are embeddings and ``model.predict_proba`` (rows as float32, as
``panning.Seals`` passes them) gives the probabilities; without one, rows are probabilities (or
logits with ``from_logits=True``).

GPUs: ``num_gpus=None`` gives each actor one GPU when the cluster has GPUs and panning was built
with CUDA; the actor then scores on its device (through torch, which must be installed there).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..scoring import Method, _method_code, _top_k
from ..scoring import entropy as _entropy
from ..scoring import least_confidence as _least_confidence
from ..scoring import margin as _margin

if TYPE_CHECKING:
    import ray.data

__all__ = ["most_uncertain", "score", "score_dataset"]

_KERNELS = {"entropy": _entropy, "margin": _margin, "least_confidence": _least_confidence}


class _BlockScorer:
    """One actor of the pool: scores batches, returning every score or the batch's top ``k``."""

    def __init__(
        self,
        *,
        source: tuple[str, Any],
        column: str,
        id_column: str,
        method: str,
        from_logits: bool,
        model: Any,
        k: int | None,
        exclude: np.ndarray | None,
        use_gpu: bool,
    ) -> None:
        kind, value = source
        self._rows: Any = None
        if kind == "array":
            import ray

            self._rows = ray.get(value[0]) if isinstance(value, list) else value
        elif kind == "npy":
            self._rows = np.load(value, mmap_mode="r")
        self._column = column
        self._id_column = id_column
        self._method = method
        self._kernel = _KERNELS[method]
        self._from_logits = from_logits
        self._model = model
        self._k = k
        self._exclude = exclude
        self._device: Any = None
        if use_gpu:
            import torch

            if torch.cuda.is_available():
                self._device = torch.device("cuda")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = np.asarray(batch[self._id_column], dtype=np.int64)
        keep = None if self._exclude is None else ~np.isin(ids, self._exclude)
        if keep is not None:
            ids = ids[keep]
        if self._rows is not None:
            rows = self._rows[ids] if ids.size else self._rows[:0]
        else:
            rows = np.asarray(batch[self._column])
            if keep is not None:
                rows = rows[keep]
        if ids.size == 0:
            return {"id": ids, "score": np.empty(0, dtype=np.float32)}
        if self._model is not None:
            rows = np.asarray(self._model.predict_proba(np.asarray(rows, dtype=np.float32)))
            rows = rows.astype(np.float32, copy=False)
        else:
            rows = np.asarray(rows)
        scores = self._score(rows)
        bad = np.flatnonzero(np.isnan(scores))
        if bad.size:
            why = "NaN, +inf or all -inf logits" if self._from_logits else "NaN or a negative prob"
            raise ValueError(f"row {int(ids[bad[0]])} is invalid ({why}) and cannot be ranked")
        if self._k is None:
            return {"id": ids, "score": scores}
        key = -scores if self._method == "margin" else scores
        top = _top_k(key, self._k, ids)
        return {"id": ids[top], "score": scores[top]}

    def _score(self, probs: np.ndarray) -> np.ndarray:
        if self._device is None:
            return np.asarray(self._kernel(probs, from_logits=self._from_logits))
        import torch

        t = torch.as_tensor(probs).to(self._device)
        return np.asarray(self._kernel(t, from_logits=self._from_logits).cpu().numpy())


def _resolve_gpus(num_gpus: float | None) -> float:
    if num_gpus is not None:
        if not num_gpus >= 0:
            raise ValueError(f"num_gpus must be >= 0; got {num_gpus!r}")
        return float(num_gpus)
    import ray

    from .. import build_info

    has_gpu = float(ray.cluster_resources().get("GPU", 0)) >= 1
    return 1.0 if has_gpu and build_info()["cuda"] else 0.0


def _prepare(
    source: Any, column: str, id_column: str, blocks: int | None
) -> tuple[ray.data.Dataset, tuple[str, Any], int | None]:
    """(dataset of ids [+ rows], how actors read rows, row count when known)."""
    import ray
    import ray.data

    if isinstance(source, ray.data.Dataset):
        missing = {column, id_column} - set(source.columns() or [])
        if missing:
            raise ValueError(
                f"the dataset has columns {source.columns()}; missing {sorted(missing)} "
                "(pass column= / id_column=)"
            )
        return source, ("column", None), None
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no .npy file at {path!r}")
        arr = np.load(path, mmap_mode="r")
        kind: tuple[str, Any] = ("npy", os.path.abspath(path))
    elif isinstance(source, np.ndarray):
        arr = source
        # A one-element list keeps the ref from being resolved before the actor asks for it.
        kind = ("array", [ray.put(source)])
    else:
        raise TypeError(
            f"source must be a numpy array, a .npy path or a ray.data.Dataset; "
            f"got {type(source).__name__}"
        )
    if arr.ndim != 2:
        raise ValueError(f"source rows must be 2-D [rows, columns]; got shape {arr.shape}")
    n = int(arr.shape[0])
    if blocks is None:
        ds = ray.data.range(n)
    else:
        ds = ray.data.range(n, override_num_blocks=max(1, min(int(blocks), n)))
    return ds, kind, n


def score_dataset(
    source: Any,
    *,
    method: Method = "entropy",
    model: Any = None,
    from_logits: bool = False,
    exclude: npt.ArrayLike | None = None,
    column: str = "data",
    id_column: str = "id",
    batch_size: int = 16384,
    concurrency: int = 2,
    num_cpus: float = 1.0,
    num_gpus: float | None = None,
    blocks: int | None = None,
    top_k: int | None = None,
) -> ray.data.Dataset:
    """A lazy ``ray.data.Dataset`` of ``id`` (int64) and ``score`` (float32) for every row.

    Parameters as :func:`most_uncertain`. Scores are those of :func:`panning.entropy` (or
    ``margin`` / ``least_confidence``) on the same rows, bit for bit (on the CPU). With
    ``top_k``, each batch keeps only its ``top_k`` most uncertain rows (ties to the lower id):
    the candidates :func:`most_uncertain` merges.
    """
    _method_code(method)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency <= 0:
        raise ValueError(f"concurrency must be a positive integer; got {concurrency!r}")
    if model is not None and not callable(getattr(model, "predict_proba", None)):
        raise TypeError("model must have a predict_proba(X) method")
    ex = None
    if exclude is not None:
        ex = np.unique(np.asarray(exclude, dtype=np.int64).reshape(-1))
    import ray.data

    ds, kind, _ = _prepare(source, column, id_column, blocks)
    gpus = _resolve_gpus(num_gpus)
    return ds.map_batches(
        _BlockScorer,
        fn_constructor_kwargs={
            "source": kind,
            "column": column,
            "id_column": id_column,
            "method": method,
            "from_logits": bool(from_logits),
            "model": model,
            "k": top_k,
            "exclude": ex,
            "use_gpu": gpus > 0,
        },
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        num_cpus=num_cpus,
        num_gpus=gpus,
    )


def _collect(ds: ray.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    ids, scores = [], []
    for b in ds.iter_batches(batch_size=None, batch_format="numpy"):
        ids.append(np.asarray(b["id"], dtype=np.int64))
        scores.append(np.asarray(b["score"], dtype=np.float32))
    if not ids:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    return np.concatenate(ids), np.concatenate(scores)


def score(source: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Every row's score, gathered in the driver: ``(ids, scores)`` sorted by id.

    Keyword arguments as :func:`most_uncertain` (without ``k``). For pools too large to gather,
    use :func:`score_dataset` and consume the dataset where it lies.
    """
    ids, scores = _collect(score_dataset(source, **kwargs))
    order = np.argsort(ids, kind="stable")
    return ids[order], scores[order]


def most_uncertain(
    source: Any,
    k: int,
    *,
    method: Method = "entropy",
    model: Any = None,
    from_logits: bool = False,
    exclude: npt.ArrayLike | None = None,
    column: str = "data",
    id_column: str = "id",
    batch_size: int = 16384,
    concurrency: int = 2,
    num_cpus: float = 1.0,
    num_gpus: float | None = None,
    blocks: int | None = None,
) -> np.ndarray:
    """Ids of the ``k`` most uncertain rows of ``source``, most uncertain first, on Ray Data.

    The same ids, in the same order, as :func:`panning.most_uncertain` over all rows (minus
    ``exclude``): equal scores go to the lower id. Each batch of ``batch_size`` rows keeps its own
    top ``k`` (so at most ``k`` per batch reach the driver), and the driver merges them.

    Parameters
    ----------
    source : numpy array [N, C or d], path of a ``.npy`` file, or ray.data.Dataset
        Probabilities / logits, or embeddings when ``model`` is given. A file must be readable at
        the same path on every node. A dataset needs the columns ``id_column`` (int) and
        ``column`` (one row per item).
    k : int
        ``0 <= k <=`` the number of rows scored.
    method : {"entropy", "margin", "least_confidence"}
    model : object with ``predict_proba``, optional
        Fitted; sent once to every actor of the pool.
    from_logits : bool
        Rows (or the model's outputs) are logits.
    exclude : array of int, optional
        Ids never selected (e.g. the labeled ones).
    batch_size, concurrency, num_cpus, num_gpus, blocks
        Rows per ``map_batches`` call; actors in the pool; CPUs and GPUs per actor (``num_gpus``
        None: one GPU per actor when the cluster has GPUs and panning has CUDA); blocks of the
        id range (Ray's default when None).

    Raises
    ------
    ValueError
        ``k`` out of range, an unknown method, or an invalid row (named by its id).

    Examples
    --------
    >>> import numpy as np, ray                                        # doctest: +SKIP
    >>> p = np.random.default_rng(0).dirichlet(np.ones(10), 10**6).astype(np.float32)
    >>> ids = most_uncertain(p, 1000, method="margin")                 # doctest: +SKIP
    >>> (ids == panning.most_uncertain(p, 1000, method="margin")).all()  # doctest: +SKIP
    True
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be a non-negative integer; got {k!r}")
    k = int(k)
    if isinstance(source, np.ndarray) or isinstance(source, (str, os.PathLike)):
        n = int(source.shape[0]) if isinstance(source, np.ndarray) else _npy_rows(source)
        excluded = 0
        if exclude is not None:
            ex = np.unique(np.asarray(exclude, dtype=np.int64).reshape(-1))
            excluded = int(np.count_nonzero((ex >= 0) & (ex < n)))
        if k > n - excluded:
            raise ValueError(f"k={k} is out of range for {n - excluded} rows (need 0 <= k <= rows)")
    if k == 0:
        return np.empty(0, dtype=np.int64)
    ds = score_dataset(
        source,
        method=method,
        model=model,
        from_logits=from_logits,
        exclude=exclude,
        column=column,
        id_column=id_column,
        batch_size=batch_size,
        concurrency=concurrency,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        blocks=blocks,
        top_k=k,
    )
    ids, scores = _collect(ds)
    if ids.shape[0] < k:
        raise ValueError(f"k={k} is out of range for {ids.shape[0]} rows (need 0 <= k <= rows)")
    key = -scores if method == "margin" else scores
    return np.asarray(ids[_top_k(key, k, ids)], dtype=np.int64)


def _npy_rows(path: str | os.PathLike[str]) -> int:
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"no .npy file at {p!r}")
    return int(np.load(p, mmap_mode="r").shape[0])
