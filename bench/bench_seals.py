"""SEALS vs full scan vs random on ../shared/data (wordnet, clinc150): the papers' protocol.

One-vs-rest concepts, a seeded 20% held-out test split (clinc150: its own test split), a seed of
5 random positives + 95 random negatives, logistic regression (panning's NumPy default), 100
labels per round up to the budget. For each strategy: SEALS (``candidates="knn"``), the same
strategy over all unlabeled data (``"all"``) and random over all data. Writes one JSON line per
(concept, seed, configuration) with the per-round history, then a summary table (JSON + text):
mean average precision, recall, fraction of the pool scored and selection time per round, at
1,000 and 2,000 labels.

    python bench/bench_seals.py quality --dataset wordnet --index /tmp/wordnet_cosine.hnsw \
        --seeds 3 --probe 40 --out bench/results/seals_wordnet.jsonl
    python bench/bench_seals.py scaling --index /tmp/wordnet_knn100.npz ...
    python bench/bench_seals.py density ...
    python bench/bench_seals.py scale --rows 1000000 --dir /tmp/seals_scale \
        --out bench/results/seals_scale.jsonl

The machine has 2 cores shared with other work; timings are wall-clock and may be disturbed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

import panning
from panning.cli.seals import index_or_graph
from panning.neighbors import load_or_build_graph
from panning.seals import Seals
from panning.seals_cli import simulate_concept, split_test
from panning.strategies import InformationDensity, global_density

CONCEPTS = {
    # rarest first: verb.weather 0.07%, verb.consumption 0.21%, verb.body 0.46%, noun.time
    # 0.87%, noun.body 1.7%
    "wordnet": [44, 35, 30, 29, 9],
    "clinc150": [0, 37, 74, 111, 148],
}


def load(dataset: str, data_dir: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    emb = np.load(os.path.join(data_dir, f"{dataset}_emb.npy"))
    labels = np.load(os.path.join(data_dir, f"{dataset}_labels.npy")).astype(np.int64)
    if dataset == "clinc150":
        with open(os.path.join(data_dir, "clinc150_text.jsonl")) as f:
            split = [json.loads(line)["split"] for line in f]
        test = np.flatnonzero(np.asarray(split) == "test").astype(np.int64)
    else:
        test = split_test(labels.shape[0], 0.2, 0)
    return emb, labels, test


def make_strategy(name: str, candidates: str, density: str = "paper") -> Any:
    if name == "information_density":
        # "paper": SEALS' kNN density against the full scan's global one (the papers' arms);
        # "global": both arms the global density (exact, via the linear identity for cosine; its
        # quadratic cost is measured by the `density` command), one definition for both
        scope = "knn" if candidates == "knn" and density == "paper" else "global"
        return InformationDensity(scope=scope, quadratic=False)
    return name


def run_one(
    emb,
    labels,
    test,
    graph,
    concept,
    seed,
    strategy,
    candidates,
    k,
    expand,
    budget,
    max_k=None,
    min_pool=100,
    expand_budget=None,
    probe=0,
    density="paper",
):
    t = time.perf_counter()
    res = simulate_concept(
        emb,
        labels,
        concept,
        test_ids=test,
        neighbors=graph,
        k=k,
        max_k=max_k,
        min_pool=min_pool,
        expand_budget=expand_budget,
        expand=expand,
        probe=probe,
        strategy=make_strategy(strategy, candidates, density),
        candidates=candidates,
        budget=budget,
        seed=seed,
    )
    res.update(
        strategy=strategy,
        candidates=candidates,
        k=k,
        max_k=max_k,
        min_pool=min_pool,
        expand_budget=expand_budget,
        expand=expand,
        probe=probe,
        density=density if strategy == "information_density" else None,
        seed=seed,
        wall_seconds=time.perf_counter() - t,
    )
    return res


def at_labels(rounds: list[dict[str, Any]], n: int) -> dict[str, Any] | None:
    for r in rounds:
        if r["labels"] == n:
            return r
    return None


def summarise(runs: list[dict[str, Any]], marks=(500, 1000, 2000)) -> list[dict[str, Any]]:
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in runs:
        knn = r["candidates"] == "knn"  # k and expand only matter to the kNN pool
        kk = _k_label(r) if knn else "-"
        key = (r["strategy"], r["candidates"], kk, r["expand"] if knn else "-")
        groups.setdefault(key, []).append(r)
    rows = []
    for (strategy, cand, k, expand), rs in sorted(groups.items(), key=str):
        row: dict[str, Any] = {
            "strategy": strategy,
            "candidates": cand,
            "k": k,
            "expand": expand,
            "runs": len(rs),
        }
        sel = [
            1000 * (x["seconds"].get("scoring", 0) + x["seconds"].get("selection", 0))
            for r in rs
            for x in r["rounds"][1:]
        ]
        row["select_ms_per_round"] = float(np.mean(sel)) if sel else None
        for m in marks:
            pts = [at_labels(r["rounds"], m) for r in rs]
            pts = [p for p in pts if p is not None]
            if not pts:
                continue
            ap = [p["average_precision"] for p in pts if p["average_precision"] is not None]
            row[f"ap@{m}"] = float(np.mean(ap)) if ap else None
            row[f"recall@{m}"] = float(np.mean([p["recall"] for p in pts]))
            row[f"scored@{m}"] = float(np.mean([p["fraction_scored"] for p in pts]))
            row[f"scored_max@{m}"] = float(np.max([p["fraction_scored"] for p in pts]))
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, Any]], out=sys.stdout) -> None:
    cols = [c for c in ("strategy", "candidates", "k", "expand", "runs", "pairs") if c in rows[0]]
    metrics = [c for c in rows[0] if c not in cols]
    out.write(" | ".join(cols + metrics) + "\n")
    for r in rows:
        vals = [str(r[c]) for c in cols]
        for m in metrics:
            v = r.get(m)
            vals.append("-" if v is None else f"{v:.3f}")
        out.write(" | ".join(vals) + "\n")


def cmd_quality(args: argparse.Namespace) -> None:
    emb, labels, test = load(args.dataset, args.data_dir)
    t = time.perf_counter()
    # an .hnsw index (what a Seals session builds by default; the probe needs it) or an .npz graph
    graph = index_or_graph(emb, max(args.k + [args.max_k]), args.index, progress=True)
    print(f"graph ready in {time.perf_counter() - t:.1f} s", flush=True)
    concepts = args.concepts or CONCEPTS[args.dataset]
    configs = []
    for strategy in args.strategies:
        for k in args.k:
            for expand in args.expand:
                configs.append((strategy, "knn", k, expand))
        if not args.knn_only:
            configs.append((strategy, "all", args.k[0], args.expand[0]))
    if not args.knn_only:
        configs.append(("random", "all", args.k[0], args.expand[0]))
    runs = []
    with open(args.out, "a") as f:
        for seed in range(args.seed_start, args.seed_start + args.seeds):
            for concept in concepts:
                for strategy, cand, k, expand in configs:
                    res = run_one(
                        emb,
                        labels,
                        test,
                        graph[:, : max(k, args.max_k)] if isinstance(graph, np.ndarray) else graph,
                        concept,
                        seed,
                        strategy,
                        cand,
                        k,
                        expand,
                        args.budget,
                        args.max_k,
                        args.min_pool,
                        args.expand_budget if cand == "knn" else None,
                        args.probe if cand == "knn" else 0,
                        args.density,
                    )
                    res["dataset"] = args.dataset
                    f.write(json.dumps(res) + "\n")
                    f.flush()
                    last = res["rounds"][-1]
                    print(
                        f"{args.dataset} c={concept} s={seed} {strategy:22s} {cand:3s} k={k:3d}/"
                        f"{max(k, args.max_k)} "
                        f"{expand:9s} AP={last['average_precision'] or 0:.3f} "
                        f"recall={last['recall']:.3f} scored={last['fraction_scored']:.4f} "
                        f"({res['wall_seconds']:.1f}s)",
                        flush=True,
                    )
                    runs.append(res)
    rows = summarise(runs)
    print_table(rows)
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump({"dataset": args.dataset, "rows": rows}, f, indent=1)


def paired_ratios(runs: list[dict[str, Any]], marks=(1000, 2000)) -> list[dict[str, Any]]:
    """SEALS / full scan of mean AP and recall over the (concept, seed) pairs both ran."""
    full = {(r["strategy"], r["concept"], r["seed"]): r for r in runs if r["candidates"] == "all"}
    groups: dict[tuple, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for r in runs:
        other = full.get((r["strategy"], r["concept"], r["seed"]))
        if r["candidates"] != "knn" or other is None:
            continue
        key = (r["strategy"], _k_label(r), r["expand"])
        groups.setdefault(key, []).append((r, other))
    rows = []
    for (strategy, kk, expand), pairs in sorted(groups.items(), key=str):
        row: dict[str, Any] = {"strategy": strategy, "k": kk, "expand": expand, "pairs": len(pairs)}
        for m in marks:
            a = [(at_labels(s["rounds"], m), at_labels(f["rounds"], m)) for s, f in pairs]
            a = [(s, f) for s, f in a if s is not None and f is not None]
            for metric in ("average_precision", "recall"):
                num = np.mean([s[metric] or 0.0 for s, _ in a])
                den = np.mean([f[metric] or 0.0 for _, f in a])
                row[f"{metric}_ratio@{m}"] = float(num / den) if den else None
            row[f"scored@{m}"] = float(np.mean([s["fraction_scored"] for s, _ in a]))
            sel = [
                (
                    np.mean([_sel_ms(x) for x in s["rounds"][1:]]),
                    np.mean([_sel_ms(x) for x in f["rounds"][1:]]),
                )
                for s, f in pairs
            ]
            row["select_ms_seals"] = float(np.mean([x[0] for x in sel]))
            row["select_ms_full"] = float(np.mean([x[1] for x in sel]))
        rows.append(row)
    return rows


def _k_label(r: dict[str, Any]) -> str:
    """``k-max_k`` (plus ``/min_pool`` when not the default 100)."""
    label = f"{r['k']}-{r.get('max_k') or r['k']}"
    if r.get("expand_budget"):
        label += f"/B{r['expand_budget']}"
    if r.get("probe"):
        label += f"/P{r['probe']}"
    if r.get("density") == "global":
        label += "/global-density"
    return label if r.get("min_pool", 100) == 100 else f"{label}/{r['min_pool']}"


def _sel_ms(r: dict[str, Any]) -> float:
    return 1000.0 * (r["seconds"].get("scoring", 0.0) + r["seconds"].get("selection", 0.0))


def cmd_summary(args: argparse.Namespace) -> None:
    runs = []
    for path in args.files:
        with open(path) as f:
            runs += [json.loads(line) for line in f if line.strip()]
    out = {}
    for ds in sorted({r["dataset"] for r in runs}):
        sub = [r for r in runs if r["dataset"] == ds]
        print(f"## {ds}: means")
        rows = summarise(sub)
        print_table(rows)
        print(f"## {ds}: SEALS / full scan, paired by (concept, seed)")
        ratios = paired_ratios(sub)
        if ratios:
            print_table(ratios)
        out[ds] = {"means": rows, "ratios": ratios}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


def cmd_scaling(args: argparse.Namespace) -> None:
    """Selection time per round vs pool size: wordnet replicated with small noise.

    The kNN graph of replica ``r`` of row ``i`` is row ``i``'s wordnet neighbours shifted into
    replica ``r`` (the noise, 1% of the embedding scale, keeps near neighbours near); it is a
    stand-in for an index over the replicated data, enough to time SEALS' selection.
    """
    emb, labels, test = load("wordnet", args.data_dir)
    width = max(args.k, 100)  # the default widening limit
    graph = load_or_build_graph(emb, width, args.index)[:, :width]
    n0 = emb.shape[0]
    rng = np.random.default_rng(0)
    out = []
    for size in args.sizes:
        reps = int(np.ceil(size / n0))
        parts = [emb]
        for _ in range(1, reps):
            noise = rng.normal(scale=0.01 * float(np.abs(emb[:1000]).mean()), size=emb.shape)
            parts.append((emb + noise.astype(np.float16)).astype(np.float16))
        x = np.concatenate(parts)[:size]
        g = np.concatenate([graph + r * n0 for r in range(reps)])[:size]
        g[g >= size] = -1
        y = np.tile(labels, reps)[:size]
        tst = np.concatenate([test + r * n0 for r in range(reps)])
        tst = tst[tst < size]
        for cand in ("knn", "all"):
            res = simulate_concept(
                x, y, args.concept, test_ids=tst, neighbors=g, k=args.k, candidates=cand,
                budget=args.budget, seed=0,
            )  # fmt: skip
            sel = [
                1000 * (r["seconds"]["scoring"] + r["seconds"]["selection"])
                for r in res["rounds"][1:]
            ]
            row = {
                "rows": size,
                "candidates": cand,
                "select_ms_mean": float(np.mean(sel)),
                "select_ms_median": float(np.median(sel)),
                "pool_size_last": res["rounds"][-1]["pool_size"],
                "training_ms_mean": float(
                    np.mean([1000 * r["seconds"]["training"] for r in res["rounds"][1:]])
                ),
            }
            print(json.dumps(row), flush=True)
            out.append(row)
        del x
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.6))
        for cand, label in (("knn", "SEALS"), ("all", "full scan")):
            pts = [(r["rows"], r["select_ms_mean"]) for r in out if r["candidates"] == cand]
            ax.plot(*zip(*pts), marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows")
        ax.set_ylabel("selection ms / round (max entropy)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)


def cmd_density(args: argparse.Namespace) -> None:
    """Cost of information density: SEALS (kNN, cached) vs the global quadratic full scan."""
    emb, _, _ = load("wordnet", args.data_dir)
    graph = load_or_build_graph(emb, args.k, args.index)[:, : args.k]
    rows = lambda ids: np.asarray(emb[ids], dtype=np.float32)  # noqa: E731
    out = []
    for size in args.sizes:
        ids = np.arange(size)
        t = time.perf_counter()
        global_density(rows, ids, ids, quadratic=True)
        sec = time.perf_counter() - t
        out.append({"kind": "global_quadratic", "pool": size, "seconds": sec})
        print(json.dumps(out[-1]), flush=True)
    # SEALS: densities of a typical pool's worth of new candidates per round
    s = Seals(emb, neighbors=graph, k=args.k, strategy="information_density")
    for cands in (2000, 5000):
        ids = np.random.default_rng(0).choice(emb.shape[0], cands, replace=False)
        ctx_cache: dict[str, Any] = {}
        from panning.strategies import SelectionContext

        ctx = SelectionContext(
            proba=lambda i: np.full((len(i), 2), 0.5, np.float32),
            rows=s._rows,
            neighbors=s._source.neighbors,
            unlabeled=lambda ids=ids: ids,
            rng=np.random.default_rng(0),
            positive_column=1,
            cache=ctx_cache,
        )
        t = time.perf_counter()
        InformationDensity()._knn_density(np.sort(ids), ctx)
        out.append(
            {"kind": "knn_new_candidates", "candidates": cands, "seconds": time.perf_counter() - t}
        )
        print(json.dumps(out[-1]), flush=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


# ---- scale: SEALS on millions of rows (issue: persisted parallel graph, bounded memory) --------

SCALE_DIM = 384


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def scale_data(folder: str, rows: int, dim: int = SCALE_DIM, seed: int = 0) -> tuple[str, str]:
    """Synthetic clustered float16 embeddings (an ``.npy`` memmap) with a planted rare concept.

    2,000 clusters (unit centres, within-cluster cosine about 0.5); the concept is the half of
    six clusters on one side of a random direction: 0.15% of the rows. Written block by block
    (never held whole); reused when the files exist.
    """
    x_path = os.path.join(folder, f"x_{rows}.npy")
    y_path = os.path.join(folder, f"y_{rows}.npy")
    if os.path.exists(x_path) and os.path.exists(y_path):
        return x_path, y_path
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2000, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    concept_clusters = rng.choice(2000, 6, replace=False)
    direction = rng.normal(size=dim).astype(np.float32)
    x = np.lib.format.open_memmap(x_path + ".tmp", mode="w+", dtype=np.float16, shape=(rows, dim))
    y = np.zeros(rows, dtype=np.int8)
    for s in range(0, rows, 1 << 16):
        e = min(rows, s + (1 << 16))
        r = np.random.default_rng([seed, s])
        c = r.integers(0, 2000, e - s)
        v = centres[c] + r.normal(scale=1.0 / np.sqrt(dim), size=(e - s, dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        x[s:e] = v.astype(np.float16)
        y[s:e] = np.isin(c, concept_clusters) & ((v - centres[c]) @ direction > 0)
    x.flush()
    del x
    os.replace(x_path + ".tmp", x_path)
    np.save(y_path, y)
    return x_path, y_path


def _scale_seed(y: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    return np.r_[rng.choice(pos, 5, replace=False), rng.choice(neg, 95, replace=False)]


def _scale_rounds(s: Seals, y: np.ndarray, budget: int) -> list[dict[str, Any]]:
    ids = _scale_seed(y, 0)
    s.teach(ids, y[ids])
    while s.n_labeled < budget:
        ids = s.query(100)
        s.teach(ids, y[ids])
    return [r.as_dict() for r in s.history[1:]]


def numpy_full_scan(x: Any, model: Any, labeled: np.ndarray, k: int, block: int = 1 << 16) -> Any:
    """The honest baseline: a plain float32 NumPy/BLAS scan of the same logistic model.

    What a competent user writes: contiguous blocks, float32 BLAS, a softmax, the entropy and a
    running top-``k`` by ``argpartition``; labeled rows dropped.
    """
    w = np.ascontiguousarray(model.coef_.T, dtype=np.float32)
    b = model.intercept_.astype(np.float32)
    best_s = np.empty(0, dtype=np.float32)
    best_i = np.empty(0, dtype=np.int64)
    n = x.shape[0]
    for s in range(0, n, block):
        z = np.asarray(x[s : s + block], dtype=np.float32) @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        h = -(p * np.log(np.maximum(p, 1e-30))).sum(axis=1)
        h[labeled[s : s + block]] = -np.inf
        cand_s = np.r_[best_s, h]
        cand_i = np.r_[best_i, np.arange(s, s + h.shape[0])]
        top = np.argpartition(-cand_s, min(k, cand_s.shape[0] - 1))[:k]
        best_s, best_i = cand_s[top], cand_i[top]
    return best_i[np.argsort(-best_s, kind="stable")]


def _scale_phase(args: argparse.Namespace) -> None:
    """One phase in its own process (so that its peak RSS is its own); prints one JSON line."""
    x = np.load(args.x, mmap_mode="r")
    y = np.load(args.y)
    session = os.path.join(args.dir, f"session_{os.path.basename(args.x)}.db")
    out: dict[str, Any] = {"phase": args.phase, "rows": int(x.shape[0])}
    if args.phase == "seals":
        for f in (session, session + ".hnsw", session + ".lock"):
            if os.path.exists(f):
                os.unlink(f)
        t = time.perf_counter()
        s = Seals(x, path=session, seed=0)
        out["setup_s"] = time.perf_counter() - t
        out["index_bytes"] = os.path.getsize(session + ".hnsw")
        out["index_memory_bytes"] = s._source.index.memory_bytes()
        out["rounds"] = _scale_rounds(s, y, args.budget)
        out["next_query"] = s.query(100).tolist()
        s.close()
    elif args.phase == "resume":
        t = time.perf_counter()
        s = Seals.resume(session, x)
        out["resume_s"] = time.perf_counter() - t
        t = time.perf_counter()
        out["next_query"] = s.query(100).tolist()
        out["first_query_s"] = time.perf_counter() - t
        out["rounds"] = [r.as_dict() for r in s.history[1:]]  # as recorded by the session
        s.close()
    elif args.phase == "fullscan":
        s = Seals(x, candidates="all", seed=0)
        out["rounds"] = _scale_rounds(s, y, args.budget)
        labeled = np.zeros(x.shape[0], dtype=bool)
        labeled[s.labeled[0]] = True
        pan, base = [], []
        for _ in range(args.repeats):
            s.query(100)
            pan.append(s._pending["scoring"] + s._pending["selection"])
            t = time.perf_counter()
            numpy_full_scan(x, s.model, labeled, 100)
            base.append(time.perf_counter() - t)
        ours = s.query(100)
        theirs = numpy_full_scan(x, s.model, labeled, 100)
        out["panning_full_scan_s"] = float(np.median(pan))
        out["numpy_full_scan_s"] = float(np.median(base))
        out["full_scan_over_numpy"] = float(np.median(pan) / np.median(base))
        out["full_scan_overlap_with_numpy"] = len(set(ours.tolist()) & set(theirs.tolist())) / 100
    elif args.phase == "hnswlib":
        import hnswlib

        t = time.perf_counter()
        index = hnswlib.Index(space="cosine", dim=int(x.shape[1]))
        index.init_index(max_elements=int(x.shape[0]), M=16, ef_construction=200, random_seed=0)
        index.set_num_threads(os.cpu_count() or 1)
        for s in range(0, x.shape[0], 1 << 16):
            e = min(int(x.shape[0]), s + (1 << 16))
            index.add_items(np.asarray(x[s:e], dtype=np.float32), np.arange(s, e))
        out["build_s"] = time.perf_counter() - t
    out["peak_rss_mb"] = _peak_rss_mb()
    with open(
        os.path.join(args.dir, f"phase_{args.phase}_{os.path.basename(args.x)}.json"), "w"
    ) as f:
        json.dump(out, f)  # kept even when a later phase fails
    print(json.dumps(out), flush=True)


def cmd_scale(args: argparse.Namespace) -> None:
    """SEALS at scale: setup (parallel index) vs hnswlib, resume, per-round latency, memory.

    Every phase runs in a fresh process: ``seals`` (a new session: index built on all threads
    and saved, 5 + 95 seed labels, rounds of 100 to the budget), ``resume`` (a fresh process
    reopening the session: loads the saved index, replays the log, must give the same next
    query), ``fullscan`` (the same session over every row, and its scan timed against
    :func:`numpy_full_scan`) and ``hnswlib`` (hnswlib's build of the same data, M = 16,
    ef_construction = 200, all cores).
    """
    if args.embeddings:  # real data: one concept of a labeled set, e.g. wordnet
        os.makedirs(args.dir, exist_ok=True)
        y_path = os.path.join(args.dir, f"y_{os.path.basename(args.labels)}_{args.concept}.npy")
        np.save(y_path, (np.load(args.labels) == args.concept).astype(np.int8))
        datasets = [(os.path.abspath(args.embeddings), y_path)]
    else:
        datasets = [scale_data(args.dir, rows) for rows in args.rows]
    for x_path, y_path in datasets:
        x = np.load(x_path, mmap_mode="r")
        rows = int(x.shape[0])
        res: dict[str, Any] = {
            "rows": rows,
            "data": os.path.basename(x_path),
            "dim": int(x.shape[1]),
            "embeddings_bytes": os.path.getsize(x_path),
            "positives": int(np.load(y_path).sum()),
            "cpus": os.cpu_count(),
            "loadavg_start": os.getloadavg()[0],
            "simd": panning.build_info().get("simd"),
        }
        del x
        for phase in args.phases:
            cmd = [sys.executable, os.path.abspath(__file__), "scale-phase", "--phase", phase,
                   "--x", x_path, "--y", y_path, "--dir", args.dir, "--budget", str(args.budget),
                   "--repeats", str(args.repeats)]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"phase {phase} failed:\n{done.stderr[-3000:]}")
            res[phase] = json.loads(done.stdout.strip().splitlines()[-1])
            brief = {k: v for k, v in res[phase].items() if k not in ("next_query", "rounds")}
            print(json.dumps(brief), flush=True)
        res["loadavg_end"] = os.getloadavg()[0]
        res["summary"] = _scale_summary(res)
        print(json.dumps(res["summary"]), flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(res) + "\n")


def _scale_summary(res: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": res["rows"]}
    seals, full = res.get("seals"), res.get("fullscan")
    if seals:
        rounds = seals["rounds"]
        out["setup_s"] = seals["setup_s"]
        out["peak_rss_mb"] = seals["peak_rss_mb"]
        mb = (res["embeddings_bytes"] + seals["index_bytes"]) / 2**20
        out["rss_over_files"] = seals["peak_rss_mb"] / mb
        for part in ("index", "training", "scoring", "selection"):
            out[f"round_{part}_ms"] = 1000 * float(np.median([r["seconds"][part] for r in rounds]))
        out["round_ms"] = 1000 * float(np.median([sum(r["seconds"].values()) for r in rounds]))
        sel = [r["seconds"]["index"] + r["seconds"]["scoring"] + r["seconds"]["selection"]
               for r in rounds]  # fmt: skip
        out["round_select_ms"] = 1000 * float(np.median(sel))
        out["fraction_scored"] = rounds[-1]["fraction_scored"]
        out["recall"] = rounds[-1]["positives"] / max(res["positives"], 1)
        out["filled_random"] = int(sum(r["filled_random"] for r in rounds))
    if res.get("resume") and seals:
        out["resume_s"] = res["resume"]["resume_s"]
        out["resume_same_query"] = res["resume"]["next_query"] == seals["next_query"]
    if res.get("hnswlib"):
        out["hnswlib_build_s"] = res["hnswlib"]["build_s"]
        if seals:
            out["setup_over_hnswlib"] = seals["setup_s"] / res["hnswlib"]["build_s"]
    if full:
        out["full_scan_s"] = full["panning_full_scan_s"]
        out["numpy_full_scan_s"] = full["numpy_full_scan_s"]
        out["full_scan_over_numpy"] = full["full_scan_over_numpy"]
        out["full_round_ms"] = 1000 * float(
            np.median([sum(r["seconds"].values()) for r in full["rounds"]])
        )
        out["full_recall"] = full["rounds"][-1]["positives"] / max(res["positives"], 1)
        if seals:
            out["seals_speedup_vs_full_scan"] = out["full_scan_s"] * 1000 / out["round_select_ms"]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    here = os.path.dirname(os.path.abspath(__file__))
    default_data = os.path.normpath(os.path.join(here, "..", "..", "shared", "data"))

    q = sub.add_parser("quality")
    q.add_argument("--dataset", choices=["wordnet", "clinc150"], default="wordnet")
    q.add_argument("--data-dir", default=default_data)
    q.add_argument(
        "--index",
        help="the session's HNSW index (.hnsw: loaded when present, else built and saved) or "
        "a kNN graph cache (.npz) with >= max(--k) columns",
    )
    q.add_argument("--concepts", type=int, nargs="*")
    q.add_argument("--seeds", type=int, default=2)
    q.add_argument("--seed-start", type=int, default=0)
    q.add_argument("--budget", type=int, default=2000)
    q.add_argument(
        "--strategies",
        nargs="+",
        default=["max_entropy", "most_likely_positive", "information_density"],
    )
    q.add_argument("--k", type=int, nargs="+", default=[30])
    q.add_argument("--max-k", type=int, default=100, help="widening limit (<= k: none)")
    q.add_argument("--min-pool", type=int, default=100, help="widen below this pool size")
    q.add_argument("--expand-budget", type=int, help="neighbours per round's new expanders")
    q.add_argument("--expand", nargs="+", default=["positives"])
    q.add_argument("--probe", type=int, default=0, help="probe size (needs an .hnsw --index)")
    q.add_argument(
        "--density",
        choices=["paper", "global"],
        default="paper",
        help="information density: kNN (SEALS) vs global (full scan), or global in both arms",
    )
    q.add_argument("--knn-only", action="store_true", help="no full-scan / random baselines")
    q.add_argument("--out", required=True, help="JSON lines, appended")
    q.add_argument("--summary", help="summary JSON")
    q.set_defaults(func=cmd_quality)

    s = sub.add_parser("summary")
    s.add_argument("files", nargs="+")
    s.add_argument("--json", help="write the tables here")
    s.set_defaults(func=cmd_summary)

    c = sub.add_parser("scaling")
    c.add_argument("--data-dir", default=default_data)
    c.add_argument("--index", required=True)
    c.add_argument("--k", type=int, default=30)
    c.add_argument("--concept", type=int, default=30)
    c.add_argument("--budget", type=int, default=1000)
    c.add_argument("--sizes", type=int, nargs="+", default=[117659, 300000, 1000000])
    c.add_argument("--out", required=True)
    c.add_argument("--plot")
    c.set_defaults(func=cmd_scaling)

    d = sub.add_parser("density")
    d.add_argument("--data-dir", default=default_data)
    d.add_argument("--index", required=True)
    d.add_argument("--k", type=int, default=20)
    d.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000, 20000])
    d.add_argument("--out", required=True)
    d.set_defaults(func=cmd_density)

    sc = sub.add_parser("scale")
    sc.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    sc.add_argument("--dir", required=True, help="data and session files (reused)")
    sc.add_argument("--embeddings", help="real embeddings (.npy) instead of synthetic ones")
    sc.add_argument("--labels", help="their labels (.npy), with --concept")
    sc.add_argument("--concept", type=int, default=44)
    sc.add_argument("--budget", type=int, default=1000)
    sc.add_argument("--repeats", type=int, default=3)
    sc.add_argument(
        "--phases", nargs="+", default=["seals", "resume", "fullscan", "hnswlib"],
        choices=["seals", "resume", "fullscan", "hnswlib"],
    )  # fmt: skip
    sc.add_argument("--out", required=True, help="JSON lines, appended")
    sc.set_defaults(func=cmd_scale)

    ph = sub.add_parser("scale-phase")
    ph.add_argument("--phase", required=True)
    for name in ("--x", "--y", "--dir"):
        ph.add_argument(name, required=True)
    ph.add_argument("--budget", type=int, default=1000)
    ph.add_argument("--repeats", type=int, default=3)
    ph.set_defaults(func=_scale_phase)

    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
