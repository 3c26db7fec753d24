"""``panning embed ITEMS.jsonl --out E.npy``: sentence embeddings of texts (``panning[text]``)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ._common import UsageError, positive_int


def register(sub: Any) -> None:
    from ..embed import DEFAULT_MODEL

    p = sub.add_parser("embed", help="embed the texts of a JSONL file (needs panning[text])")
    p.add_argument("items", help="JSONL, one object with a 'text' per row")
    p.add_argument("--out", required=True, help="float16 [rows, dims] .npy to write")
    p.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"sentence-transformers model ({DEFAULT_MODEL})"
    )
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..embed import embed_file, read_texts

    if not os.path.isfile(args.items):
        raise UsageError("items", f"no such file: {args.items}")
    if not args.out.endswith(".npy"):
        raise UsageError("--out", f"{args.out}: the file name must end in .npy")
    try:
        read_texts(args.items)
    except ValueError as exc:
        raise UsageError("items", str(exc)) from None
    try:
        x = embed_file(
            args.items, args.out, model=args.model, batch_size=args.batch_size,
            progress=not args.no_progress,
        )  # fmt: skip
    except ImportError as exc:
        raise UsageError("embed", str(exc)) from None
    except KeyboardInterrupt:
        sys.stderr.write(f"interrupted: run the same command again to continue {args.out}\n")
        return 130
    print(f"{x.shape[0]} rows x {x.shape[1]} dims written to {args.out}")
    return 0
