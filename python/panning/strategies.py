"""Selection strategies shared by SEALS (:class:`panning.Seals`) and Selection via Proxy
(:mod:`panning.svp`): small objects with one method over explicit id sets.

A strategy implements ``select(candidates, n, context) -> ids``: from the sorted int64 dataset
ids ``candidates`` it returns ``n`` of them, best first. Everything it may need comes from the
:class:`SelectionContext` the caller passes in (model probabilities of given ids, the model
itself, the labeled ids and labels, embedding rows or model features, kNN-graph neighbours, a
seeded random generator), so a strategy never sees positions that could drift and never scores
more than it is given. Write your own by following the same shape::

    class Farthest:
        name = "farthest"
        def select(self, candidates, n, context):
            ...

Vocabulary. One name per strategy (:data:`STRATEGIES`); the names other libraries use are
accepted as aliases (:data:`ALIASES`), so ``Seals(strategy="entropy")`` and
``svp.select(..., strategy="max_entropy")`` mean the same thing:

==========================  ========================================================
name                        accepted aliases (library)
==========================  ========================================================
``entropy``                 ``max_entropy`` (panning's SEALS before, SEALS paper),
                            ``prediction_entropy`` (small-text), ``entropy_sampling`` (modAL)
``margin``                  ``margin_sampling`` (scikit-activeml, modAL), ``breaking_ties``
                            (small-text), ``smallest_margin``
``least_confidence``        ``least_confident`` (scikit-activeml), ``uncertainty_sampling``
                            (modAL), ``least_confident_sampling``
``kcenters``                ``k_centers``, ``greedy_k_centers``, ``coreset`` (Sener & Savarese)
``information_density``     ``density_weighted``
``most_likely_positive``    ``most_likely``
``forgetting``              ``forgetting_events`` (core-sets only: needs training history)
``bald``                    ``bald_sampling`` (modAL), ``mutual_information``
``random``                  ``random_sampling``
==========================  ========================================================

Sign convention. The kernels' *scores* keep their textbook direction (entropy and least
confidence: larger is more uncertain; margin ``p1 - p2``: smaller is more uncertain). Everything a
strategy ranks by is a *utility*: larger is picked first (so a margin utility is ``-margin``, as
scikit-activeml's ``return_utilities`` and :func:`panning.svp.uncertainty_scores` return it).

Uncertainty scores come from panning's native kernels (:func:`panning.most_uncertain`,
:func:`panning.entropy`) on the model's own probabilities (float64 included).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from . import scoring
from .kcenter import greedy_k_centers
from .scoring import Method, entropy, most_uncertain

__all__ = [
    "ALIASES",
    "BADGE",
    "BALD",
    "ClassBalanced",
    "Forgetting",
    "InformationDensity",
    "KCenters",
    "LeastConfidence",
    "Margin",
    "MaxEntropy",
    "MostLikelyPositive",
    "Random",
    "SelectionContext",
    "Strategy",
    "canonical_name",
    "get_strategy",
    "STRATEGIES",
]

ALIASES: dict[str, str] = {
    "max_entropy": "entropy",
    "prediction_entropy": "entropy",
    "entropy_sampling": "entropy",
    "margin_sampling": "margin",
    "breaking_ties": "margin",
    "smallest_margin": "margin",
    "least_confident": "least_confidence",
    "uncertainty_sampling": "least_confidence",
    "least_confident_sampling": "least_confidence",
    "k_centers": "kcenters",
    "greedy_k_centers": "kcenters",
    "coreset": "kcenters",
    "density_weighted": "information_density",
    "most_likely": "most_likely_positive",
    "random_sampling": "random",
    "forgetting_events": "forgetting",
    "bald_sampling": "bald",
    "mutual_information": "bald",
}


class SelectionContext:
    """What a strategy may ask the session for during one selection.

    Attributes
    ----------
    rng : numpy.random.Generator
        Seeded from the session seed and the number of labels, so a resumed session draws the
        same numbers.
    positive_column : int or None
        The column of the positive class in :meth:`proba` (``None`` when the session has no
        positive label or the model has not seen it).
    cache : dict
        Per-session storage that survives rounds (e.g. densities, which do not change).
    scoring_seconds : float
        Time spent in model inference so far (the session reports it apart from selection).
    model : object or None
        The fitted model (``predict_proba``; ``embed`` / ``gradient_embedding`` when it has
        them), for strategies that need more than probabilities (BADGE, BALD).
    labeled_ids : int64 array
        The labeled dataset ids, ascending (k-centers' initial centers).
    labels : array
        Their labels, aligned with ``labeled_ids``.
    seed : int
        The caller's seed (k-centers' random start).
    chunk_rows : int
        Largest number of rows a strategy should ask probabilities for at once.
    """

    def __init__(
        self,
        *,
        proba: Callable[[np.ndarray], np.ndarray],
        rows: Callable[[np.ndarray], np.ndarray],
        neighbors: Callable[[np.ndarray], np.ndarray] | None,
        unlabeled: Callable[[], np.ndarray],
        rng: np.random.Generator,
        positive_column: int | None,
        cache: dict[str, Any],
        model: Any = None,
        labeled_ids: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        features: Callable[[np.ndarray], Any] | None = None,
        seed: int = 0,
        chunk_rows: int = 1 << 20,
    ) -> None:
        self._proba = proba
        self._rows = rows
        self._neighbors = neighbors
        self._unlabeled = unlabeled
        self._features = features
        self.rng = rng
        self.positive_column = positive_column
        self.cache = cache
        self.model = model
        self.labeled_ids = (
            np.empty(0, dtype=np.int64)
            if labeled_ids is None
            else np.asarray(labeled_ids, dtype=np.int64)
        )
        self.labels = np.empty(0) if labels is None else np.asarray(labels)
        self.seed = int(seed)
        self.chunk_rows = max(1, int(chunk_rows))
        self.scoring_seconds = 0.0
        self.scored_ids: list[np.ndarray] = []

    def proba(self, ids: np.ndarray) -> np.ndarray:
        """Model probabilities ``[len(ids), classes]`` of the given ids, in the model's dtype."""
        t = time.perf_counter()
        p = self._proba(ids)
        self.scoring_seconds += time.perf_counter() - t
        self.scored_ids.append(np.asarray(ids, dtype=np.int64))
        return p

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Embedding rows ``float32 [len(ids), d]``."""
        return self._rows(ids)

    def features(self, ids: np.ndarray) -> Any:
        """Feature rows for distance-based strategies: the model's ``embed`` when the caller
        provides it, else the embedding rows."""
        if self._features is not None:
            t = time.perf_counter()
            f = self._features(ids)
            self.scoring_seconds += time.perf_counter() - t
            return f
        return self.rows(ids)

    def neighbors(self, ids: np.ndarray) -> np.ndarray:
        """kNN-graph neighbours ``int64 [len(ids), k]`` (``-1`` padding)."""
        if self._neighbors is None:
            raise RuntimeError("this session has no kNN graph")
        return self._neighbors(ids)

    def unlabeled(self) -> np.ndarray:
        """Every unlabeled dataset id the session may query (the whole pool, not the candidates)."""
        return self._unlabeled()


@runtime_checkable
class Strategy(Protocol):
    """A selection strategy: ``select(candidates, n, context)`` returns ``n`` ids, best first."""

    name: str

    def select(self, candidates: np.ndarray, n: int, context: SelectionContext) -> np.ndarray: ...


def _top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` largest scores, largest first, ties by lower position."""
    if n >= scores.shape[0]:
        part = np.arange(scores.shape[0])
    else:
        part = np.argpartition(-scores, n - 1)[:n]
        # Keep every position tied with the n-th score so that ties resolve by position.
        part = np.flatnonzero(scores >= scores[part].min())
    order = np.lexsort((part, -scores[part]))
    return np.asarray(part[order][:n], dtype=np.int64)


