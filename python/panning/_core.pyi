from typing import Any

import numpy as np

def build_info() -> dict[str, Any]: ...
def set_simd_level(level: str) -> None: ...
def score(x: np.ndarray, dtype: int, method: int, from_logits: bool, out: np.ndarray) -> None: ...
def most_uncertain(
    x: np.ndarray, dtype: int, method: int, from_logits: bool, k: int, out: np.ndarray
) -> int: ...
def score_cuda(
    data: int,
    rows: int,
    cols: int,
    row_stride: int,
    col_stride: int,
    dtype: int,
    method: int,
    from_logits: bool,
    out: int,
    device: int,
    stream: int,
) -> None: ...
def most_uncertain_cuda_workspace_bytes(rows: int, k: int) -> int: ...
def most_uncertain_cuda(
    data: int,
    rows: int,
    cols: int,
    row_stride: int,
    col_stride: int,
    dtype: int,
    method: int,
    from_logits: bool,
    k: int,
    out: int,
    workspace: int,
    workspace_bytes: int,
    device: int,
    stream: int,
) -> int: ...
