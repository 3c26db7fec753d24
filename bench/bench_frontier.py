"""Frontier expansion throughput: panning (CPU, and CUDA with --device cuda) vs the NumPy
reference, on a random kNN graph. One JSON line per configuration, then a markdown table.

    python bench/bench_frontier.py                # n = 1,000,000, k = 100
    python bench/bench_frontier.py --device cuda
    python bench/bench_frontier.py --seals --sizes 1000000 10000000 --json seals_state.jsonl

``--seals``: what the Frontier changed in a SEALS round. The same session (synthetic neighbour
lists, 100 labels a round, 10% of them positives that expand, 20% of the ids excluded) runs on
today's ``panning.Seals`` (its pool state is a Frontier: bitmaps) and on ``panning.Seals`` as
it was at ``--before`` (boolean arrays and NumPy set operations; its source is read from git),
timing ``teach`` (the pool update) and ``query`` (scoring + selection) per round and the bytes
the pool state holds. The embeddings are tiny (16-d float16) so that the pool state, not
scoring, is what differs; the neighbour lists come from a hash, not an index.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

from panning import Frontier, reference


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--rounds", type=int, default=5, help="rounds (--seals: whole sessions)")
    ap.add_argument("--json", help="append JSON lines here")
    ap.add_argument("--seals", action="store_true", help="SEALS rounds: Frontier vs before")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--before", default="5e70673", help="git revision of the NumPy pool state")
    ap.add_argument("--labels", type=int, default=3000, help="labels per SEALS session")
    args = ap.parse_args(argv)
    if args.seals:
        return seals_rounds(args)

    rng = np.random.default_rng(0)
    graph = rng.integers(0, args.n, size=(args.n, args.k), dtype=np.int64)
    records: list[dict[str, Any]] = []
    for batch_size in (100, 1000, 10_000):
        batches = [rng.choice(args.n, batch_size, replace=False) for _ in range(args.rounds)]
        impls: dict[str, Any] = {}

        def run_reference(batches: list[np.ndarray] = batches) -> None:
            labeled, pool = np.zeros(args.n, bool), np.zeros(args.n, bool)
            for b in batches:
                reference.expand_frontier(graph, b, labeled, pool)

        def run_cpu(batches: list[np.ndarray] = batches) -> None:
            f = Frontier(args.n)
            for b in batches:
                f.expand(graph, b)

        impls["numpy.reference"] = (run_reference, None)
        impls["panning.cpu"] = (run_cpu, None)
        if args.device == "cuda":
            import torch

            g_dev = torch.from_numpy(graph).cuda()
            dev_batches = [torch.from_numpy(b).cuda() for b in batches]

            def run_cuda(g_dev: Any = g_dev, dev_batches: list[Any] = dev_batches) -> None:
                f = Frontier(args.n, device="cuda")
                for b in dev_batches:
                    f.expand(g_dev, b)

            impls["panning.cuda"] = (run_cuda, torch.cuda.synchronize)
        for name, (fn, sync) in impls.items():
            fn()
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                fn()
                if sync:
                    sync()
                times.append(time.perf_counter() - t0)
            sec = statistics.median(times) / args.rounds
            rec = {
                "bench": "frontier",
                "n": args.n,
                "k": args.k,
                "batch": batch_size,
                "impl": name,
                "seconds_per_round": sec,
                "pairs_per_s": batch_size * args.k / sec,
            }
            records.append(rec)
            print(json.dumps(rec), flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(rec) + "\n")
    print("\n| batch | implementation | ms / round | M pairs/s | speed-up vs reference |")
    print("|---:|---|---:|---:|---:|")
    for r in records:
        ref = next(
            x["seconds_per_round"]
            for x in records
            if x["batch"] == r["batch"] and x["impl"] == "numpy.reference"
        )
        print(
            f"| {r['batch']:,} | {r['impl']} | {r['seconds_per_round'] * 1e3:.2f} | "
            f"{r['pairs_per_s'] / 1e6:.1f} | {ref / r['seconds_per_round']:.1f}x |"
        )
    return 0


class HashNeighbors:
    """A NeighborSource: k pseudo-random neighbours per id (a multiplicative hash, no storage)."""

    def __init__(self, n: int, k: int) -> None:
        self.n, self.k = n, k

    def neighbors(self, ids: np.ndarray) -> np.ndarray:
        j = np.arange(1, self.k + 1, dtype=np.uint64)
        h = (ids.astype(np.uint64)[:, None] * np.uint64(0x9E3779B97F4A7C15)) ^ (
            j * np.uint64(0xBF58476D1CE4E5B9)
        )
        h ^= h >> np.uint64(31)
        out = (h % np.uint64(self.n)).astype(np.int64)
        out[out == ids[:, None]] = -1
        return out


def _seals_before(rev: str) -> Any:
    """``panning.seals`` as it was at git revision ``rev``, imported as a sibling module."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = subprocess.check_output(["git", "-C", root, "show", f"{rev}:python/panning/seals.py"])
    spec = importlib.util.spec_from_loader("panning._seals_before", loader=None)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "panning"
    sys.modules[spec.name] = mod
    exec(compile(src, f"seals.py@{rev}", "exec"), mod.__dict__)
    return mod


