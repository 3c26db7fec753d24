"""Selection via Proxy: choose data for an expensive target model with a cheap proxy model.

Coleman et al., "Selection via Proxy: Efficient Data Selection for Deep Learning", ICLR 2020
(arXiv 1906.11829). Small and large models rank examples alike, so a proxy that is much cheaper to
train (a smaller architecture, fewer epochs, a linear model over embeddings) can do the selection
and the target is trained once on what it selected.

Two workflows:

* :func:`active_learning` — start from a random labeled subset; for each size of a budget
  schedule train the proxy *from scratch* on the labeled set, score the unlabeled pool with
  panning's native kernels, label the top of the strategy; train the target at evaluation points.
* :func:`coreset` — train the proxy once on all the data (recording forgetting events when asked),
  rank every example, keep a subset, train the target on it.

Models follow the scikit-learn convention (``fit(X, y)``, ``predict_proba(X)``; ``predict`` and
``classes_`` when present; ``embed(X)`` for k-centers features); :mod:`panning.models` has NumPy
ones and :mod:`panning.models_torch` wraps ``torch.nn.Module`` factories. The pool ``X`` may be a
numpy array or memory map, a torch tensor (CPU or CUDA) or a torch ``Dataset``; ids are row
numbers of the pool and stay fixed for the whole run. Ties are always broken by the lower id.

Unlike the reference code, k-centers' random seed points count inside the budget, accuracy is the
final model's (not the best over epochs), and rankings are stable.
"""

from __future__ import annotations

import copy
import inspect
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Union

import numpy as np

from ._arrays import as_int
from ._device import is_cupy, is_torch
from .forgetting import ForgettingCounter
from .kcenter import greedy_k_centers
from .models import as_numpy
from .scoring import _top_k
from .strategies import STRATEGIES as _SHARED_STRATEGIES
from .strategies import InformationDensity, SelectionContext, canonical_name, get_strategy
from .strategies import Strategy as StrategyProtocol

__all__ = [
    "ActiveLearningResult",
    "CoresetResult",
    "RoundRecord",
    "STRATEGIES",
    "Strategy",
    "StrategyName",
    "accuracy",
    "active_learning",
    "coreset",
    "select",
    "uncertainty_scores",
]

StrategyName = Literal[
    "least_confidence",
    "entropy",
    "margin",
    "kcenters",
    "forgetting",
    "random",
    "information_density",
    "most_likely_positive",
    "bald",
    "badge",
]
# A strategy name (or alias, see panning.strategies.ALIASES) or any object following the one
# panning.strategies.Strategy protocol, the same ones Seals runs.
Strategy = Union[str, StrategyProtocol]
# every built-in strategy (names of panning.strategies.STRATEGIES; aliases accepted too)
STRATEGIES: tuple[str, ...] = tuple(_SHARED_STRATEGIES)
_UNCERTAINTY = ("least_confidence", "entropy", "margin")
EvaluateAt = Union[Literal["final", "all", "none"], Sequence[int]]

_DEFAULT_CHUNK = 1 << 18


# ---- records ------------------------------------------------------------------------------------


@dataclass
class RoundRecord:
    """One round of active learning (the initial random subset is round 0, with zero costs).

    Times are wall-clock seconds: proxy training, proxy inference over the pool (probabilities, or
    embeddings for k-centers), and ranking (panning's scoring + top-k, or the k-centers traversal).
    ``target_accuracy`` is the accuracy of the target trained on the labeled set of this round,
    after its last epoch, on the test set; ``None`` where the target was not evaluated.
    """

    labeled: int
    added: int
    proxy_train_s: float = 0.0
    inference_s: float = 0.0
    ranking_s: float = 0.0
    target_train_s: float | None = None
    target_accuracy: float | None = None

    @property
    def selection_s(self) -> float:
        """Proxy training + inference + ranking."""
        return self.proxy_train_s + self.inference_s + self.ranking_s


