"""``panning svp``: Selection via Proxy over an embeddings array, from the command line.

A softmax-regression proxy selects, a one-hidden-layer MLP target is trained on the selection
(both NumPy, :mod:`panning.models`). A seeded held-out split measures the target's accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from ._common import UsageError, load_npy, positive_int

_DESCRIPTION = """\
Selection via Proxy over embeddings: a linear proxy selects, an MLP target trains on the selection.
`--mode active` labels rounds of a budget schedule; `--mode coreset` keeps a subset of all the data.
With --compare the same run is repeated with the target selecting for itself and with random
selection, which is the comparison the method is judged by."""


def _count(value: str, total: int, what: str) -> int:
    try:
        v = float(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a number (a fraction or a count)") from None
    n = int(round(v * total)) if ("." in value or "e" in value.lower()) and v <= 1.0 else int(v)
    if n <= 0 or n > total:
        raise ValueError(f"{what} {value!r} gives {n}, outside 1..{total}")
    return n


def _split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < test_fraction < 1.0:
        raise UsageError("--test-fraction", f"must be in (0, 1), got {test_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(test_fraction * n)))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def _cmd_svp(args: argparse.Namespace) -> int:
    from ..models import MLPClassifier, SoftmaxRegression
    from ..svp import active_learning, coreset

    emb = load_npy(args.embeddings, "--embeddings", ndim=2)
    labels = load_npy(args.labels, "--labels", ndim=1, integer=True, mmap=False)
    if labels.shape[0] != emb.shape[0]:
        raise UsageError(
            "--labels", f"has shape {labels.shape} but --embeddings has {emb.shape[0]} rows"
        )
    train_ids, test_ids = _split(emb.shape[0], args.test_fraction, args.seed)
    x = np.asarray(emb[train_ids], dtype=np.float32)
    y = labels[train_ids]
    x_test = np.asarray(emb[test_ids], dtype=np.float32)
    y_test = labels[test_ids]
    n = x.shape[0]
    proxy = SoftmaxRegression(epochs=args.proxy_epochs, seed=args.seed)
    target = MLPClassifier((args.hidden,), epochs=args.target_epochs, seed=args.seed)
    selectors: list[tuple[str, Any, Any]] = [("proxy", proxy, args.strategy)]
    if args.compare:
        selectors += [("target", target, args.strategy), ("random", proxy, "random")]
    report: dict[str, Any] = {
        "command": "svp",
        "mode": args.mode,
        "embeddings": args.embeddings,
        "pool": n,
        "test": int(test_ids.size),
        "seed": args.seed,
        "proxy": repr(proxy),
        "target": repr(target),
        "runs": [],
    }
    if args.mode == "active":
        initial = _count(args.initial, n, "--initial")
        schedule = [_count(s, n, "--schedule size") for s in args.schedule.split(",") if s]
        report.update(initial=initial, schedule=schedule)
        for name, selector, strategy in selectors:
            t0 = time.perf_counter()
            run = active_learning(
                x, y, proxy=selector, initial=initial, schedule=schedule, strategy=strategy,
                target=target, x_test=x_test, y_test=y_test, evaluate_at=args.evaluate,
                seed=args.seed,
            )  # fmt: skip
            d = run.to_dict()
            d["labeled"] = [int(train_ids[i]) for i in run.labeled]  # ids of the input file
            d.update(selector=name, end_to_end_s=time.perf_counter() - t0)
            report["runs"].append(d)
    else:
        keep = _count(args.keep, n, "--keep")
        report["keep"] = keep
        for name, selector, strategy in selectors:
            t0 = time.perf_counter()
            res = coreset(
                x, y, proxy=selector, keep=keep, strategy=strategy, target=target,
                x_test=x_test, y_test=y_test, seed=args.seed,
            )  # fmt: skip
            d = res.to_dict()
            d["kept"] = [int(train_ids[i]) for i in res.kept]
            d.update(selector=name, end_to_end_s=time.perf_counter() - t0)
            report["runs"].append(d)
    if args.out:
        key = "labeled" if args.mode == "active" else "kept"
        np.save(args.out, np.asarray(report["runs"][0][key], dtype=np.int64))
    if args.plot:
        _plot(report, args.plot)
    if args.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
    else:
        _print_summary(report)
    return 0


def _print_summary(report: dict[str, Any]) -> None:
    out = sys.stdout
    out.write(f"pool {report['pool']} rows, test {report['test']} rows, mode {report['mode']}\n")
    for run in report["runs"]:
        out.write(f"{run['selector']:>7} {run['strategy']:<17}")
        if report["mode"] == "active":
            accs = [
                f"{r['labeled']}:{r['target_accuracy']:.4f}"
                for r in run["rounds"]
                if r["target_accuracy"] is not None
            ]
            out.write(f" selection {run['selection_s']:.2f}s  accuracy {' '.join(accs)}\n")
        else:
            out.write(
                f" kept {len(run['kept'])}  selection {run['selection_s']:.2f}s"
                f"  accuracy {run['target_accuracy']:.4f}\n"
            )


def _plot(report: dict[str, Any], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError("--plot needs matplotlib (pip install matplotlib)") from None
    fig, ax = plt.subplots(figsize=(6, 4))
    for run in report["runs"]:
        label = f"{run['selector']} ({run['strategy']}, selection {run['selection_s']:.1f}s)"
        if report["mode"] == "active":
            pts = [(r["labeled"], r["target_accuracy"]) for r in run["rounds"]]
            pts = [(n, 100 * (1 - a)) for n, a in pts if a is not None]
            ax.plot(*zip(*pts), marker="o", label=label)
        else:
            ax.bar(label, 100 * (1 - run["target_accuracy"]))
    if report["mode"] == "active":
        ax.set_xlabel("labeled examples")
        ax.legend(fontsize=8)
    else:
        ax.tick_params(axis="x", labelrotation=15, labelsize=7)
    ax.set_ylabel("target test error (%)")
    ax.set_title(f"panning svp: {report['mode']} over {report['pool']} rows")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def register(subparsers: Any) -> None:
    """Add the ``svp`` command to ``panning``'s sub-command parser."""
    p = subparsers.add_parser(
        "svp",
        help="Selection via Proxy over an embeddings .npy (linear proxy, MLP target)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--embeddings", required=True, help="[rows, dims] .npy (memory-mapped)")
    p.add_argument("--labels", required=True, help="[rows] class labels .npy")
    p.add_argument("--mode", choices=["active", "coreset"], default="active")
    p.add_argument(
        "--strategy",
        choices=["least_confidence", "entropy", "margin", "kcenters", "forgetting", "random"],
        default=None,
        help="default: least_confidence (active), forgetting (coreset)",
    )
    p.add_argument("--test-fraction", type=float, default=0.2, help="held-out split (seeded)")
    p.add_argument("--initial", default="0.02", help="random start: fraction (0.02) or count")
    p.add_argument(
        "--schedule",
        default="0.1,0.2,0.3,0.4,0.5",
        help="labeled-set sizes after each round, fractions or counts, comma-separated",
    )
    p.add_argument(
        "--evaluate", choices=["final", "all"], default="all", help="when to train the target"
    )
    p.add_argument("--keep", default="0.5", help="coreset: fraction or count to keep")
    p.add_argument("--proxy-epochs", type=positive_int, default=10)
    p.add_argument("--target-epochs", type=positive_int, default=20)
    p.add_argument(
        "--hidden", type=positive_int, default=256, help="hidden width of the MLP target"
    )
    p.add_argument("--compare", action="store_true", help="also run target-selected and random")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument("--plot", help="write a PNG of target error (needs matplotlib)")
    p.add_argument("--out", help="write the selected ids (rows of --embeddings) to this .npy")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.strategy is None:
        args.strategy = "least_confidence" if args.mode == "active" else "forgetting"
    if args.mode == "active" and args.strategy == "forgetting":
        raise ValueError("forgetting events rank a fully labeled set: use --mode coreset")
    return _cmd_svp(args)
