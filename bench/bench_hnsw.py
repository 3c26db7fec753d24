"""Benchmark panning's HNSWIndex against hnswlib and faiss IndexHNSWFlat.

For each data set and metric: build time, index memory (per vector), and recall@10 / queries per
second at several ef values with N threads and 1 thread, all libraries at M=16,
ef_construction=200 and the same thread count. Ground truth is panning.FlatIndex (exact). Each
search is repeated (--repeats, libraries interleaved within a repeat so that drifting load hits
all of them alike); the median q/s is reported with the spread (min-max). Ratios against hnswlib
are given at the same ef and at equal recall (panning's q/s interpolated on its recall curve at
hnswlib's recall), against the targets of issue 17: build <= 0.8x, q/s >= 1.2x.

One JSON line per measurement on stdout (or --json FILE), then a markdown summary (stdout or
--markdown FILE). hnswlib and faiss are optional (pip install hnswlib faiss-cpu); missing ones are
skipped. hnswlib should be built as pip builds it from source (-march=native). Timings depend on
machine load: every line records the load average.

    python bench/bench_hnsw.py --datasets wordnet --no-graph          # the issue-17 table
    python bench/bench_hnsw.py --datasets wordnet --metrics cosine,ip,l2 --simd avx2
    python bench/bench_hnsw.py --datasets synthetic-1m --libs panning,panning-f16,hnswlib
    python bench/bench_hnsw.py --quick         # subsampled, a couple of minutes
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pathlib
import platform
import resource
import sys
import time
from typing import Any, Callable

import numpy as np

import panning
from panning import _core

ROOT = pathlib.Path(__file__).resolve().parent.parent
K = 10
M = 16
EF_CONSTRUCTION = 200
EFS = (16, 32, 64, 128)
# panning is also searched at this ef, so that its recall curve reaches past hnswlib's recall at
# ef=128 and the equal-recall q/s there is interpolated rather than missing
EF_EXTRA = 256
BUILD_TARGET = 0.8  # issue 17: build time <= 0.8x hnswlib's
QPS_TARGET = 1.2  # issue 17: q/s >= 1.2x hnswlib's at equal recall


def clustered(n: int, d: int, seed: int = 0, clusters: int = 100) -> np.ndarray:
    """Synthetic embedding-like data: Gaussian clusters in a 32-d latent space mapped to d."""
    rng = np.random.default_rng(seed)
    m = 32
    centers = 2.0 * rng.normal(size=(clusters, m))
    proj = rng.normal(size=(m, d)) / np.sqrt(m)
    out = np.empty((n, d), dtype=np.float32)
    for i in range(0, n, 100_000):  # in blocks: 1M x 384 float64 temporaries would be 3 GB
        b = min(n, i + 100_000) - i
        z = centers[rng.integers(0, clusters, b)] + 0.7 * rng.normal(size=(b, m))
        out[i : i + b] = z @ proj + 0.05 * rng.normal(size=(b, d))
    return out


SYNTHETIC = {"synthetic": 100_000, "synthetic-1m": 1_000_000}


def load_sets(args: argparse.Namespace) -> list[tuple[str, np.ndarray, str]]:
    """(name, vectors, the set's own metric) for each --datasets entry."""
    data_dir = pathlib.Path(args.data_dir)
    if not data_dir.is_absolute():
        data_dir = ROOT / data_dir
    sets = []
    for name in args.datasets.split(","):
        if name in SYNTHETIC:
            n = SYNTHETIC[name]
            sets.append((f"synthetic-{n // 1000}k" if n < 10**6 else name, clustered(n, 384), "l2"))
        else:
            path = data_dir / f"{name}_emb.npy"
            if not path.exists():
                print(f"# skipping {name}: {path} not found", file=sys.stderr)
                continue
            sets.append((name, np.load(path), "cosine"))
    return sets


def split(x: np.ndarray, nq: int, n_max: int | None, seed: int = 1):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    q, base = order[:nq], order[nq:]
    if n_max is not None:
        base = base[:n_max]
    return x[base], x[q]


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, truth)]))


