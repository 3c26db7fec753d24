"""SEALS: active learning and rare-concept search over a kNN candidate pool.

Coleman et al., "Similarity Search for Efficient Active Learning and Search of Rare Concepts",
AAAI 2022. Instead of scoring every unlabeled item each round, SEALS scores a candidate pool ``C``
made of the k nearest neighbours of labeled items; after a batch ``S`` is labeled,
``C <- (C \\ S) | kNN(S)`` with labeled items removed, so ``|C| <= k |L|`` whatever the size of
the data. ``candidates="all"`` runs the same session over every unlabeled item instead (the
papers' full-scan baseline), through the same code.

Defaults, chosen by measurement (``bench/bench_seals.py``; ``bench/README.md``, section "SEALS"):
only newly labeled *positives* expand the pool (``expand="positives"``); the new positives of a
``teach`` call share a budget of ``expand_budget = 200`` neighbours, each adding between
``k = 5`` and ``max_k = 100`` of its nearest (a round with 2 new positives reaches 100 deep,
one with 40 stays at 5); the pool *widens* (doubling k up to ``max_k``) whenever it runs dry;
and each query also considers the ``probe = 40`` ids the model scores highest anywhere in the
data, found by one search of the index with the model's weight vector. The papers used k = 100
for every labeled item, sized for pools of millions: on the 94k wordnet pool the neighbours of
the 95 random seed negatives alone are ~8% of the data. Negatives far from the concept bring
candidates the model is already sure about; positives are where a rare concept's region of the
kNN graph continues; but a concept is often several regions, and the positives the full scan
finds that SEALS missed were mostly in none of the found positives' 100 nearest neighbours: the
probe reaches them, so the neighbourhoods can stay shallow. Over 12 wordnet concepts (0.07% to
1.7% prevalence) x 3 seeds, max entropy, against the same strategy over all data, these
defaults reach 1.02x / 1.03x the full scan's recall and 0.99x / 1.00x its average precision at
1,000 / 2,000 labels, scoring 1.4% / 2.7% of the pool; on 15 held-out concepts 1.02x / 1.01x
recall and 0.99x / 1.00x AP at the same cost, where the previous defaults (k = 20, budget 2000,
no probe) reached 0.99x / 0.98x recall scoring 4.5% / 7.8%.

Dataset ids are the row numbers of ``embeddings`` for the life of a session. Labeled items and
held-out (``exclude``) items never enter the pool; ids returned by :meth:`Seals.query` are
labeled by the next :meth:`Seals.teach` and leave it then. ``query`` does not change the state:
calling it twice returns the same ids.
"""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ._arrays import check_float_dtype, on_cuda
from ._session_store import SessionInUseError, SessionStore
from .frontier import Frontier, bitmap_set, bitmap_test
from .models import LogisticRegression
from .neighbors import (
    IndexSource,
    KnnGraphSource,
    NeighborSource,
    build_index,
    check_index,
    fingerprint,
    graph_hash,
    index_checksum,
    legacy_session_graph,
    load_or_build_graph,
    row_block,
    rows_as_float32,
)
from .strategies import (
    InformationDensity,
    SelectionContext,
    Strategy,
    canonical_name,
    get_strategy,
)

__all__ = [
    "DEFAULT_EXPAND",
    "DEFAULT_EXPAND_BUDGET",
    "DEFAULT_K",
    "DEFAULT_MAX_K",
    "DEFAULT_PROBE",
    "RoundRecord",
    "Seals",
    "SealsConfig",
    "SessionInUseError",
    "average_precision",
]

DEFAULT_K = 5
DEFAULT_MAX_K = 100
DEFAULT_EXPAND_BUDGET = 200
DEFAULT_EXPAND: Literal["positives", "all"] = "positives"
DEFAULT_PROBE = 40

Candidates = Literal["knn", "all"]


