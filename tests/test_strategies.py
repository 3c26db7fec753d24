"""One vocabulary and one strategy protocol for SEALS and SVP (issue 13, step 3).

Every built-in strategy runs in both `Seals` and `svp`; aliases of small-text, scikit-activeml
and modAL resolve to the same strategy; one sign convention (utilities: larger is picked first).
Data are made here; exact equality is asserted where both sides compute the same numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

import panning
from panning import Seals, reference, svp
from panning.kcenter import greedy_k_centers
from panning.models import SoftmaxRegression
from panning.neighbors import exact_knn_graph
from panning.strategies import (
    ALIASES,
    STRATEGIES,
    SelectionContext,
    Strategy,
    canonical_name,
    get_strategy,
)


def blobs(n: int = 400, classes: int = 3, dims: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(classes, dims))
    y = rng.integers(0, classes, n)
    x = (centers[y] + rng.normal(size=(n, dims))).astype(np.float32)
    return x, y


@pytest.mark.parametrize(
    "alias,name",
    [
        ("max_entropy", "entropy"),
        ("prediction_entropy", "entropy"),
        ("entropy_sampling", "entropy"),
        ("breaking_ties", "margin"),
        ("margin_sampling", "margin"),
        ("least_confident", "least_confidence"),
        ("uncertainty_sampling", "least_confidence"),
        ("coreset", "kcenters"),
        ("Greedy-K-Centers", "kcenters"),
        ("entropy", "entropy"),
    ],
)
def test_aliases_resolve_to_one_name(alias: str, name: str) -> None:
    assert canonical_name(alias) == name
    assert type(get_strategy(alias)) is type(get_strategy(name))
    assert get_strategy(alias).name == name


def test_every_alias_names_a_strategy_and_unknown_names_fail() -> None:
    assert set(ALIASES.values()) <= set(STRATEGIES)
    for name, factory in STRATEGIES.items():
        s = factory()
        assert isinstance(s, Strategy) and s.name == name
    with pytest.raises(ValueError, match="unknown strategy 'bogus'"):
        canonical_name("bogus")
    with pytest.raises(TypeError, match="select"):
        get_strategy(object())  # type: ignore[arg-type]


def test_seals_accepts_the_kernel_names_and_old_ones_alike() -> None:
    x, y = blobs()
    picks = []
    graph = exact_knn_graph(x, 100)  # one graph: a parallel index build differs run to run
    for name in ("entropy", "max_entropy", "prediction_entropy"):
        s = Seals(x, neighbors=graph, k=10, strategy=name, seed=1, expand="all")
        seed = np.r_[np.flatnonzero(y == 0)[:3], np.flatnonzero(y == 1)[:3]]
        s.teach(seed, y[seed])
        picks.append(s.query(15))
        assert s.strategy.name == "entropy"
    np.testing.assert_array_equal(picks[0], picks[1])
    np.testing.assert_array_equal(picks[0], picks[2])


def test_svp_and_seals_share_the_sign_convention() -> None:
    x, y = blobs()
    m = SoftmaxRegression(epochs=5).fit(x, y)
    p = m.predict_proba(x)
    u = svp.uncertainty_scores(m, x, "margin")
    np.testing.assert_allclose(u, -panning.margin(p), rtol=0, atol=0)  # utility = -margin
    assert u.dtype == np.float64
    np.testing.assert_allclose(svp.uncertainty_scores(m, x, "breaking_ties"), u)


SEALS_STRATEGIES = [
    "entropy",
    "margin",
    "least_confidence",
    "most_likely_positive",
    "information_density",
    "kcenters",
    "random",
]


@pytest.mark.parametrize("name", SEALS_STRATEGIES)
def test_every_strategy_runs_in_seals(name: str) -> None:
    x, y = blobs(seed=2)
    yb = (y == 1).astype(int)
    s = Seals(x, k=10, strategy=name, seed=0, positive_label=1)
    seed = np.r_[np.flatnonzero(yb == 1)[:3], np.flatnonzero(yb == 0)[:5]]
    s.teach(seed, yb[seed])
    for _ in range(3):
        ids = s.query(10)
        assert ids.shape == (10,) and np.unique(ids).size == 10
        assert not np.isin(ids, s.labeled[0]).any()
        s.teach(ids, yb[ids])


def test_forgetting_in_seals_is_refused_clearly() -> None:
    x, y = blobs()
    s = Seals(x, k=10, strategy="forgetting", expand="all")
    seed = np.r_[np.flatnonzero(y == 0)[:3], np.flatnonzero(y == 1)[:3]]
    s.teach(seed, y[seed])
    with pytest.raises(ValueError, match="forgetting events"):
        s.query(5)


@pytest.mark.parametrize("name", [*SEALS_STRATEGIES])
def test_every_strategy_runs_in_svp(name: str) -> None:
    x, y = blobs(seed=3)
    labeled = np.arange(0, 400, 8)
    m = SoftmaxRegression(epochs=5).fit(x[labeled], y[labeled])
    ids = svp.select(m, x, 12, strategy=name, labeled=labeled)
    assert ids.shape == (12,) and np.unique(ids).size == 12
    assert not np.isin(ids, labeled).any()
    run = svp.active_learning(
        x, y, proxy=SoftmaxRegression(epochs=3), initial=20, schedule=[40], strategy=name
    )
    assert run.labeled.size == 40 and run.strategy == name
    kept = svp.coreset(x, y, proxy=SoftmaxRegression(epochs=3), keep=30, strategy=name)
    assert kept.kept.shape == (30,) and np.unique(kept.kept).size == 30


def test_svp_strategies_match_their_definitions() -> None:
    x, y = blobs(seed=4)
    labeled = np.arange(0, 400, 5)
    unl = np.setdiff1d(np.arange(400), labeled)
    m = SoftmaxRegression(epochs=5).fit(x[labeled], y[labeled])
    for name, method in (("uncertainty_sampling", "least_confidence"), ("breaking_ties", "margin")):
        got = svp.select(m, x, 10, strategy=name, labeled=labeled)
        want = unl[reference.most_uncertain(m.predict_proba(x[unl]), 10, method=method)]
        np.testing.assert_array_equal(got, want)
    got = svp.select(m, x, 10, strategy="kcenters", labeled=labeled)
    want = greedy_k_centers(x, 10, initial_centers=labeled, candidates=unl)
    np.testing.assert_array_equal(got, want)
    # chunked scoring (candidates beyond chunk_rows) ranks exactly like the fused top-k
    np.testing.assert_array_equal(
        svp.select(m, x, 10, strategy="entropy", labeled=labeled, chunk_rows=7),
        svp.select(m, x, 10, strategy="entropy", labeled=labeled),
    )


class LowestIds:
    """A user strategy: the protocol alone, no base class."""

    name = "lowest_ids"

    def __init__(self) -> None:
        self.seen: list[SelectionContext] = []

    def select(self, candidates: np.ndarray, n: int, context: SelectionContext) -> np.ndarray:
        self.seen.append(context)
        return candidates[:n]


def test_a_user_strategy_runs_in_both_and_sees_model_and_labels() -> None:
    x, y = blobs(seed=5)
    strat = LowestIds()
    labeled = np.array([3, 1, 2])
    m = SoftmaxRegression(epochs=2).fit(x, y)
    assert svp.select(m, x, 4, strategy=strat, labeled=labeled).tolist() == [0, 4, 5, 6]
    ctx = strat.seen[-1]
    assert ctx.model is m and ctx.labeled_ids.tolist() == [1, 2, 3]
    assert ctx.proba(np.array([0])).shape == (1, 3)
    s = Seals(x, k=10, strategy=strat, expand="all", candidates="all")
    s.teach(labeled, y[labeled])
    assert s.query(2).tolist() == [0, 4]
    ctx = strat.seen[-1]
    assert ctx.labeled_ids.tolist() == [1, 2, 3] and ctx.labels.tolist() == y[[1, 2, 3]].tolist()
    assert ctx.model is s.model


class Ensemble:
    """A model with predict_proba_samples: three softmax regressions on bootstrap samples."""

    def fit(self, x, y):
        rng = np.random.default_rng(0)
        self.members = []
        for _ in range(3):
            idx = rng.choice(len(y), len(y))
            idx = np.r_[idx, np.arange(len(y))[: len(np.unique(y))]]
            self.members.append(SoftmaxRegression(epochs=3).fit(x[idx], y[idx]))
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, x):
        return self.predict_proba_samples(x, 3).mean(0)

    def predict_proba_samples(self, x, n_samples):
        return np.stack([m.predict_proba(x) for m in self.members[:n_samples]])


def test_bald_strategy_runs_in_both_and_matches_the_reference() -> None:
    x, y = blobs(seed=6)
    labeled = np.arange(0, 400, 4)
    unl = np.setdiff1d(np.arange(400), labeled)
    m = Ensemble().fit(x[labeled], y[labeled])
    got = svp.select(m, x, 8, strategy="bald_sampling", labeled=labeled)
    probs = m.predict_proba_samples(x[unl], 20).astype(np.float64)
    np.testing.assert_array_equal(got, unl[reference.most_uncertain(probs, 8, method="bald")])
    s = Seals(x, k=10, strategy="bald", model=Ensemble(), candidates="all")
    s.teach(labeled, y[labeled])
    assert s.query(5).shape == (5,)
    with pytest.raises(TypeError, match="predict_proba_samples"):
        svp.select(SoftmaxRegression(epochs=1).fit(x, y), x, 3, strategy="bald")