class _Uncertainty:
    method: Method = "entropy"
    name = ""

    def select(self, candidates: np.ndarray, n: int, context: SelectionContext) -> np.ndarray:
        if candidates.shape[0] <= context.chunk_rows:
            # one fused native score + top-k; ties go to the lower id (candidates ascend)
            p = context.proba(candidates)
            pos = np.asarray(most_uncertain(p, n, method=self.method))
            return np.asarray(candidates[pos], dtype=np.int64)
        utility = self.utilities(candidates, context)
        return np.asarray(candidates[scoring._top_k(utility, n)], dtype=np.int64)

    def utilities(self, candidates: np.ndarray, context: SelectionContext) -> np.ndarray:
        """Larger-is-picked-first utilities of ``candidates`` (float64; margin negated), scored
        in chunks of ``context.chunk_rows``. ValueError naming the first invalid row."""
        out = np.empty(candidates.shape[0], dtype=np.float64)
        score = getattr(scoring, self.method)
        for s in range(0, candidates.shape[0], context.chunk_rows):
            ids = candidates[s : s + context.chunk_rows]
            out[s : s + ids.shape[0]] = _numpy(score(context.proba(ids)))
        bad = np.flatnonzero(np.isnan(out))
        if bad.size:
            raise ValueError(
                f"row {int(candidates[bad[0]])} is invalid (NaN, a negative or an infinite "
                "probability) and cannot be ranked"
            )
        return -out if self.method == "margin" else out

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _numpy(a: Any) -> np.ndarray:
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "detach"):
        return np.asarray(a.detach().cpu().numpy())
    if hasattr(a, "get"):
        return np.asarray(a.get())
    return np.asarray(a)


