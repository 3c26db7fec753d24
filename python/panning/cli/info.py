"""``panning info``: the build's features as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("info", help="print panning.build_info() as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import build_info

    json.dump(build_info(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
