"""panning.integrations: identical picks against each library's own strategy.

small-text and scikit-activeml are imported when installed (the `integrations` extra; CI
installs it) and skipped otherwise. modAL 0.4.2.1 cannot run on scikit-learn 1.9 (its
`check_X_y` call passes `force_all_finite`, which scikit-learn 1.9 removed), so the modAL
adapter is tested against modAL's documented contract: its `multi_argmax` and uncertainty
measures are restated below from modAL's source, and `ActiveLearner.query`'s use of the
`(indices, utilities)` pair is checked.
"""

from __future__ import annotations

import numpy as np
import pytest

from panning import reference

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _data(n: int = 3000, classes: int = 5, dims: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, size=(classes, dims))
    y = rng.integers(0, classes, n)
    x = centers[y] + rng.normal(size=(n, dims)) * 1.5
    return x, y


class ProbaClassifier:
    """small-text's classifier contract: predict_proba(dataset) over a whole dataset, float64."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression

        self.model = LogisticRegression(max_iter=300).fit(x, y)

    def predict_proba(self, dataset: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_proba(dataset))


# ---- small-text ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["PredictionEntropy", "BreakingTies", "LeastConfidence"])
def test_small_text_identical_picks(name: str) -> None:
    st = pytest.importorskip("small_text")
    from panning.integrations import small_text as pst

    x, y = _data()
    labeled = np.arange(0, 3000, 10)
    unlabeled = np.setdiff1d(np.arange(3000), labeled)
    clf = ProbaClassifier(x[labeled], y[labeled])
    theirs = getattr(st, name)().query(clf, x, unlabeled, labeled, y[labeled], n=25)
    ours = getattr(pst, name)().query(clf, x, unlabeled, labeled, y[labeled], n=25)
    assert ours.dtype == np.int64 and ours.shape == (25,)
    assert set(ours.tolist()) == set(np.asarray(theirs).tolist())
    # ours are ordered most uncertain first (small-text's argpartition leaves them unordered)
    method = {"PredictionEntropy": "entropy", "BreakingTies": "margin"}.get(
        name, "least_confidence"
    )
    p = clf.predict_proba(x)
    np.testing.assert_array_equal(
        ours, reference.most_uncertain(p, 25, method=method, candidates=unlabeled)
    )


def test_small_text_contract_without_the_library() -> None:
    from panning.integrations.small_text import PredictionEntropy

    x, y = _data(200)
    clf = ProbaClassifier(x, y)
    with pytest.raises(ValueError, match="n=300 is larger"):
        PredictionEntropy().query(clf, x, np.arange(200), np.empty(0, int), y[:0], n=300)
    with pytest.raises(ValueError, match="positive"):
        PredictionEntropy().query(clf, x, np.arange(200), np.empty(0, int), y[:0], n=0)


def test_small_text_seals_matches_small_texts_rule() -> None:
    from panning.integrations.small_text import SEALS, PredictionEntropy

    x, y = _data(4000, seed=1)
    emb = x.astype(np.float32)
    labeled = np.arange(0, 4000, 50)
    unlabeled = np.setdiff1d(np.arange(4000), labeled)
    clf = ProbaClassifier(x[labeled], y[labeled])
    seals = SEALS(PredictionEntropy(), k=20, embeddings=emb)
    sub = seals.subset(clf, x, unlabeled, labeled)
    # the exact rule: unlabeled ids among each labeled item's 20 nearest unlabeled neighbours
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    d = ((e[labeled][:, None, :] - e[unlabeled][None, :, :]) ** 2).sum(-1)
    exact = np.unique(unlabeled[np.argsort(d, axis=1)[:, :20]])
    assert np.isin(sub, unlabeled).all()
    assert len(np.intersect1d(sub, exact)) >= 0.97 * exact.size  # HNSW recall
    picks = seals.query(clf, x, unlabeled, labeled, y[labeled], n=10)
    assert np.isin(picks, sub).all() and picks.shape == (10,)
    # fewer unlabeled items than k: the base strategy sees them all (small-text's rule)
    few = unlabeled[:15]
    np.testing.assert_array_equal(
        SEALS(PredictionEntropy(), k=20, embeddings=emb).query(
            clf, x, few, labeled, y[labeled], n=3
        ),
        PredictionEntropy().query(clf, x, few, labeled, y[labeled], n=3),
    )


# ---- scikit-activeml -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["least_confident", "margin_sampling", "entropy"])
@pytest.mark.parametrize("batch_size", [1, 7])
def test_skactiveml_identical_picks_and_utilities(method: str, batch_size: int) -> None:
    pool = pytest.importorskip("skactiveml.pool")
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.utils import MISSING_LABEL
    from sklearn.linear_model import LogisticRegression

    from panning.integrations.skactiveml import UncertaintySampling

    x, y_true = _data(1500, seed=2)
    y = np.full(1500, MISSING_LABEL)
    labeled = np.arange(0, 1500, 15)
    y[labeled] = y_true[labeled]
    clf = SklearnClassifier(LogisticRegression(max_iter=300), classes=np.arange(5))
    theirs, tu = pool.UncertaintySampling(method=method, random_state=0).query(
        x, y, clf, batch_size=batch_size, return_utilities=True
    )
    ours, ou = UncertaintySampling(method=method, random_state=0).query(
        x, y, clf, batch_size=batch_size, return_utilities=True
    )
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_allclose(ou, tu, rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(
        UncertaintySampling(method=method).query(x, y, clf, batch_size=batch_size), theirs
    )


def test_skactiveml_contract_without_the_library() -> None:
    from sklearn.linear_model import LogisticRegression

    from panning.integrations.skactiveml import MISSING_LABEL, UncertaintySampling

    x, y_true = _data(300, seed=3)
    y = np.full(300, MISSING_LABEL)
    y[:60] = y_true[:60]
    idx = UncertaintySampling(method="entropy").query(x, y, LogisticRegression(), batch_size=5)
    assert idx.shape == (5,) and (idx >= 60).all()
    p = LogisticRegression().fit(x[:60], y_true[:60]).predict_proba(x[60:])
    np.testing.assert_array_equal(idx, 60 + reference.most_uncertain(p, 5, method="entropy"))
    with pytest.raises(ValueError, match="method must be one of"):
        UncertaintySampling(method="bogus")
    with pytest.raises(NotImplementedError, match="cost"):
        UncertaintySampling(cost_matrix=np.ones((2, 2)))


# ---- modAL (its documented contract; modAL itself fails on scikit-learn 1.9) ---------------------


def _modal_multi_argmax(values: np.ndarray, n_instances: int) -> tuple[np.ndarray, np.ndarray]:
    # modAL.utils.selection.multi_argmax, 0.4.2.1
    max_idx = np.argpartition(-values, n_instances - 1, axis=0)[:n_instances]
    return max_idx, values[max_idx]


def _modal_reference(name: str, p: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    # modAL.uncertainty, line for line: classifier_uncertainty, classifier_margin (margin_sampling
    # maximises -margin) and classifier_entropy (scipy's entropy of the transpose)
    from scipy.stats import entropy

    if name == "uncertainty_sampling":
        return _modal_multi_argmax(1 - np.max(p, axis=1), n)
    if name == "margin_sampling":
        part = np.partition(-p, 1, axis=1)
        return _modal_multi_argmax(-(-part[:, 0] + part[:, 1]), n)
    return _modal_multi_argmax(np.transpose(entropy(np.transpose(p))), n)


@pytest.mark.parametrize("name", ["uncertainty_sampling", "margin_sampling", "entropy_sampling"])
def test_modal_contract(name: str) -> None:
    from sklearn.linear_model import LogisticRegression

    from panning.integrations import modal

    x, y = _data(2000, seed=4)
    clf = LogisticRegression(max_iter=300).fit(x[:100], y[:100])
    ids, util = getattr(modal, name)(clf, x[100:], n_instances=12)
    want_ids, want_util = _modal_reference(name, clf.predict_proba(x[100:]), 12)
    assert set(ids.tolist()) == set(want_ids.tolist())
    order = np.argsort(want_ids)
    np.testing.assert_allclose(np.sort(util)[::-1], np.sort(want_util)[::-1], rtol=1e-12)
    np.testing.assert_allclose(util[np.argsort(ids)], want_util[order], rtol=1e-12)
    assert np.all(np.diff(util) <= 0)  # best first
    # an ActiveLearner unpacks the pair: query_idx, query_inst = strategy(learner, X, n)
    query_idx, _ = getattr(modal, name)(clf, x[100:], 2)
    assert query_idx.shape == (2,)


def test_modal_unfitted_and_bald() -> None:
    from sklearn.linear_model import LogisticRegression

    from panning.integrations import modal

    x, y = _data(500, seed=5)
    ids, util = modal.uncertainty_sampling(LogisticRegression(), x, n_instances=3)
    assert ids.tolist() == [0, 1, 2] and util.tolist() == [1.0, 1.0, 1.0]
    committee = [
        LogisticRegression(max_iter=200).fit(x[s : s + 100], y[s : s + 100]) for s in (0, 100, 200)
    ]
    ids, util = modal.bald_sampling(committee, x, n_instances=5)
    probs = np.stack([m.predict_proba(x) for m in committee])
    np.testing.assert_array_equal(ids, reference.most_uncertain(probs, 5, method="bald"))
    np.testing.assert_allclose(util, reference.bald(probs)[ids], rtol=1e-12)
    with pytest.raises(TypeError, match="predict_proba_samples"):
        modal.bald_sampling(committee[0], x)
