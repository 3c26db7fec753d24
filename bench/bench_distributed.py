"""The cost of the Ray path against the local path: sharded search, SEALS rounds, full-scan scoring.

On the wordnet embeddings (../shared/data, 117,659 x 384 float16; synthetic clusters of the same
shape when absent), with S HNSW shards (M=16, ef_construction=200, cosine) saved to a temporary
directory:

- build: seconds and vectors per second per core for the shards; bytes per vector
  (``memory_bytes``) at float16 storage (the shards) and float32 (one shard rebuilt);
- search: queries per second for batches of 1,000 queries (k=10, ef=64) through
  LocalShardedIndex (threads) and RayShardedIndex (one actor per shard), and the round trip of a
  10-query batch (the fan-out's fixed cost); recall@10 of both against exact search on a sample;
- seals: per-round latency of a SEALS session (query 100, teach 100) over each index, the same
  labels; both sessions must return the same ids (checked);
- scoring: most_uncertain over N x C probabilities, single-process panning.most_uncertain vs
  panning.distributed.most_uncertain (Ray Data actor pool), and the full scan of a fitted model
  over the embeddings (the session's query vs the distributed one, same ids checked).

One JSON line per measurement on stdout (and --json FILE). Ray runs on this machine
(``ray.init(num_cpus=...)``), so the Ray figures are overhead on top of the same cores, not a
speed-up; timings wander with machine load.

    python bench/bench_distributed.py               # wordnet, 4 shards
    python bench/bench_distributed.py --quick       # 20,000 rows, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import tempfile
import time
from typing import Any

import numpy as np

import panning

ROOT = pathlib.Path(__file__).resolve().parent.parent
RECORDS: list[dict[str, Any]] = []


def emit(record: dict[str, Any]) -> None:
    RECORDS.append(record)
    print(json.dumps(record), flush=True)


def clustered(n: int, d: int, seed: int = 0, clusters: int = 100) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = 2.0 * rng.normal(size=(clusters, 32))
    proj = rng.normal(size=(32, d)) / np.sqrt(32)
    z = centers[rng.integers(0, clusters, n)] + 0.7 * rng.normal(size=(n, 32))
    x = z @ proj + 0.05 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)


def load(args: argparse.Namespace) -> tuple[str, np.ndarray, np.ndarray]:
    data = pathlib.Path(args.data_dir)
    data = data if data.is_absolute() else ROOT / data
    path = data / "wordnet_emb.npy"
    if path.exists():
        x = np.load(path, mmap_mode="r")
        y = np.load(data / "wordnet_labels.npy")
        name = "wordnet"
    else:
        print(f"# {path} not found: synthetic data", file=sys.stderr)
        x = clustered(117_659, 384)
        y = np.random.default_rng(0).integers(0, 45, x.shape[0])
        name = "synthetic"
    if args.quick:
        x, y = x[:20_000], y[:20_000]
    return name, np.ascontiguousarray(x), np.asarray(y)


def timed(fn: Any, repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(a[a >= 0]) & set(b[b >= 0])) for a, b in zip(found, truth)]
    return float(np.sum(hits) / np.sum(truth >= 0))


def bench_search(name, x, local, remote, repeats) -> None:
    rng = np.random.default_rng(1)
    q = np.asarray(x[rng.choice(x.shape[0], 1000, replace=False)], dtype=np.float32)
    q += np.float32(0.01) * rng.normal(size=q.shape).astype(np.float32)
    exact = panning.FlatIndex(x.shape[1], metric="cosine")
    exact.add(x)
    truth, _ = exact.search(q[:200], 10)
    for label, index in (("local", local), ("ray", remote)):
        sec, (ids, _) = timed(lambda index=index: index.search(q, 10, ef=64), repeats)
        small, _ = timed(lambda index=index: index.search(q[:10], 10, ef=64), repeats * 5)
        emit({"bench": "search", "data": name, "path": label, "shards": index.num_shards,
              "batch": 1000, "k": 10, "ef": 64, "seconds": sec, "qps": 1000 / sec,
              "ms_10_queries": 1e3 * small, "recall10": recall(ids[:200], truth)})  # fmt: skip


def bench_seals(name, x, y, local, remote, rounds) -> None:
    from panning.seals import Seals

    counts = np.bincount(y)
    usable = np.flatnonzero(counts >= 20)
    concept = int(usable[np.argsort(counts[usable])[len(usable) // 3]])  # a rare-ish class
    yy = (y == concept).astype(np.int64)
    rng = np.random.default_rng(0)
    seed = np.r_[rng.choice(np.flatnonzero(yy == 1), 5, replace=False),
                 rng.choice(np.flatnonzero(yy == 0), 95, replace=False)]  # fmt: skip
    queries = {}
    for label, index in (("local", local), ("ray", remote)):
        s = Seals(x, neighbors=index, seed=0)
        t = time.perf_counter()
        s.teach(seed, yy[seed])
        first = time.perf_counter() - t
        per_round, index_s, got = [], [], []
        for _ in range(rounds):
            t = time.perf_counter()
            ids = s.query(100)
            s.teach(ids, yy[ids])
            per_round.append(time.perf_counter() - t)
            index_s.append(s.history[-1].seconds.get("index", 0.0))
            got.append(ids)
        queries[label] = np.concatenate(got)
        emit({"bench": "seals", "data": name, "path": label, "shards": index.num_shards,
              "concept": concept, "prevalence": float(yy.mean()), "rounds": rounds,
              "seed_round_s": first, "round_s_median": float(np.median(per_round)),
              "index_s_median": float(np.median(index_s)),
              "pool_size": int(s.history[-1].pool_size),
              "positives": int(s.history[-1].positives)})  # fmt: skip
    emit({"bench": "seals", "data": name, "same_queries": bool(
        np.array_equal(queries["local"], queries["ray"]))})  # fmt: skip


def bench_scoring(name, x, y, n_probs, classes, repeats, pool) -> None:
    from panning import distributed
    from panning.seals import Seals

    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(classes), size=n_probs).astype(np.float32)
    k = 1000
    single, want = timed(lambda: panning.most_uncertain(p, k), repeats)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "probs.npy")
        np.save(path, p)
        for label, source in (("array", p), ("npy", path)):
            sec, got = timed(
                lambda source=source: distributed.most_uncertain(source, k, **pool), repeats
            )
            emit({"bench": "scoring", "data": f"dirichlet-{n_probs}x{classes}", "source": label,
                  "k": k, "single_s": single, "ray_s": sec,
                  "single_rows_per_s": n_probs / single, "ray_rows_per_s": n_probs / sec,
                  "same_ids": bool(np.array_equal(got, want))})  # fmt: skip
    # a fitted model over every embedding: SEALS' full-scan baseline, one query
    counts = np.bincount(y)
    yy = (y == int(np.argmax(counts))).astype(np.int64)
    s = Seals(x, candidates="all", seed=0)
    seed = rng.choice(x.shape[0], 500, replace=False)
    s.teach(seed, yy[seed])
    s.query(100)  # fits
    single, want = timed(lambda: s.query(100), repeats)
    sec, got = timed(
        lambda: distributed.most_uncertain(x, 100, model=s.model, exclude=seed, **pool), repeats
    )
    emit({"bench": "scoring", "data": name, "source": "model over embeddings", "k": 100,
          "single_s": single, "ray_s": sec, "single_rows_per_s": x.shape[0] / single,
          "ray_rows_per_s": x.shape[0] / sec,
          "same_ids": bool(np.array_equal(got, want))})  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--probs", type=int, default=2_000_000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.repeats, args.probs = 3, 1, 200_000
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    import ray.data

    from panning.distributed import LocalShardedIndex, RayShardedIndex, build_shards

    name, x, y = load(args)
    emit({"bench": "env", "python": platform.python_version(), "ray": ray.__version__,
          "cpus": args.cpus, "build": panning.build_info(), "rows": int(x.shape[0]),
          "dim": int(x.shape[1])})  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        manifest = build_shards(x, d, args.shards, metric="cosine", storage="float16")
        build = time.perf_counter() - t
        local = LocalShardedIndex.load(manifest)
        mem16 = sum(s.memory_bytes() for s in local.shards)
        one = panning.HNSWIndex(x.shape[1], metric="cosine", storage="float32")
        part = x[: local.shard_sizes[0]]
        t = time.perf_counter()
        one.add(part)
        build32 = time.perf_counter() - t
        emit({"bench": "build", "data": name, "shards": args.shards, "seconds": build,
              "vectors_per_s_per_core": x.shape[0] / build / args.cpus,
              "bytes_per_vector_f16": mem16 / x.shape[0],
              "bytes_per_vector_f32": one.memory_bytes() / len(one),
              "f32_vectors_per_s_per_core": len(one) / build32 / args.cpus})  # fmt: skip
        del one
        t = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="warning")
        ray.data.DataContext.get_current().enable_progress_bars = False
        init = time.perf_counter() - t
        t = time.perf_counter()
        remote = RayShardedIndex(manifest, num_cpus=0.25)
        emit({"bench": "startup", "ray_init_s": init,
              "actors_load_s": time.perf_counter() - t})  # fmt: skip
        bench_search(name, x, local, remote, args.repeats)
        bench_seals(name, x, y, local, remote, args.rounds)
        remote.close()
        local.close()
    pool = {"concurrency": args.cpus, "num_cpus": 0.5, "batch_size": 65536}
    bench_scoring(name, x, y, args.probs, args.classes, args.repeats, pool)
    ray.shutdown()
    if args.json:
        with open(args.json, "w") as f:
            for r in RECORDS:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