def cpu_seconds() -> float:
    """CPU time of this process, all threads: less sensitive than wall time to other load."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_bytes() -> int:
    """Resident memory of this process now (Linux; 0 elsewhere)."""
    try:
        pages = int(pathlib.Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def timed(f: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds, result) of one run."""
    c, t = cpu_seconds(), time.perf_counter()
    out = f()
    return time.perf_counter() - t, cpu_seconds() - c, out


def qps_stats(v: list[float]) -> dict[str, float]:
    """Median and spread of repeated q/s measurements."""
    return {"qps": float(np.median(v)), "qps_min": min(v), "qps_max": max(v)}


def qps_at_recall(curve: list[tuple[float, float]], target: float) -> float | None:
    """q/s at recall `target` on a (recall, q/s) curve over ef, interpolating log q/s linearly
    between the two points around it; None when the curve never reaches the target."""
    pts = sorted(curve)
    if not pts or pts[-1][0] < target:
        return None
    if pts[0][0] >= target:
        return max(q for r, q in pts if r >= target)
    for (r0, q0), (r1, q1) in zip(pts, pts[1:]):
        if r0 <= target <= r1:
            w = 0.0 if r1 == r0 else (target - r0) / (r1 - r0)
            return float(np.exp((1 - w) * np.log(q0) + w * np.log(q1)))
    return None


# ---- libraries ----------------------------------------------------------------------------------


class Panning:
    def __init__(self, storage: str) -> None:
        self.name = "panning" if storage == "float32" else "panning-f16"
        self.storage = storage

    def build(self, x: np.ndarray, metric: str, threads: int) -> None:
        self.index = panning.HNSWIndex(
            x.shape[1],
            metric=metric,
            M=M,
            ef_construction=EF_CONSTRUCTION,
            storage=self.storage,
            threads=threads,
        )
        self.index.add(x)

    def own_memory(self) -> int | None:
        return self.index.memory_bytes()

    def search(self, q: np.ndarray, ef: int, threads: int) -> np.ndarray:
        self.index._threads = threads  # same index, another thread count
        return self.index.search(q, K, ef=ef)[0]


class Hnswlib:
    name = "hnswlib"

    def build(self, x: np.ndarray, metric: str, threads: int) -> None:
        import hnswlib

        self.index = hnswlib.Index(space=metric, dim=x.shape[1])
        self.index.init_index(max_elements=len(x), M=M, ef_construction=EF_CONSTRUCTION)
        self.index.add_items(x, num_threads=threads)

    def own_memory(self) -> int | None:
        return None  # no memory API: the resident-memory growth of its build stands for it

    def search(self, q: np.ndarray, ef: int, threads: int) -> np.ndarray:
        self.index.set_ef(ef)
        return self.index.knn_query(q, k=K, num_threads=threads)[0].astype(np.int64)


class Faiss:
    name = "faiss"

    def build(self, x: np.ndarray, metric: str, threads: int) -> None:
        import faiss

        faiss.omp_set_num_threads(threads)
        self.normalize = metric == "cosine"
        if self.normalize:
            x = x / np.linalg.norm(x, axis=1, keepdims=True)
        kind = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        self.index = faiss.IndexHNSWFlat(x.shape[1], M, kind)
        self.index.hnsw.efConstruction = EF_CONSTRUCTION
        self.index.add(np.ascontiguousarray(x, dtype=np.float32))

    def own_memory(self) -> int | None:
        return None

    def search(self, q: np.ndarray, ef: int, threads: int) -> np.ndarray:
        import faiss

        faiss.omp_set_num_threads(threads)
        if self.normalize:
            q = q / np.linalg.norm(q, axis=1, keepdims=True)
        self.index.hnsw.efSearch = ef
        return self.index.search(np.ascontiguousarray(q, dtype=np.float32), K)[1]


