"""Frontier expansion throughput: panning (CPU, and CUDA with --device cuda) vs the NumPy
reference, on a random kNN graph. One JSON line per configuration, then a markdown table.

    python bench/bench_frontier.py                # n = 1,000,000, k = 100
    python bench/bench_frontier.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import statistics
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
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", help="append JSON lines here")
    args = ap.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