@dataclass
class ActiveLearningResult:
    """What :func:`active_learning` did: the labeled ids in labeling order and every round."""

    strategy: str
    labeled: np.ndarray
    initial_size: int
    rounds: list[RoundRecord] = field(default_factory=list)
    target: Any = None

    @property
    def selection_s(self) -> float:
        """Total selection time (all rounds' proxy training, inference and ranking)."""
        return float(sum(r.selection_s for r in self.rounds))

    @property
    def final_accuracy(self) -> float | None:
        """The target's accuracy at the last evaluated round."""
        for r in reversed(self.rounds):
            if r.target_accuracy is not None:
                return r.target_accuracy
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the labeled ids as a list)."""
        return {
            "strategy": self.strategy,
            "initial_size": self.initial_size,
            "labeled": [int(i) for i in self.labeled],
            "selection_s": self.selection_s,
            "final_accuracy": self.final_accuracy,
            "rounds": [{**asdict(r), "selection_s": r.selection_s} for r in self.rounds],
        }


@dataclass
class CoresetResult:
    """What :func:`coreset` did: the kept ids (most valuable first) and the costs.

    ``decided_by_score`` counts the kept rows whose score alone put them in (strictly above
    every dropped row); ``decided_by_tie_break`` the rest, chosen among rows tied at the cut
    (``None`` for strategies without scores: random, k-centers). A forgetting core-set where
    most rows have no forgetting events is mostly its tie-break, least confidence."""

    strategy: str
    kept: np.ndarray
    pool_size: int
    proxy_train_s: float
    inference_s: float
    ranking_s: float
    target_train_s: float | None = None
    target_accuracy: float | None = None
    scores: np.ndarray | None = None
    target: Any = None
    decided_by_score: int | None = None

    @property
    def selection_s(self) -> float:
        return self.proxy_train_s + self.inference_s + self.ranking_s

    @property
    def decided_by_tie_break(self) -> int | None:
        """Kept rows whose score equalled the cut, so the tie-break put them in (``None``
        when the strategy has no scores)."""
        if self.decided_by_score is None:
            return None
        return int(self.kept.size) - self.decided_by_score

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the kept ids as a list; scores left out)."""
        return {
            "strategy": self.strategy,
            "pool_size": self.pool_size,
            "kept": [int(i) for i in self.kept],
            "kept_fraction": self.kept.size / self.pool_size if self.pool_size else 0.0,
            "proxy_train_s": self.proxy_train_s,
            "inference_s": self.inference_s,
            "ranking_s": self.ranking_s,
            "selection_s": self.selection_s,
            "target_train_s": self.target_train_s,
            "target_accuracy": self.target_accuracy,
            "decided_by_score": self.decided_by_score,
            "decided_by_tie_break": self.decided_by_tie_break,
        }


# ---- pools, labels and models -------------------------------------------------------------------


def _is_torch_dataset(x: Any) -> bool:
    try:
        from torch.utils.data import Dataset
    except ImportError:  # pragma: no cover - torch not installed
        return False
    return isinstance(x, Dataset)


def _pool_size(x: Any) -> int:
    if _is_torch_dataset(x):
        return len(x)
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) < 1:
        raise TypeError(
            "the pool must be an array (numpy, memory map, torch, cupy) with rows first, or a "
            f"torch Dataset; got {type(x).__name__}"
        )
    return int(shape[0])


def _take(x: Any, ids: np.ndarray) -> Any:
    """Rows ``ids`` of the pool, in the pool's own kind (a Subset for datasets)."""
    if _is_torch_dataset(x):
        from torch.utils.data import Subset

        return Subset(x, ids.tolist())
    if is_torch(x):
        import torch

        return x[torch.as_tensor(ids, device=x.device)]
    if is_cupy(x):
        import cupy

        return x[cupy.asarray(ids)]
    return x[ids]


def _labels(y: Any, x: Any, n: int) -> np.ndarray:
    if y is None:
        targets = getattr(x, "targets", None)
        if targets is None:
            raise ValueError("labels are required (pass y, or a Dataset with a .targets attribute)")
        y = targets
    labels = as_numpy(y)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.shape[0] != n:
        raise ValueError(f"labels have length {labels.shape[0]} but the pool has {n} rows")
    return labels


def _check_model(model: Any, role: str, *, need_proba: bool) -> None:
    if not callable(getattr(model, "fit", None)):
        raise TypeError(f"the {role} must have a fit(X, y) method (scikit-learn convention)")
    if need_proba and not callable(getattr(model, "predict_proba", None)):
        raise TypeError(
            f"the {role} must have a predict_proba(X) method (scikit-learn convention); "
            f"{type(model).__name__} has none"
        )
    if not need_proba and not (
        callable(getattr(model, "predict", None)) or callable(getattr(model, "predict_proba", None))
    ):
        raise TypeError(f"the {role} must have predict(X) or predict_proba(X)")