LIBRARIES = {
    "panning": lambda: Panning("float32"),
    "panning-f16": lambda: Panning("float16"),
    "hnswlib": Hnswlib,
    "faiss": Faiss,
}


def libraries(names: str) -> list[Any]:
    libs: list[Any] = []
    for name in names.split(","):
        if name not in LIBRARIES:
            raise SystemExit(f"unknown library {name!r}; choose from {sorted(LIBRARIES)}")
        if name in ("hnswlib", "faiss"):
            try:
                __import__(name)
            except ImportError:
                print(f"# {name} not installed: skipped", file=sys.stderr)
                continue
        libs.append(LIBRARIES[name]())
    return libs


# ---- main ---------------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data", help="relative to the repository root")
    p.add_argument(
        "--datasets",
        default="wordnet,clinc150,synthetic",
        help="comma-separated: wordnet, clinc150 (from --data-dir), synthetic (100k x 384), "
        "synthetic-1m (1M x 384)",
    )
    p.add_argument(
        "--metrics", default="own", help="comma-separated l2,ip,cosine; 'own': each set's own"
    )
    p.add_argument("--libs", default="panning,panning-f16,hnswlib,faiss")
    p.add_argument("--simd", help="force panning's distance kernels: avx512, avx2 or generic")
    p.add_argument("--quick", action="store_true", help="20k base vectors, 500 queries, 2 repeats")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--queries", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=5, help="timed searches per point (median)")
    p.add_argument("--no-graph", action="store_true", help="skip the exact kNN graph timing")
    p.add_argument("--json", help="write JSON lines here instead of stdout")
    p.add_argument("--markdown", help="write the markdown summary here instead of stdout")
    args = p.parse_args()
    if args.simd:
        try:
            _core.set_distance_simd_level(args.simd)
        except ValueError as e:
            raise SystemExit(str(e)) from None
    n_max = 20_000 if args.quick else None
    nq = 500 if args.quick else args.queries
    repeats = 2 if args.quick else max(1, args.repeats)
    out = open(args.json, "w") if args.json else sys.stdout  # noqa: SIM115
    rows: list[dict[str, Any]] = []
    env = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "loadavg_start": os.getloadavg()[0],
        "simd": _core.distance_simd_level(),
        "quick": args.quick,
        "repeats": repeats,
    }

    def emit(rec: dict[str, Any]) -> None:
        rec = {**rec, "loadavg": round(os.getloadavg()[0], 2)}
        rows.append(rec)
        print(json.dumps(rec), file=out, flush=True)

    thread_counts = sorted({args.threads, 1}, reverse=True)
    for name, raw, own_metric in load_sets(args):
        base, q = split(raw, nq, n_max)
        base32 = np.ascontiguousarray(base, dtype=np.float32)
        q32 = np.ascontiguousarray(q, dtype=np.float32)
        metrics = [own_metric] if args.metrics == "own" else args.metrics.split(",")
        for metric in metrics:
            run_set(name, base32, q32, metric, args, env, emit, thread_counts, repeats)
        if name == "wordnet" and not args.no_graph and not args.quick:
            secs, cpu, _ = timed(
                lambda x=raw, m=own_metric: panning.knn_graph(x, K, metric=m, threads=args.threads)
            )
            emit(
                {
                    "dataset": name,
                    "lib": "panning",
                    "kind": "exact_knn_graph",
                    "k": K,
                    "n": len(raw),
                    "threads": args.threads,
                    "seconds": secs,
                    "cpu_seconds": cpu,
                }
            )
    if args.json:
        out.close()
    md = summarize(rows, thread_counts)
    if args.markdown:
        pathlib.Path(args.markdown).write_text(md)
    else:
        print(md)


