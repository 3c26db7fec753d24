"""Benchmark panning's HNSWIndex against hnswlib and faiss IndexHNSWFlat.

For each data set: build time, index memory, and recall@10 / queries per second at several ef
values with 2 threads and 1 thread, all libraries at M=16, ef_construction=200 and the same
thread count. Ground truth is panning.FlatIndex (exact). Also times the exact kNN graph of the
whole wordnet set.

One JSON line per measurement on stdout (or --json FILE), then a markdown summary (stdout or
--markdown FILE). hnswlib and faiss are optional (pip install hnswlib faiss-cpu); missing ones are
skipped. Timings depend on machine load: note the conditions next to any figure you quote.

    python bench/bench_hnsw.py                 # full: wordnet, clinc150, synthetic 100k x 384
    python bench/bench_hnsw.py --quick         # subsampled, a couple of minutes
"""

from __future__ import annotations

import argparse
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

ROOT = pathlib.Path(__file__).resolve().parent.parent
K = 10
M = 16
EF_CONSTRUCTION = 200
EFS = (16, 32, 64, 128)


def clustered(n: int, d: int, seed: int = 0, clusters: int = 100) -> np.ndarray:
    """Synthetic embedding-like data: Gaussian clusters in a 32-d latent space mapped to d."""
    rng = np.random.default_rng(seed)
    m = 32
    centers = 2.0 * rng.normal(size=(clusters, m))
    proj = rng.normal(size=(m, d)) / np.sqrt(m)
    z = centers[rng.integers(0, clusters, n)] + 0.7 * rng.normal(size=(n, m))
    return (z @ proj + 0.05 * rng.normal(size=(n, d))).astype(np.float32)


def load_sets(args: argparse.Namespace) -> list[tuple[str, np.ndarray, str]]:
    data_dir = pathlib.Path(args.data_dir)
    if not data_dir.is_absolute():
        data_dir = ROOT / data_dir
    sets = []
    for name in args.datasets.split(","):
        if name == "synthetic":
            sets.append(("synthetic-100k", clustered(100_000, 384), "l2"))
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