class MaxEntropy(_Uncertainty):
    """Highest predictive entropy first (MaxEnt in the SEALS paper).

    Examples
    --------
    >>> from panning.strategies import get_strategy
    >>> get_strategy("entropy"), get_strategy("max_entropy")
    (MaxEntropy(), MaxEntropy())
    """

    method: Method = "entropy"
    name = "entropy"


class Margin(_Uncertainty):
    """Smallest gap between the two most probable classes first."""

    method: Method = "margin"
    name = "margin"


class LeastConfidence(_Uncertainty):
    """Lowest top-class probability first."""

    method: Method = "least_confidence"
    name = "least_confidence"


class MostLikelyPositive:
    """Highest probability of the positive class first (active search for a rare concept)."""

    name = "most_likely_positive"

    def select(self, candidates: np.ndarray, n: int, context: SelectionContext) -> np.ndarray:
        p = context.proba(candidates)
        if context.positive_column is None:
            score = np.zeros(candidates.shape[0], dtype=np.float32)  # positive class unseen
        else:
            score = p[:, context.positive_column]
        return np.asarray(candidates[_top_n(score, n)], dtype=np.int64)

    def __repr__(self) -> str:
        return "MostLikelyPositive()"


class KCenters:
    """Greedy k-centers (Sener & Savarese's core-set; farthest-first traversal).

    The labeled ids are the initial centers; each pick is the candidate farthest from its nearest
    center. Features come from :meth:`SelectionContext.features` (the model's ``embed`` in SVP,
    the embeddings in SEALS); memory stays O(N) (:func:`panning.greedy_k_centers`).

    Examples
    --------
    >>> get_strategy("coreset")
    KCenters()
    """

    name = "kcenters"

    def select(self, candidates: np.ndarray, n: int, context: SelectionContext) -> np.ndarray:
        lab = context.labeled_ids
        ids = np.concatenate([lab, candidates]).astype(np.int64)
        feats = context.features(ids)
        local = greedy_k_centers(
            feats,
            n,
            initial_centers=np.arange(lab.shape[0]),
            candidates=np.arange(lab.shape[0], ids.shape[0]),
            seed=context.seed,
        )
        return np.asarray(ids[local], dtype=np.int64)

    def __repr__(self) -> str:
        return "KCenters()"