def run_set(
    name: str,
    base: np.ndarray,
    q: np.ndarray,
    metric: str,
    args: argparse.Namespace,
    env: dict[str, Any],
    emit: Callable[[dict[str, Any]], None],
    thread_counts: list[int],
    repeats: int,
) -> None:
    """Ground truth, then every library's build, then interleaved repeated searches."""
    key = {"dataset": name, "metric": metric}
    flat = panning.FlatIndex(base.shape[1], metric=metric, threads=args.threads)
    flat.add(base)
    gt_time, _, (truth, _) = timed(lambda f=flat: f.search(q, K))
    del flat
    emit(
        {
            **key,
            "n": len(base),
            "d": base.shape[1],
            "kind": "ground_truth",
            "seconds": gt_time,
            **env,
        }
    )
    libs = libraries(args.libs)
    for lib in libs:
        gc.collect()
        rss0 = rss_bytes()
        secs, cpu, _ = timed(lambda b=lib: b.build(base, metric, args.threads))
        gc.collect()
        grown = rss_bytes() - rss0
        own = lib.own_memory()
        emit(
            {
                **key,
                "lib": lib.name,
                "kind": "build",
                "threads": args.threads,
                "seconds": secs,
                "cpu_seconds": cpu,
                "memory_bytes": own if own is not None else grown,
                "memory_source": "memory_bytes()" if own is not None else "RSS growth",
                "rss_growth_bytes": grown,
                "bytes_per_vector": (own if own is not None else grown) / len(base),
            }
        )
    for threads in thread_counts:
        for ef in (*EFS, EF_EXTRA):
            searched = [lib for lib in libs if ef in EFS or isinstance(lib, Panning)]
            qps: dict[str, list[float]] = {lib.name: [] for lib in searched}
            cpu_qps: dict[str, list[float]] = {lib.name: [] for lib in searched}
            found: dict[str, np.ndarray] = {}
            for lib in searched:
                lib.search(q[:50], ef, threads)  # warm up
            for _ in range(repeats):
                for lib in searched:
                    secs, cpu, found[lib.name] = timed(
                        lambda b=lib, e=ef, t=threads: b.search(q, e, t)
                    )
                    qps[lib.name].append(len(q) / secs)
                    cpu_qps[lib.name].append(len(q) / max(cpu, 1e-9))
            for lib in searched:
                v = qps[lib.name]
                emit(
                    {
                        **key,
                        "lib": lib.name,
                        "kind": "search",
                        "ef": ef,
                        "threads": threads,
                        **qps_stats(v),
                        "qps_all": [round(x, 1) for x in v],
                        "queries_per_cpu_second": float(np.median(cpu_qps[lib.name])),
                        "recall": recall_at(found[lib.name], truth),
                    }
                )
    # Small batches (how Seals and interactive callers search): q/s over the first 400 queries
    # sent `batch` at a time, at ef=64 on the full thread count.
    for batch in (1, 4, 16):
        small: dict[str, list[float]] = {lib.name: [] for lib in libs}
        for _ in range(repeats):
            for lib in libs:
                t0 = time.perf_counter()
                for b in range(0, 400, batch):
                    lib.search(q[b : b + batch], 64, args.threads)
                small[lib.name].append(400 / (time.perf_counter() - t0))
        for lib in libs:
            v = small[lib.name]
            emit(
                {
                    **key,
                    "lib": lib.name,
                    "kind": "small_batches",
                    "batch": batch,
                    "ef": 64,
                    "threads": args.threads,
                    **qps_stats(v),
                }
            )
    for lib in libs:
        del lib
    gc.collect()


