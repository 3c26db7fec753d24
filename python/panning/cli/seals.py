"""Simulated SEALS runs and the ``panning seals`` command.

:func:`simulate_concept` runs the papers' protocol for one concept: one-vs-rest labels, a seeded
held-out test split, a seed of 5 random positives and 95 random negatives, then rounds of
``batch_size`` labels up to ``budget``, recording each round's history plus recall.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..neighbors import build_index, check_index, load_or_build_graph
from ..seals import (
    DEFAULT_EXPAND,
    DEFAULT_EXPAND_BUDGET,
    DEFAULT_K,
    DEFAULT_MAX_K,
    DEFAULT_PROBE,
    Seals,
)
from ._common import UsageError, fraction, load_npy, positive_int

__all__ = ["register", "simulate_concept", "split_test", "rare_concepts"]


def split_test(n: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted ids of a seeded held-out test split of ``round(fraction * n)`` rows."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"test split must be in [0, 1), got {fraction}")
    rng = np.random.default_rng([seed, 7919])
    return np.sort(rng.permutation(n)[: int(round(fraction * n))]).astype(np.int64)


def rare_concepts(labels: np.ndarray, threshold: float = 0.01) -> list[int]:
    """Classes under ``threshold`` prevalence (and with at least 10 items), rarest first."""
    classes, counts = np.unique(labels, return_counts=True)
    keep = (counts / labels.shape[0] < threshold) & (counts >= 10)
    order = np.argsort(counts[keep], kind="stable")
    return [int(c) for c in classes[keep][order]]


def simulate_concept(
    embeddings: Any,
    labels: np.ndarray,
    concept: int,
    *,
    test_ids: np.ndarray,
    neighbors: Any = None,
    k: int = DEFAULT_K,
    max_k: int | None = DEFAULT_MAX_K,
    min_pool: int = 100,
    expand_budget: int | None = DEFAULT_EXPAND_BUDGET,
    expand: str = DEFAULT_EXPAND,
    probe: int = DEFAULT_PROBE,
    strategy: Any = "max_entropy",
    candidates: str = "knn",
    budget: int = 2000,
    batch_size: int = 100,
    seed: int = 0,
    n_seed_positives: int = 5,
    n_seed_negatives: int = 95,
    model: Any = None,
    progress: bool = False,
) -> dict[str, Any]:
    """One simulated concept: ``{"concept": C, "rounds": [RoundRecord dicts]}``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 8)).astype(np.float32)
    >>> y = (x[:, 0] > 1.2).astype(np.int64)
    >>> out = simulate_concept(x, y, 1, test_ids=split_test(400, 0.2, 0), k=10, budget=150,
    ...                        batch_size=25)
    >>> [r["labels"] for r in out["rounds"]]
    [100, 125, 150]
    """
    y = (np.asarray(labels) == concept).astype(np.int64)
    n = y.shape[0]
    is_test = np.zeros(n, dtype=bool)
    is_test[test_ids] = True
    train = np.flatnonzero(~is_test)
    rng = np.random.default_rng([seed, int(concept), 104729])
    pos, neg = train[y[train] == 1], train[y[train] == 0]
    if pos.shape[0] == 0:
        raise ValueError(f"concept {concept} has no positive outside the test split")
    seed_ids = np.r_[
        rng.choice(pos, size=min(n_seed_positives, pos.shape[0]), replace=False),
        rng.choice(neg, size=min(n_seed_negatives, neg.shape[0]), replace=False),
    ].astype(np.int64)
    session = Seals(
        embeddings,
        neighbors=neighbors,
        k=k,
        max_k=None if max_k is None else max(k, max_k),
        min_pool=min_pool,
        expand_budget=expand_budget,
        expand=expand,  # type: ignore[arg-type]
        probe=probe,
        strategy=strategy,
        model=model,
        candidates=candidates,  # type: ignore[arg-type]
        positive_label=1,
        classes=[0, 1],
        exclude=test_ids,
        seed=seed,
        eval_set=(np.asarray(embeddings[test_ids], dtype=np.float32), y[test_ids]),
    )
    total = int(pos.shape[0])
    session.teach(seed_ids, y[seed_ids])
    session.history[-1].recall = session.history[-1].positives / total
    session.run(lambda ids: y[ids], budget, batch_size, total_positives=total, progress=progress)
    session.close()
    return {"concept": int(concept), "rounds": [r.as_dict() for r in session.history]}


# ---- panning seals ------------------------------------------------------------------------------
def register(sub: Any) -> None:
    """Add the ``seals`` subcommand to ``panning``'s argparse subparsers."""
    p = sub.add_parser("seals", help="simulate SEALS on labeled embeddings (one-vs-rest concepts)")
    p.add_argument("--embeddings", required=True, help="[N, d] embeddings (.npy, memory-mapped)")
    p.add_argument("--labels", required=True, help="[N] integer class labels (.npy)")
    p.add_argument(
        "--concept",
        action="append",
        required=True,
        help="class id to search for (repeatable), or 'rare' for every class under 1%%",
    )
    p.add_argument("--test-split", type=fraction, default=0.2)
    p.add_argument("--budget", type=positive_int, default=2000)
    p.add_argument("--batch-size", type=positive_int, default=100)
    p.add_argument("--strategy", default="max_entropy")
    p.add_argument("--candidates", choices=["knn", "all"], default="knn")
    p.add_argument("--k", type=positive_int, default=DEFAULT_K)
    p.add_argument(
        "--max-k", type=positive_int, default=DEFAULT_MAX_K, help="widening limit (>= k)"
    )
    p.add_argument("--expand", choices=["positives", "all"], default=DEFAULT_EXPAND)
    p.add_argument(
        "--expand-budget",
        type=positive_int,
        default=DEFAULT_EXPAND_BUDGET,
        help="neighbours a round's new expanders share (each between --k and --max-k)",
    )
    p.add_argument(
        "--no-expand-budget",
        dest="expand_budget",
        action="store_const",
        const=None,
        help="every expander adds --k neighbours (widened when the pool runs dry)",
    )
    p.add_argument(
        "--probe",
        type=int,
        default=DEFAULT_PROBE,
        help="ids a query also takes from an index search with the model's weights (0: off; "
        "needs the index, not a .npz graph)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--index",
        help="the session's HNSW index (.hnsw) or a kNN graph cache (.npz): loaded when present, "
        "else built here (default: an index built in memory)",
    )
    p.add_argument("--json", help="write the per-round history as JSON here")
    p.add_argument("--plot", help="write a learning curve PNG here (needs matplotlib)")
    p.add_argument("--progress", action="store_true", help="progress bars (needs tqdm)")
    p.set_defaults(func=_cmd_seals)


