"""The ``panning`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import numpy as np


def _cmd_uncertain(args: argparse.Namespace) -> int:
    from .scoring import most_uncertain

    x = np.load(args.predictions, mmap_mode="r")
    if x.dtype == np.float64:
        x = x.astype(np.float32)
    ids = most_uncertain(x, args.k, method=args.method, from_logits=args.from_logits)
    if args.out:
        np.save(args.out, ids)
    else:
        json.dump([int(i) for i in ids], sys.stdout)
        sys.stdout.write("\n")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from . import build_info

    json.dump(build_info(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="panning", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("uncertain", help="print the k most uncertain rows of a predictions .npy")
    p.add_argument("predictions", help="[rows, classes] probabilities or logits (.npy)")
    p.add_argument("-k", type=int, required=True, help="how many rows to select")
    p.add_argument("--method", default="entropy", choices=["entropy", "margin", "least_confidence"])
    p.add_argument("--from-logits", action="store_true", help="the file holds logits")
    p.add_argument("--out", help="write the ids to this .npy instead of printing JSON")
    p.set_defaults(func=_cmd_uncertain)

    p = sub.add_parser("info", help="print panning.build_info() as JSON")
    p.set_defaults(func=_cmd_info)

    from ._svp_cli import register as register_svp
    from .seals_cli import register as register_seals

    register_seals(sub)
    register_svp(sub)

    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, TypeError, OSError) as exc:
        parser.exit(2, f"panning {args.command}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
