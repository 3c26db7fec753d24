"""scikit-activeml's ``UncertaintySampling`` backed by panning (change one import).

::

    # from skactiveml.pool import UncertaintySampling
    from panning.integrations.skactiveml import UncertaintySampling

    qs = UncertaintySampling(method="entropy", random_state=0)
    idx = qs.query(X, y, clf, batch_size=10)          # y holds MISSING_LABEL (NaN) for the pool

Same constructor (``method="least_confident" | "margin_sampling" | "entropy"``,
``missing_label``, ``random_state``; ``cost_matrix`` is not supported) and ``query`` signature;
utilities are scikit-activeml's (``1 - max p``, ``1 - (p1 - p2)``, entropy), larger is better.
Ties go to the lower index instead of scikit-activeml's random tie-break.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..scoring import entropy, least_confidence, margin, most_uncertain

__all__ = ["MISSING_LABEL", "UncertaintySampling"]

MISSING_LABEL = np.nan

_METHODS = {
    "least_confident": "least_confidence",
    "margin_sampling": "margin",
    "entropy": "entropy",
}


def _is_labeled(y: np.ndarray, missing_label: Any) -> np.ndarray:
    if isinstance(missing_label, float) and np.isnan(missing_label):
        if y.dtype.kind in "fc":
            return np.asarray(~np.isnan(y))
        return np.asarray(np.array([not (isinstance(v, float) and np.isnan(v)) for v in y]))
    return np.asarray(y != missing_label)


class UncertaintySampling:
    """Uncertainty sampling with scikit-activeml's interface and panning's kernels."""

    def __init__(
        self,
        method: str = "least_confident",
        cost_matrix: Any = None,
        missing_label: Any = MISSING_LABEL,
        random_state: Any = None,
    ) -> None:
        if method not in _METHODS:
            raise ValueError(
                f"method must be one of {', '.join(map(repr, _METHODS))}; got {method!r}"
            )
        if cost_matrix is not None:
            raise NotImplementedError("cost-sensitive uncertainty sampling is not supported")
        self.method = method
        self.cost_matrix = cost_matrix
        self.missing_label = missing_label
        self.random_state = random_state

    def query(
        self,
        X: Any,
        y: Any,
        clf: Any,
        fit_clf: bool = True,
        sample_weight: Any = None,
        utility_weight: Any = None,
        candidates: Any = None,
        batch_size: int = 1,
        return_utilities: bool = False,
    ) -> Any:
        X = np.asarray(X)
        y = np.asarray(y)
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows and y {y.shape[0]} labels")
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        labeled = _is_labeled(y, self.missing_label)
        if candidates is None:
            cand = np.flatnonzero(~labeled)
        else:
            cand = np.asarray(candidates)
            if cand.ndim != 1 or (cand.size and cand.dtype.kind not in "iu"):
                raise NotImplementedError("candidates must be a 1-D array of indices into X")
            cand = cand.astype(np.int64)
        if fit_clf:
            clf = copy.deepcopy(clf)
            if hasattr(clf, "missing_label"):  # a scikit-activeml classifier handles NaN labels
                if sample_weight is None:
                    clf.fit(X, y)
                else:
                    clf.fit(X, y, sample_weight=sample_weight)
            else:
                w = None if sample_weight is None else np.asarray(sample_weight)[labeled]
                if w is None:
                    clf.fit(X[labeled], y[labeled])
                else:
                    clf.fit(X[labeled], y[labeled], sample_weight=w)
        batch = min(int(batch_size), cand.shape[0])
        proba = clf.predict_proba(X[cand])
        kernel = _METHODS[self.method]
        if not return_utilities and utility_weight is None:
            pos = np.asarray(most_uncertain(proba, batch, method=kernel))  # type: ignore[arg-type]
            return cand[pos]
        scores = np.asarray(
            {"least_confidence": least_confidence, "margin": margin, "entropy": entropy}[kernel](
                proba
            ),
            dtype=np.float64,
        )
        util = 1.0 - scores if kernel == "margin" else scores
        if utility_weight is not None:
            util = util * np.asarray(utility_weight, dtype=np.float64)[cand]
        order = np.lexsort((cand, -util))[:batch]
        picked = cand[order]
        if not return_utilities:
            return picked
        utilities = np.full((batch, X.shape[0]), np.nan)
        utilities[:, cand] = util
        for i in range(1, batch):
            utilities[i:, picked[i - 1]] = np.nan
        return picked, utilities