def _resolve_concepts(spec: Sequence[str], labels: np.ndarray) -> list[int]:
    out: list[int] = []
    for c in spec:
        if c == "rare":
            out += rare_concepts(labels)
        else:
            try:
                out.append(int(c))
            except ValueError:
                raise UsageError("--concept", f"must be a class id or 'rare', got {c!r}") from None
    known = set(np.unique(labels).tolist())
    for concept in out:
        if concept not in known:
            raise UsageError("--concept", f"{concept} does not occur in the labels")
    return list(dict.fromkeys(out))


def _run_concepts(
    emb: Any,
    labels: np.ndarray,
    concepts: list[int],
    *,
    test_split: float,
    budget: int,
    batch_size: int,
    strategy: str,
    candidates: str,
    k: int,
    max_k: int | None,
    expand: str,
    expand_budget: int | None,
    probe: int,
    seed: int,
    index: str | None,
    progress: bool,
) -> dict[str, Any]:
    test_ids = split_test(labels.shape[0], test_split, seed)
    t = time.perf_counter()
    graph = None
    if candidates == "knn" or strategy == "information_density":
        graph = index_or_graph(emb, max(k, max_k or k), index, progress=progress)
    index_seconds = time.perf_counter() - t
    results = []
    for c in concepts:
        results.append(
            simulate_concept(
                emb,
                labels,
                c,
                test_ids=test_ids,
                neighbors=graph,
                k=k,
                max_k=max_k,
                expand=expand,
                expand_budget=expand_budget,
                probe=probe,
                strategy=strategy,
                candidates=candidates,
                budget=budget,
                batch_size=batch_size,
                seed=seed,
                progress=progress,
            )  # fmt: skip
        )
    config = {
        "strategy": strategy, "candidates": candidates, "k": k, "max_k": max_k, "expand": expand,
        "expand_budget": expand_budget, "probe": probe, "budget": budget, "batch_size": batch_size,
        "test_split": test_split, "seed": seed, "rows": int(labels.shape[0]),
        "index_seconds": index_seconds,
    }  # fmt: skip
    return {"config": config, "concepts": results}


