"""Selection via Proxy: active learning and core-set selection on data made here."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from panning import reference
from panning.kcenter import greedy_k_centers
from panning.models import MLPClassifier, SoftmaxRegression
from panning.svp import accuracy, active_learning, coreset, select, uncertainty_scores


def blobs(n=600, classes=4, dims=6, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(classes, dims))
    y = rng.integers(0, classes, n)
    x = (centers[y] + rng.normal(size=(n, dims))).astype(np.float32)
    return x, y


def proxy():
    return SoftmaxRegression(epochs=4, batch_size=64)


@pytest.mark.parametrize("strategy", ["least_confidence", "entropy", "margin"])
def test_round_picks_the_most_uncertain_by_the_reference(strategy):
    x, y = blobs()
    run = active_learning(x, y, proxy=proxy(), initial=50, schedule=[90], strategy=strategy)
    start, chosen = run.labeled[:50], run.labeled[50:]
    model = proxy().fit(x[start], y[start])
    unlabeled = np.setdiff1d(np.arange(len(y)), start)
    p = model.predict_proba(x[unlabeled]).astype(np.float64)
    expected = unlabeled[reference.most_uncertain(p, 40, method=strategy)]
    assert set(chosen.tolist()) == set(expected.tolist())


@pytest.mark.parametrize("strategy", ["least_confidence", "margin", "kcenters", "random"])
def test_chunked_ranking_equals_fused(strategy):
    x, y = blobs(n=500)
    a = active_learning(x, y, proxy=proxy(), initial=40, schedule=[80, 140], strategy=strategy)
    b = active_learning(
        x, y, proxy=proxy(), initial=40, schedule=[80, 140], strategy=strategy, chunk_rows=37
    )
    assert a.labeled.tolist() == b.labeled.tolist()


def test_history_and_evaluation_points():
    x, y = blobs()
    xt, yt = blobs(n=300, seed=0)
    run = active_learning(
        x,
        y,
        proxy=proxy(),
        initial=30,
        schedule=[60, 100, 150],
        target=MLPClassifier((16,), epochs=30, lr=1e-2, batch_size=32),
        x_test=xt,
        y_test=yt,
        evaluate_at=[30, 150],
    )
    assert [r.labeled for r in run.rounds] == [30, 60, 100, 150]
    assert [r.added for r in run.rounds] == [30, 30, 40, 50]
    assert run.labeled.size == 150 and np.unique(run.labeled).size == 150
    accs = [r.target_accuracy for r in run.rounds]
    assert accs[1] is None and accs[2] is None
    assert accs[0] is not None and accs[3] is not None and accs[3] > 0.8
    assert run.final_accuracy == accs[3]
    assert all(r.proxy_train_s > 0 and r.inference_s > 0 for r in run.rounds[1:])
    assert run.selection_s == pytest.approx(sum(r.selection_s for r in run.rounds))
    d = run.to_dict()
    assert d["rounds"][3]["target_accuracy"] == accs[3] and len(d["labeled"]) == 150


def test_reproducible_under_a_seed_and_seed_matters():
    x, y = blobs()
    runs = [
        active_learning(x, y, proxy=proxy(), initial=40, schedule=[80], strategy="random", seed=s)
        for s in (1, 1, 2)
    ]
    assert runs[0].labeled.tolist() == runs[1].labeled.tolist()
    assert runs[0].labeled.tolist() != runs[2].labeled.tolist()
    a = active_learning(x, y, proxy=proxy(), initial=40, schedule=[80], seed=3)
    b = active_learning(x, y, proxy=proxy(), initial=40, schedule=[80], seed=3)
    assert a.labeled.tolist() == b.labeled.tolist()


def test_kcenters_uses_embeddings_and_labeled_centers():
    x, y = blobs(n=300)
    run = active_learning(x, y, proxy=proxy(), initial=20, schedule=[50], strategy="kcenters")
    start = run.labeled[:20]
    model = proxy().fit(x[start], y[start])  # linear model: embed is the input itself
    expected = greedy_k_centers(model.embed(x), 30, initial_centers=start)
    assert run.labeled[20:].tolist() == expected.tolist()


def test_memmap_pool(tmp_path):
    x, y = blobs(n=300)
    np.save(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    a = active_learning(mm, y, proxy=proxy(), initial=30, schedule=[60], strategy="entropy")
    b = active_learning(x, y, proxy=proxy(), initial=30, schedule=[60], strategy="entropy")
    assert a.labeled.tolist() == b.labeled.tolist()


def test_select_and_uncertainty_scores():
    x, y = blobs(n=200)
    model = proxy().fit(x, y)
    scores = uncertainty_scores(model, x, "margin")
    expected = -reference.margin(model.predict_proba(x).astype(np.float64))
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    picked = select(model, x, 10, strategy="margin", labeled=[0, 1, 2])
    assert not set(picked.tolist()) & {0, 1, 2}
    key = scores.copy()
    key[[0, 1, 2]] = -np.inf
    assert set(picked.tolist()) == set(np.argsort(-key, kind="stable")[:10].tolist())


def test_ties_are_broken_by_index():
    class Flat:
        def fit(self, x, y):
            return self

        def predict_proba(self, x):
            return np.full((len(x), 2), 0.5)  # float64: cast for the kernels, all tied

    x = np.zeros((20, 1), dtype=np.float32)
    y = np.arange(20) % 2
    run = active_learning(x, y, proxy=Flat(), initial=[3, 7], schedule=[6], strategy="entropy")
    assert run.labeled.tolist() == [3, 7, 0, 1, 2, 4]
    run = active_learning(
        x, y, proxy=Flat(), initial=[3, 7], schedule=[6], strategy="entropy", chunk_rows=5
    )
    assert run.labeled.tolist() == [3, 7, 0, 1, 2, 4]


def test_coreset_strategies():
    x, y = blobs(n=400)
    xt, yt = blobs(n=200, seed=0)
    target = MLPClassifier((16,), epochs=30, lr=1e-2, batch_size=32)
    for strategy in ["forgetting", "least_confidence", "entropy", "margin", "kcenters", "random"]:
        res = coreset(
            x, y, proxy=proxy(), keep=0.6, strategy=strategy, target=target, x_test=xt, y_test=yt
        )
        assert res.kept.size == 240 and np.unique(res.kept).size == 240
        assert res.target_accuracy is not None and res.target_accuracy > 0.7
        assert res.to_dict()["kept_fraction"] == pytest.approx(0.6)


def test_coreset_forgetting_keeps_the_most_forgotten():
    x, y = blobs(n=300)
    res = coreset(x, y, proxy=proxy(), keep=50, strategy="forgetting")
    assert res.scores is not None
    model = proxy().fit(x, y)
    lc = uncertainty_scores(model, x, "least_confidence")
    order = np.lexsort((np.arange(300), -lc, -res.scores))
    assert res.kept.tolist() == order[:50].tolist()
    events = res.scores[res.kept]
    assert np.all(events[:-1] >= events[1:])  # most forgotten first


def _decided_brute_force(scores, kept):
    # a kept row was decided by its score when every dropped row scores strictly lower
    dropped = [i for i in range(scores.size) if i not in set(kept.tolist())]
    return sum(all(scores[k] > scores[d] for d in dropped) for k in kept.tolist())


@pytest.mark.parametrize("keep", [50, 150, 300])
def test_coreset_counts_the_rows_each_score_decided(keep):
    x, y = blobs(n=300)
    res = coreset(x, y, proxy=proxy(), keep=keep, strategy="forgetting")
    assert res.scores is not None and res.decided_by_score is not None
    assert res.decided_by_score == _decided_brute_force(res.scores, res.kept)
    assert res.decided_by_score + res.decided_by_tie_break == keep
    d = res.to_dict()
    assert (d["decided_by_score"], d["decided_by_tie_break"]) == (
        res.decided_by_score,
        res.decided_by_tie_break,
    )
    if keep == 300:  # nothing dropped: the score decided everything
        assert res.decided_by_tie_break == 0
    else:  # these blobs are easy: most rows are never forgotten, so ties decide many rows
        assert res.decided_by_tie_break > 0
    lc = coreset(x, y, proxy=proxy(), keep=keep, strategy="least_confidence")
    assert lc.decided_by_score == _decided_brute_force(lc.scores, lc.kept)
    assert coreset(x, y, proxy=proxy(), keep=keep, strategy="random").decided_by_score is None


def test_coreset_uncertainty_ranking():
    x, y = blobs(n=300)
    res = coreset(x, y, proxy=proxy(), keep=30, strategy="least_confidence")
    model = proxy().fit(x, y)
    expected = reference.most_uncertain(
        model.predict_proba(x).astype(np.float64), 30, method="least_confidence"
    )
    assert set(res.kept.tolist()) == set(expected.tolist())


def test_models_are_trained_from_scratch_each_round():
    calls = []

    class Recorder(SoftmaxRegression):
        def fit(self, x, y, *, observer=None):
            calls.append((id(self), len(y)))
            return super().fit(x, y, observer=observer)

    x, y = blobs(n=200)
    template = Recorder(epochs=2)
    active_learning(x, y, proxy=template, initial=20, schedule=[40, 60])
    assert [n for _, n in calls] == [20, 40]
    assert len({i for i, _ in calls}) == 2 and template.classes_ is None


def test_bad_input_is_refused_clearly():
    x, y = blobs(n=100)
    with pytest.raises(ValueError, match="schedule is empty"):
        active_learning(x, y, proxy=proxy(), initial=10, schedule=[])
    with pytest.raises(ValueError, match="beyond the pool"):
        active_learning(x, y, proxy=proxy(), initial=10, schedule=[50, 101])
    with pytest.raises(ValueError, match="strictly increasing"):
        active_learning(x, y, proxy=proxy(), initial=10, schedule=[50, 50])
    with pytest.raises(ValueError, match="strictly increasing"):
        active_learning(x, y, proxy=proxy(), initial=10, schedule=[5])
    with pytest.raises(ValueError, match="initial=0"):
        active_learning(x, y, proxy=proxy(), initial=0, schedule=[5])
    with pytest.raises(ValueError, match="length 99"):
        active_learning(x, y[:99], proxy=proxy(), initial=10, schedule=[20])
    with pytest.raises(TypeError, match="fit"):
        active_learning(x, y, proxy=object(), initial=10, schedule=[20])

    class NoProba:
        def fit(self, x, y):
            return self

        def predict(self, x):
            return np.zeros(len(x))

    with pytest.raises(TypeError, match="predict_proba"):
        active_learning(x, y, proxy=NoProba(), initial=10, schedule=[20])
    with pytest.raises(TypeError, match="observer"):
        coreset(x, y, proxy=NoProba(), keep=10, strategy="forgetting")
    with pytest.raises(ValueError, match="use coreset"):
        active_learning(x, y, proxy=proxy(), initial=10, schedule=[20], strategy="forgetting")
    with pytest.raises(ValueError, match="unknown strategy 'bogus'"):
        active_learning(x, y, proxy=proxy(), initial=10, schedule=[20], strategy="bogus")
    with pytest.raises(ValueError, match="x_test"):
        active_learning(x, y, proxy=proxy(), initial=10, schedule=[20], target=proxy())
    with pytest.raises(ValueError, match="not labeled-set sizes"):
        active_learning(
            x,
            y,
            proxy=proxy(),
            initial=10,
            schedule=[20],
            target=proxy(),
            x_test=x,
            y_test=y,
            evaluate_at=[15],
        )
    with pytest.raises(ValueError, match="out of range"):
        coreset(x, y, proxy=proxy(), keep=101)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        coreset(x, y, proxy=proxy(), keep=1.5)
    with pytest.raises(ValueError, match="out of range"):
        select(proxy().fit(x, y), x, 99, labeled=np.arange(10))


def test_accuracy_without_predict_uses_classes():
    class ProbaOnly:
        classes_ = np.array([10, 20])

        def predict_proba(self, x):
            return np.c_[1 - x[:, 0], x[:, 0]]

    x = np.array([[0.9], [0.1], [0.8]])
    assert accuracy(ProbaOnly(), x, [20, 10, 10]) == pytest.approx(2 / 3)
    assert copy.deepcopy(ProbaOnly()).classes_.tolist() == [10, 20]