def _fresh(model: Any) -> Any:
    """An untrained copy: models are trained from scratch each round."""
    return copy.deepcopy(model)


def _fit(model: Any, x: Any, y: np.ndarray, observer: ForgettingCounter | None = None) -> Any:
    if observer is None:
        model.fit(x, y)
        return model
    try:
        takes_observer = "observer" in inspect.signature(model.fit).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        takes_observer = False
    if not takes_observer:
        raise TypeError(
            f"forgetting events need a model whose fit accepts observer= (called per minibatch "
            f"with ids and correctness); {type(model).__name__}.fit does not"
        )
    model.fit(x, y, observer=observer)
    return model


def accuracy(model: Any, x: Any, y: Any) -> float:
    """Fraction of rows of ``x`` whose predicted class equals ``y``.

    Uses ``predict`` when the model has it, else the arg-max of ``predict_proba`` mapped through
    ``classes_`` (or taken as the label itself when there is no ``classes_``).

    Examples
    --------
    >>> import numpy as np
    >>> from panning.models import SoftmaxRegression
    >>> from panning.svp import accuracy
    >>> x = np.array([[0.0], [1.0]], dtype=np.float32)
    >>> accuracy(SoftmaxRegression(epochs=300, lr=0.1).fit(x, [0, 1]), x, [0, 1])
    1.0
    """
    truth = as_numpy(y).ravel()
    if callable(getattr(model, "predict", None)):
        pred = as_numpy(model.predict(x)).ravel()
    else:
        proba = as_numpy(model.predict_proba(x))
        arg = proba.argmax(axis=1)
        classes = getattr(model, "classes_", None)
        pred = arg if classes is None else as_numpy(classes)[arg]
    if pred.shape != truth.shape:
        raise ValueError(f"{pred.size} predictions for {truth.size} labels")
    return float((pred == truth).mean()) if truth.size else float("nan")


# ---- scoring and ranking ------------------------------------------------------------------------


def uncertainty_scores(
    model: Any,
    x: Any,
    method: Literal["least_confidence", "entropy", "margin"] = "least_confidence",
    *,
    chunk_rows: int = _DEFAULT_CHUNK,
) -> np.ndarray:
    """A fitted model's uncertainty *utility* for every row of ``x`` (float64 numpy; larger = more
    uncertain = picked first, so margin is returned negated: the sign convention of every
    strategy, see :mod:`panning.strategies`; the kernels' own scores keep margin as p1 - p2).

    Probabilities come from ``model.predict_proba`` in chunks of ``chunk_rows`` and are scored by
    panning's native kernels on their own device.

    Examples
    --------
    >>> import numpy as np
    >>> from panning.models import SoftmaxRegression
    >>> from panning.svp import uncertainty_scores
    >>> x = np.array([[-2.0], [0.0], [2.0]], dtype=np.float32)
    >>> m = SoftmaxRegression(epochs=200, lr=0.1).fit(x, [0, 0, 1])
    >>> int(np.argmax(uncertainty_scores(m, x, "entropy")))
    1
    """
    from . import scoring

    name = canonical_name(method)
    if name not in _UNCERTAINTY:
        raise ValueError(f"unknown method {method!r}; expected one of {_UNCERTAINTY}")
    method = name  # type: ignore[assignment]
    n = _pool_size(x)
    out = np.empty(n, dtype=np.float64)
    ids = np.arange(n)
    for s in range(0, n, chunk_rows):
        part = (
            x[s : s + chunk_rows] if not _is_torch_dataset(x) else _take(x, ids[s : s + chunk_rows])
        )
        proba = model.predict_proba(part)  # float64 too: the kernels read it natively
        out[s : s + chunk_rows] = as_numpy(getattr(scoring, method)(proba))
    if np.isnan(out).any():
        bad = int(np.flatnonzero(np.isnan(out))[0])
        raise ValueError(
            f"the model's probabilities for row {bad} are invalid (NaN, negative or infinite)"
        )
    return -out if method == "margin" else out


def _features(model: Any, x: Any) -> Any:
    embed = getattr(model, "embed", None)
    if callable(embed):
        return embed(x)
    if _is_torch_dataset(x):
        raise TypeError("k-centers over a Dataset needs a model with an embed(X) method")
    return x