def timed(f: Callable[[], Any], repeat: int = 1) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds, result) of the fastest of `repeat` runs."""
    best, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        c, t = cpu_seconds(), time.perf_counter()
        out = f()
        wall, cpu = time.perf_counter() - t, cpu_seconds() - c
        if wall < best:
            best, best_cpu = wall, cpu
    return best, best_cpu, out


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

    def memory(self) -> int:
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
        self.n, self.d = x.shape

    def memory(self) -> int:
        # hnswlib has no memory API: its level-0 block (vector + 2M links + label) per element
        # plus the same upper-level estimate as panning's (about 1/M of the nodes).
        per = self.d * 4 + (2 * M + 1) * 4 + 8
        return int(self.n * per + self.n / M * (M + 1) * 4 * 1.1 + self.n * 8)

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
            self.index = faiss.IndexHNSWFlat(x.shape[1], M, faiss.METRIC_INNER_PRODUCT)
        else:
            self.index = faiss.IndexHNSWFlat(x.shape[1], M)
        self.index.hnsw.efConstruction = EF_CONSTRUCTION
        self.index.add(np.ascontiguousarray(x, dtype=np.float32))

    def memory(self) -> int:
        import faiss

        return int(faiss.serialize_index(self.index).nbytes)  # file size as a proxy

    def search(self, q: np.ndarray, ef: int, threads: int) -> np.ndarray:
        import faiss

        faiss.omp_set_num_threads(threads)
        if self.normalize:
            q = q / np.linalg.norm(q, axis=1, keepdims=True)
        self.index.hnsw.efSearch = ef
        return self.index.search(np.ascontiguousarray(q, dtype=np.float32), K)[1]


def libraries(args: argparse.Namespace) -> list[Any]:
    libs: list[Any] = [Panning("float32"), Panning("float16")]
    for mod, cls in (("hnswlib", Hnswlib), ("faiss", Faiss)):
        try:
            __import__(mod)
            libs.append(cls())
        except ImportError:
            print(f"# {mod} not installed: skipped", file=sys.stderr)
    return libs


# ---- main ---------------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data", help="relative to the repository root")
    p.add_argument("--datasets", default="wordnet,clinc150,synthetic")
    p.add_argument("--quick", action="store_true", help="20k base vectors, 500 queries")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--queries", type=int, default=2000)
    p.add_argument("--no-graph", action="store_true", help="skip the exact kNN graph timing")
    p.add_argument("--json", help="write JSON lines here instead of stdout")
    p.add_argument("--markdown", help="write the markdown summary here instead of stdout")
    args = p.parse_args()
    n_max = 20_000 if args.quick else None
    nq = 500 if args.quick else args.queries
    out = open(args.json, "w") if args.json else sys.stdout  # noqa: SIM115
    rows: list[dict[str, Any]] = []
    env = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "loadavg_start": os.getloadavg()[0],
        "simd": panning.build_info()["simd"],
        "quick": args.quick,
    }

    def emit(rec: dict[str, Any]) -> None:
        rec = {**rec, "loadavg": round(os.getloadavg()[0], 2)}
        rows.append(rec)
        print(json.dumps(rec), file=out, flush=True)

    thread_counts = sorted({args.threads, 1}, reverse=True)
    for name, raw, metric in load_sets(args):
        base, q = split(raw, nq, n_max)
        base32 = base.astype(np.float32)
        q32 = q.astype(np.float32)
        flat = panning.FlatIndex(base.shape[1], metric=metric, threads=args.threads)
        flat.add(base32)
        gt_time, _, (truth, _) = timed(lambda f=flat, q=q32: f.search(q, K))
        del flat
        emit(
            {
                "dataset": name,
                "n": len(base),
                "d": base.shape[1],
                "metric": metric,
                "kind": "ground_truth",
                "seconds": gt_time,
                **env,
            }
        )
        for lib in libraries(args):
            build_s, build_cpu, _ = timed(
                lambda b=lib, x=base32, m=metric: b.build(x, m, args.threads)
            )
            emit(
                {
                    "dataset": name,
                    "lib": lib.name,
                    "kind": "build",
                    "threads": args.threads,
                    "seconds": build_s,
                    "cpu_seconds": build_cpu,
                    "memory_bytes": lib.memory(),
                }
            )
            for threads in thread_counts:
                for ef in EFS:
                    lib.search(q32[:50], ef, threads)  # warm up
                    secs, cpu, found = timed(
                        lambda b=lib, q=q32, e=ef, t=threads: b.search(q, e, t), repeat=2
                    )
                    emit(
                        {
                            "dataset": name,
                            "lib": lib.name,
                            "kind": "search",
                            "ef": ef,
                            "threads": threads,
                            "qps": len(q32) / secs,
                            "queries_per_cpu_second": len(q32) / cpu,
                            "recall": recall_at(found, truth),
                        }
                    )
            del lib
        if name == "wordnet" and not args.no_graph and not args.quick:
            secs, cpu, _ = timed(
                lambda x=raw, m=metric: panning.knn_graph(x, K, metric=m, threads=args.threads)
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
    md = summarize(rows, args.threads)
    if args.markdown:
        pathlib.Path(args.markdown).write_text(md)
    else:
        print(md)


def summarize(rows: list[dict[str, Any]], threads: int) -> str:
    lines = []
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        rs = [r for r in rows if r["dataset"] == ds]
        gt = next(r for r in rs if r["kind"] == "ground_truth")
        lines.append(f"\n**{ds}** (n={gt['n']}, d={gt['d']}, {gt['metric']})\n")
        builds = {r["lib"]: r for r in rs if r["kind"] == "build"}
        lines.append(
            "| library | build s (CPU s) | memory MB | "
            + " | ".join(
                f"ef={ef} recall / q/s ({t}T)"
                for t in sorted({threads, 1}, reverse=True)
                for ef in EFS
            )
            + " |"
        )
        lines.append("|---" * (3 + len(EFS) * len({threads, 1})) + "|")
        search = {(r["lib"], r["ef"], r["threads"]): r for r in rs if r["kind"] == "search"}
        for lib, b in builds.items():
            cells = [
                lib,
                f"{b['seconds']:.1f} ({b['cpu_seconds']:.1f})",
                f"{b['memory_bytes'] / 2**20:.0f}",
            ]
            for t in sorted({threads, 1}, reverse=True):
                for ef in EFS:
                    s = search.get((lib, ef, t))
                    cells.append(f"{s['recall']:.3f} / {s['qps']:,.0f}" if s else "-")
            lines.append("| " + " | ".join(cells) + " |")
        if "hnswlib" in builds:
            hb = builds["hnswlib"]["seconds"]
            hc = builds["hnswlib"]["cpu_seconds"]
            ratios = [
                f"build time panning/hnswlib = {builds['panning']['seconds'] / hb:.2f} wall, "
                f"{builds['panning']['cpu_seconds'] / hc:.2f} CPU"
            ]
            if "panning-f16" in builds:
                half = builds["panning-f16"]["memory_bytes"] / builds["panning"]["memory_bytes"]
                ratios.append(f"memory f16/f32 = {half:.2f}")
            for ef in EFS:
                a, h = search.get(("panning", ef, threads)), search.get(("hnswlib", ef, threads))
                if a and h:
                    ratios.append(
                        f"ef={ef}: QPS ratio {a['qps'] / h['qps']:.2f} wall, "
                        f"{a['queries_per_cpu_second'] / h['queries_per_cpu_second']:.2f} CPU "
                        f"(recall {a['recall']:.3f} vs {h['recall']:.3f})"
                    )
            lines.append("\n" + "; ".join(ratios) + f" ({threads} threads)")
        for r in rs:
            if r["kind"] == "exact_knn_graph":
                lines.append(
                    f"\nExact kNN graph (k={r['k']}) of all {r['n']:,} rows: {r['seconds']:.1f} s "
                    f"with {r['threads']} threads"
                )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
