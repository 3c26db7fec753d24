"""Graph construction and batched search benchmarks: GPU (needs CUDA and torch) or CPU.

Per data set (synthetic clustered 1M x 384, the real wordnet 117,659 x 384, and wordnet
replicated with small noise to 1M):

* exact kNN graph on the GPU (panning.knn_graph(device="cuda"), k=32), float32 and float16
  inputs: seconds and TFLOP/s (2 n^2 d flops) against a GEMM roofline measured in the same run
  (torch.matmul of the same shapes' square tiles, TF32 off for float32);
* HNSWIndex.build(device="cuda") against hnswlib's build on all of this machine's cores (M=16,
  ef_construction=200), and recall@10 of both (CPU search, all cores) at several ef against the
  exact neighbours of held-out queries; the headline ratio is build time at the smallest ef
  where both reach recall@10 >= 0.95;
* batched search: the GPU beam search (one warp per query, queries as a CUDA tensor) against the
  CPU search on all cores, q/s and recall at equal ef.

One JSON line per measurement (stdout or --json FILE). Timings are wall clock, best of --repeat.

    python bench/bench_hnsw_build.py --quick    # wordnet + synthetic 200k, a few minutes
    python bench/bench_hnsw_build.py            # the issue's sizes (1M); hnswlib takes minutes
    python bench/bench_hnsw_build.py --device cpu --n 20000   # the CPU route (exact O(n^2 d)
                                                               # candidates) vs insertion
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time
from typing import Any, Callable

import numpy as np

import panning

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_hnsw import clustered  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
K = 10
M = 16
EF_CONSTRUCTION = 200
EFS = (16, 32, 64, 128, 256)


def emit(out: Any, **record: Any) -> None:
    line = json.dumps(record)
    print(line, file=out, flush=True)
    if out is not sys.stdout:
        print(line, flush=True)


def _sync() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(f: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        _sync()
        t = time.perf_counter()
        result = f()
        _sync()
        best = min(best, time.perf_counter() - t)
    return best, result


def datasets(args: argparse.Namespace) -> list[tuple[str, np.ndarray, str]]:
    n_big = args.n or (200_000 if args.quick else 1_000_000)
    out = [(f"synthetic-{n_big // 1000}k", clustered(n_big, 384), "l2")]
    path = pathlib.Path(args.data_dir)
    path = path if path.is_absolute() else ROOT / path
    wn = path / "wordnet_emb.npy"
    if wn.exists():
        w = np.load(wn).astype(np.float32)
        if args.n and args.n < len(w):
            w = w[np.random.default_rng(4).permutation(len(w))[: args.n]]
        out.append((f"wordnet-{len(w) // 1000}k", w, "cosine"))
        if not args.quick and not args.n:
            rng = np.random.default_rng(3)
            reps = -(-n_big // len(w))
            big = np.concatenate(
                [w + 0.01 * rng.normal(size=w.shape).astype(np.float32) for _ in range(reps)]
            )[:n_big]
            out.append((f"wordnet-x{reps}-{n_big // 1000}k", big, "cosine"))
    else:
        print(f"# {wn} not found: wordnet sets skipped", file=sys.stderr)
    return out


def gemm_tflops(n: int, d: int, dtype: Any) -> float:
    """Attainable GEMM rate for [n, d] x [d, n] tiles of the kNN problem's shape (the roofline
    the distance tiles compete with)."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.randn(min(n, 16384), d, device="cuda", dtype=dtype)
    b = torch.randn(min(n, 16384), d, device="cuda", dtype=dtype)
    secs, _ = timed(lambda: a @ b.T, repeat=5)
    return 2.0 * a.shape[0] * b.shape[0] * d / secs / 1e12


def exact_truth(base: np.ndarray, q: np.ndarray, metric: str, device: str) -> np.ndarray:
    if device == "cpu":
        flat = panning.FlatIndex(base.shape[1], metric=metric)  # type: ignore[arg-type]
        flat.add(base)
        return flat.search(q, K)[0]
    import torch

    b = torch.from_numpy(base).cuda()
    qq = torch.from_numpy(q).cuda()
    if metric == "cosine":
        b = b / b.norm(dim=1, keepdim=True).clamp_min(1e-30)
        qq = qq / qq.norm(dim=1, keepdim=True).clamp_min(1e-30)
    out = []
    for i in range(0, len(qq), 256):
        s = qq[i : i + 256].double() @ b.double().T
        if metric == "l2":
            s = 2 * s - (b.double() ** 2).sum(1)[None, :]
        out.append(s.topk(K, dim=1).indices.cpu().numpy())
    return np.concatenate(out)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, truth)]))


def bench_knn(out: Any, name: str, x: np.ndarray, metric: str, args: argparse.Namespace) -> None:
    import torch

    n, d = x.shape
    for dtype in ("float32", "float16"):
        t = torch.from_numpy(x).cuda().to(getattr(torch, dtype))
        secs, _ = timed(lambda t=t: panning.knn_graph(t, 32, metric=metric), repeat=args.repeat)
        tflops = 2.0 * n * n * d / secs / 1e12
        roof = gemm_tflops(n, d, getattr(torch, dtype))
        emit(
            out,
            bench="knn_graph_gpu",
            dataset=name,
            n=n,
            d=d,
            k=32,
            dtype=dtype,
            seconds=secs,
            tflops=tflops,
            gemm_tflops=roof,
            fraction_of_gemm=tflops / roof,
        )
        del t