def _select(
    model: Any,
    x: Any,
    k: int,
    strategy: Any,
    candidates: np.ndarray,
    labeled: np.ndarray,
    rng: np.random.Generator,
    chunk_rows: int,
    seed: int,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, float, float]:
    """(chosen pool ids in rank order, inference seconds, ranking seconds): runs ``strategy``
    (a name, an alias or a :class:`panning.strategies.Strategy`) through the shared protocol."""
    strat = get_strategy(strategy)
    if isinstance(strategy, str) and strat.name == "information_density":
        # no kNN graph in SVP: the density over every unlabeled row (exact linear form), as
        # Seals' full-scan baseline uses it
        strat = InformationDensity(scope="global", quadratic=False)
    feats: list[Any] = []

    def features(ids: np.ndarray) -> Any:
        if not feats:  # the model's embedding of the whole pool, once per selection
            feats.append(_features(model, x))
        return _take(feats[0], ids)

    def rows(ids: np.ndarray) -> np.ndarray:
        return np.asarray(as_numpy(_take(x, ids)))

    ctx = SelectionContext(
        proba=lambda ids: model.predict_proba(_take(x, ids)),
        rows=rows,
        neighbors=None,
        unlabeled=lambda: candidates,
        rng=rng,
        positive_column=_positive_column(model),
        cache={},
        model=model,
        labeled_ids=labeled,
        labels=None if labels is None else labels[labeled],
        features=features,
        seed=seed,
        chunk_rows=chunk_rows,
    )
    t0 = time.perf_counter()
    chosen = np.asarray(strat.select(candidates, k, ctx), dtype=np.int64)
    total = time.perf_counter() - t0
    if chosen.shape != (k,) or not np.isin(chosen, candidates).all():
        raise RuntimeError(f"strategy {strat!r} returned ids outside the {k} expected candidates")
    return chosen, ctx.scoring_seconds, total - ctx.scoring_seconds


def _positive_column(model: Any) -> int | None:
    """Column of class 1 (binary tasks) for most_likely_positive, when the model knows it."""
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    hits = np.flatnonzero(np.asarray(as_numpy(classes)) == 1)
    return int(hits[0]) if hits.size else None


def _strategy_name(strategy: Any) -> str:
    if isinstance(strategy, str):
        return canonical_name(strategy)
    get_strategy(strategy)  # TypeError for objects without select
    return str(getattr(strategy, "name", type(strategy).__name__))


def select(
    model: Any,
    x: Any,
    k: int,
    *,
    strategy: Strategy = "least_confidence",
    labeled: Sequence[int] | np.ndarray | None = None,
    seed: int = 0,
    chunk_rows: int = _DEFAULT_CHUNK,
) -> np.ndarray:
    """One selection step with a fitted model: the ``k`` best unlabeled rows of ``x``, best first.

    Parameters
    ----------
    model : fitted model with ``predict_proba`` (and ``embed`` for k-centers features; without
        it k-centers runs on ``x`` itself).
    x : the pool (numpy array or memory map, torch tensor, torch Dataset).
    k : how many rows to choose from the unlabeled ones.
    strategy : ``least_confidence`` / ``entropy`` (highest first), ``margin`` (smallest first),
        ``kcenters`` (labeled rows are the initial centers), ``random``.
    labeled : rows already labeled, never chosen.
    seed : for ``random`` and for k-centers' start when nothing is labeled.

    Examples
    --------
    >>> import numpy as np
    >>> from panning.models import SoftmaxRegression
    >>> from panning.svp import select
    >>> x = np.array([[-3.0], [-0.1], [0.1], [3.0]], dtype=np.float32)
    >>> m = SoftmaxRegression(epochs=300, lr=0.1).fit(x[[0, 3]], [0, 1])
    >>> sorted(select(m, x, 2, labeled=[0, 3]).tolist())
    [1, 2]
    """
    name = _strategy_name(strategy)
    if name == "forgetting":
        raise ValueError("forgetting ranks a training set by its training history: use coreset")
    n = _pool_size(x)
    k = as_int(k, "k")
    lab = np.unique(np.asarray([] if labeled is None else labeled, dtype=np.int64))
    if lab.size and (lab[0] < 0 or lab[-1] >= n):
        raise ValueError(f"labeled ids must be in [0, {n})")
    mask = np.ones(n, dtype=bool)
    mask[lab] = False
    candidates = np.flatnonzero(mask)
    if not 0 <= k <= candidates.size:
        raise ValueError(f"k={k} is out of range: {candidates.size} unlabeled rows")
    if k == 0:
        return np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return _select(model, x, k, strategy, candidates, lab, rng, chunk_rows, seed)[0]


