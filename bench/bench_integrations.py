"""The selection step inside small-text, scikit-activeml and modAL: each library's own strategy
vs panning's adapter (panning.integrations), on the same float64 probabilities, plus BALD vs
NumPy and torch composites. Ratios are measured in the same run, repeats interleaved.

    python bench/bench_integrations.py                  # 1M x 10 and 100k x 1000, k = 100
    python bench/bench_integrations.py --quick          # 100k x 10 and 10k x 1000

Setup (the issue's): float64 probabilities (scikit-learn's predict_proba dtype), 10% of the pool
labeled, k = 100. The classifiers are stand-ins that return precomputed probabilities, so only
the selection step is timed: small-text's contract is ``clf.predict_proba(dataset)`` over the
whole dataset (returned as is); scikit-activeml's is ``clf.predict_proba(X_cand)`` over the
unlabeled rows (returned as a fresh array, as a model's output would be). modAL 0.4.2.1 does not
run on scikit-learn 1.9, so its side is modAL's own code restated line for line
(``classifier_uncertainty`` ``1 - np.max(p, axis=1)``, ``classifier_margin``'s
``np.partition(-p, 1, axis=1)``, ``classifier_entropy``'s ``scipy.stats.entropy`` of the
transpose, then ``multi_argmax``), labelled ``modal_numpy``; for entropy the fastest plain-NumPy
ranking (``-nansum(p log p)`` + argpartition, no normalisation) is timed too, labelled
``numpy_nansum``, so the ratio does not rest on scipy's overhead.

What the modAL arms time: the pool's probabilities are computed once (the 90% unlabeled rows,
contiguous, as ``predict_proba(X_pool)`` returns them) and the stand-in classifier hands the same
array to both arms, so both time exactly the selection step: scoring plus top-k on given
probabilities, with panning's side going through ``panning.integrations.modal`` (adapter
included). A real ``predict_proba`` would add the same model time to both arms and cap the
ratio near 1 for any cheap strategy; it is deliberately outside. BALD: ``S x N x C`` float32
samples vs ``H(mean) - mean H`` + argpartition in NumPy and the same in torch (CPU).
Candidates: ranking 10% of a 1M x 10 float64 pool through ``candidates=`` vs numpy's gather of
those rows (the faster of ``p[ids]`` and ``np.take``), gather + rank, and the ranking of the
already-gathered rows (its arithmetic alone: the floor for any scattered read of them).

One JSON line per measurement: {"bench", "library", "method", "rows", "classes", "k",
"theirs_s", "panning_s", "speedup", "same_picks", ...}; times are the median of --repeats
interleaved runs after a warm-up. Report the machine's load next to the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import panning
from panning.integrations import modal as pmodal
from panning.integrations import skactiveml as pskal
from panning.integrations import small_text as pst


def probabilities(n: int, c: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, c), np.float64)
    block = max(1, (1 << 22) // c)
    for s in range(0, n, block):
        z = rng.standard_normal((min(block, n - s), c)) * 2.0
        e = np.exp(z - z.max(1, keepdims=True))
        out[s : s + z.shape[0]] = e / e.sum(1, keepdims=True)
    return out


SLOW_S = 5.0  # a call slower than this is timed once (its warm-up run): small-text's entropy


def timed(fns: dict[str, Callable[[], Any]], repeats: int) -> tuple[dict[str, float], dict]:
    """Median seconds per function over `repeats` interleaved runs after a timed warm-up (which
    alone counts for calls slower than SLOW_S); returns the last results too."""
    results: dict[str, Any] = {}
    first: dict[str, float] = {}
    for name, fn in fns.items():
        t = time.perf_counter()
        results[name] = fn()
        first[name] = time.perf_counter() - t
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            if first[name] > SLOW_S:
                continue
            t = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) if v else first[name] for name, v in times.items()}, results


def emit(row: dict[str, Any]) -> None:
    print(json.dumps(row), flush=True)


class _SmallTextClf:
    def __init__(self, p: np.ndarray) -> None:
        self.p = p

    def predict_proba(self, dataset: Any) -> np.ndarray:
        return self.p


def bench_small_text(p: np.ndarray, unlabeled: np.ndarray, labeled: np.ndarray, k: int, r: int):
    import small_text as st

    clf = _SmallTextClf(p)
    for name, method in (
        ("PredictionEntropy", "entropy"),
        ("BreakingTies", "margin"),
        ("LeastConfidence", "least_confidence"),
    ):
        theirs, ours = getattr(st, name)(), getattr(pst, name)()
        t, res = timed(
            {
                "theirs": lambda q=theirs: q.query(clf, None, unlabeled, labeled, None, n=k),
                "panning": lambda q=ours: q.query(clf, None, unlabeled, labeled, None, n=k),
            },
            r,
        )
        same = set(np.asarray(res["theirs"]).tolist()) == set(res["panning"].tolist())
        yield "small_text", method, t, same


def bench_skactiveml(p: np.ndarray, labeled: np.ndarray, k: int, r: int):
    from skactiveml.base import SkactivemlClassifier
    from skactiveml.pool import UncertaintySampling

    n = p.shape[0]
    unl = np.setdiff1d(np.arange(n), labeled)
    p_cand = p[unl]

    class Precomputed(SkactivemlClassifier):  # type: ignore[misc]
        def __init__(self, classes: Any = None, missing_label: Any = np.nan) -> None:
            super().__init__(classes=classes, missing_label=missing_label)

        def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
            return self

        def predict_proba(self, X: Any) -> np.ndarray:
            assert X.shape[0] == p_cand.shape[0]
            return p_cand.copy()  # a model's output is fresh memory, not a view

    x = np.arange(n, dtype=np.float64)[:, None]
    y = np.full(n, np.nan)
    y[labeled] = 0
    clf = Precomputed(classes=np.arange(p.shape[1]))
    for method, kernel in (
        ("entropy", "entropy"),
        ("margin_sampling", "margin"),
        ("least_confident", "least_confidence"),
    ):
        theirs = UncertaintySampling(method=method, random_state=0)
        ours = pskal.UncertaintySampling(method=method, random_state=0)
        t, res = timed(
            {
                "theirs": lambda q=theirs: q.query(x, y, clf, fit_clf=False, batch_size=k),
                "panning": lambda q=ours: q.query(x, y, clf, fit_clf=False, batch_size=k),
            },
            r,
        )
        yield "skactiveml", kernel, t, np.array_equal(res["theirs"], res["panning"])


def _modal_numpy(name: str, p: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """modAL 0.4.2.1's strategy on given probabilities, line for line: modAL.uncertainty's
    classifier_uncertainty / classifier_margin / classifier_entropy, then
    modAL.utils.selection.multi_argmax (margin_sampling maximises -margin)."""
    from scipy.stats import entropy

    if name == "uncertainty_sampling":
        u = 1 - np.max(p, axis=1)
    elif name == "margin_sampling":
        part = np.partition(-p, 1, axis=1)
        u = -(-part[:, 0] + part[:, 1])
    else:
        u = np.transpose(entropy(np.transpose(p)))
    max_idx = np.argpartition(-u, k - 1, axis=0)[:k]
    return max_idx, u[max_idx]


def _numpy_entropy_nansum(p: np.ndarray, k: int) -> np.ndarray:
    """The fastest plain-NumPy entropy ranking we know (no normalisation, one temporary less than
    scipy's): reported beside modAL's own code so the ratio does not rest on scipy's overhead."""
    with np.errstate(divide="ignore", invalid="ignore"):
        u = -np.nansum(p * np.log(p), axis=1)
    return np.argpartition(-u, k - 1)[:k]


class _SklearnLike:
    def __init__(self, p: np.ndarray) -> None:
        self.p = p

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.p


def bench_modal(p_pool: np.ndarray, k: int, r: int):
    clf = _SklearnLike(p_pool)
    for name, method in (
        ("entropy_sampling", "entropy"),
        ("margin_sampling", "margin"),
        ("uncertainty_sampling", "least_confidence"),
    ):
        fn = getattr(pmodal, name)
        t, res = timed(
            {
                "theirs": lambda nm=name: _modal_numpy(nm, clf.predict_proba(None), k)[0],
                "panning": lambda f=fn: f(clf, p_pool, n_instances=k)[0],
            },
            r,
        )
        yield "modal_numpy", method, t, set(res["theirs"].tolist()) == set(res["panning"].tolist())
        if method == "entropy":
            t, res = timed(
                {
                    "theirs": lambda: _numpy_entropy_nansum(clf.predict_proba(None), k),
                    "panning": lambda f=fn: f(clf, p_pool, n_instances=k)[0],
                },
                r,
            )
            same = set(res["theirs"].tolist()) == set(res["panning"].tolist())
            yield "numpy_nansum", method, t, same


def bench_bald(s: int, n: int, c: int, k: int, r: int) -> None:
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(c, 0.3), size=(s, n)).astype(np.float32)

    def numpy_bald() -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = probs.mean(0)
            h_mean = -np.nansum(mean * np.log(mean), axis=1)
            h_each = -np.nansum(probs * np.log(probs), axis=2).mean(0)
        u = h_mean - h_each
        return np.argpartition(-u, k - 1)[:k]

    fns: dict[str, Callable[[], Any]] = {
        "numpy": numpy_bald,
        "panning": lambda: panning.most_uncertain(probs, k, method="bald"),
    }
    try:
        import torch

        tp = torch.from_numpy(probs)

        def torch_bald() -> Any:
            mean = tp.mean(0)
            u = torch.special.entr(mean).sum(-1) - torch.special.entr(tp).sum(-1).mean(0)
            return torch.topk(u, k).indices

        fns["torch"] = torch_bald
    except ImportError:
        pass
    t, res = timed(fns, r)
    want = set(res["numpy"].tolist())
    for other in [name for name in fns if name != "panning"]:
        emit(
            {
                "bench": "bald",
                "library": other,
                "method": "bald",
                "samples": s,
                "rows": n,
                "classes": c,
                "k": k,
                "theirs_s": t[other],
                "panning_s": t["panning"],
                "speedup": t[other] / t["panning"],
                "overlap_with_numpy": len(want & set(res["panning"].tolist())) / k,
                "dtype": "float32",
            }
        )