@dataclass
class RoundRecord:
    """One round of a session: the state after a ``teach`` and the cost of the query before it.

    ``seconds`` splits the round into ``index`` (pool expansion through the kNN graph),
    ``training`` (model fits), ``scoring`` (model inference on the candidates) and
    ``selection`` (the strategy's ranking, minus scoring). ``fraction_scored`` is the fraction of
    the queryable data (all ids minus ``exclude``) that was ever a candidate of a strategy.
    ``recall`` is positives labeled / positives in the queryable data, when that is known
    (simulations); ``average_precision`` is measured on the session's ``eval_set``.
    ``filled_random`` counts the ids of the round's query that no strategy chose: drawn
    uniformly because the pool held fewer ids than asked (or, before labels of two classes
    exist, because there was no model yet).
    """

    round: int
    labels: int
    positives: int
    pool_size: int
    fraction_scored: float
    average_precision: float | None = None
    recall: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    filled_random: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-ready plain types (the names of ``panning seals --json``)."""
        return asdict(self)


@dataclass(frozen=True)
class SealsConfig:
    """A session's configuration: the parameters of :class:`Seals` a session file stores.

    :meth:`Seals.resume` rebuilds the session from it (with the strategy and model names stored
    beside it); :attr:`Seals.config` returns it. See :class:`Seals` for each field.

    Examples
    --------
    >>> SealsConfig(k=50).max_k is None, SealsConfig.from_stored({"k": 50, "seed": 3}).seed
    (True, 3)
    """

    k: int = DEFAULT_K
    max_k: int | None = None
    min_pool: int = 100
    expand: str = DEFAULT_EXPAND
    candidates: str = "knn"
    positive_label: int | None = 1
    classes: tuple[int, ...] | None = None
    seed: int = 0
    metric: str = "cosine"
    expand_budget: int | None = DEFAULT_EXPAND_BUDGET
    probe: int = DEFAULT_PROBE

    def __post_init__(self) -> None:
        if self.candidates not in ("knn", "all"):
            raise ValueError(f"candidates must be 'knn' or 'all', got {self.candidates!r}")
        if self.expand not in ("positives", "all"):
            raise ValueError(f"expand must be 'positives' or 'all', got {self.expand!r}")
        if self.expand == "positives" and self.positive_label is None and self.candidates == "knn":
            raise ValueError(
                "expand='positives' needs a positive_label; use expand='all' for multi-class"
            )
        optional = tuple(n for n in ("max_k", "expand_budget") if getattr(self, n) is not None)
        for name in ("k",) + optional:
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v <= 0:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(self.min_pool, bool) or int(self.min_pool) != self.min_pool:
            raise ValueError(f"min_pool must be an integer, got {self.min_pool!r}")
        if isinstance(self.probe, bool) or int(self.probe) != self.probe or self.probe < 0:
            raise ValueError(f"probe must be a non-negative integer, got {self.probe!r}")
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(sorted(int(c) for c in self.classes)))

    def as_stored(self) -> dict[str, Any]:
        """JSON-ready plain types (classes as a list)."""
        out = asdict(self)
        out["classes"] = None if self.classes is None else list(self.classes)
        return out

    @classmethod
    def from_stored(cls, cfg: dict[str, Any]) -> SealsConfig:
        """From a session file's ``config`` (fields it lacks take their defaults, except
        ``expand_budget`` and ``probe``: a file without them was written before they existed, so
        none)."""
        names = {f.name for f in fields(cls)}
        old = {"expand_budget": None, "probe": 0}
        return cls(**{**old, **{k: v for k, v in cfg.items() if k in names}})


def average_precision(y_true: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Average precision of ``scores`` for binary ``y_true`` (scikit-learn's definition).

    ``sum_n (R_n - R_{n-1}) P_n`` over distinct score thresholds, highest first; NaN when
    ``y_true`` has no positive.

    Examples
    --------
    >>> average_precision([0, 1, 1, 0], [0.1, 0.9, 0.4, 0.5])
    0.8333333333333333
    """
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    total = int(y.sum())
    if total == 0:
        return math.nan
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.shape[0] - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall = tp / total
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _int64_values(a: np.ndarray, what: str) -> np.ndarray:
    """An integer array as int64, refusing values int64 cannot hold (no silent wrap-around)."""
    if a.dtype.kind == "u" and a.size and int(a.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{what} holds {int(a.max())}, beyond the int64 range")
    if a.dtype == object:
        raise TypeError(f"{what} must be integers")
    return a.astype(np.int64)


def _as_ids(ids: npt.ArrayLike, n: int) -> np.ndarray:
    if ids is None or isinstance(ids, (str, bytes)):
        raise TypeError(f"ids must be a 1-D sequence of integers; got {type(ids).__name__}")
    try:
        a = np.asarray(ids)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"ids must be a 1-D sequence of integers ({exc})") from None
    if a.ndim != 1:
        raise ValueError(f"ids must be 1-D; got shape {a.shape}")
    if a.size and not (np.issubdtype(a.dtype, np.integer) and a.dtype != np.bool_):
        raise TypeError(f"ids must be integers, got {a.dtype}")
    a = _int64_values(a, "ids")
    bad = a[(a < 0) | (a >= n)]
    if bad.size:
        raise ValueError(f"unknown id {int(bad[0])}: dataset ids are 0 .. {n - 1}")
    return a


def _as_labels(labels: Any, count: int) -> np.ndarray:
    if labels is None or isinstance(labels, (str, bytes)) or np.ndim(labels) == 0:
        raise TypeError(
            f"labels must be a 1-D sequence of integers or booleans (one per id); "
            f"got {type(labels).__name__}"
        )
    try:
        raw = list(labels) if not isinstance(labels, np.ndarray) else labels
        a = np.asarray(raw)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"labels must be a 1-D sequence of integers or booleans ({exc})") from None
    if a.ndim != 1 or a.shape[0] != count:
        raise ValueError(f"expected {count} labels (one per id), got shape {a.shape}")
    if a.size and not (np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
        raise TypeError(
            f"labels must be integers or booleans, got {a.dtype} "
            f"(e.g. {raw[0]!r}); map class names to integers first"
        )
    return _int64_values(a, "labels")


def _stored_probe(record: dict[str, Any] | None, round_: int, n: int) -> np.ndarray | None:
    """A round record's ``probed`` ids (checked: sorted distinct ids in ``[0, n)``), or None."""
    if record is None or record.get("probed") is None:
        return None
    raw = record["probed"]
    ok = isinstance(raw, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in raw)
    ids = np.asarray(raw if ok else [], dtype=np.int64)
    if not ok or (ids.size and (ids[0] < 0 or ids[-1] >= n or np.any(np.diff(ids) <= 0))):
        raise ValueError(
            f"the session file's round {round_} record has an invalid 'probed' list: expected "
            f"ascending distinct dataset ids in [0, {n})"
        )
    return ids


def _stored_index(meta: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The session's ``index`` record, validated, with its file resolved to an absolute path."""
    entry = meta.get("index")
    if entry is None:
        return None
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("file"), str)
        or not isinstance(entry.get("checksum"), str)
    ):
        raise ValueError(
            f"{path}: table meta, key 'index': expected an object with 'file' and 'checksum', "
            f"got {entry!r:.80}"
        )
    folder = os.path.dirname(os.path.abspath(path))
    return {**entry, "file": os.path.join(folder, entry["file"])}


def _check_stored_index(
    index_file: str | None, stored: dict[str, Any], rebuild: bool, path: str
) -> None:
    """Refuse a missing or different index file (unless rebuilding), naming the way out."""
    if rebuild:
        return
    how = (
        f"pass index_path= if it moved; or rebuild it with Seals.resume({path!r}, embeddings, "
        "rebuild_index=True) or `panning session reindex SESSION` (the replayed pool then comes "
        "from a new index and may differ; the labels are kept)"
    )
    assert index_file is not None
    if not os.path.exists(index_file):
        raise FileNotFoundError(f"the session's index file {index_file} is missing: {how}")
    if index_checksum(index_file) != stored["checksum"]:
        raise ValueError(
            f"{index_file} is not the index the session {path} was made with (checksum "
            f"differs): {how}"
        )


