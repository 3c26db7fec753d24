"""Adapters that let small-text, scikit-activeml and modAL users switch to panning's kernels by
changing one import.

* :mod:`panning.integrations.small_text` — ``PredictionEntropy``, ``BreakingTies``,
  ``LeastConfidence`` and ``SEALS`` with small-text's
  ``query(clf, dataset, indices_unlabeled, indices_labeled, y, n)``.
* :mod:`panning.integrations.skactiveml` — ``UncertaintySampling`` with scikit-activeml's
  constructor and ``query(X, y, clf, fit_clf=..., batch_size=..., return_utilities=...)``.
* :mod:`panning.integrations.modal` — ``uncertainty_sampling``, ``margin_sampling``,
  ``entropy_sampling`` and ``bald_sampling`` with modAL's ``(classifier, X, n_instances)``
  signature and ``(indices, utilities)`` return value.

None of them imports its library: they follow its calling conventions only, so they work with
that library's learners and classifiers without making it a dependency of panning. The
probabilities are ranked by panning's fused native top-k (float64 read as it is, candidate
subsets ranked in place). Where the library breaks ties at random (scikit-activeml, modAL's
``random_tie_break``) or returns its picks unordered (small-text's ``argpartition``), panning
returns the same set ordered most informative first, ties to the lower index.
"""

from __future__ import annotations

__all__: list[str] = []
