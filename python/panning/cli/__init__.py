"""The ``panning`` command line: one module per command, ``main`` here.

Commands: ``info``, ``uncertain``, ``seals``, ``demo``, ``svp`` (simulations over labeled
embeddings) and ``session``, ``label``, ``embed`` (labeling by people). A user error exits 2 with
one line on stderr naming the argument; a traceback means a bug in panning.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from ._common import UsageError

__all__ = ["main", "UsageError"]

# one module per command, each with ``register(subparsers)``; the order is the help's
COMMANDS = ("info", "uncertain", "seals", "demo", "svp", "session", "label", "embed")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage block stays in ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="panning", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prefix = f"panning {args.command}"
    if getattr(args, "session_command", None):
        prefix += f" {args.session_command}"
    try:
        return int(args.func(args))
    except UsageError as exc:
        parser.exit(2, f"{prefix}: error: {exc}\n")
    except (ValueError, TypeError, OSError) as exc:
        parser.exit(2, f"{prefix}: error: {exc}\n")
    except KeyboardInterrupt:
        parser.exit(130, f"{prefix}: interrupted\n")


if __name__ == "__main__":
    sys.exit(main())
