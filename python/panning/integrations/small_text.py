"""small-text query strategies backed by panning (change one import).

::

    # from small_text import PredictionEntropy, BreakingTies, LeastConfidence, SEALS
    from panning.integrations.small_text import PredictionEntropy, BreakingTies, SEALS

    learner = PoolBasedActiveLearner(clf_factory, SEALS(PredictionEntropy(), k=100), train)

Each strategy has small-text's name and ``query(clf, dataset, indices_unlabeled,
indices_labeled, y, n=10)``. Like small-text it asks ``clf.predict_proba(dataset)``; the ranking
of ``indices_unlabeled`` then runs inside panning's kernel (``candidates=``), without gathering
the unlabeled rows. The picks are the same set as small-text's (whose ``argpartition`` leaves
them unordered); panning returns them most uncertain first, ties to the lower index.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..scoring import Method, most_uncertain

__all__ = ["BreakingTies", "LeastConfidence", "PredictionEntropy", "SEALS"]


def _check_query(indices_unlabeled: Any, n: int) -> np.ndarray:
    ids = np.asarray(indices_unlabeled)
    if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
        raise TypeError("indices_unlabeled must be a 1-D array of integer indices")
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if n > ids.shape[0]:
        raise ValueError(f"n={n} is larger than the {ids.shape[0]} unlabeled indices")
    return ids.astype(np.int64)


class _ConfidenceBased:
    method: Method = "entropy"

    def query(
        self,
        clf: Any,
        dataset: Any,
        indices_unlabeled: Any,
        indices_labeled: Any,
        y: Any,
        n: int = 10,
    ) -> np.ndarray:
        ids = _check_query(indices_unlabeled, n)
        proba = clf.predict_proba(dataset)
        picks = most_uncertain(proba, int(n), method=self.method, candidates=ids)
        return np.asarray(picks, dtype=np.int64)

    def __str__(self) -> str:
        return f"{type(self).__name__}()"

    __repr__ = __str__


class PredictionEntropy(_ConfidenceBased):
    """Highest predictive entropy first (small-text's ``PredictionEntropy``)."""

    method: Method = "entropy"


class BreakingTies(_ConfidenceBased):
    """Smallest margin between the two most probable classes first (``BreakingTies``)."""

    method: Method = "margin"


class LeastConfidence(_ConfidenceBased):
    """Lowest top-class probability first (small-text's ``LeastConfidence``)."""

    method: Method = "least_confidence"


class SEALS:
    """small-text's ``SEALS`` wrapper on :class:`panning.HNSWIndex` (no hnswlib).

    The base strategy sees only the unlabeled items among the ``k`` nearest neighbours of the
    labeled ones; while fewer than ``k`` items are unlabeled it sees them all (small-text's
    rule). With ``embeddings`` given, ``clf.embed`` is never called; otherwise it is called once,
    as small-text does. Embeddings are L2-normalised when ``normalize`` (small-text's default),
    and searched with the ``l2`` metric like small-text's hnswlib index.

    Parameters
    ----------
    base_query_strategy : a strategy with small-text's ``query`` signature.
    k : neighbours per labeled item (small-text's default 100).
    embeddings : array [len(dataset), d], optional.
    normalize : L2-normalise the embeddings first.
    M, ef_construction, ef : HNSW parameters (small-text's defaults 64, 200, 200).
    """

    def __init__(
        self,
        base_query_strategy: Any,
        k: int = 100,
        *,
        embeddings: Any = None,
        normalize: bool = True,
        M: int = 64,
        ef_construction: int = 200,
        ef: int = 200,
    ) -> None:
        self.base_query_strategy = base_query_strategy
        self.k = int(k)
        self.normalize = bool(normalize)
        self.M, self.ef_construction, self.ef = int(M), int(ef_construction), int(ef)
        self.embeddings = None if embeddings is None else self._prepare(embeddings)
        self.index: Any = None

    def _prepare(self, emb: Any) -> np.ndarray:
        e = np.ascontiguousarray(np.asarray(emb), dtype=np.float32)
        if self.normalize:
            e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        return e

    def subset(self, clf: Any, dataset: Any, indices_unlabeled: Any, indices_labeled: Any) -> Any:
        """The unlabeled neighbours of the labeled items, ascending."""
        from ..index import HNSWIndex

        if self.embeddings is None:
            self.embeddings = self._prepare(clf.embed(dataset))
        emb = self.embeddings
        if self.index is None:
            self.index = HNSWIndex(
                emb.shape[1], metric="l2", M=self.M, ef_construction=self.ef_construction
            )
            self.index.add(emb)
        unlabeled = np.asarray(indices_unlabeled, dtype=np.int64)
        mask = np.ones(emb.shape[0], dtype=bool)
        mask[unlabeled] = False
        labeled = np.asarray(indices_labeled, dtype=np.int64)
        ids, _ = self.index.search(
            emb[labeled], self.k, ef=max(self.ef, self.k), exclude=np.flatnonzero(mask)
        )
        ids = ids[ids >= 0]
        return np.unique(ids)

    def query(
        self,
        clf: Any,
        dataset: Any,
        indices_unlabeled: Any,
        indices_labeled: Any,
        y: Any,
        n: int = 10,
    ) -> np.ndarray:
        unlabeled = np.asarray(indices_unlabeled)
        if self.k > unlabeled.shape[0]:
            return np.asarray(
                self.base_query_strategy.query(
                    clf, dataset, indices_unlabeled, indices_labeled, y, n=n
                )
            )
        sub = self.subset(clf, dataset, indices_unlabeled, indices_labeled)
        return np.asarray(
            self.base_query_strategy.query(clf, dataset, sub, indices_labeled, y, n=n)
        )

    def __str__(self) -> str:
        return f"SEALS(base_query_strategy={self.base_query_strategy}, k={self.k})"