class Forgetting:
    """Forgetting events (Toneva et al. 2019; SVP's core-sets): never-learned examples first,
    then the most forgotten, equal counts by the model's least-confidence utility, then by id.

    The counts are recorded while the model trains on the very rows being ranked, so this is a
    core-set strategy: :func:`panning.svp.coreset` records them (``context.cache["forgetting"]``,
    float64 per dataset id). A caller without them (a SEALS session ranks rows the model never
    trained on) gets a ValueError.
    """

    name = "forgetting"

    def select(self, candidates: np.ndarray, n: int, context: SelectionContext) -> np.ndarray:
        counts = context.cache.get("forgetting")
        if counts is None:
            raise ValueError(
                "the forgetting strategy needs forgetting events recorded while the model trained "
                "on the ranked rows (panning.svp.coreset records them); unlabeled candidates "
                "have none"
            )
        primary = np.asarray(counts, dtype=np.float64)[candidates]
        secondary = LeastConfidence().utilities(candidates, context)
        order = np.lexsort((candidates, -secondary, -primary))
        return np.asarray(candidates[order[:n]], dtype=np.int64)

    def __repr__(self) -> str:
        return "Forgetting()"


class BALD:
    """Highest BALD first (mutual information of Monte-Carlo samples, :func:`panning.bald`).

    The model must expose ``predict_proba_samples(X, n_samples) -> [n_samples, len(X),
    classes]`` (MC dropout, an ensemble); its input rows come from ``context.rows``.
    """

    name = "bald"

    def __init__(self, n_samples: int = 20) -> None:
        self.n_samples = int(n_samples)

    def select(self, candidates: np.ndarray, n: int, context: SelectionContext) -> np.ndarray:
        sampler = getattr(context.model, "predict_proba_samples", None)
        if not callable(sampler):
            raise TypeError(
                "BALD needs a model with predict_proba_samples(X, n_samples) returning "
                "[n_samples, rows, classes] probabilities (MC dropout or an ensemble)"
            )
        t = time.perf_counter()
        probs = sampler(context.rows(candidates), self.n_samples)
        context.scoring_seconds += time.perf_counter() - t
        pos = _numpy(most_uncertain(probs, n, method="bald"))
        return np.asarray(candidates[pos], dtype=np.int64)

    def __repr__(self) -> str:
        return f"BALD(n_samples={self.n_samples})"


class ClassBalanced:
    """Wraps a strategy so that its picks spread over the predicted classes.

    Candidates are grouped by the model's predicted class (argmax of ``context.proba``); each
    class gets a quota, ``"equal"`` (``n / classes``) or ``"proportional"`` (to the class's share
    of the candidates, largest remainders first); the wrapped strategy picks within each class.
    Quotas a class cannot fill go to the other classes. The result is ordered round-robin over
    the classes, each class's picks best first.

    Examples
    --------
    >>> ClassBalanced(get_strategy("margin"), mode="equal")
    ClassBalanced(Margin(), mode='equal')
    """

    name = "class_balanced"

    def __init__(self, base: Strategy | str, *, mode: str = "proportional") -> None:
        if mode not in ("proportional", "equal"):
            raise ValueError(f"mode must be 'proportional' or 'equal', got {mode!r}")
        self.base = get_strategy(base)
        self.mode = mode

    def __repr__(self) -> str:
        return f"ClassBalanced({self.base!r}, mode={self.mode!r})"

    def select(self, candidates: np.ndarray, n: int, context: SelectionContext) -> np.ndarray:
        pred = np.empty(candidates.shape[0], dtype=np.int64)
        for s in range(0, candidates.shape[0], context.chunk_rows):
            ids = candidates[s : s + context.chunk_rows]
            pred[s : s + ids.shape[0]] = _numpy(context.proba(ids)).argmax(axis=1)
        classes, sizes = np.unique(pred, return_counts=True)
        quota = _quotas(sizes, n, self.mode)
        picks = [
            np.asarray(self.base.select(candidates[pred == c], int(q), context), np.int64)
            if q
            else np.empty(0, np.int64)
            for c, q in zip(classes.tolist(), quota.tolist())
        ]
        out = np.full((len(picks), max((p.shape[0] for p in picks), default=0)), -1, np.int64)
        for i, p in enumerate(picks):
            out[i, : p.shape[0]] = p
        flat = out.T.ravel()
        return np.asarray(flat[flat >= 0], dtype=np.int64)