def bench_candidates(n: int, c: int, k: int, r: int) -> None:
    """Ranking 10% of a float64 pool through candidates= vs gathering those rows in numpy."""
    p = probabilities(n, c)
    cand = np.sort(np.random.default_rng(2).choice(n, n // 10, replace=False))
    gathered = np.ascontiguousarray(p[cand])
    t, res = timed(
        {
            "gather": lambda: p[cand],
            "take": lambda: np.take(p, cand, axis=0),
            "gather_then_rank": lambda: cand[panning.most_uncertain(p[cand], k)],
            "candidates": lambda: panning.most_uncertain(p, k, candidates=cand),
            # the same ranking on rows already gathered: the arithmetic alone, no scattered reads
            "rank_gathered": lambda: panning.most_uncertain(gathered, k),
        },
        r,
    )
    fastest_gather = min(t["gather"], t["take"])
    emit(
        {
            "bench": "candidates",
            "rows": n,
            "classes": c,
            "candidates": int(cand.size),
            "k": k,
            "dtype": "float64",
            "gather_s": t["gather"],
            "take_s": t["take"],
            "gather_then_rank_s": t["gather_then_rank"],
            "candidates_s": t["candidates"],
            "rank_gathered_s": t["rank_gathered"],
            # against the faster of numpy's two gathers (fancy indexing, np.take)
            "candidates_over_gather": t["candidates"] / fastest_gather,
            "rank_gathered_over_gather": t["rank_gathered"] / fastest_gather,
            "same_picks": bool(np.array_equal(res["gather_then_rank"], res["candidates"])),
            "loadavg": os.getloadavg()[0],
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10x smaller pools")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument(
        "--only", choices=["small_text", "skactiveml", "modal", "bald", "candidates"], nargs="*"
    )
    ap.add_argument("--sizes", nargs="*", help="ROWSxCLASSES pools (default: the issue's two)")
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    sizes = [(1_000_000 // scale, 10), (100_000 // scale, 1000)]
    if args.sizes:
        sizes = [(int(a), int(b)) for a, b in (sz.lower().split("x") for sz in args.sizes)]
    only = set(args.only or ["small_text", "skactiveml", "modal", "bald", "candidates"])
    emit(
        {
            "bench": "setup",
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "loadavg": os.getloadavg(),
            "build": panning.build_info(),
        }
    )
    for n, c in sizes:
        p = probabilities(n, c)
        labeled = np.arange(0, n, 10)  # 10% labeled
        unlabeled = np.setdiff1d(np.arange(n), labeled)
        runs: list[Any] = []
        if "small_text" in only:
            runs.append(bench_small_text(p, unlabeled, labeled, args.k, args.repeats))
        if "skactiveml" in only:
            runs.append(bench_skactiveml(p, labeled, args.k, args.repeats))
        if "modal" in only:
            runs.append(bench_modal(np.ascontiguousarray(p[unlabeled]), args.k, args.repeats))
        for run in runs:
            for library, method, t, same in run:
                emit(
                    {
                        "bench": "selection",
                        "library": library,
                        "method": method,
                        "rows": n,
                        "classes": c,
                        "k": args.k,
                        "labeled_fraction": 0.1,
                        "dtype": "float64",
                        "theirs_s": t["theirs"],
                        "panning_s": t["panning"],
                        "speedup": t["theirs"] / t["panning"],
                        "same_picks": bool(same),
                        "loadavg": os.getloadavg()[0],
                    }
                )
        del p
    if "bald" in only:
        bench_bald(20, 100_000 // scale, 100, args.k, args.repeats)
    if "candidates" in only:
        bench_candidates(1_000_000 // scale, 10, args.k, args.repeats)
    emit({"bench": "done", "loadavg": os.getloadavg()})


if __name__ == "__main__":
    main()