# ---- active learning ----------------------------------------------------------------------------


def _evaluation_sizes(evaluate_at: EvaluateAt, sizes: list[int]) -> set[int]:
    if isinstance(evaluate_at, str):
        if evaluate_at == "final":
            return {sizes[-1]}
        if evaluate_at == "all":
            return set(sizes)
        if evaluate_at == "none":
            return set()
        raise ValueError(
            f"evaluate_at must be 'final', 'all', 'none' or sizes, got {evaluate_at!r}"
        )
    wanted = {as_int(s, "evaluate_at size") for s in evaluate_at}
    unknown = sorted(wanted - set(sizes))
    if unknown:
        raise ValueError(
            f"evaluate_at sizes {unknown} are not labeled-set sizes of this run {sizes}"
        )
    return wanted


def _train_target(
    target: Any, x: Any, y: np.ndarray, ids: np.ndarray, x_test: Any, y_test: Any
) -> tuple[Any, float, float]:
    model = _fresh(target)
    t0 = time.perf_counter()
    _fit(model, _take(x, ids), y[ids])
    train_s = time.perf_counter() - t0
    return model, train_s, accuracy(model, x_test, y_test)


def active_learning(
    x: Any,
    y: Any,
    *,
    proxy: Any,
    initial: int | Sequence[int] | np.ndarray,
    schedule: Sequence[int],
    strategy: Strategy = "least_confidence",
    target: Any = None,
    x_test: Any = None,
    y_test: Any = None,
    evaluate_at: EvaluateAt = "final",
    seed: int = 0,
    chunk_rows: int = _DEFAULT_CHUNK,
) -> ActiveLearningResult:
    """Active learning with a proxy: label rounds chosen by the proxy, train the target at the end.

    Parameters
    ----------
    x, y : the pool and its labels (the oracle: only labels of selected rows are used).
    proxy : untrained model (``fit``, ``predict_proba``); a fresh copy is trained from scratch
        on the labeled set every round. Pass the target itself to get "target-selected" data.
    initial : size of the random starting subset, or its row ids.
    schedule : labeled-set sizes after each round, strictly increasing (e.g. 10%, 20%, ... 50% of
        the pool, as counts).
    strategy : ``least_confidence``, ``entropy``, ``margin``, ``kcenters`` or ``random``.
    target : untrained target model, trained on the labeled set at each evaluation point and
        scored on ``(x_test, y_test)`` after its last epoch.
    evaluate_at : ``"final"`` (default), ``"all"`` (the initial subset and every round),
        ``"none"``, or a list of labeled-set sizes.
    seed : seeds the initial subset and the random strategy.
    chunk_rows : probabilities are computed and scored this many rows at a time.

    Returns
    -------
    ActiveLearningResult

    Examples
    --------
    >>> import numpy as np
    >>> from panning.models import MLPClassifier, SoftmaxRegression
    >>> from panning.svp import active_learning
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 5)).astype(np.float32)
    >>> y = (x[:, 0] + x[:, 1] > 0).astype(int)
    >>> run = active_learning(x, y, proxy=SoftmaxRegression(epochs=5), initial=20,
    ...                       schedule=[60, 100], target=MLPClassifier((16,), epochs=10),
    ...                       x_test=x, y_test=y, seed=0)
    >>> [r.labeled for r in run.rounds], len(set(run.labeled.tolist()))
    ([20, 60, 100], 100)
    """
    name = _strategy_name(strategy)
    if name == "forgetting":
        raise ValueError("forgetting ranks a training set by its training history: use coreset")
    _check_model(proxy, "proxy", need_proba=name not in ("random", "kcenters"))
    if target is not None:
        _check_model(target, "target", need_proba=False)
    n = _pool_size(x)
    labels = _labels(y, x, n)
    rng = np.random.default_rng(seed)
    if isinstance(initial, (int, np.integer)) and not isinstance(initial, bool):
        n_init = int(initial)
        if not 0 < n_init <= n:
            raise ValueError(f"initial={n_init} must be in [1, {n}] (the pool has {n} rows)")
        start = np.sort(rng.choice(n, size=n_init, replace=False)).astype(np.int64)
    else:
        start = np.asarray(initial, dtype=np.int64).ravel()
        if start.size == 0:
            raise ValueError("the initial labeled set is empty")
        if np.unique(start).size != start.size or start.min() < 0 or start.max() >= n:
            raise ValueError(f"initial ids must be unique row ids in [0, {n})")
    sizes = [as_int(s, "schedule size") for s in schedule]
    if not sizes:
        raise ValueError("schedule is empty: give at least one labeled-set size")
    previous = start.size
    for s in sizes:
        if s <= previous:
            raise ValueError(
                f"schedule must be strictly increasing labeled-set sizes above the initial "
                f"{start.size}; got {sizes}"
            )
        previous = s
    if sizes[-1] > n:
        raise ValueError(f"schedule size {sizes[-1]} is beyond the pool of {n} rows")
    all_sizes = [start.size, *sizes]
    eval_sizes = _evaluation_sizes(evaluate_at, all_sizes) if target is not None else set()
    if eval_sizes and (x_test is None or y_test is None):
        raise ValueError("evaluating the target needs x_test and y_test")

    labeled_mask = np.zeros(n, dtype=bool)
    labeled_mask[start] = True
    order = [start]
    result = ActiveLearningResult(strategy=name, labeled=start, initial_size=start.size)
    record = RoundRecord(labeled=start.size, added=start.size)
    last_target = None
    if start.size in eval_sizes:
        last_target, record.target_train_s, record.target_accuracy = _train_target(
            target, x, labels, start, x_test, y_test
        )
    result.rounds.append(record)
    for size in sizes:
        labeled_ids = np.flatnonzero(labeled_mask)
        candidates = np.flatnonzero(~labeled_mask)
        k = size - labeled_ids.size
        record = RoundRecord(labeled=size, added=k)
        model = _fresh(proxy)
        if name != "random":
            t0 = time.perf_counter()
            _fit(model, _take(x, labeled_ids), labels[labeled_ids])
            record.proxy_train_s = time.perf_counter() - t0
        chosen, record.inference_s, record.ranking_s = _select(
            model, x, k, strategy, candidates, labeled_ids, rng, chunk_rows, seed, labels
        )
        labeled_mask[chosen] = True
        order.append(chosen)
        if size in eval_sizes:
            last_target, record.target_train_s, record.target_accuracy = _train_target(
                target, x, labels, np.flatnonzero(labeled_mask), x_test, y_test
            )
        result.rounds.append(record)
    result.labeled = np.concatenate(order).astype(np.int64)
    result.target = last_target
    return result


