"""Forgetting events (Toneva et al., ICLR 2019): how often training un-learns an example.

Each time an example is seen in a minibatch, the model's prediction for it (made in that forward
pass, before the update) is right or wrong. A *forgetting event* is a right -> wrong transition
between two consecutive observations of the same example. Examples that are never predicted right
are counted as forgotten infinitely often: they are the hardest. Selection via Proxy uses the count
from a cheap proxy to choose a core-set for a large target (Coleman et al., ICLR 2020, section 4).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["ForgettingCounter", "forgetting_events"]


class ForgettingCounter:
    """Counts forgetting events per example from minibatch observations; O(n) memory.

    Parameters
    ----------
    n : int
        Number of examples (ids ``0 .. n-1``).

    Examples
    --------
    >>> import numpy as np
    >>> from panning.forgetting import ForgettingCounter
    >>> c = ForgettingCounter(3)
    >>> c.update([0, 1, 2], [True, False, True])
    >>> c.update([0, 1, 2], [False, False, True])
    >>> c.scores().tolist()
    [1.0, inf, 0.0]
    """

    def __init__(self, n: int) -> None:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self.n = int(n)
        self.last_correct = np.zeros(self.n, dtype=bool)
        self.ever_correct = np.zeros(self.n, dtype=bool)
        self.seen = np.zeros(self.n, dtype=np.int64)
        self.events = np.zeros(self.n, dtype=np.int64)

    def update(self, indices: npt.ArrayLike, correct: npt.ArrayLike) -> None:
        """Record one observation of each example in ``indices`` (unique within a call)."""
        idx = np.asarray(indices, dtype=np.int64).ravel()
        ok = np.asarray(correct, dtype=bool).ravel()
        if idx.shape != ok.shape:
            raise ValueError(f"indices and correct differ in length: {idx.size} vs {ok.size}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise ValueError(f"indices must be in [0, {self.n})")
        forgot = self.last_correct[idx] & ~ok & (self.seen[idx] > 0)
        self.events[idx] += forgot
        self.last_correct[idx] = ok
        self.ever_correct[idx] |= ok
        self.seen[idx] += 1

    def __call__(self, indices: npt.ArrayLike, correct: npt.ArrayLike) -> None:
        self.update(indices, correct)

    def scores(self) -> np.ndarray:
        """float64 [n]: events per example; ``inf`` for examples never predicted right."""
        out = self.events.astype(np.float64)
        out[~self.ever_correct] = np.inf
        return out


def forgetting_events(correct: npt.ArrayLike) -> np.ndarray:
    """Forgetting events from a dense record ``correct[t, i]`` (observation t of example i).

    Returns float64 [n]: right -> wrong transitions per column, ``inf`` if never right.

    Examples
    --------
    >>> from panning.forgetting import forgetting_events
    >>> forgetting_events([[1, 0, 0], [0, 0, 1], [1, 0, 1], [0, 0, 0]]).tolist()
    [2.0, inf, 1.0]
    """
    c = np.asarray(correct).astype(bool)
    if c.ndim != 2:
        raise ValueError(f"correct must be 2-D [observations, examples], got shape {c.shape}")
    counter = ForgettingCounter(c.shape[1])
    ids = np.arange(c.shape[1])
    for row in c:
        counter.update(ids, row)
    return counter.scores()
