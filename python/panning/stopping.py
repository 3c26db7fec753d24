"""Stopping criteria for active-learning loops (Seals' query/teach, svp.select rounds).

Each criterion is a small object: feed it what the loop has after each round with ``update``,
read ``stop``. They hold no model and no data, so any loop can use them::

    crit = StabilizingPredictions(stop_set_size=2000)
    while not crit.stop:
        ids = session.query(100)
        session.teach(ids, ask(ids))
        crit.update(session.predict_proba(stop_set_x))

* :class:`StabilizingPredictions` — Bloodgood & Vijay-Shanker (CoNLL 2009): stop once Cohen's
  kappa between successive models' predictions on a fixed, unlabeled stop set stays at or above
  ``threshold`` for ``window`` consecutive rounds (the paper: 0.99 over 3 rounds).
* :class:`MaxConfidence` — Zhu, Wang & Hovy (2008): stop once the model is confident on every
  example it would query next: the top-class probability of each queried example is at least
  ``threshold`` (equivalently, the largest least-confidence score is at most 1 - threshold).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .strategies import _numpy

__all__ = ["MaxConfidence", "StabilizingPredictions", "cohen_kappa"]


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two label vectors (1.0 when both are constant and equal).

    Examples
    --------
    >>> cohen_kappa(np.array([0, 1, 1, 0]), np.array([0, 1, 1, 0]))
    1.0
    """
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if a.shape != b.shape or a.size == 0:
        raise ValueError("kappa needs two non-empty label vectors of one length")
    labels, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
    ia, ib = inv[: a.size], inv[a.size :]
    observed = float(np.mean(ia == ib))
    pa = np.bincount(ia, minlength=labels.size) / a.size
    pb = np.bincount(ib, minlength=labels.size) / b.size
    expected = float(pa @ pb)
    if expected == 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


class StabilizingPredictions:
    """Stop when predictions on a stop set stabilise (kappa >= threshold, ``window`` rounds)."""

    def __init__(self, *, threshold: float = 0.99, window: int = 3) -> None:
        if not 0.0 < threshold <= 1.0 or window < 1:
            raise ValueError("threshold must be in (0, 1] and window >= 1")
        self.threshold = float(threshold)
        self.window = int(window)
        self.kappas: list[float] = []
        self._last: np.ndarray | None = None

    def update(self, stop_set_proba: Any) -> bool:
        """Feed the current model's probabilities (or labels) on the stop set; returns ``stop``."""
        a = _numpy(stop_set_proba)
        pred = a.argmax(axis=1) if a.ndim == 2 else a
        if self._last is not None:
            self.kappas.append(cohen_kappa(self._last, pred))
        self._last = pred
        return self.stop

    @property
    def stop(self) -> bool:
        recent = self.kappas[-self.window :]
        return len(recent) == self.window and min(recent) >= self.threshold


class MaxConfidence:
    """Stop when every example about to be queried has top-class probability >= threshold."""

    def __init__(self, *, threshold: float = 0.9) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = float(threshold)
        self.history: list[float] = []

    def update(self, queried_proba: Any) -> bool:
        """Feed the probabilities of the examples the strategy picked; returns ``stop``."""
        a = _numpy(queried_proba)
        self.history.append(float(a.max(axis=1).min()) if a.size else 1.0)
        return self.stop

    @property
    def stop(self) -> bool:
        return bool(self.history) and self.history[-1] >= self.threshold
