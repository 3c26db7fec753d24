"""Exact kNN graph: panning.knn_graph (packed GEMM-style scan) vs the NumPy reference
(panning.neighbors.exact_knn_graph: float32 matmul through BLAS + argpartition).

For each data set and k: seconds (best of --repeats interleaved runs, median kept), CPU seconds,
the ratio to NumPy measured in the same run, GFLOP/s counted as 2 * n^2 * d (the dot products of
every pair) and the fraction of this machine's estimated peak, plus how far the two results
agree (identical ids, and recall of NumPy's neighbours).

Peak = cores x clock x flops per cycle of the distance kernels' ISA (AVX-512: 2 FMA pipes x 16
lanes x 2 = 64; AVX2: 2 x 8 x 2 = 32; generic SSE: 16). The clock is /proc/cpuinfo's "cpu MHz"
(under KVM: the TSC, i.e. the base clock) unless --ghz says otherwise; turbo can exceed it, so
the fraction is an estimate.

One JSON line per (data set, k, implementation) on stdout and appended to --json, then a
markdown summary (stdout or --markdown). Data sets:

- synthetic-20k / synthetic-50k: clustered Gaussians (x 384, l2), generated here;
- wordnet-40k: the first 40,000 rows (a seeded random subset) of ../shared/data/wordnet_emb.npy
  (float16 x 384, cosine); --full adds all 117,659 rows.

    python bench/bench_knn.py                      # the default sets, k = 10 and 30
    python bench/bench_knn.py --quick              # 8k rows, one repeat: a smoke test
    python bench/bench_knn.py --full --repeats 1   # plus the whole of wordnet (~10 min)

Implementations are a function per device (cpu_cases); a GPU case is meant to be added as
another entry of DEVICES.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import panning
from panning.neighbors import exact_knn_graph

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_hnsw import clustered  # noqa: E402  (the same synthetic data as the index bench)

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
NUMPY = "numpy.exact_knn_graph"
PANNING = "panning.knn_graph"
FLOPS_PER_CYCLE = {"avx512": 64, "avx2": 32, "generic": 16}


def load_sets(args: argparse.Namespace) -> list[tuple[str, np.ndarray, str]]:
    if args.quick:
        return [("synthetic-8k", clustered(8_000, 384), "l2")]
    sets = [
        ("synthetic-20k", clustered(20_000, 384), "l2"),
        ("synthetic-50k", clustered(50_000, 384, seed=1), "l2"),
    ]
    path = pathlib.Path(args.data_dir) / "wordnet_emb.npy"
    if path.exists():
        emb = np.load(path)
        rows = np.sort(np.random.default_rng(0).permutation(len(emb))[: args.wordnet_rows])
        sets.append((f"wordnet-{args.wordnet_rows // 1000}k", emb[rows], "cosine"))
        if args.full:
            sets.append(("wordnet-full", emb, "cosine"))
    else:
        print(f"# skipping wordnet: {path} not found", file=sys.stderr)
    return sets


# ---- implementations: one function per device ---------------------------------------------------


def cpu_cases(x: np.ndarray, k: int, metric: str) -> dict[str, Callable[[], np.ndarray]]:
    """The CPU implementations; each returns the neighbour ids [n, k]."""
    return {
        PANNING: lambda: panning.knn_graph(x, k, metric=metric)[0],
        NUMPY: lambda: exact_knn_graph(x, k, metric=metric),
    }


# A GPU implementation goes here (device name -> function building its cases, with a sync).
DEVICES: dict[str, Callable[[np.ndarray, int, str], dict[str, Callable[[], np.ndarray]]]] = {
    "cpu": cpu_cases,
}


# ---- measurement --------------------------------------------------------------------------------


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def clock_ghz() -> float:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) / 1000.0
    except OSError:
        pass
    return 2.5


def agreement(ids: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(fraction of rows with identical id lists, recall of truth's neighbours)."""
    same = float(np.mean(np.all(ids == truth, axis=1)))
    hits = sum(len(set(a[a >= 0]) & set(b[b >= 0])) for a, b in zip(ids, truth))
    return same, hits / max(1, int(np.sum(truth >= 0)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", choices=sorted(DEVICES), default="cpu")
    ap.add_argument("--quick", action="store_true", help="one small synthetic set, one repeat")
    ap.add_argument("--full", action="store_true", help="also all 117,659 wordnet rows")
    ap.add_argument("--k", default="10,30", help="comma-separated k values")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--wordnet-rows", type=int, default=40_000)
    ap.add_argument("--data-dir", default=str(DEFAULT_DATA))
    ap.add_argument("--ghz", type=float, default=None, help="clock for the peak estimate")
    ap.add_argument("--json", help="append JSON lines here (default: stdout only)")
    ap.add_argument("--markdown", help="write the markdown summary here")
    args = ap.parse_args(argv)
    repeats = 1 if args.quick else args.repeats

    info = panning.build_info()
    simd = panning._core.distance_simd_level()
    cores = os.cpu_count() or 1
    ghz = args.ghz or clock_ghz()
    peak = cores * ghz * FLOPS_PER_CYCLE.get(simd, 16)
    env = {
        "bench": "knn_graph",
        "device": args.device,
        "simd": simd,
        "threads": info["threads"],
        "machine": platform.processor() or platform.machine(),
        "panning": info["version"],
        "peak_gflop_per_s": peak,
        "peak_assumption": f"{cores} cores x {ghz:.2f} GHz x {FLOPS_PER_CYCLE.get(simd, 16)} "
        f"flop/cycle ({simd})",
    }
    records: list[dict[str, Any]] = []
    sink = open(args.json, "a") if args.json else None  # noqa: SIM115
    for name, x, metric in load_sets(args):
        n, d = x.shape
        for k in (int(v) for v in args.k.split(",")):
            cases = DEVICES[args.device](x, k, metric)
            # Interleaved repeats: every implementation sees the same interference on a shared
            # machine; each is timed as its best run (interference only adds time).
            times: dict[str, list[float]] = {c: [] for c in cases}
            cpu: dict[str, list[float]] = {c: [] for c in cases}
            results: dict[str, np.ndarray] = {}
            loadavg = os.getloadavg()[0]
            for _ in range(repeats):
                for case, fn in cases.items():
                    c0, t0 = cpu_seconds(), time.perf_counter()
                    results[case] = fn()
                    times[case].append(time.perf_counter() - t0)
                    cpu[case].append(cpu_seconds() - c0)
            same, rec_ = agreement(results[PANNING], results[NUMPY])
            for case in cases:
                sec = min(times[case])
                flops = 2.0 * n * n * d
                rec = {
                    **env,
                    "dataset": name,
                    "n": n,
                    "d": d,
                    "dtype": str(x.dtype),
                    "metric": metric,
                    "k": k,
                    "impl": case,
                    "seconds": sec,
                    "median_seconds": statistics.median(times[case]),
                    "cpu_seconds": min(cpu[case]),
                    "repeats": repeats,
                    "speedup_vs_numpy": min(times[NUMPY]) / sec,
                    "gflop_per_s": flops / sec / 1e9,
                    "fraction_of_peak": flops / sec / 1e9 / peak,
                    "loadavg": round(loadavg, 2),
                }
                if case == PANNING:
                    rec["rows_identical_to_numpy"] = same
                    rec["recall_vs_numpy"] = rec_
                records.append(rec)
                line = json.dumps(rec)
                print(line, flush=True)
                if sink:
                    sink.write(line + "\n")
                    sink.flush()
    if sink:
        sink.close()
    md = summarise(records)
    print(md)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md)
    return 0


def summarise(records: list[dict[str, Any]]) -> str:
    r0 = records[0]
    lines = [
        f"### Exact kNN graph ({r0['device']}, {r0['machine']}, simd={r0['simd']}, "
        f"threads={r0['threads']}; peak {r0['peak_gflop_per_s']:.0f} GFLOP/s = "
        f"{r0['peak_assumption']})",
        "",
        "| data | n x d | metric | k | implementation | s | GFLOP/s | x peak | speed-up vs NumPy |"
        " ids = NumPy |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in records:
        same = f"{r['rows_identical_to_numpy']:.4f}" if "rows_identical_to_numpy" in r else ""
        lines.append(
            f"| {r['dataset']} | {r['n']:,} x {r['d']} | {r['metric']} | {r['k']} | {r['impl']} | "
            f"{r['seconds']:.2f} | {r['gflop_per_s']:.1f} | {r['fraction_of_peak']:.2f} | "
            f"{r['speedup_vs_numpy']:.2f}x | {same} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
