"""``panning label``: the labeling web page over a session file (extra ``panning[ui]``).

With no session file, a session over the CLINC150 copy shipped with panning is created (or
continued) in ``panning-clinc150.db`` in the current folder. A new SESSION.db is created from
``--embeddings`` (and ``--items``); an existing one is continued. One server per session file:
a second one on the same file is refused.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..labeling import (
    BUILTIN_CLINC150,
    DEFAULT_MODEL,
    DEFAULT_STRATEGY,
    LabelingSession,
    SessionLocked,
)
from ._common import UsageError, load_npy
from .session import STRATEGIES

DEFAULT_SESSION = "panning-clinc150.db"


def _port(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {value!r}") from None
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"must be in 0..65535, got {n}")
    return n


def register(sub: Any) -> None:
    p = sub.add_parser(
        "label",
        help="the labeling web page (needs panning[ui])",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("session", nargs="?", help=f"session file (default: {DEFAULT_SESSION})")
    p.add_argument("--embeddings", help="[rows, dims] .npy for a new session")
    p.add_argument("--items", help="JSONL items for a new session (text and/or image per row)")
    p.add_argument("--classes", default="no,yes", help="class names of a new session (no,yes)")
    p.add_argument("--index", help="kNN graph cache of a new session (default SESSION.knn.npz)")
    p.add_argument(
        "--strategy", choices=STRATEGIES, default=DEFAULT_STRATEGY, help="of a new session"
    )
    p.add_argument("--model", default=DEFAULT_MODEL, help="embedding model (semantic search)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1: this machine)")
    p.add_argument("--port", type=_port, default=8765)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UsageError(
            "label", 'the web page needs the ui extra: pip install "panning[ui]"'
        ) from None
    from ..ui import SessionWorker, serve

    path = args.session or DEFAULT_SESSION

    def opener() -> LabelingSession:
        return _open_or_create(args, path)

    try:
        worker = SessionWorker(opener)
    except SessionLocked as exc:
        raise UsageError("session", str(exc)) from None
    try:
        session = worker.session
        local = args.host in ("127.0.0.1", "localhost", "::1")
        where = "this machine only" if local else "the network"
        print(
            f"panning label: {path} ({len(session.items)} rows, {session.seals.n_labeled} labels) "
            f"on http://{args.host}:{args.port}/ (bound to {args.host}: {where})",
            flush=True,
        )
        serve(worker, host=args.host, port=args.port)
    finally:
        worker.close()
    return 0


def _open_or_create(args: argparse.Namespace, path: str) -> LabelingSession:
    if os.path.exists(path):
        if args.embeddings or args.items:
            sys.stderr.write(f"{path} exists: continuing it (--embeddings/--items ignored)\n")
        return LabelingSession.open(path)
    source = args.embeddings or (BUILTIN_CLINC150 if args.session is None else None)
    if source is None:
        raise UsageError("--embeddings", f"{path} does not exist: give --embeddings to create it")
    if source != BUILTIN_CLINC150:
        load_npy(source, "--embeddings", ndim=2)
    if args.items is not None and not os.path.isfile(args.items):
        raise UsageError("--items", f"no such file: {args.items}")
    return LabelingSession.create(
        path, source, items=args.items, index=args.index, model=args.model, strategy=args.strategy,
        classes=[c.strip() for c in args.classes.split(",")],
    )  # fmt: skip
