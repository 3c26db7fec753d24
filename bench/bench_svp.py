"""Selection via Proxy experiments: active learning, core-sets, rank agreement, k-centers at scale.

Sub-commands (each writes one JSON object per line to --out, and a PNG beside it with --plot):

  text     clinc150 / wordnet embeddings (../shared/data): softmax-regression proxy vs one-hidden-
           layer MLP target (both NumPy); active learning 2% -> 10..50%, core-set keep 70% / 50%,
           rank correlation of proxy vs target uncertainty on the unlabeled pool.
  fmnist   Fashion-MNIST (Debian dataset-fashion-mnist): a small CNN proxy (and the target with
           fewer epochs) vs a ResNet-style target, in torch on --device; same three experiments.
  kcenter  greedy k-centers on random N x d float32 features: time and peak extra memory.

Every record carries the load average when it started: the CPU is shared, timings may be
disturbed. Run from the repository root, e.g.
  python bench/bench_svp.py text --dataset clinc150 --seeds 0 1 2 \
      --out bench/results/svp_text_clinc150.jsonl --plot
(see bench/README.md, "Selection via Proxy (bench_svp.py)", for the exact runs behind the figures).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

from panning.agreement import kendall_tau, selection_overlap, spearman
from panning.kcenter import greedy_k_centers
from panning.models import MLPClassifier, SoftmaxRegression
from panning.svp import accuracy, active_learning, coreset, uncertainty_scores

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
FMNIST = Path("/usr/share/datasets/fashion-mnist")


def conditions() -> dict[str, Any]:
    return {"loadavg": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count()}


def emit(path: str | None, record: dict[str, Any]) -> None:
    record = {**record, **conditions()}
    line = json.dumps(record)
    print(line[:400] + ("..." if len(line) > 400 else ""), flush=True)
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def al_record(kind: str, dataset: str, seed: int, selector: str, run: Any, t_total: float):
    d = run.to_dict()
    del d["labeled"]
    return {
        "experiment": "active_learning",
        "kind": kind,
        "dataset": dataset,
        "seed": seed,
        "selector": selector,
        "end_to_end_s": t_total,
        **d,
    }


# ---- shared experiment drivers ------------------------------------------------------------------


def run_active(args, kind, dataset, x, y, xt, yt, selectors, target, seed):
    n = len(y)
    initial = int(round(args.initial * n))
    schedule = [int(round(f * n)) for f in args.schedule]
    evaluate = [int(round(f * n)) for f in args.evaluate] if args.evaluate else "final"
    for name, model, strategy in selectors:
        t0 = time.perf_counter()
        run = active_learning(
            x, y, proxy=model, initial=initial, schedule=schedule, strategy=strategy,
            target=target, x_test=xt, y_test=yt, evaluate_at=evaluate, seed=seed,
        )  # fmt: skip
        emit(args.out, al_record(kind, dataset, seed, name, run, time.perf_counter() - t0))


def run_coreset(args, kind, dataset, x, y, xt, yt, selectors, target, seed):
    model = _copy(target)
    t0 = time.perf_counter()
    model.fit(x, y)
    full_s = time.perf_counter() - t0
    emit(args.out, {
        "experiment": "coreset", "kind": kind, "dataset": dataset, "seed": seed,
        "selector": "full", "strategy": "all", "kept_fraction": 1.0, "selection_s": 0.0,
        "target_train_s": full_s, "target_accuracy": accuracy(model, xt, yt),
    })  # fmt: skip
    for keep in args.keep:
        for name, proxy, strategy in selectors:
            t0 = time.perf_counter()
            res = coreset(
                x, y, proxy=proxy, keep=keep, strategy=strategy, target=target,
                x_test=xt, y_test=yt, seed=seed,
            )  # fmt: skip
            d = res.to_dict()
            del d["kept"]
            emit(args.out, {
                "experiment": "coreset", "kind": kind, "dataset": dataset, "seed": seed,
                "selector": name, "end_to_end_s": time.perf_counter() - t0, **d,
            })  # fmt: skip


def run_agreement(args, kind, dataset, x, y, proxies, target, seed):
    """Train proxy and target on the same random 10% and compare their scores on the rest."""
    rng = np.random.default_rng(seed)
    n = len(y)
    labeled = np.sort(rng.choice(n, size=int(0.1 * n), replace=False))
    pool = np.setdiff1d(np.arange(n), labeled)
    k = int(0.1 * n)
    fitted = {}
    for name, model in [("target", target), *proxies]:
        m = _copy(model)
        m.fit(_take(x, labeled), y[labeled])
        fitted[name] = m
    other = _copy(target)
    if hasattr(other, "seed"):
        other.seed = seed + 1000
        other.fit(_take(x, labeled), y[labeled])
        fitted["target_other_seed"] = other
    xp = _take(x, pool)
    for method in ("least_confidence", "entropy", "margin"):
        scores = {name: uncertainty_scores(m, xp, method) for name, m in fitted.items()}
        top = {name: np.argsort(-s, kind="stable")[:k] for name, s in scores.items()}
        for name in fitted:
            if name == "target":
                continue
            emit(args.out, {
                "experiment": "agreement", "kind": kind, "dataset": dataset, "seed": seed,
                "method": method, "proxy": name, "pool": int(pool.size), "top_k": k,
                "spearman": spearman(scores[name], scores["target"]),
                "kendall": kendall_tau(scores[name], scores["target"]),
                "top_k_overlap": selection_overlap(top[name], top["target"]),
            })  # fmt: skip


def _copy(model):
    import copy

    return copy.deepcopy(model)


def _take(x, ids):
    if hasattr(x, "device") and hasattr(x, "index_select"):
        import torch

        return x[torch.as_tensor(ids, device=x.device)]
    return x[ids]


def split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


# ---- text ---------------------------------------------------------------------------------------


def cmd_text(args):
    emb = np.load(Path(args.data) / f"{args.dataset}_emb.npy", mmap_mode="r")
    lab = np.load(Path(args.data) / f"{args.dataset}_labels.npy")
    for seed in args.seeds:
        tr, te = split(len(lab), 0.2, seed)
        x, y = np.asarray(emb[tr], np.float32), lab[tr]
        xt, yt = np.asarray(emb[te], np.float32), lab[te]
        proxy = SoftmaxRegression(epochs=args.proxy_epochs, seed=seed)
        target = MLPClassifier((args.hidden,), epochs=args.target_epochs, seed=seed)
        if "active" in args.experiments:
            selectors = [("proxy", proxy, s) for s in args.strategies]
            selectors += [("target", target, s) for s in args.target_strategies]
            selectors += [("random", proxy, "random")]
            run_active(args, "text", args.dataset, x, y, xt, yt, selectors, target, seed)
        if "coreset" in args.experiments:
            selectors = [("proxy", proxy, "forgetting"), ("proxy", proxy, "least_confidence"),
                         ("random", proxy, "random")]  # fmt: skip
            run_coreset(args, "text", args.dataset, x, y, xt, yt, selectors, target, seed)
        if "agreement" in args.experiments:
            run_agreement(args, "text", args.dataset, x, y, [("proxy", proxy)], target, seed)


# ---- Fashion-MNIST ------------------------------------------------------------------------------


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def fmnist_models(args, device, seed):
    import torch
    from torch import nn

    from panning.models_torch import TorchClassifier

    def small_cnn(width: int = 8) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * width * 49, 64), nn.ReLU(), nn.Linear(64, 10),
        )  # fmt: skip

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.skip = nn.Sequential()
            if stride != 1 or cin != cout:
                self.skip = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.b1(self.c1(x)))
            return torch.relu(self.b2(self.c2(h)) + self.skip(x))

    class ResNet(nn.Module):
        """ResNet-style: stem + 3 stages of `blocks` basic blocks (w, 2w, 4w), GAP, linear."""

        def __init__(self, width: int = 16, blocks: int = 1) -> None:
            super().__init__()
            layers: list[nn.Module] = [
                nn.Conv2d(1, width, 3, 1, 1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
            ]
            cin = width
            for stage, cout in enumerate((width, 2 * width, 4 * width)):
                for b in range(blocks):
                    layers.append(Block(cin, cout, 2 if stage and b == 0 else 1))
                    cin = cout
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            self.body = nn.Sequential(*layers)
            self.fc = nn.Linear(cin, 10)

        def embed(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.body(x))

    common = {"batch_size": 128, "device": device, "seed": seed, "eval_batch_size": 2048,
              "return_tensors": device != "cpu"}  # fmt: skip
    target = TorchClassifier(
        ResNet, epochs=args.target_epochs, lr=0.1,
        factory_kwargs={"width": args.width, "blocks": args.blocks}, **common,
    )  # fmt: skip
    proxy_small = TorchClassifier(
        small_cnn, epochs=args.proxy_epochs, lr=0.05,
        factory_kwargs={"width": args.proxy_width}, **common,
    )  # fmt: skip
    proxy_short = target.derive(epochs=args.short_epochs)
    return target, proxy_small, proxy_short


def cmd_fmnist(args):
    import torch

    torch.set_num_threads(args.threads)
    xtr = read_idx(FMNIST / "train-images-idx3-ubyte.gz")
    ytr = read_idx(FMNIST / "train-labels-idx1-ubyte.gz").astype(np.int64)
    xte = read_idx(FMNIST / "t10k-images-idx3-ubyte.gz")
    yte = read_idx(FMNIST / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    rng = np.random.default_rng(1234)
    tr = np.sort(rng.choice(len(ytr), size=min(args.pool, len(ytr)), replace=False))
    te = np.sort(rng.choice(len(yte), size=min(args.test, len(yte)), replace=False))

    def tensor(a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(((a.astype(np.float32) / 255.0) - 0.286) / 0.353)[:, None]
        return t.to(args.device)

    x, y, xt, yt = tensor(xtr[tr]), ytr[tr], tensor(xte[te]), yte[te]
    dataset = f"fashion-mnist[{len(y)} pool, {len(yt)} test]"
    for seed in args.seeds:
        target, small, short = fmnist_models(args, args.device, seed)
        meta = {"target": repr_model(target), "proxy_small": repr_model(small),
                "proxy_short": repr_model(short), "device": args.device}  # fmt: skip
        emit(args.out, {"experiment": "config", "kind": "fmnist", "seed": seed, **meta})
        if "active" in args.experiments:
            selectors = [("target", target, "least_confidence"),
                         ("proxy_small", small, "least_confidence"),
                         ("proxy_short", short, "least_confidence"),
                         ("random", small, "random")]  # fmt: skip
            if args.kcenters:
                selectors.append(("proxy_small", small, "kcenters"))
            run_active(args, "fmnist", dataset, x, y, xt, yt, selectors, target, seed)
        if "coreset" in args.experiments:
            selectors = [("proxy_small", small, s) for s in args.coreset_strategies]
            selectors += [("random", small, "random")]
            run_coreset(args, "fmnist", dataset, x, y, xt, yt, selectors, target, seed)
        if "agreement" in args.experiments:
            proxies = [("proxy_small", small), ("proxy_short", short)]
            run_agreement(args, "fmnist", dataset, x, y, proxies, target, seed)


def repr_model(m: Any) -> str:
    return (f"{m.factory.__name__}({m.factory_kwargs}) epochs={m.epochs} "
            f"batch={m.batch_size} lr={m.lr}")  # fmt: skip


# ---- k-centers at scale -------------------------------------------------------------------------


def cmd_kcenter(args):
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    x = np.empty((args.n, args.d), dtype=np.float32)
    for s in range(0, args.n, 1 << 16):  # generate in blocks: no float64 temporary of N x d
        x[s : s + (1 << 16)] = rng.standard_normal((min(1 << 16, args.n - s), args.d), np.float32)
    gen_s = time.perf_counter() - t0
    features_bytes = x.nbytes
    for n_init in args.initial:
        init = np.arange(n_init) * (args.n // max(n_init, 1)) if n_init else None
        if args.device == "cpu":
            rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            tracemalloc.start()
            t0 = time.perf_counter()
            picks = greedy_k_centers(x, args.budget, initial_centers=init, tile=args.tile)
            secs = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            mem = {"peak_traced_bytes": peak, "maxrss_growth_bytes": (rss1 - rss0) * 1024}
        else:
            import torch

            xt = torch.from_numpy(x).to(args.device)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            t0 = time.perf_counter()
            picks = greedy_k_centers(xt, args.budget, initial_centers=init, tile=args.tile)
            secs = time.perf_counter() - t0
            mem = {"peak_cuda_extra_bytes": torch.cuda.max_memory_allocated() - base}
            del xt
        emit(args.out, {
            "experiment": "kcenter", "n": args.n, "d": args.d, "budget": args.budget,
            "initial_centers": n_init, "device": args.device, "tile": args.tile,
            "seconds": secs, "seconds_per_pick": secs / args.budget,
            "features_bytes": features_bytes, "generate_s": gen_s,
            "dense_matrix_bytes_avoided": 4 * args.n * (n_init + args.budget),
            "unique_picks": int(np.unique(picks).size), **mem,
        })  # fmt: skip


# ---- plots --------------------------------------------------------------------------------------


def plot(path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [json.loads(line) for line in open(path)]
    al = [r for r in recs if r["experiment"] == "active_learning"]
    cs = [r for r in recs if r["experiment"] == "coreset"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    series: dict[str, dict[int, list[float]]] = {}
    for r in al:
        key = f"{r['selector']} ({r['strategy']})"
        for rd in r["rounds"]:
            if rd["target_accuracy"] is not None:
                series.setdefault(key, {}).setdefault(rd["labeled"], []).append(
                    100 * (1 - rd["target_accuracy"])
                )
    for key, pts in series.items():
        xs = sorted(pts)
        axes[0].errorbar(xs, [np.mean(pts[s]) for s in xs], [np.std(pts[s]) for s in xs],
                         marker="o", capsize=3, label=key)  # fmt: skip
    axes[0].set_xlabel("labeled examples")
    axes[0].set_ylabel("target test error (%)")
    axes[0].set_title("active learning (mean ± sd over seeds)")
    axes[0].legend(fontsize=7)
    groups: dict[str, list[float]] = {}
    for r in cs:
        key = f"{r['selector']} {r['strategy']} keep {r['kept_fraction']:.0%}"
        groups.setdefault(key, []).append(100 * (1 - r["target_accuracy"]))
    names = sorted(groups)
    axes[1].barh(names, [np.mean(groups[k]) for k in names],
                 xerr=[np.std(groups[k]) for k in names])  # fmt: skip
    axes[1].tick_params(axis="y", labelsize=7)
    axes[1].set_xlabel("target test error (%)")
    axes[1].set_title("core-set")
    if names:
        lo = min(np.mean(v) for v in groups.values())
        axes[1].set_xlim(left=max(0.0, lo - 3))
    fig.suptitle(Path(path).stem)
    fig.tight_layout()
    fig.savefig(Path(path).with_suffix(".png"), dpi=110)


def summarize(paths: list[str]) -> None:
    """Markdown tables (mean ± sd over seeds) of the records in ``paths``."""

    def ms(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
        v = np.asarray(values, dtype=float) * scale
        sd = f" ± {v.std():.{digits}f}" if v.size > 1 else ""
        return f"{v.mean():.{digits}f}{sd}"

    for path in paths:
        recs = [json.loads(line) for line in open(path)]
        print(f"\n### {Path(path).name}\n")
        al: dict[str, list[dict[str, Any]]] = {}
        for r in recs:
            if r["experiment"] == "active_learning":
                al.setdefault(f"{r['selector']} / {r['strategy']}", []).append(r)
        if al:
            print(
                "| selector / strategy | seeds | error @ final (%) | selection s | end-to-end s |"
            )
            print("|---|---|---|---|---|")
            for key, rs in al.items():
                err = [100 * (1 - r["final_accuracy"]) for r in rs]
                sel = [r["selection_s"] for r in rs]
                e2e = [r["end_to_end_s"] for r in rs]
                print(
                    f"| {key} | {len(rs)} | {ms(err)} | {ms(sel, digits=1)} | {ms(e2e, digits=1)} |"
                )
        cs: dict[str, list[dict[str, Any]]] = {}
        for r in recs:
            if r["experiment"] == "coreset":
                cs.setdefault(
                    f"{r['selector']} / {r['strategy']} / keep {r['kept_fraction']:.0%}", []
                ).append(r)
        if cs:
            # decided: kept rows the score alone put in; the rest tied at the cut and the
            # tie-break chose them (forgetting: least confidence). Older records lack the count.
            print(
                "\n| core-set | seeds | error (%) | selection s "
                "| kept rows decided by score / tie-break |"
            )
            print("|---|---|---|---|---|")
            for key, rs in cs.items():
                err = [100 * (1 - r["target_accuracy"]) for r in rs]
                sel = [r.get("selection_s", 0.0) for r in rs]
                dec = [r.get("decided_by_score") for r in rs]
                decided = "—"
                if all(d is not None for d in dec):
                    ties = [r["decided_by_tie_break"] for r in rs]
                    decided = f"{np.mean(dec):,.0f} / {np.mean(ties):,.0f}"
                print(f"| {key} | {len(rs)} | {ms(err)} | {ms(sel, digits=1)} | {decided} |")
        ag: dict[str, list[dict[str, Any]]] = {}
        for r in recs:
            if r["experiment"] == "agreement":
                ag.setdefault(f"{r['proxy']} vs target / {r['method']}", []).append(r)
        if ag:
            print("\n| agreement (pool after 10% labeled) | Spearman | Kendall | top-10% overlap |")
            print("|---|---|---|---|")
            for key, rs in ag.items():
                print(
                    f"| {key} | {ms([r['spearman'] for r in rs], digits=3)} | "
                    f"{ms([r['kendall'] for r in rs], digits=3)} | "
                    f"{ms([r['top_k_overlap'] for r in rs], digits=3)} |"
                )
        for r in recs:
            if r["experiment"] == "kcenter":
                print(json.dumps({k: r[k] for k in r if k not in ("experiment",)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--seeds", type=int, nargs="+", default=[0])
        p.add_argument("--experiments", nargs="+", default=["active", "coreset", "agreement"])
        p.add_argument("--initial", type=float, default=0.02)
        p.add_argument("--schedule", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4, 0.5])
        p.add_argument("--evaluate", type=float, nargs="*", default=[0.1, 0.3, 0.5])
        p.add_argument("--keep", type=float, nargs="+", default=[0.7, 0.5])
        p.add_argument("--out", required=True)
        p.add_argument("--plot", action="store_true")

    p = sub.add_parser("text")
    common(p)
    p.add_argument("--dataset", choices=["clinc150", "wordnet"], default="clinc150")
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--strategies", nargs="+", default=["least_confidence"])
    p.add_argument("--target-strategies", nargs="+", default=["least_confidence"])
    p.add_argument("--proxy-epochs", type=int, default=10)
    p.add_argument("--target-epochs", type=int, default=20)
    p.add_argument("--hidden", type=int, default=512)
    p.set_defaults(func=cmd_text)

    p = sub.add_parser("fmnist")
    common(p)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pool", type=int, default=60000)
    p.add_argument("--test", type=int, default=10000)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--blocks", type=int, default=1)
    p.add_argument("--proxy-width", type=int, default=8)
    p.add_argument("--target-epochs", type=int, default=10)
    p.add_argument("--proxy-epochs", type=int, default=10)
    p.add_argument("--short-epochs", type=int, default=2)
    p.add_argument("--kcenters", action="store_true")
    p.add_argument("--coreset-strategies", nargs="+", default=["forgetting", "least_confidence"])
    p.set_defaults(func=cmd_fmnist)

    p = sub.add_parser("kcenter")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=384)
    p.add_argument("--budget", type=int, default=100)
    p.add_argument("--initial", type=int, nargs="+", default=[0, 1000])
    p.add_argument("--tile", type=int, default=16384)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True)
    p.add_argument("--plot", action="store_true")
    p.set_defaults(func=cmd_kcenter)

    p = sub.add_parser("summary", help="markdown tables of result files")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=lambda a: summarize(a.files), plot=False)

    args = parser.parse_args()
    args.func(args)
    if args.plot and args.cmd not in ("kcenter", "summary"):
        plot(args.out)


if __name__ == "__main__":
    main()