def bench_build(out: Any, name: str, x: np.ndarray, metric: str, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(1)
    order = rng.permutation(len(x))
    q, base = x[order[: args.queries]], np.ascontiguousarray(x[order[args.queries :]])
    truth = exact_truth(base, q, metric, args.device)
    lib = f"panning-{args.device}"
    threads = os.cpu_count() or 1
    results: dict[str, dict[int, float]] = {}
    build_s: dict[str, float] = {}

    secs, index = timed(
        lambda: panning.HNSWIndex.build(
            base, metric=metric, M=M, ef_construction=EF_CONSTRUCTION, device=args.device
        )
    )
    build_s[lib] = secs
    results[lib] = {ef: recall(index.search(q, K, ef=ef)[0], truth) for ef in EFS}
    emit(
        out,
        bench="build",
        dataset=name,
        n=len(base),
        library=lib,
        seconds=secs,
        recall=results[lib],
    )

    try:
        import hnswlib
    except ImportError:
        print("# hnswlib not installed: no CPU baseline", file=sys.stderr)
    else:
        space = "cosine" if metric == "cosine" else "l2"
        h = hnswlib.Index(space=space, dim=base.shape[1])

        def build_h() -> None:
            h.init_index(max_elements=len(base), M=M, ef_construction=EF_CONSTRUCTION)
            h.add_items(base, num_threads=threads)

        t = time.perf_counter()
        build_h()
        build_s["hnswlib"] = time.perf_counter() - t
        rec = {}
        for ef in EFS:
            h.set_ef(ef)
            rec[ef] = recall(h.knn_query(q, k=K, num_threads=threads)[0], truth)
        results["hnswlib"] = rec
        emit(
            out,
            bench="build",
            dataset=name,
            n=len(base),
            library="hnswlib",
            threads=threads,
            seconds=build_s["hnswlib"],
            recall=rec,
        )
        ok = [ef for ef in EFS if rec[ef] >= 0.95 and results[lib][ef] >= 0.95]
        emit(
            out,
            bench="build_ratio",
            dataset=name,
            n=len(base),
            threads=threads,
            ef_at_095=ok[0] if ok else None,
            speedup_vs_hnswlib=build_s["hnswlib"] / build_s[lib] if ok else None,
            note=None if ok else "recall 0.95 not reached by both at any ef",
        )

    if args.device == "cpu":
        # the insertion-built index on the same cores, for the CPU route's comparison
        ins = panning.HNSWIndex(base.shape[1], metric=metric, M=M, ef_construction=EF_CONSTRUCTION)
        secs, _ = timed(lambda: ins.add(base))
        rec = {ef: recall(ins.search(q, K, ef=ef)[0], truth) for ef in EFS}
        emit(
            out,
            bench="build",
            dataset=name,
            n=len(base),
            library="panning-insert",
            seconds=secs,
            recall=rec,
        )
        return
    import torch

    # batched search: GPU beam search vs CPU search, same graph, same ef
    big_q = np.ascontiguousarray(
        base[rng.integers(0, len(base), args.batch)]
        + 0.05 * rng.normal(size=(args.batch, base.shape[1])).astype(np.float32)
    )
    q_dev = torch.from_numpy(big_q).cuda()
    for ef in (32, 64, 128):
        index.search(q_dev[:1000], K, ef=ef)  # device copy of the graph, warm-up
        g_s, _ = timed(lambda ef=ef: index.search(q_dev, K, ef=ef), repeat=args.repeat)
        c_s, _ = timed(lambda ef=ef: index.search(big_q, K, ef=ef), repeat=1)
        # recall of the held-out queries through each path, against the exact neighbours
        gpu_found = index.search(torch.from_numpy(q).cuda(), K, ef=ef)[0].cpu().numpy()
        emit(
            out,
            bench="batched_search",
            dataset=name,
            n=len(base),
            queries=args.batch,
            ef=ef,
            gpu_qps=args.batch / g_s,
            cpu_qps=args.batch / c_s,
            cpu_threads=threads,
            speedup=c_s / g_s,
            recall_gpu=recall(gpu_found, truth),
            recall_cpu=recall(index.search(q, K, ef=ef)[0], truth),
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="200k synthetic + wordnet")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--n", type=int, default=0, help="rows per data set (default: by --quick)")
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--batch", type=int, default=100_000, help="queries per batched search")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--skip", default="", help="comma list of: knn, build")
    p.add_argument(
        "--only",
        default="",
        help="run only data sets whose name starts with one of these (comma list), e.g. "
        "'synthetic' or 'wordnet-x': one 1M set per call fits the device tool's 10-minute limit",
    )
    p.add_argument("--json", help="append JSON lines here")
    args = p.parse_args()
    gpu = None
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            sys.exit("bench_hnsw_build.py --device cuda needs a CUDA GPU visible to torch")
        gpu = torch.cuda.get_device_name(0)
    out = open(args.json, "a") if args.json else sys.stdout
    emit(
        out,
        bench="device",
        device=args.device,
        gpu=gpu,
        cpu_threads=os.cpu_count(),
        build=panning.build_info(),
    )
    only = [o for o in args.only.split(",") if o]
    for name, x, metric in datasets(args):
        if only and not any(name.startswith(o) for o in only):
            continue
        if "knn" not in args.skip and args.device == "cuda":
            bench_knn(out, name, x, metric, args)
        if "build" not in args.skip:
            bench_build(out, name, x, metric, args)


if __name__ == "__main__":
    main()
