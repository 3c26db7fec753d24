"""``panning uncertain``: the k most uncertain rows of a predictions array."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from ._common import UsageError, load_npy, positive_int


def register(sub: Any) -> None:
    p = sub.add_parser("uncertain", help="print the k most uncertain rows of a predictions .npy")
    p.add_argument("predictions", help="[rows, classes] probabilities or logits (.npy)")
    p.add_argument("-k", type=positive_int, required=True, help="how many rows to select")
    p.add_argument("--method", default="entropy", choices=["entropy", "margin", "least_confidence"])
    p.add_argument("--from-logits", action="store_true", help="the file holds logits")
    p.add_argument("--out", help="write the ids to this .npy instead of printing JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..scoring import most_uncertain

    x = load_npy(args.predictions, "predictions", ndim=2)
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        raise UsageError("predictions", f"expected floating-point scores, got dtype {x.dtype}")
    if x.dtype == np.float64:
        x = x.astype(np.float32)
    try:
        ids = most_uncertain(x, args.k, method=args.method, from_logits=args.from_logits)
    except ValueError as exc:
        raise UsageError("predictions", str(exc)) from None
    if args.out:
        np.save(args.out, ids)
    else:
        json.dump([int(i) for i in ids], sys.stdout)
        sys.stdout.write("\n")
    return 0
