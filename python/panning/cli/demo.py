"""``panning demo``: SEALS against the full-scan baseline on CLINC150 (shipped with panning)."""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from ..seals import DEFAULT_K, DEFAULT_MAX_K
from ._common import UsageError
from .seals import (
    index_or_graph,
    load_embeddings_and_labels,
    plot_curves,
    rare_concepts,
    simulate_concept,
    split_test,
)


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="SEALS vs full scan on a real labeled dataset (< 1 minute)")
    p.add_argument(
        "--data",
        default=None,
        help="a directory holding clinc150_emb.npy and clinc150_labels.npy (default: the "
        "CLINC150 copy shipped with panning)",
    )
    p.add_argument("--plot", default="panning_demo.png", help="learning-curve PNG path")
    p.add_argument("--json", default=None, help="also write the histories as JSON")
    p.add_argument("--progress", action="store_true")
    p.add_argument(
        "--dataset",
        choices=["clinc150", "digits", "synthetic"],
        default="clinc150",
        help="clinc150 (default, shipped), scikit-learn's digits, or a synthetic set",
    )
    p.set_defaults(func=run)


def _demo_data(data_dir: str | None, dataset: str = "clinc150") -> tuple[str, Any, np.ndarray]:
    if dataset == "synthetic":
        return _synthetic()
    if dataset == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise UsageError(
                "--dataset", "digits needs scikit-learn (pip install scikit-learn)"
            ) from None
        d = load_digits()
        x = (d.data / 16.0).astype(np.float32)
        return "scikit-learn digits (1,797 8x8 images, raw pixels)", x, d.target.astype(np.int64)
    if data_dir is not None:
        if not os.path.isdir(data_dir):
            raise UsageError("--data", f"no such directory: {data_dir}")
        emb, labels = load_embeddings_and_labels(
            os.path.join(data_dir, "clinc150_emb.npy"),
            os.path.join(data_dir, "clinc150_labels.npy"),
        )
        name = f"clinc150 from {data_dir} (CC BY 3.0, Larson et al. 2019)"
        return name, np.asarray(emb, dtype=np.float32), labels.astype(np.int64)
    from ..datasets import load_clinc150

    d = load_clinc150()
    name = "clinc150 shipped with panning (all-MiniLM-L6-v2, CC BY 3.0, Larson et al. 2019)"
    return name, d.embeddings, d.labels


def _synthetic() -> tuple[str, Any, np.ndarray]:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(60, 32))
    y = rng.integers(0, 60, size=8000)
    x = (centers[y] + 0.6 * rng.normal(size=(8000, 32))).astype(np.float32)
    return "SYNTHETIC: 60 Gaussian clusters, 8,000 x 32 (no real data used)", x, y


def run(args: argparse.Namespace) -> int:
    name, emb, labels = _demo_data(args.data, args.dataset)
    concepts = rare_concepts(labels, 0.02)[:3] or [int(np.bincount(labels).argmin())]
    budget = 600 if emb.shape[0] > 5000 else 300
    batch = 50 if budget <= 300 else 100
    print(f"panning demo: {name}; {emb.shape[0]} rows x {emb.shape[1]} dims")
    print(f"concepts {concepts}; seed 5 positives + 95 negatives; {batch} per round to {budget}")
    t = time.perf_counter()
    graph = index_or_graph(emb, max(DEFAULT_K, DEFAULT_MAX_K), None, progress=args.progress)
    print(f"HNSW index (the session default) built in {time.perf_counter() - t:.1f} s")
    test_ids = split_test(labels.shape[0], 0.2, 0)
    results: dict[str, dict[str, Any]] = {}
    for name_, cand in (("SEALS (knn)", "knn"), ("full scan (all)", "all")):
        runs = [
            simulate_concept(
                emb,
                labels,
                c,
                test_ids=test_ids,
                neighbors=graph,
                candidates=cand,
                budget=budget,
                batch_size=batch,
                progress=args.progress,
            )  # fmt: skip
            for c in concepts
        ]
        results[name_] = {"config": {"candidates": cand, "budget": budget}, "concepts": runs}
    print(f"\n{'':18s} {'labels':>6s} {'AP':>7s} {'recall':>7s} {'scored%':>8s} {'select ms':>10s}")
    for label, res in results.items():
        rounds = [c["rounds"] for c in res["concepts"]]
        for i in sorted({len(rounds[0]) // 2, len(rounds[0]) - 1}):
            ap = np.nanmean([_nan(r[i]["average_precision"]) for r in rounds])
            rec = np.mean([r[i]["recall"] or 0.0 for r in rounds])
            frac = np.mean([r[i]["fraction_scored"] for r in rounds])
            sel = np.mean([_select_ms(r[j]) for r in rounds for j in range(1, i + 1)])
            print(
                f"{label:18s} {rounds[0][i]['labels']:6d} {ap:7.3f} {rec:7.3f} "
                f"{100 * frac:8.2f} {sel:10.2f}"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if plot_curves(results, args.plot):
        print(f"\nlearning curves written to {args.plot}")
    return 0


def _nan(v: float | None) -> float:
    return np.nan if v is None else float(v)


def _select_ms(r: dict[str, Any]) -> float:
    return 1000.0 * float(r["seconds"].get("scoring", 0.0) + r["seconds"].get("selection", 0.0))