def _quotas(sizes: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Per-class counts summing to n, none above its class size."""
    sizes = sizes.astype(np.int64)
    want = (
        np.full(sizes.shape[0], n / sizes.shape[0])
        if mode == "equal"
        else n * sizes / max(int(sizes.sum()), 1)
    )
    quota: np.ndarray = np.minimum(np.floor(want).astype(np.int64), sizes)
    while quota.sum() < n:  # largest remainders first, then any class with room
        room = quota < sizes
        rem = np.where(room, want - quota, -np.inf)
        quota[int(np.argmax(rem))] += 1
    return quota


class BADGE:
    """BADGE (Ash et al. 2020): diverse and uncertain picks by k-means++ seeding over
    last-layer gradient embeddings (:func:`panning.badge.badge_select`, O(N) memory).

    The last layer's inputs come from ``context.features`` (the model's ``embed`` in SVP, the
    embeddings in SEALS, which are exactly a linear model's inputs); the draws are seeded by
    ``context.rng``.
    """

    name = "badge"

    def select(self, candidates: np.ndarray, n: int, context: SelectionContext) -> np.ndarray:
        from .badge import badge_select

        p = context.proba(candidates)
        h = context.features(candidates)
        seed = int(context.rng.integers(0, 2**31 - 1))
        return np.asarray(candidates[badge_select(p, h, n, seed=seed)], dtype=np.int64)

    def __repr__(self) -> str:
        return "BADGE()"


class Random:
    """Uniformly random candidates (seeded by the session)."""

    name = "random"

    def select(self, candidates: np.ndarray, n: int, context: SelectionContext) -> np.ndarray:
        return np.asarray(context.rng.choice(candidates, size=n, replace=False), dtype=np.int64)

    def __repr__(self) -> str:
        return "Random()"


class InformationDensity:
    """Entropy weighted by how typical a candidate is: ``H(p(x)) * density(x) ** beta``.

    Settles & Craven's information density. ``density(x)`` is the mean of ``(1 + cos(x, u)) / 2``
    over a set of items ``u``:

    - ``scope="knn"`` (SEALS): ``u`` ranges over the ``k`` kNN-graph neighbours of ``x``. It costs
      ``O(k d)`` per candidate, never changes, and is cached per id, so each round only computes
      the densities of candidates new to the pool.
    - ``scope="global"`` (the paper's full-scan baseline): ``u`` ranges over every unlabeled item.
      With ``quadratic=True`` it is computed as the paper's baseline does, in tiles of
      ``tile x tile`` similarities (``O(|C| |U| d)`` time, ``O(tile^2)`` memory, never an
      ``N x N`` matrix). For cosine similarity the mean is also ``x . mean(u) `` exactly, which
      ``quadratic=False`` uses (``O(|U| d)``): same values up to rounding, for long experiments.

    Examples
    --------
    >>> InformationDensity(beta=2.0)
    InformationDensity(beta=2.0, scope='knn')
    """

    name = "information_density"

    def __init__(
        self, *, beta: float = 1.0, scope: str = "knn", quadratic: bool = True, tile: int = 4096
    ) -> None:
        if scope not in ("knn", "global"):
            raise ValueError(f"scope must be 'knn' or 'global', got {scope!r}")
        self.beta = float(beta)
        self.scope = scope
        self.quadratic = bool(quadratic)
        self.tile = int(tile)

    def __repr__(self) -> str:
        return f"InformationDensity(beta={self.beta}, scope={self.scope!r})"

    def select(self, candidates: np.ndarray, n: int, context: SelectionContext) -> np.ndarray:
        p = context.proba(candidates)
        h = np.asarray(entropy(p), dtype=np.float64)
        if self.scope == "knn":
            dens = self._knn_density(candidates, context)
        else:
            dens = global_density(
                context.rows,
                candidates,
                context.unlabeled(),
                quadratic=self.quadratic,
                tile=self.tile,
            )
        return np.asarray(candidates[_top_n(h * dens**self.beta, n)], dtype=np.int64)

    def _knn_density(self, candidates: np.ndarray, context: SelectionContext) -> np.ndarray:
        cache: dict[int, float] = context.cache.setdefault("knn_density", {})
        missing = np.asarray([i for i in candidates.tolist() if i not in cache], dtype=np.int64)
        for s in range(0, missing.shape[0], 1024):  # O(1024 * k * d) memory per block
            ids = missing[s : s + 1024]
            nb = context.neighbors(ids)
            x = _unit(context.rows(ids))
            valid = nb >= 0
            u = _unit(context.rows(np.where(valid, nb, ids[:, None]).ravel()))
            sim = np.einsum("id,ikd->ik", x, u.reshape(nb.shape[0], nb.shape[1], -1))
            sim = np.where(valid, (1.0 + sim) / 2.0, 0.0)
            dens = sim.sum(1) / np.maximum(valid.sum(1), 1)
            cache.update(zip(ids.tolist(), dens.tolist()))
        return np.fromiter((cache[i] for i in candidates.tolist()), dtype=np.float64)


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in their own precision (float64 embeddings stay float64, float32
    ones are normalised in float32). Not :func:`panning.knn.unit_rows`, which returns the float32
    rows the native indexes store (normalised in float64): the densities would change."""
    return np.asarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30))