def _print_history(result: dict[str, Any], out: Any = None) -> None:
    out = sys.stdout if out is None else out  # looked up per call (pytest swaps sys.stdout)
    for c in result["concepts"]:
        out.write(f"concept {c['concept']}\n")
        out.write("  labels positives  pool_size  scored%  recall      AP  select_ms\n")
        for r in c["rounds"]:
            ap = r["average_precision"]
            sel = 1000 * (r["seconds"].get("scoring", 0.0) + r["seconds"].get("selection", 0.0))
            out.write(
                f"  {r['labels']:6d} {r['positives']:9d} {r['pool_size']:10d} "
                f"{100 * r['fraction_scored']:7.2f}  {r['recall'] or 0:6.3f}  "
                f"{'   n/a' if ap is None else f'{ap:6.3f}'}  {sel:9.1f}\n"
            )


def _cmd_seals(args: argparse.Namespace) -> int:
    emb, labels = load_embeddings_and_labels(args.embeddings, args.labels)
    concepts = _resolve_concepts(args.concept, labels)
    result = _run_concepts(
        emb, labels, concepts, test_split=args.test_split, budget=args.budget,
        batch_size=args.batch_size, strategy=args.strategy, candidates=args.candidates, k=args.k,
        max_k=args.max_k, expand=args.expand, expand_budget=args.expand_budget, seed=args.seed,
        index=args.index, probe=args.probe,
        progress=args.progress,
    )  # fmt: skip
    _print_history(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if args.plot:
        plot_curves({args.candidates: result}, args.plot)
    return 0


def _mean_curve(result: dict[str, Any], key: str) -> tuple[np.ndarray, np.ndarray]:
    rounds = [c["rounds"] for c in result["concepts"]]
    m = min(len(r) for r in rounds)
    x = np.asarray([r["labels"] for r in rounds[0][:m]])
    vals = np.asarray([[np.nan if r[key] is None else r[key] for r in rs[:m]] for rs in rounds])
    return x, np.nanmean(vals, axis=0)


def plot_curves(results: dict[str, dict[str, Any]], path: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.stderr.write("matplotlib is not installed; no plot written\n")
        return False
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for name, res in results.items():
        for ax, key in zip(axes, ["average_precision", "recall", "fraction_scored"]):
            x, yv = _mean_curve(res, key)
            ax.plot(x, yv, marker=".", label=name)
            ax.set_xlabel("labels")
            ax.set_title(key.replace("_", " "))
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def load_embeddings_and_labels(emb_path: str, labels_path: str) -> tuple[np.ndarray, np.ndarray]:
    """``--embeddings`` (2-D, memory-mapped) and ``--labels`` (1-D integers, one per row)."""
    emb = load_npy(emb_path, "--embeddings", ndim=2)
    if not np.issubdtype(emb.dtype, np.floating):
        raise UsageError("--embeddings", f"expected floating-point embeddings, got {emb.dtype}")
    labels = np.asarray(load_npy(labels_path, "--labels", ndim=1, integer=True, mmap=False))
    if labels.shape[0] != emb.shape[0]:
        raise UsageError(
            "--labels", f"has {labels.shape[0]} rows but --embeddings has {emb.shape[0]}"
        )
    return emb, labels


def index_or_graph(emb: Any, k: int, index: str | None, *, progress: bool) -> Any:
    """The neighbour source of simulated sessions: a ``.npz`` path is a kNN-graph cache
    (:func:`graph_or_usage_error`); otherwise an ``HNSWIndex`` (cosine) as a ``Seals`` session
    builds by default, loaded from ``index`` when it exists, else built (and saved there)."""
    if index is not None and not index.endswith(".hnsw"):
        return graph_or_usage_error(emb, k, index, progress=progress)
    from ..hnsw import HNSWIndex

    if index is not None and os.path.exists(index):
        try:
            loaded = HNSWIndex.load(index)
            check_index(loaded, emb, "cosine", index)
        except (ValueError, OSError) as exc:
            raise UsageError("--index", str(exc)) from None
        return loaded
    built = build_index(emb, metric="cosine", progress=progress)
    if index is not None:
        built.save(index)
    return built


def graph_or_usage_error(emb: Any, k: int, index: str | None, *, progress: bool) -> np.ndarray:
    """:func:`load_or_build_graph`, with a cache file that is not a panning graph a user error."""
    if index is not None and os.path.exists(index):
        try:
            with np.load(index, allow_pickle=False) as f:
                missing = {"ids", "fingerprint", "metric"} - set(f.files)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, AttributeError) as exc:
            raise UsageError(
                "--index", f"{index} is not a panning kNN graph (.npz): {exc}"
            ) from None
        if missing:
            raise UsageError(
                "--index", f"{index} is not a panning kNN graph (no {sorted(missing)})"
            )
    try:
        return load_or_build_graph(emb, k, index, progress=progress)
    except ValueError as exc:
        if index is not None and str(index) in str(exc):
            raise UsageError("--index", str(exc)) from None
        raise