def summarize(rows: list[dict[str, Any]], thread_counts: list[int]) -> str:
    lines = []
    simd = next((r["simd"] for r in rows if "simd" in r), "?")
    groups = dict.fromkeys((r["dataset"], r["metric"]) for r in rows if "metric" in r)
    for ds, metric in groups:
        rs = [r for r in rows if r.get("dataset") == ds and r.get("metric") == metric]
        gt = next(r for r in rs if r["kind"] == "ground_truth")
        lines.append(
            f"\n**{ds}** (n={gt['n']:,}, d={gt['d']}, {metric}; panning kernels: {simd}; "
            f"median of {gt['repeats']} searches, min-max in brackets)\n"
        )
        builds = {r["lib"]: r for r in rs if r["kind"] == "build"}
        search = {(r["lib"], r["ef"], r["threads"]): r for r in rs if r["kind"] == "search"}
        head = ["library", "build s (CPU s)", "bytes/vector"]
        head += [f"ef={ef} recall / q/s ({t}T)" for t in thread_counts for ef in (*EFS, EF_EXTRA)]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|---" * len(head) + "|")
        for lib, b in builds.items():
            cells = [
                lib,
                f"{b['seconds']:.1f} ({b['cpu_seconds']:.1f})",
                f"{b['bytes_per_vector']:,.0f}",
            ]
            for t in thread_counts:
                for ef in (*EFS, EF_EXTRA):
                    s = search.get((lib, ef, t))
                    if not s:
                        cells.append("-")
                        continue
                    spread = f"[{s['qps_min']:,.0f}-{s['qps_max']:,.0f}]"
                    cells.append(f"{s['recall']:.3f} / {s['qps']:,.0f} {spread}")
            lines.append("| " + " | ".join(cells) + " |")
        small = [r for r in rs if r["kind"] == "small_batches"]
        if small:
            by = {(r["lib"], r["batch"]): r for r in small}
            cells = []
            for lib in builds:
                per = [f"{by[(lib, b)]['qps']:,.0f}" for b in (1, 4, 16) if (lib, b) in by]
                cells.append(f"{lib} " + " / ".join(per))
            lines.append(
                f"\nq/s with batches of 1 / 4 / 16 queries (ef=64, {thread_counts[0]}T): "
                + "; ".join(cells)
            )
        if "hnswlib" not in builds:
            continue
        lines.append("")
        for lib in ("panning", "panning-f16"):
            if lib not in builds:
                continue
            build_ratio = builds[lib]["seconds"] / builds["hnswlib"]["seconds"]
            parts = [
                f"build {build_ratio:.2f}x ({'meets' if build_ratio <= BUILD_TARGET else 'MISSES'}"
                f" <= {BUILD_TARGET})"
            ]
            for t in thread_counts:
                curve = [
                    (search[(lib, ef, t)]["recall"], search[(lib, ef, t)]["qps"])
                    for ef in (*EFS, EF_EXTRA)
                    if (lib, ef, t) in search
                ]
                ratios = []
                for ef in EFS:
                    h = search.get(("hnswlib", ef, t))
                    if not h:
                        continue
                    at = qps_at_recall(curve, h["recall"])
                    ratios.append(
                        f"ef={ef} (recall {h['recall']:.3f}): "
                        + (f"{at / h['qps']:.2f}x" if at else "recall not reached")
                    )
                worst = [
                    (qps_at_recall(curve, search[("hnswlib", ef, t)]["recall"]) or 0.0)
                    / search[("hnswlib", ef, t)]["qps"]
                    for ef in EFS
                    if ("hnswlib", ef, t) in search
                ]
                verdict = "meets" if worst and min(worst) >= QPS_TARGET else "MISSES"
                parts.append(
                    f"{t}T q/s at hnswlib's recall: "
                    + ", ".join(ratios)
                    + f" ({verdict} >= {QPS_TARGET})"
                )
            lines.append(f"- **{lib} vs hnswlib**: " + "; ".join(parts))
    for r in rows:
        if r["kind"] == "exact_knn_graph":
            lines.append(
                f"\nExact kNN graph (k={r['k']}) of all {r['n']:,} rows: {r['seconds']:.1f} s "
                f"with {r['threads']} threads"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