# ---- core-set selection -------------------------------------------------------------------------


def _decided_by_score(scores: np.ndarray, kept: np.ndarray) -> int:
    """How many kept rows the score alone put in: those scoring strictly above every dropped
    row. The others tie with the best dropped row, and the tie-break chose them (for
    ``forgetting``, most of the pool has 0 events and the proxy's least confidence decides)."""
    s = np.asarray(scores, dtype=np.float64)
    dropped = np.ones(s.shape[0], dtype=bool)
    dropped[kept] = False
    if not dropped.any():
        return int(kept.size)
    cut = s[dropped].max()  # NaN when any dropped score is NaN: then nothing counts as decided
    return int(np.count_nonzero(s[kept] > cut))


def coreset(
    x: Any,
    y: Any,
    *,
    proxy: Any,
    keep: int | float,
    strategy: Strategy = "forgetting",
    target: Any = None,
    x_test: Any = None,
    y_test: Any = None,
    seed: int = 0,
    chunk_rows: int = _DEFAULT_CHUNK,
) -> CoresetResult:
    """Core-set selection with a proxy: train it once on all of ``x``, rank, keep the best.

    Parameters
    ----------
    x, y : the labeled training set.
    proxy : untrained model. For ``forgetting`` its ``fit`` must accept ``observer=`` (panning's
        models do); the counts are recorded while it trains.
    keep : how many rows to keep (an int), or a fraction of the pool in (0, 1].
    strategy : ``forgetting`` (never-learned rows first, then most forgetting events; equal
        counts are ordered by the proxy's final least-confidence score, then by row id),
        ``least_confidence`` / ``entropy`` / ``margin`` (most uncertain first), ``kcenters``
        (farthest-first over ``proxy.embed`` features, random start inside the budget) or
        ``random``.
    target : untrained target, trained on the kept rows and scored on ``(x_test, y_test)``.
    seed : seeds ``random`` and the k-centers start.

    Returns
    -------
    CoresetResult

    Examples
    --------
    >>> import numpy as np
    >>> from panning.models import SoftmaxRegression
    >>> from panning.svp import coreset
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 4)).astype(np.float32)
    >>> y = (x[:, 0] > 0).astype(int)
    >>> res = coreset(x, y, proxy=SoftmaxRegression(epochs=5), keep=0.5, strategy="forgetting")
    >>> res.kept.size
    150
    >>> res.decided_by_score + res.decided_by_tie_break
    150
    """
    name = _strategy_name(strategy)
    _check_model(proxy, "proxy", need_proba=name in _UNCERTAINTY)
    if target is not None:
        _check_model(target, "target", need_proba=False)
        if x_test is None or y_test is None:
            raise ValueError("evaluating the target needs x_test and y_test")
    n = _pool_size(x)
    labels = _labels(y, x, n)
    if isinstance(keep, bool):
        raise TypeError("keep must be a count or a fraction, got bool")
    if isinstance(keep, (int, np.integer)):
        n_keep = int(keep)
    elif isinstance(keep, (float, np.floating)):
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"a fractional keep must be in (0, 1], got {keep}")
        n_keep = int(round(float(keep) * n))
    else:
        raise TypeError(f"keep must be a count or a fraction, got {type(keep).__name__}")
    if not 0 < n_keep <= n:
        raise ValueError(f"keep={n_keep} is out of range for a pool of {n} rows")
    rng = np.random.default_rng(seed)
    model = _fresh(proxy)
    counter = ForgettingCounter(n) if name == "forgetting" else None
    proxy_train_s = 0.0
    if name != "random":
        t0 = time.perf_counter()
        _fit(model, x, labels, counter)
        proxy_train_s = time.perf_counter() - t0
    scores: np.ndarray | None = None
    inference_s = 0.0
    t0 = time.perf_counter()
    if counter is not None:
        scores = counter.scores()
        if callable(getattr(model, "predict_proba", None)):
            # Most examples are never forgotten (0 events); ranking those by row id would drop
            # whole blocks of a sorted dataset, so they are ordered by the proxy's final
            # least-confidence score first, then by id.
            secondary = uncertainty_scores(model, x, "least_confidence", chunk_rows=chunk_rows)
            inference_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            order = np.lexsort((np.arange(n), -secondary, -scores))
        else:
            order = np.lexsort((np.arange(n), -scores))
        kept = order[:n_keep].astype(np.int64)
        ranking_s = time.perf_counter() - t0
    elif name in _UNCERTAINTY:
        scores = uncertainty_scores(model, x, name, chunk_rows=chunk_rows)  # type: ignore[arg-type]
        t1 = time.perf_counter()
        kept = _top_k(scores, n_keep)
        inference_s = t1 - t0  # probabilities + native scoring
        ranking_s = time.perf_counter() - t1
    elif name == "kcenters":
        feats = _features(model, x)
        t1 = time.perf_counter()
        kept = greedy_k_centers(feats, n_keep, seed=seed)
        inference_s = t1 - t0
        ranking_s = time.perf_counter() - t1
    elif name != "random" or not isinstance(strategy, str):
        # any other strategy of the shared protocol ranks the whole pool, nothing labeled
        empty = np.empty(0, dtype=np.int64)
        kept, inference_s, ranking_s = _select(
            model, x, n_keep, strategy, np.arange(n), empty, rng, chunk_rows, seed, labels
        )
    else:
        kept = rng.choice(n, size=n_keep, replace=False).astype(np.int64)
        ranking_s = time.perf_counter() - t0
    result = CoresetResult(
        strategy=name,
        kept=kept,
        pool_size=n,
        proxy_train_s=proxy_train_s,
        inference_s=inference_s,
        ranking_s=ranking_s,
        scores=scores,
        decided_by_score=None if scores is None else _decided_by_score(scores, kept),
    )
    if target is not None:
        result.target, result.target_train_s, result.target_accuracy = _train_target(
            target, x, labels, np.sort(kept), x_test, y_test
        )
    return result