def global_density(
    rows: Callable[[np.ndarray], np.ndarray],
    candidates: np.ndarray,
    pool: np.ndarray,
    *,
    quadratic: bool = True,
    tile: int = 4096,
) -> np.ndarray:
    """Mean ``(1 + cos(x, u)) / 2`` of each candidate ``x`` over every ``u`` in ``pool``.

    ``quadratic=True`` streams ``tile x tile`` similarity blocks (the full-scan information
    density's cost); ``quadratic=False`` uses ``cos`` mean ``= x . mean(u)`` (linear).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    >>> rows = lambda ids: x[ids]
    >>> a = global_density(rows, np.arange(3), np.arange(3))
    >>> b = global_density(rows, np.arange(3), np.arange(3), quadratic=False)
    >>> bool(np.allclose(a, b))
    True
    """
    total = np.zeros(candidates.shape[0], dtype=np.float64)
    if pool.shape[0] == 0:
        return total
    if not quadratic:
        mean_u = np.zeros(0)
        for s in range(0, pool.shape[0], 65536):
            part = _unit(rows(pool[s : s + 65536])).astype(np.float64).sum(0)
            mean_u = part if s == 0 else mean_u + part
        mean_u /= pool.shape[0]
        for s in range(0, candidates.shape[0], 65536):
            total[s : s + 65536] = _unit(rows(candidates[s : s + 65536])) @ mean_u
        return (1.0 + total) / 2.0
    for s in range(0, candidates.shape[0], tile):
        x = _unit(rows(candidates[s : s + tile]))
        acc = np.zeros(x.shape[0], dtype=np.float64)
        for t in range(0, pool.shape[0], tile):
            acc += (x @ _unit(rows(pool[t : t + tile])).T).sum(1, dtype=np.float64)
        total[s : s + tile] = acc / pool.shape[0]
    return (1.0 + total) / 2.0


STRATEGIES: dict[str, Callable[[], Strategy]] = {
    "entropy": MaxEntropy,
    "margin": Margin,
    "least_confidence": LeastConfidence,
    "most_likely_positive": MostLikelyPositive,
    "information_density": InformationDensity,
    "kcenters": KCenters,
    "forgetting": Forgetting,
    "bald": BALD,
    "badge": BADGE,
    "random": Random,
}


def canonical_name(name: str) -> str:
    """The one name of a strategy, from it or any alias (:data:`ALIASES`).

    Examples
    --------
    >>> canonical_name("breaking_ties"), canonical_name("least_confident")
    ('margin', 'least_confidence')
    """
    if not isinstance(name, str):
        raise TypeError(f"a strategy name must be a str, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in STRATEGIES:
        raise ValueError(
            f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)} "
            f"(or an alias: {', '.join(ALIASES)})"
        )
    return key


def get_strategy(strategy: str | Strategy) -> Strategy:
    """A strategy object from its name or alias (``STRATEGIES``, ``ALIASES``) or the object
    itself.

    Raises
    ------
    ValueError
        For an unknown name.
    TypeError
        For an object without a ``select`` method.
    """
    if isinstance(strategy, str):
        return STRATEGIES[canonical_name(strategy)]()
    if not callable(getattr(strategy, "select", None)):
        raise TypeError(
            f"a strategy needs a select(candidates, n, context) method; got {strategy!r}"
        )
    return strategy
