"""What every ``panning`` command shares: user errors, argument types, checked file loading.

A user error (a missing or malformed file, an array of the wrong shape, a bad option value) is a
:class:`UsageError` naming the argument; ``panning`` prints it as one line on stderr and exits 2.
Anything else that escapes a command is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import zipfile
from typing import Any

import numpy as np

__all__ = [
    "UsageError",
    "load_npy",
    "positive_int",
    "non_negative_int",
    "fraction",
    "atomic_write",
]


class UsageError(Exception):
    """A mistake in what the user asked for: ``panning`` exits 2 with ``"ARG: message"``."""

    def __init__(self, arg: str, message: str) -> None:
        super().__init__(f"{arg}: {message}")
        self.arg = arg


def positive_int(value: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {n}")
    return n


def non_negative_int(value: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {n}")
    return n


def fraction(value: str) -> float:
    """argparse type: a number in [0, 1)."""
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value!r}") from None
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {v}")
    return v


def load_npy(
    path: str,
    arg: str,
    *,
    ndim: int | None = None,
    numeric: bool = True,
    integer: bool = False,
    mmap: bool = True,
) -> np.ndarray:
    """Load one ``.npy`` array for argument ``arg``, refusing what the command cannot use.

    Raises :class:`UsageError` for a missing file, a file that is not an ``.npy`` array (an
    ``.npz`` archive, a pickle, text, an empty or truncated file), an empty array, a number of
    dimensions other than ``ndim``, a non-numeric dtype, or a non-integer one when ``integer``.
    """
    if not os.path.exists(path):
        raise UsageError(arg, f"no such file: {path}")
    if os.path.isdir(path):
        raise UsageError(arg, f"{path} is a directory, expected an .npy file")
    if zipfile.is_zipfile(path):
        raise UsageError(arg, f"{path} is an .npz archive; expected one array in an .npy file")
    try:
        a: Any = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(arg, f"{path} is not a readable .npy array ({reason})") from None
    if not isinstance(a, np.ndarray):
        raise UsageError(arg, f"{path} is not an .npy array")
    if ndim is not None and a.ndim != ndim:
        want = {1: "a 1-D [rows] array", 2: "a 2-D [rows, dims] array"}.get(ndim, f"{ndim}-D")
        raise UsageError(arg, f"expected {want}, got shape {a.shape}")
    if a.size == 0:
        raise UsageError(arg, f"{path} holds an empty array (shape {a.shape})")
    if numeric and not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise UsageError(arg, f"expected numbers, got dtype {a.dtype}")
    if numeric and np.issubdtype(a.dtype, np.complexfloating):
        raise UsageError(arg, f"complex values have no meaning here (dtype {a.dtype})")
    if integer and not (np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
        raise UsageError(arg, f"expected integer labels, got dtype {a.dtype}")
    return a


def atomic_write(path: str, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        with open(tmp, mode) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