def _state_bytes(s: Any) -> int:
    names = ("_labeled", "_excluded", "_scored", "_pool", "_excluded_ids")
    total = sum(getattr(s, a).nbytes for a in names if hasattr(s, a))
    f = getattr(s, "_frontier", None)
    if f is not None:
        total += f.labeled_bitmap.nbytes + f.pool_bitmap.nbytes
        total += 0 if f.excluded_bitmap is None else f.excluded_bitmap.nbytes
    return int(total)


def seals_rounds(args: argparse.Namespace) -> int:
    import panning.seals as now

    impls = {"frontier": now.Seals, f"numpy@{args.before}": _seals_before(args.before).Seals}
    records = []
    for n in args.sizes:
        rng = np.random.default_rng(n)
        x = rng.normal(size=(n, 16)).astype(np.float16)
        exclude = np.flatnonzero(rng.random(n) < 0.2)
        positive = rng.random(n) < 0.1
        seed = rng.choice(np.setdiff1d(np.arange(n), exclude), 100, replace=False)
        pools = []
        times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in impls}
        names = list(impls)
        last: dict[str, Any] = {}
        for rep in range(args.rounds):  # whole sessions, the implementations alternating
            for name in names if rep % 2 == 0 else names[::-1]:
                # the same configuration both ways (the defaults changed since --before)
                s = impls[name](
                    x,
                    neighbors=HashNeighbors(n, 100),
                    positive_label=1,
                    exclude=exclude,
                    seed=0,
                    k=20,
                    max_k=100,
                    expand_budget=2000,
                )
                s.teach(seed, positive[seed].astype(np.int64))
                teach, query = times[name]
                while s.n_labeled < args.labels:
                    t = time.perf_counter()
                    ids = s.query(100)
                    query.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    s.teach(ids, positive[ids].astype(np.int64))
                    teach.append(time.perf_counter() - t)
                if rep == 0:
                    pools.append(s.pool)
                last[name] = s
        for name in names:
            s = last[name]
            teach, query = times[name]
            rec = {
                "bench": "frontier_seals",
                "n": n,
                "impl": name,
                "sessions": args.rounds,
                "rounds": len(teach),
                "teach_ms_median": 1e3 * statistics.median(teach),
                "query_ms_median": 1e3 * statistics.median(query),
                "pool": int(s.pool.shape[0]),
                "fraction_scored": s.fraction_scored,
                "state_bytes": _state_bytes(s),
                "load_avg": os.getloadavg()[0],
            }
            records.append(rec)
            print(json.dumps(rec), flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(rec) + "\n")
        # the same session either way: same pool after the same queries and labels
        assert all(np.array_equal(p, pools[0]) for p in pools), "the pool states disagree"
    print("\n| ids | pool state | teach ms / round | query ms / round | state MB | final pool |")
    print("|---:|---|---:|---:|---:|---:|")
    for r in records:
        print(
            f"| {r['n']:,} | {r['impl']} | {r['teach_ms_median']:.2f} | "
            f"{r['query_ms_median']:.2f} | {r['state_bytes'] / 2**20:.1f} | {r['pool']:,} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
