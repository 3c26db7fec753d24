"""``panning session new|seed|query|teach|status|export|reindex``: label with people or other tools.

A session file (SQLite, :mod:`panning.labeling`) holds every label; these commands read and write
it so that labels can come from a person, a spreadsheet, Label Studio or Argilla:

    panning session new s.db --embeddings E.npy --items items.jsonl
    panning session seed s.db --search "lost card" -n 50 --out seed.jsonl
    panning session teach s.db labels.csv            # id,label (yes/no or class numbers)
    panning session query s.db -n 50 --out batch.csv
    panning session status s.db
    panning session export s.db --out labeled.jsonl [--predictions scores.csv]
    panning session reindex s.db                     # its kNN index file was lost
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from typing import Any

from .._jsonl import jsonl_values
from ..labeling import (
    BUILTIN_CLINC150,
    DEFAULT_MODEL,
    DEFAULT_STRATEGY,
    LabelingSession,
    format_rows,
)
from ..seals import DEFAULT_K
from ._common import UsageError, atomic_write, load_npy, positive_int

STRATEGIES = ["max_entropy", "margin", "least_confidence", "most_likely_positive", "random"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "session",
        help="label by hand or with other tools: new, seed, query, teach, status, export, reindex",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmds = p.add_subparsers(dest="session_command", required=True)

    c = cmds.add_parser("new", help="create a session file over embeddings (and items)")
    c.add_argument("session", help="the session file to create (SQLite)")
    c.add_argument(
        "--embeddings",
        required=True,
        help=f"[rows, dims] .npy, or {BUILTIN_CLINC150} for the CLINC150 copy shipped here",
    )
    c.add_argument("--items", help="JSONL, one object per row: text and/or image, metadata")
    c.add_argument("--classes", default="no,yes", help="class names, comma-separated (no,yes)")
    c.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=DEFAULT_STRATEGY,
        help=f"what each batch shows ({DEFAULT_STRATEGY}: the model's most likely positives)",
    )
    c.add_argument("--k", type=positive_int, default=DEFAULT_K, help="neighbours per positive")
    c.add_argument(
        "--index", help="the session's kNN index file (default SESSION.hnsw; .npz: a graph cache)"
    )
    c.add_argument("--model", default=DEFAULT_MODEL, help="embedding model (semantic search)")
    c.set_defaults(func=_new)

    c = cmds.add_parser("seed", help="find first examples: keyword search or nearest to an item")
    c.add_argument("session")
    how = c.add_mutually_exclusive_group(required=True)
    how.add_argument("--search", help="words to look for in the item texts")
    how.add_argument("--like", type=int, help="an item id: its nearest neighbours")
    c.add_argument("-n", type=positive_int, default=50, help="how many items (50)")
    c.add_argument("--out", help="write .jsonl or .csv here (default: JSONL on stdout)")
    c.set_defaults(func=_seed)

    c = cmds.add_parser("query", help="the next items to label (ids, item fields, model score)")
    c.add_argument("session")
    c.add_argument("-n", type=positive_int, default=50, help="batch size (50)")
    c.add_argument("--out", help="write .jsonl or .csv here (default: JSONL on stdout)")
    c.set_defaults(func=_query)

    c = cmds.add_parser("teach", help="record labels from a CSV or JSONL file of id,label")
    c.add_argument("session")
    c.add_argument("labels", help=".csv with columns id,label or .jsonl of {id, label}")
    c.set_defaults(func=_teach)

    c = cmds.add_parser("status", help="labels, positives, pool scored, rounds, estimate")
    c.add_argument("session")
    c.add_argument("--json", action="store_true", help="print the status as JSON")
    c.set_defaults(func=_status)

    c = cmds.add_parser("export", help="the labeled set (with item fields) as CSV or JSONL")
    c.add_argument("session")
    c.add_argument("--out", required=True, help=".csv or .jsonl")
    c.add_argument(
        "--predictions", help="also write the model's score of every row here (.csv, streamed)"
    )
    c.set_defaults(func=_export)

    c = cmds.add_parser(
        "reindex",
        help="build the session's kNN index again (when its file was lost)",
        description="Build the session's kNN index again and record it. The labels are kept; "
        "the pool is replayed over the new index and may differ from the one the labels came from.",
    )
    c.add_argument("session")
    c.set_defaults(func=_reindex)


def _fmt(path: str | None, arg: str) -> str:
    if path is None:
        return "jsonl"
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".csv", ".jsonl"):
        raise UsageError(arg, f"{path}: the file name must end in .csv or .jsonl")
    return ext[1:]


def _open(path: str, *, write: bool, rebuild_index: bool = False) -> LabelingSession:
    if not os.path.exists(path):
        raise UsageError("session", f"no such file: {path}")
    try:
        return LabelingSession.open(path, write=write, rebuild_index=rebuild_index)
    except (ValueError, RuntimeError, OSError) as exc:
        raise UsageError("session", str(exc)) from None


def _emit(rows: list[dict[str, Any]], out: str | None) -> None:
    text = format_rows(rows, _fmt(out, "--out"))
    if out is None:
        sys.stdout.write(text)
    else:
        atomic_write(out, text)
        sys.stderr.write(f"{len(rows)} items written to {out}\n")


def _new(args: argparse.Namespace) -> int:
    if os.path.exists(args.session):
        raise UsageError("session", f"{args.session} already exists")
    if args.embeddings != BUILTIN_CLINC150:
        emb = load_npy(args.embeddings, "--embeddings", ndim=2)
        if emb.dtype.kind != "f":
            raise UsageError("--embeddings", f"expected floating-point embeddings, got {emb.dtype}")
    if args.items is not None and not os.path.isfile(args.items):
        raise UsageError("--items", f"no such file: {args.items}")
    classes = [c.strip() for c in args.classes.split(",")]
    try:
        s = LabelingSession.create(
            args.session, args.embeddings, items=args.items, classes=classes,
            strategy=args.strategy, k=args.k, index=args.index, model=args.model,
        )  # fmt: skip
    except ValueError as exc:
        arg = "--items" if args.items and args.items in str(exc) else "--classes"
        raise UsageError(arg, str(exc)) from None
    with s:
        print(f"{args.session}: {len(s.items)} rows, classes {s.class_names}")
    return 0


def _seed(args: argparse.Namespace) -> int:
    with _open(args.session, write=False) as s:
        try:
            if args.search is not None:
                rows = s.search(args.search, args.n)
            else:
                rows = s.like(args.like, args.n)
        except ValueError as exc:
            raise UsageError(
                "--search" if args.search is not None else "--like", str(exc)
            ) from None
    _emit(rows, args.out)
    return 0


def _query(args: argparse.Namespace) -> int:
    with _open(args.session, write=False) as s:
        rows = s.batch(args.n)
    _emit(rows, args.out)
    return 0


def read_label_file(path: str) -> list[tuple[Any, Any]]:
    """``(id, label)`` pairs of a ``.csv`` (columns ``id``, ``label``) or ``.jsonl`` file."""
    fmt = _fmt(path, "labels")
    if not os.path.isfile(path):
        raise UsageError("labels", f"no such file: {path}")
    pairs: list[tuple[Any, Any]] = []
    with open(path, encoding="utf-8", newline="") as f:
        if fmt == "csv":
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"id", "label"} <= set(reader.fieldnames):
                raise UsageError("labels", f"{path} needs a header with columns id and label")
            for n, row in enumerate(reader, 2):
                if row["id"] is None or row["label"] is None:
                    raise UsageError("labels", f"{path} line {n}: missing id or label")
                pairs.append((row["id"].strip(), row["label"].strip()))
        else:
            try:
                for n, obj in jsonl_values(f, path):
                    if not isinstance(obj, dict) or "id" not in obj or "label" not in obj:
                        raise UsageError("labels", f"{path} line {n}: expected {{'id', 'label'}}")
                    pairs.append((obj["id"], obj["label"]))
            except ValueError as exc:  # a line that is not JSON
                raise UsageError("labels", str(exc)) from None
    return pairs


def _teach(args: argparse.Namespace) -> int:
    pairs = read_label_file(args.labels)
    with _open(args.session, write=True) as s:
        try:
            n = s.teach(pairs)
        except ValueError as exc:
            raise UsageError("labels", f"{args.labels}: {exc}; nothing was recorded") from None
        st = s.status(top=0)
    print(f"{n} labels recorded; {st['labels']} in all, {st['positives']} positives")
    return 0


def _status(args: argparse.Namespace) -> int:
    with _open(args.session, write=False) as s:
        st = s.status()
    if args.json:
        json.dump(st, sys.stdout)
        sys.stdout.write("\n")
        return 0
    est = st["estimated_positives_remaining"]
    print(f"session      {st['session']} ({st['rows']} rows, classes {st['classes']})")
    print(
        f"labels       {st['labels']}  "
        + "  ".join(f"{k}: {v}" for k, v in st["per_class"].items())
    )
    print(f"positives    {st['positives']}")
    print(f"pool scored  {100 * st['fraction_scored']:.2f}% (pool now {st['pool_size']})")
    print(f"rounds       {st['rounds']}")
    print(f"positives left in the pool (model estimate)  {'n/a' if est is None else est}")
    return 0


def _export(args: argparse.Namespace) -> int:
    fmt = _fmt(args.out, "--out")
    if args.predictions is not None and _fmt(args.predictions, "--predictions") != "csv":
        raise UsageError("--predictions", "predictions are written as .csv (id,score)")
    with _open(args.session, write=False) as s:
        atomic_write(args.out, s.export(fmt))
        n = s.seals.n_labeled
        if args.predictions is not None:
            tmp = f"{args.predictions}.tmp-{os.getpid()}"
            try:
                with open(tmp, "w", newline="") as f:
                    f.write("id,score\n")
                    for i, score in s.predictions():
                        f.write(f"{i},{score:.6g}\n")
                os.replace(tmp, args.predictions)
            except ValueError as exc:
                raise UsageError("--predictions", str(exc)) from None
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    print(f"{n} labeled items written to {args.out}")
    return 0


def _reindex(args: argparse.Namespace) -> int:
    with _open(args.session, write=True, rebuild_index=True) as s:
        print(f"{args.session}: kNN index rebuilt over {len(s.items)} rows")
    return 0
