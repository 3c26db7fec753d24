"""JSON Lines: one reader for every ``.jsonl`` panning takes (items, texts, labels)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


def jsonl_values(lines: Iterable[str], path: str) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed value)`` of each non-empty line; blank lines are skipped.

    Raises ``ValueError`` naming ``path`` and the line when a line is not JSON; what the value
    must be (an object with which keys) is the caller's check.

    Examples
    --------
    >>> list(jsonl_values(['{"a": 1}', "", "[2]"], "f.jsonl"))
    [(1, {'a': 1}), (3, [2])]
    """
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} line {n} is not JSON ({exc.msg})") from None
