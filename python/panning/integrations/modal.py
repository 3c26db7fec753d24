"""modAL query strategies backed by panning (change one import).

::

    # from modAL.uncertainty import uncertainty_sampling
    from panning.integrations.modal import uncertainty_sampling

    learner = ActiveLearner(estimator=clf, query_strategy=uncertainty_sampling, ...)
    query_idx, utilities = learner.query(X_pool, n_instances=10)

Each function has modAL 0.4's signature ``(classifier, X, n_instances=1, ...)`` and return value
``(indices, utilities)`` (modAL's ``multi_argmax``): ``uncertainty_sampling`` returns
``1 - max p``, ``margin_sampling`` ``-(p1 - p2)``, ``entropy_sampling`` the entropy and
``bald_sampling`` the BALD mutual information. As in modAL, an unfitted classifier gives
utilities of 1 (uncertainty/entropy) or 0 (margin) for every row. modAL's ``random_tie_break``
is accepted and ignored: ties go to the lower index.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..scoring import Method, most_uncertain

__all__ = ["bald_sampling", "entropy_sampling", "margin_sampling", "uncertainty_sampling"]


def _proba(classifier: Any, X: Any) -> Any:
    try:
        return classifier.predict_proba(X)
    except Exception as e:  # modAL: an unfitted estimator makes every row equally uncertain
        if type(e).__name__ == "NotFittedError":
            return None
        raise


def _rank(
    classifier: Any, X: Any, n_instances: int, method: Method
) -> tuple[np.ndarray, np.ndarray]:
    n = int(n_instances)
    proba = _proba(classifier, X)
    if proba is None:
        rows = len(X)
        if n > rows:
            raise ValueError("n_instances must be less or equal than the size of utility")
        fill = 0.0 if method == "margin" else 1.0
        return np.arange(n, dtype=np.int64), np.full(n, fill)
    if n > len(proba):
        raise ValueError("n_instances must be less or equal than the size of utility")
    ids, scores = most_uncertain(proba, n, method=method, return_scores=True)
    ids, scores = np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float64)
    if method == "margin":
        return ids, -scores  # modAL maximises -margin
    return ids, scores


def uncertainty_sampling(
    classifier: Any, X: Any, n_instances: int = 1, random_tie_break: bool = False, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_instances`` rows of largest ``1 - max p``: ``(indices, utilities)``."""
    return _rank(classifier, X, n_instances, "least_confidence")


def margin_sampling(
    classifier: Any, X: Any, n_instances: int = 1, random_tie_break: bool = False, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_instances`` rows of smallest margin: ``(indices, -margins)``."""
    return _rank(classifier, X, n_instances, "margin")


def entropy_sampling(
    classifier: Any, X: Any, n_instances: int = 1, random_tie_break: bool = False, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_instances`` rows of largest predictive entropy: ``(indices, entropies)``."""
    return _rank(classifier, X, n_instances, "entropy")


def bald_sampling(
    classifier: Any, X: Any, n_instances: int = 1, n_samples: int = 20, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_instances`` rows of largest BALD: ``(indices, mutual informations)``.

    ``classifier`` is a committee (a list of fitted estimators, each a sample) or exposes
    ``predict_proba_samples(X, n_samples) -> [n_samples, rows, classes]`` (MC dropout).
    """
    if isinstance(classifier, (list, tuple)):
        probs = np.stack([np.asarray(m.predict_proba(X)) for m in classifier])
    else:
        sampler = getattr(classifier, "predict_proba_samples", None)
        if not callable(sampler):
            raise TypeError(
                "bald_sampling needs a list of estimators or a classifier with "
                "predict_proba_samples(X, n_samples)"
            )
        probs = sampler(X, int(n_samples))
    n = int(n_instances)
    if n > probs.shape[1]:
        raise ValueError("n_instances must be less or equal than the size of utility")
    ids, scores = most_uncertain(probs, n, method="bald", return_scores=True)
    return np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float64)