class Seals:
    """An active-learning session over ``embeddings`` with a kNN candidate pool.

    Parameters
    ----------
    embeddings : array [N, d]
        numpy array, ``np.memmap`` (rows are read on demand), torch tensor or cupy array.
        Dataset id ``i`` is row ``i``.
    neighbors : array [N, k'] of int, NeighborSource, index object, or None
        The kNN graph (row-aligned ids, nearest first, ``-1`` padding), a
        :class:`~panning.neighbors.NeighborSource`, or an object with the ``panning.HNSWIndex``
        search API. ``None``: an ``HNSWIndex`` over the embeddings, built on every thread
        (:func:`panning.neighbors.build_index`) or loaded from ``index_path``. Not needed when
        ``candidates="all"`` (unless the strategy needs the graph).
    k : int
        Fewest neighbours per expanding labeled item that enter the pool (default ``DEFAULT_K`` =
        5; see ``expand_budget``).
    max_k : int, optional
        Widening limit (``<= k``: no widening). Default: ``DEFAULT_MAX_K`` = 100, or the
        width of a given graph if narrower. When the pool holds fewer than ``min_pool``
        ids after a ``teach``, every expanding item adds its next neighbours, doubling the
        neighbours in use up to ``max_k``; the graph must have ``max_k`` columns.
    min_pool : int
        The pool size under which the pool widens (default 100, one round of the papers).
    expand_budget : int or None
        Neighbours a ``teach`` call's new expanders add together (default
        ``DEFAULT_EXPAND_BUDGET`` = 200): each adds its first
        ``clamp(ceil(expand_budget / new expanders), k, max_k)`` neighbours, so a round with
        few new positives (a rare concept) reaches further than one with many. ``None``: every
        expander adds ``k`` (widened) neighbours.
    expand : {"positives", "all"}
        Which newly labeled items add their neighbours to the pool (default ``"positives"``;
        multi-class sessions, ``positive_label=None``, need ``"all"``).
    probe : int
        Each query also considers the ``probe`` unlabeled ids (default ``DEFAULT_PROBE`` = 40)
        the model scores highest anywhere in the data, found by one search of the index with
        the model's weight vector; they join the pool when the round is taught. This reaches
        the parts of a concept that no labeled positive's neighbourhood touches. It runs when
        the neighbours come from an index with the ``"cosine"`` or ``"ip"`` metric (the
        default index; not a precomputed graph), the session has a ``positive_label`` and the
        model is linear (has ``coef_``: the default model, scikit-learn's linear models); else
        it does nothing. ``0``: off.
    strategy : str or Strategy
        ``"entropy"`` (default), ``"margin"``, ``"least_confidence"``,
        ``"most_likely_positive"``, ``"information_density"``, ``"kcenters"`` (labeled items
        are the initial centers), ``"random"``, any alias of :data:`panning.strategies.ALIASES`
        (``"max_entropy"``, ``"breaking_ties"``, ...), or your own object.
        By name, information density uses kNN-graph density with ``candidates="knn"`` and the
        global density over all unlabeled items (exact, linear form) with ``candidates="all"``.
    model : object with fit / predict_proba, optional
        Refitted from scratch on all labels before each query; default
        :class:`panning.models.LogisticRegression`.
    candidates : {"knn", "all"}
        SEALS' kNN pool, or every unlabeled item (full scan).
    positive_label : int or None
        The label counted as a positive (binary one-vs-rest concepts); ``None`` for multi-class.
    classes : sequence of int, optional
        The allowed labels; others are refused by :meth:`teach`.
    exclude : ids, optional
        Ids never queried nor pooled (a held-out test split).
    seed : int
        Seeds every random choice; the same labels give the same next query.
    path : str, optional
        A new SQLite session file; every :meth:`teach` is committed to it before returning.
        Continue it with :meth:`resume`.
    eval_set : (X, y), optional
        Held-out embeddings and labels; each round records the average precision of the
        positive class (mean over classes for multi-class).
    index_path : str, optional
        The default index's file: loaded when it exists (it must index these embeddings under
        their row numbers), else built and saved there. Default with ``path``: ``path +
        ".hnsw"`` beside the session file, which records the file's checksum so that
        :meth:`resume` reloads exactly this index instead of rebuilding it. A ``.npz`` path is a
        kNN-graph cache (:func:`panning.neighbors.load_or_build_graph`, older sessions).
    metric : str
        Metric of the default graph: ``"cosine"`` (default), ``"ip"`` or ``"l2"``.
    progress : bool
        Progress bars (tqdm, when installed) on long loops.

    Examples
    --------
    >>> import numpy as np
    >>> from panning.seals import Seals
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 8)).astype(np.float32)
    >>> y = (x[:, 0] > 1.0).astype(int)
    >>> s = Seals(x, k=10, seed=0)
    >>> seed = np.r_[np.flatnonzero(y)[:5], np.flatnonzero(y == 0)[:20]]
    >>> s.teach(seed, y[seed])
    >>> ids = s.query(10)
    >>> s.teach(ids, y[ids])
    >>> s.history[-1].labels
    35
    """

    def __init__(
        self,
        embeddings: Any,
        *,
        neighbors: Any = None,
        k: int = DEFAULT_K,
        max_k: int | None = None,
        min_pool: int = 100,
        expand: Literal["positives", "all"] = DEFAULT_EXPAND,
        strategy: str | Strategy = "entropy",
        model: Any = None,
        candidates: Candidates = "knn",
        positive_label: int | None = 1,
        classes: Sequence[int] | None = None,
        exclude: npt.ArrayLike | None = None,
        seed: int = 0,
        path: str | os.PathLike[str] | None = None,
        eval_set: tuple[Any, Any] | None = None,
        index_path: str | os.PathLike[str] | None = None,
        metric: str = "cosine",
        progress: bool = False,
        expand_budget: int | None = DEFAULT_EXPAND_BUDGET,
        probe: int = DEFAULT_PROBE,
    ) -> None:
        if path is not None and os.path.exists(path):  # before any costly graph build
            raise FileExistsError(
                f"{os.fspath(path)} already exists; continue it with Seals.resume or pick another"
            )
        self._session_dir = None if path is None else os.path.dirname(os.path.abspath(path))
        self._index_pending: tuple[str, str] | None = None
        self._index_verified = False
        try:
            config = SealsConfig(
                k=k, max_k=max_k, min_pool=min_pool, expand=expand, candidates=candidates,
                positive_label=positive_label,
                classes=None if classes is None else tuple(classes), seed=seed, metric=metric,
                expand_budget=expand_budget, probe=probe,
            )  # fmt: skip
            self._create(
                embeddings, path, config, neighbors=neighbors, strategy=strategy, model=model,
                exclude=exclude, eval_set=eval_set, index_file=self._index_file(index_path, path),
                progress=progress,
            )  # fmt: skip
        except BaseException:
            self._discard_index()
            raise

    def _create(self, embeddings: Any, path: Any, config: SealsConfig, **setup: Any) -> None:
        self._setup(embeddings, config, **setup)
        self._store: SessionStore | None = None
        if path is not None:
            self._store = SessionStore.create(path, self._meta(), self._excluded_ids)
        self._publish_index()

    def _index_file(
        self, index_path: str | os.PathLike[str] | None, path: str | os.PathLike[str] | None
    ) -> str | None:
        if index_path is not None:
            return os.path.abspath(os.fspath(index_path))
        return None if path is None else os.path.abspath(os.fspath(path)) + ".hnsw"

    def _default_source(self, index_file: str | None, rebuild: bool = False) -> NeighborSource:
        """The session's own index: loaded from ``index_file`` when it exists, else built (and
        saved there). Sets ``_index_meta``: what the session file records about it."""
        from .index import HNSWIndex

        if index_file is not None and os.path.exists(index_file) and not rebuild:
            index = HNSWIndex.load(index_file)
            if not self._index_verified:  # a resumed session checked the file's checksum
                check_index(index, self.embeddings, self.metric, index_file)
            saved = index_file
        else:
            index = build_index(self.embeddings, metric=self.metric, progress=self.progress)
            saved = None
            if index_file is not None:
                # Saved under a name of this process's own and renamed into place by
                # _publish_index once the session file is ours: two processes creating one
                # session never overwrite each other's index.
                saved = f"{index_file}.{os.getpid()}-{id(self):x}.partial"
                index.save(saved)
                self._index_pending = (saved, index_file)
        self._index_meta: dict[str, Any] | None = {
            "file": index_file,
            "checksum": None if saved is None else index_checksum(saved),
            "storage": index.storage,
            "M": index.M,
            "ef_construction": index.ef_construction,
        }
        return IndexSource(index, self.embeddings, k=self.max_k)

    def _publish_index(self) -> None:
        """Move a newly built index file into place (the session file is ours now)."""
        pending, self._index_pending = self._index_pending, None
        if pending is not None:
            os.replace(*pending)

    def _discard_index(self) -> None:
        pending, self._index_pending = getattr(self, "_index_pending", None), None
        if pending is not None and os.path.exists(pending[0]):
            os.unlink(pending[0])

    # ---- construction ---------------------------------------------------------------------
    def _setup(
        self,
        embeddings: Any,
        config: SealsConfig,
        *,
        neighbors: Any,
        strategy: str | Strategy,
        model: Any,
        exclude: npt.ArrayLike | None,
        eval_set: tuple[Any, Any] | None,
        index_file: str | None,
        progress: bool,
        rebuild_index: bool = False,
    ) -> None:
        check_float_dtype(embeddings.dtype, "embeddings")  # the package's dtype policy
        shape = tuple(int(s) for s in embeddings.shape)
        if len(shape) != 2 or shape[0] == 0:
            raise ValueError(f"embeddings must be a non-empty 2-D [rows, dim] array; got {shape}")
        candidates, metric = config.candidates, config.metric
        self.embeddings = embeddings
        self._n, self._dim = shape
        self.k = int(config.k)
        # None: as wide as the given graph, or DEFAULT_MAX_K for a graph built here
        max_k = config.max_k
        self.max_k = max(self.k, DEFAULT_MAX_K if max_k is None else int(max_k))
        self.min_pool = int(config.min_pool)
        self._k_eff = self.k
        self.expand = config.expand
        self.candidates = candidates
        self.positive_label = None if config.positive_label is None else int(config.positive_label)
        self.classes = None if config.classes is None else list(config.classes)
        self.seed = int(config.seed)
        self.metric = metric
        self.expand_budget = config.expand_budget
        self.probe = int(config.probe)
        self.progress = progress
        if isinstance(strategy, str):
            strategy = canonical_name(strategy)  # aliases: max_entropy, breaking_ties, ...
        if strategy == "information_density" and candidates == "all":
            # the full-scan baseline's density is the paper's global one (exact linear form)
            strategy = InformationDensity(scope="global", quadratic=False)
        self.strategy = get_strategy(strategy)
        self._default_model = model is None
        self.model = LogisticRegression() if model is None else model
        self.eval_set = eval_set
        self._fingerprint = fingerprint(embeddings)
        excluded = None if exclude is None else np.unique(_as_ids(exclude, self._n))
        # the pool state: labeled, excluded (and scored) ids as bitmaps over [0, n), the pool as
        # a sorted id list (self._pool) that the frontier's pool bitmap mirrors
        self._frontier = Frontier(self._n, exclude=excluded)
        self._excluded_ids = np.empty(0, dtype=np.int64) if excluded is None else excluded
        self._queryable = self._n - int(self._excluded_ids.shape[0])

        t = time.perf_counter()
        self._source: NeighborSource | None = None
        self._graph_hash: str | None = None
        self._index_meta = None
        needs_graph = candidates == "knn" or getattr(self.strategy, "scope", None) == "knn"
        if neighbors is None and needs_graph:
            if index_file is not None and index_file.endswith(".npz"):  # a kNN-graph cache
                neighbors = load_or_build_graph(
                    embeddings, self.max_k, index_file, metric=metric, progress=progress
                )
            else:
                neighbors = self._default_source(index_file, rebuild_index)
        if neighbors is not None:
            if max_k is None and hasattr(neighbors, "shape") and len(neighbors.shape) == 2:
                self.max_k = max(self.k, min(self.max_k, int(neighbors.shape[1])))
            self._source = self._as_source(neighbors)
        self._index_seconds = time.perf_counter() - t

        self._scored = np.zeros((self._n + 63) // 64, dtype=np.uint64)  # a bitmap
        self._scored_count = 0
        self._ids: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        self._n_labeled = 0
        self._n_positive = 0
        self._pool = np.empty(0, dtype=np.int64)
        self._round = 0
        self._fitted_at = -1
        self._fit_classes: np.ndarray = np.empty(0, dtype=np.int64)
        self._strategy_cache: dict[str, Any] = {}
        self._pending: dict[str, float] = {}
        self._pending_filled = 0
        self._pending_probe: np.ndarray | None = None
        self._queried = False
        self.history: list[RoundRecord] = []

    def _as_source(self, neighbors: Any) -> NeighborSource:
        if isinstance(neighbors, (KnnGraphSource, IndexSource)):
            src: NeighborSource = neighbors
        elif callable(getattr(neighbors, "search", None)):
            src = IndexSource(neighbors, self.embeddings, k=self.max_k)
        elif isinstance(neighbors, NeighborSource):
            src = neighbors
        else:
            graph = np.asarray(neighbors)
            if graph.ndim != 2 or graph.shape[0] != self._n:
                raise ValueError(f"the kNN graph must be [N={self._n}, k]; got shape {graph.shape}")
            if graph.shape[1] < self.max_k:
                raise ValueError(
                    f"the kNN graph has {graph.shape[1]} columns, fewer than k={self.max_k}"
                )
            src = KnnGraphSource(graph, k=self.max_k)
            self._graph_hash = graph_hash(graph[:, : self.max_k])
        if src.k < self.max_k:
            raise ValueError(
                f"the neighbour source gives {src.k} neighbours, fewer than k={self.max_k}"
            )
        return src

    def _stored_index_meta(self) -> dict[str, Any] | None:
        """``_index_meta`` with the file named relative to the session's folder when in it."""
        if self._index_meta is None or self._index_meta["file"] is None:
            return None
        out = dict(self._index_meta)
        folder = getattr(self, "_session_dir", None)
        if folder is not None and os.path.dirname(out["file"]) == folder:
            out["file"] = os.path.basename(out["file"])
        return out

    def _meta(self) -> dict[str, Any]:
        return {
            "rows": self._n,
            "dim": self._dim,
            "fingerprint": self._fingerprint,
            "graph_hash": self._graph_hash,
            "index": self._stored_index_meta(),
            "config": {
                **self.config.as_stored(),
                "strategy": getattr(self.strategy, "name", type(self.strategy).__name__),
                "model": "default" if self._default_model else type(self.model).__name__,
            },
        }

    @property
    def config(self) -> SealsConfig:
        """The session's configuration (``max_k`` resolved), as its session file stores it."""
        return SealsConfig(
            k=self.k, max_k=self.max_k, min_pool=self.min_pool, expand=self.expand,
            candidates=self.candidates, positive_label=self.positive_label,
            classes=None if self.classes is None else tuple(self.classes), seed=self.seed,
            metric=self.metric, expand_budget=self.expand_budget, probe=self.probe,
        )  # fmt: skip

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike[str],
        embeddings: Any,
        *,
        neighbors: Any = None,
        strategy: str | Strategy | None = None,
        model: Any = None,
        eval_set: tuple[Any, Any] | None = None,
        index_path: str | os.PathLike[str] | None = None,
        progress: bool = False,
        read_only: bool = False,
        rebuild_index: bool = False,
    ) -> Seals:
        """Reopen a session file and replay its label log: same pool, same next query.

        The configuration (k, expand, candidates, seed, labels, excluded ids) comes from the file.
        A custom strategy or model must be passed again (the file records only its name). The
        session's index is loaded from the file it was saved to (``index_path`` if it moved) and
        checked against the checksum the session recorded; it is never rebuilt silently. A
        session made over a given graph checks that graph's hash. Nothing is written to the file
        until the next :meth:`teach`.

        ``rebuild_index=True`` builds a new index when the old one is lost (saved over the
        recorded file and recorded, unless ``read_only``); a parallel build differs slightly
        from the lost one, so the replayed pool may differ from the one the labels were chosen
        from. Labels are never affected.

        ``read_only=True`` takes no writer lock, so a session another process is writing can be
        inspected (queried, exported); :meth:`teach` then raises.

        Raises
        ------
        FileNotFoundError
            The session's index file is missing (the message says how to rebuild it).
        ValueError
            If ``embeddings`` do not match the stored shape or fingerprint, the index or graph
            differs, or the file fails validation (the error names the file, table and row).
        SessionInUseError
            Another session has the file open for writing (unless ``read_only``).
        """
        store = SessionStore.open(path, write=not read_only)
        try:
            meta = store.meta()
            cfg = meta["config"]
            shape = tuple(int(s) for s in embeddings.shape)
            if shape != (meta["rows"], meta["dim"]):
                raise ValueError(
                    f"embeddings have shape {shape}; the session {os.fspath(path)} was made over "
                    f"({meta['rows']}, {meta['dim']})"
                )
            if fingerprint(embeddings) != meta["fingerprint"]:
                raise ValueError(
                    f"embeddings do not match the session {os.fspath(path)} (fingerprint differs: "
                    "other values or another row order)"
                )
            if strategy is None:
                strategy = cfg["strategy"]
            if model is None and cfg["model"] != "default":
                raise ValueError(f"the session used a {cfg['model']} model; pass it as model=")
            self = cls.__new__(cls)
            self._session_dir = os.path.dirname(os.path.abspath(path))
            stored_index = _stored_index(meta, os.fspath(path))
            index_file = self._index_file(index_path, None)
            if stored_index is not None and neighbors is None and index_file is None:
                index_file = stored_index["file"]
            legacy = stored_index is None and meta.get("graph_hash") and neighbors is None
            if legacy and index_file is None:
                # A session from before sessions kept their index: its deterministic graph.
                neighbors = legacy_session_graph(embeddings, cfg.get("max_k", cfg["k"]),
                                                 metric=cfg["metric"])  # fmt: skip
            if stored_index is not None and neighbors is not None:
                raise ValueError(
                    f"the session {os.fspath(path)} was made over its own index "
                    f"{stored_index['file']}; resume it without neighbors= (index_path= if the "
                    "file moved) so that its pool is replayed over the same neighbours"
                )
            self._index_verified = False
            if stored_index is not None and neighbors is None:
                _check_stored_index(index_file, stored_index, rebuild_index, os.fspath(path))
                self._index_verified = not rebuild_index
            if rebuild_index and not store.writable:
                index_file = None  # read-only: a rebuilt index lives in memory only
            self._index_pending = None
            self._setup(
                embeddings, SealsConfig.from_stored(cfg), neighbors=neighbors,
                strategy=strategy, model=model, exclude=store.excluded(meta["rows"]),
                eval_set=eval_set, index_file=index_file, progress=progress,
                rebuild_index=rebuild_index,
            )  # fmt: skip
            if rebuild_index and self._index_meta is not None and store.writable:
                self._publish_index()
                store.set_meta("index", self._stored_index_meta())
            stored_hash = meta.get("graph_hash")
            if stored_hash and self._graph_hash and stored_hash != self._graph_hash:
                raise ValueError(
                    "the kNN graph differs from the one the session was made with; pass the same "
                    "graph (neighbors= or index_path=) to reproduce its pool"
                )
            replay = store.rounds(meta["rows"], cfg.get("classes"), store.excluded())
            for r, queried, record, ids, labels in replay:
                probed = _stored_probe(record, r, self._n)
                if queried:
                    cands = self._candidate_ids()
                    if probed is not None:
                        cands = np.union1d(cands, probed)
                    self._mark_scored(cands)
                self._apply(ids, labels, None, probed)
                self._round = r + 1
                rec = self._record({})
                if record is not None:
                    rec.seconds = record.get("seconds", {})
                    rec.average_precision = record.get("average_precision")
                    rec.filled_random = int(record.get("filled_random", 0))
                self.history.append(rec)
        except BaseException:
            if "self" in locals():
                self._discard_index()
            store.close()
            raise
        self._store = store
        return self

    # ---- state -------------------------------------------------------------------------------
    @property
    def n_labeled(self) -> int:
        """Number of labeled ids."""
        return self._n_labeled

    @property
    def pool(self) -> np.ndarray:
        """The candidate ids a query would consider now (sorted; a copy)."""
        return self._candidate_ids().copy()

    @property
    def labeled(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, labels)`` in the order they were taught."""
        if not self._ids:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        return np.concatenate(self._ids), np.concatenate(self._labels)

    @property
    def fraction_scored(self) -> float:
        """Fraction of the queryable ids that were ever candidates of a query."""
        return self._scored_count / max(self._queryable, 1)

    def _candidate_ids(self) -> np.ndarray:
        if self.candidates == "all":
            return self._frontier.free_ids()
        return self._pool

    def _mark_scored(self, ids: np.ndarray) -> None:
        new = ids[~bitmap_test(self._scored, ids)]
        bitmap_set(self._scored, new)
        self._scored_count += int(new.shape[0])

    # ---- the model ----------------------------------------------------------------------------
    def _rows(self, ids: np.ndarray) -> np.ndarray:
        return rows_as_float32(self.embeddings, ids)

    def _fit(self) -> float:
        """Refit on every label when labels changed; returns the seconds spent."""
        if self._fitted_at == self._n_labeled:
            return 0.0
        t = time.perf_counter()
        ids, labels = self.labeled
        order = np.argsort(ids, kind="stable")  # the fit depends on the label set, not its order
        ids, labels = ids[order], labels[order]
        if np.unique(labels).shape[0] >= 2:
            self.model.fit(self._rows(ids), labels)
            classes = getattr(self.model, "classes_", None)
            self._fit_classes = np.asarray(
                classes if classes is not None else np.unique(labels)
            ).astype(np.int64)
        else:
            self._fit_classes = np.empty(0, dtype=np.int64)
        self._fitted_at = self._n_labeled
        return time.perf_counter() - t

    def _proba(self, ids: np.ndarray) -> np.ndarray:
        """The model's probabilities for ``ids``, in blocks of at most 65,536 rows.

        Ascending ids that fill most of their span (a full scan: every unlabeled id) are scored
        over the contiguous rows ``ids[0] .. ids[-1]`` of the block, read in place (a slice of
        an array or memmap, no gather copy), and the labeled rows' scores dropped: scoring a
        few extra rows costs less than gathering the rest.
        """
        out = []
        for s in range(0, ids.shape[0], 65536):  # bounded memory on full scans
            chunk = ids[s : s + 65536]
            lo, hi = int(chunk[0]), int(chunk[-1]) + 1
            dense = hi - lo <= chunk.shape[0] + chunk.shape[0] // 4 and (
                chunk.shape[0] < 2 or bool(np.all(chunk[1:] > chunk[:-1]))
            )
            if dense and not on_cuda(self.embeddings):
                p = np.asarray(self.model.predict_proba(row_block(self.embeddings, lo, hi)))
                p = p if hi - lo == chunk.shape[0] else p[chunk - lo]
            else:
                p = np.asarray(self.model.predict_proba(self._rows(chunk)))
            out.append(p)  # float64 too: the kernels read it natively
        if not out:
            return np.empty((0, max(self._fit_classes.shape[0], 1)), dtype=np.float32)
        return out[0] if len(out) == 1 else np.concatenate(out)

    def predict_proba(self, x: Any) -> np.ndarray:
        """The current model's probabilities for ``x [n, d]`` (fits first if labels changed)."""
        self._fit()
        if self._fit_classes.shape[0] == 0:
            raise RuntimeError("the model needs labels of at least two classes")
        return np.asarray(self.model.predict_proba(np.asarray(x, dtype=np.float32)))

    def _positive_column(self) -> int | None:
        if self.positive_label is None:
            return None
        hits = np.flatnonzero(self._fit_classes == self.positive_label)
        return int(hits[0]) if hits.size else None

    # ---- the step API --------------------------------------------------------------------------
    def query(self, n: int) -> np.ndarray:
        """The ``n`` dataset ids to label next, best first (fewer when fewer are unlabeled).

        Refits the model when labels changed, then runs the strategy over the candidate pool.
        Until labels of two classes exist, and whenever the pool holds fewer than ``n`` ids,
        the rest are drawn uniformly (seeded) from the unlabeled ids outside the pool.
        Does not change the session: calling it again returns the same ids.
        """
        if isinstance(n, bool) or int(n) != n or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        n = min(int(n), self._queryable - self._n_labeled)
        rng = np.random.default_rng([self.seed, self._n_labeled])
        training = self._fit()
        t = time.perf_counter()
        probed = self._probe_ids()
        cands = self._candidate_ids()
        if probed.size:  # disjoint from the pool: merge, sorted
            cands = np.insert(cands, np.searchsorted(cands, probed), probed)
        probe_seconds = time.perf_counter() - t
        t = time.perf_counter()
        scoring = 0.0
        chosen = np.empty(0, dtype=np.int64)
        take = min(n, cands.shape[0])
        ran = take > 0 and self._fit_classes.shape[0] >= 2
        if ran:
            lab_ids, lab_labels = self.labeled
            order = np.argsort(lab_ids, kind="stable")
            ctx = SelectionContext(
                proba=self._proba,
                rows=self._rows,
                neighbors=None if self._source is None else self._first_k_neighbors,
                unlabeled=self._frontier.free_ids,
                rng=rng,
                positive_column=self._positive_column(),
                cache=self._strategy_cache,
                model=self.model,
                labeled_ids=lab_ids[order],
                labels=lab_labels[order],
                seed=self.seed,
                chunk_rows=1 << 20,
            )
            chosen = np.asarray(self.strategy.select(cands, take, ctx), dtype=np.int64)
            scoring = ctx.scoring_seconds
            self._check_selection(chosen, cands, take)
            self._mark_scored(cands)
        filled = n - chosen.shape[0]
        if filled > 0:
            chosen = np.r_[chosen, self._random_fill(filled, chosen, ran, rng)]
        total = time.perf_counter() - t
        self._pending = {
            "training": training,
            "scoring": scoring,
            "selection": total - scoring,
            "index": probe_seconds,
        }
        self._pending_filled = max(filled, 0)
        self._pending_probe = probed if ran else None
        self._queried = self._queried or ran
        return chosen

    def _probe_ids(self) -> np.ndarray:
        """The probe: up to ``probe`` unlabeled, unexcluded ids outside the pool that the model
        scores highest, from one index search with its weight vector (empty when it cannot run:
        see ``probe`` in the class docstring)."""
        none = np.empty(0, dtype=np.int64)
        if self.probe == 0 or self.candidates != "knn" or not isinstance(self._source, IndexSource):
            return none
        index = self._source.index
        if getattr(index, "metric", None) not in ("cosine", "ip"):
            return none
        w = self._direction()
        if w is None:
            return none
        skip = np.concatenate([self._pool, self._excluded_ids, *self._ids])
        # ef only for indexes that take one (exact ones, FlatIndex, do not)
        takes_ef = "ef" in inspect.signature(index.search).parameters
        extra = {"ef": max(64, 2 * self.probe)} if takes_ef else {}
        ids, _ = index.search(w[None, :], self.probe, exclude=skip, **extra)
        found = np.asarray(ids, dtype=np.int64).ravel()
        found = found[(found >= 0) & (found < self._n)]
        # an index may hold ids the session does not know as unlabeled: keep only those
        found = found[~(self._frontier.is_labeled(found) | self._frontier.is_excluded(found))]
        return np.setdiff1d(found, self._pool)

    def _direction(self) -> np.ndarray | None:
        """The positive class's direction in embedding space of a fitted linear model, or None."""
        col = self._positive_column()
        coef = getattr(self.model, "coef_", None)
        if col is None or coef is None or self._fit_classes.shape[0] < 2:
            return None
        try:
            c = np.asarray(coef, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        if c.ndim != 2 or c.shape[1] != self._dim:
            return None
        if c.shape[0] == 1 and self._fit_classes.shape[0] == 2:  # scikit-learn binary
            w = c[0] if col == 1 else -c[0]
        elif c.shape[0] == self._fit_classes.shape[0]:
            w = c[col] - np.delete(c, col, axis=0).mean(axis=0)
        else:
            return None
        if not np.all(np.isfinite(w)) or not np.any(w):
            return None
        out: np.ndarray = w.astype(np.float32)
        return out

    def _check_selection(self, chosen: np.ndarray, cands: np.ndarray, take: int) -> None:
        if chosen.shape != (take,) or np.unique(chosen).shape[0] != take:
            raise RuntimeError(
                f"strategy {self.strategy!r} returned {chosen.shape} ids, expected {take} distinct"
            )
        if not np.all(np.isin(chosen, cands)):
            raise RuntimeError(f"strategy {self.strategy!r} returned ids outside the candidates")

    def _random_fill(
        self, count: int, chosen: np.ndarray, pooled: bool, rng: np.random.Generator
    ) -> np.ndarray:
        unlabeled = self._frontier.free_ids()
        free = unlabeled[~np.isin(unlabeled, chosen)]
        if pooled:
            outside = np.setdiff1d(free, self._candidate_ids(), assume_unique=True)
            if outside.shape[0] >= count:  # else the pool itself holds the rest (no model yet)
                free = outside
        return np.asarray(rng.choice(free, size=count, replace=False), dtype=np.int64)

    def teach(self, ids: npt.ArrayLike, labels: Any) -> None:
        """Record labels for ``ids``; committed to the session file (if any) before returning.

        Raises
        ------
        ValueError
            Unknown or excluded ids, ids already labeled or repeated in ``ids``, a label outside
            ``classes``, or a length mismatch. Nothing is recorded then.
        TypeError
            Labels that are not integers or booleans.
        """
        if self._store is not None and not self._store.writable:
            raise SessionInUseError(
                f"this session was resumed read-only from {self._store.path}; resume it without "
                "read_only=True to teach"
            )
        idx = _as_ids(ids, self._n)
        labs = _as_labels(labels, idx.shape[0])
        uniq, counts = np.unique(idx, return_counts=True)
        if np.any(counts > 1):
            raise ValueError(f"id {int(uniq[counts > 1][0])} appears twice in one teach call")
        excluded = self._frontier.is_excluded(idx)
        if np.any(excluded):
            raise ValueError(f"id {int(idx[excluded][0])} is excluded from this session")
        labeled = self._frontier.is_labeled(idx)
        if np.any(labeled):
            raise ValueError(f"id {int(idx[labeled][0])} is already labeled")
        if self.classes is not None:
            bad = labs[~np.isin(labs, self.classes)]
            if bad.size:
                raise ValueError(f"label {int(bad[0])} is not one of the classes {self.classes}")
        if idx.size == 0:
            return
        t = time.perf_counter()
        # The new expanders' neighbours are fetched (and checked) before anything is written, so
        # a neighbour source returning foreign ids fails this call without recording it.
        expanding = self.candidates == "knn" and self._source is not None
        new_rows = self._neighbors(self._expanders(idx, labs)) if expanding else None
        probed = self._pending_probe
        if self._store is not None:
            extra = None if probed is None else {"probed": probed.tolist()}
            self._store.append(self._round, self._queried, idx, labs, extra)
        self._apply(idx, labs, new_rows, probed)
        seconds = dict(self._pending)
        seconds["index"] = (
            seconds.get("index", 0.0)
            + time.perf_counter()
            - t
            + (self._index_seconds if self._round == 0 else 0)
        )
        self._round += 1
        self._pending = {}
        self._pending_probe = None
        self._queried = False
        rec = self._record(seconds)
        rec.filled_random = min(self._pending_filled, int(idx.shape[0]))
        self._pending_filled = 0
        if self.eval_set is not None:
            seconds["training"] = seconds.get("training", 0.0) + self._fit()
            rec.average_precision = self._evaluate()
        self.history.append(rec)
        if self._store is not None:
            record = rec.as_dict()
            if probed is not None:
                record["probed"] = probed.tolist()
            self._store.set_record(self._round - 1, record)

    def _apply(
        self,
        ids: np.ndarray,
        labels: np.ndarray,
        rows: np.ndarray | None = None,
        probed: np.ndarray | None = None,
    ) -> None:
        """Record labels and grow the pool; ``rows``: the expanders' neighbours, if fetched;
        ``probed``: the ids the round's query found with the probe (they join the pool)."""
        self._frontier.label(ids)
        self._ids.append(ids)
        self._labels.append(labels)
        self._n_labeled += int(ids.shape[0])
        if self.positive_label is not None:
            self._n_positive += int(np.sum(labels == self.positive_label))
        if self.candidates != "knn" or self._source is None:
            return
        pool = self._pool[~self._frontier.is_labeled(self._pool)]
        if probed is not None and probed.size:
            entered = self._frontier.expand_rows(probed[:, None])
            pool = np.insert(pool, np.searchsorted(pool, entered), entered)
        expanders = self._expanders(ids, labels)
        width = self._k_eff
        if self.expand_budget is not None and expanders.size:
            # a round's new expanders share a budget of neighbours: a few (a rare concept) reach
            # far, many (a common one) stay close; never below the current k
            width = min(self.max_k, max(width, -(-self.expand_budget // int(expanders.size))))
        pool = self._expand(pool, expanders, 0, width, rows)
        # Widening: when the pool runs dry (a rare concept whose neighbourhood is all labeled),
        # every expanding item adds its next neighbours, doubling k up to max_k. It only depends
        # on the labels taught so far, so replaying the label log reproduces it.
        while pool.shape[0] < self.min_pool and self._k_eff < self.max_k:
            wider = min(2 * self._k_eff, self.max_k)
            ids_all, labels_all = self.labeled
            pool = self._expand(pool, self._expanders(ids_all, labels_all), self._k_eff, wider)
            self._k_eff = wider
        self._pool = pool.astype(np.int64)

    def _expanders(self, ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return ids if self.expand == "all" else ids[labels == self.positive_label]

    def _expand(
        self,
        pool: np.ndarray,
        expanders: np.ndarray,
        start: int,
        stop: int,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """``pool`` plus columns ``start:stop`` of the expanders' neighbours, unlabeled only."""
        if expanders.size == 0 or self._source is None:
            return pool
        if rows is None:
            rows = self._neighbors(expanders)
        k = rows.shape[1]
        entered = self._frontier.expand_rows(rows, columns=(min(start, k), min(stop, k)))
        return np.insert(pool, np.searchsorted(pool, entered), entered)  # both sorted, disjoint

    def _neighbors(self, ids: np.ndarray) -> np.ndarray:
        """The neighbour source's rows for ``ids``, checked: ``-1`` or a dataset id each."""
        assert self._source is not None
        nb = np.asarray(self._source.neighbors(ids))
        if nb.ndim != 2 or nb.shape[0] != ids.shape[0] or nb.dtype.kind not in "iu":
            raise ValueError(
                f"the neighbour source {type(self._source).__name__} returned an array of shape "
                f"{nb.shape} and dtype {nb.dtype} for {ids.shape[0]} ids; expected integer "
                "[len(ids), k]"
            )
        bad = (nb < -1) | (nb >= self._n)
        if np.any(bad):
            what = self._source.index if isinstance(self._source, IndexSource) else self._source
            raise ValueError(
                f"the neighbour source {type(what).__name__} returned id {int(nb[bad][0])}, "
                f"which is not a dataset id (0 .. {self._n - 1}) nor -1: the index must hold the "
                "session's embeddings under their row numbers"
            )
        return nb.astype(np.int64, copy=False)

    def _first_k_neighbors(self, ids: np.ndarray) -> np.ndarray:
        return self._neighbors(ids)[:, : self.k]

    @property
    def k_effective(self) -> int:
        """Neighbours per expanding item now in use (``k``, widened up to ``max_k``)."""
        return self._k_eff

    def _record(self, seconds: dict[str, float]) -> RoundRecord:
        return RoundRecord(
            round=self._round - 1,
            labels=self._n_labeled,
            positives=self._n_positive,
            pool_size=int(self._candidate_ids().shape[0]),
            fraction_scored=self.fraction_scored,
            seconds=seconds,
        )

    def _evaluate(self) -> float | None:
        assert self.eval_set is not None
        x, y = self.eval_set
        y = np.asarray(y)
        if self._fit_classes.shape[0] < 2:
            return None
        p = np.asarray(self.model.predict_proba(np.asarray(x, dtype=np.float32)))
        if self.positive_label is not None:
            col = self._positive_column()
            if col is None:
                return None
            return average_precision(y == self.positive_label, p[:, col])
        aps = [
            average_precision(y == c, p[:, j])
            for j, c in enumerate(self._fit_classes.tolist())
            if np.any(y == c)
        ]
        return float(np.mean(aps)) if aps else None

    def run(
        self,
        oracle: Callable[[np.ndarray], Any],
        budget: int,
        batch_size: int = 100,
        *,
        total_positives: int | None = None,
        progress: bool | None = None,
    ) -> list[RoundRecord]:
        """Query, ask ``oracle(ids)`` for labels and teach, until ``budget`` labels (in total).

        ``total_positives`` (the positives among the queryable ids, when known) fills each
        round's ``recall``. Returns :attr:`history`.
        """
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        show = self.progress if progress is None else progress
        bar = _bar(budget, self._n_labeled, show, f"SEALS ({self.candidates})")
        try:
            while self._n_labeled < budget:
                ids = self.query(min(batch_size, budget - self._n_labeled))
                if ids.size == 0:
                    break
                self.teach(ids, oracle(ids))
                if total_positives:
                    self.history[-1].recall = self._n_positive / total_positives
                if bar is not None:
                    bar.update(int(ids.size))
        finally:
            if bar is not None:
                bar.close()
        return self.history

    def close(self) -> None:
        """Close the session file (labels are already committed)."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Seals:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Seals(rows={self._n}, labeled={self._n_labeled}, pool={len(self._candidate_ids())}, "
            f"candidates={self.candidates!r}, k={self.k}, strategy={self.strategy!r})"
        )


def _bar(total: int, initial: int, enable: bool, desc: str) -> Any:
    if not enable:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, desc=desc, leave=False)
