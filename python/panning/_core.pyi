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
def expand_frontier(
    graph: np.ndarray, new_ids: np.ndarray, labeled: np.ndarray, pool: np.ndarray
) -> np.ndarray: ...
def expand_frontier_cuda_workspace_bytes(count: int, k: int) -> int: ...
def expand_frontier_cuda(
    graph: int,
    rows: int,
    k: int,
    row_stride: int,
    col_stride: int,
    new_ids: int,
    count: int,
    labeled: int,
    pool: int,
    out: int,
    workspace: int,
    workspace_bytes: int,
    device: int,
    stream: int,
) -> int: ...
