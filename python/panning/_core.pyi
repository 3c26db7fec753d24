from typing import Any

import numpy as np

def build_info() -> dict[str, Any]: ...

# ---- device-memory views every CUDA launcher takes (bind_device.cpp) ----
class DeviceMatrix:
    data: int
    rows: int
    cols: int
    row_stride: int
    col_stride: int
    dtype: int
    def __init__(
        self, data: int, rows: int, cols: int, row_stride: int, col_stride: int, dtype: int
    ) -> None: ...

class DeviceSamples:
    first: DeviceMatrix
    samples: int
    sample_stride: int
    def __init__(self, first: DeviceMatrix, samples: int, sample_stride: int) -> None: ...

class DeviceGraph:
    data: int
    rows: int
    k: int
    row_stride: int
    col_stride: int
    def __init__(self, data: int, rows: int, k: int, row_stride: int, col_stride: int) -> None: ...

def set_simd_level(level: str) -> None: ...
def score(x: np.ndarray, dtype: int, method: int, from_logits: bool, out: np.ndarray) -> None: ...
def most_uncertain(
    x: np.ndarray,
    dtype: int,
    method: int,
    from_logits: bool,
    k: int,
    out: np.ndarray,
    out_scores: np.ndarray | None = None,
    candidates: np.ndarray | None = None,
    exclude: np.ndarray | None = None,
) -> None: ...
def score_cuda(
    x: DeviceMatrix, method: int, from_logits: bool, out: int, device: int, stream: int
) -> None: ...
def bald(x: np.ndarray, dtype: int, out: np.ndarray) -> None: ...
def bald_top_k(
    x: np.ndarray,
    dtype: int,
    k: int,
    out: np.ndarray,
    out_scores: np.ndarray | None = None,
    candidates: np.ndarray | None = None,
    exclude: np.ndarray | None = None,
) -> None: ...
def bald_cuda(x: DeviceSamples, out: int, device: int, stream: int) -> None: ...
def bald_top_k_cuda(
    x: DeviceSamples,
    k: int,
    out: int,
    out_scores: int,
    candidates: int,
    num_candidates: int,
    workspace: int,
    workspace_bytes: int,
    device: int,
    stream: int,
) -> None: ...
def most_uncertain_cuda_workspace_bytes(rows: int, k: int) -> int: ...
def most_uncertain_cuda(
    x: DeviceMatrix,
    method: int,
    from_logits: bool,
    k: int,
    out: int,
    out_scores: int,
    candidates: int,
    num_candidates: int,
    workspace: int,
    workspace_bytes: int,
    device: int,
    stream: int,
) -> None: ...
def expand_frontier(
    graph: np.ndarray,
    expanders: np.ndarray | None,
    labeled: np.ndarray,
    pool: np.ndarray,
    excluded: np.ndarray | None,
    n: int,
    col_begin: int,
    col_end: int,
    label: bool,
) -> np.ndarray: ...
def expand_frontier_cuda_workspace_bytes(count: int, k: int) -> int: ...
def expand_frontier_cuda(
    graph: DeviceGraph,
    expanders: int,
    count: int,
    labeled: int,
    pool: int,
    excluded: int,
    n: int,
    col_begin: int,
    col_end: int,
    label: bool,
    out: int,
    workspace: int,
    workspace_bytes: int,
    device: int,
    stream: int,
) -> int: ...

# ---- indexes: HnswIndex (bind_hnsw.cpp), FlatIndex and the size limits (bind_knn.cpp) ----
class HnswIndex:
    def __init__(
        self, dim: int, metric: int, storage: int, M: int, ef_construction: int, seed: int
    ) -> None: ...
    def add(self, x: np.ndarray, dtype: int, ids: np.ndarray | None, threads: int) -> None: ...
    def search(
        self, q: np.ndarray, dtype: int, k: int, ef: int, exclude: np.ndarray | None, threads: int
    ) -> tuple[np.ndarray, np.ndarray]: ...
    def knn_graph(self, k: int, ef: int, threads: int) -> tuple[np.ndarray, np.ndarray]: ...
    def labels(self) -> np.ndarray: ...
    def size(self) -> int: ...
    def reserve(self, n: int) -> None: ...
    def memory_bytes(self) -> int: ...
    def max_level(self) -> int: ...
    def assemble(
        self,
        x: np.ndarray,
        dtype: int,
        ids: np.ndarray | None,
        levels: list[np.ndarray],
        threads: int,
    ) -> None: ...
    def levels_of(self, base: int, n: int) -> np.ndarray: ...
    def export_links(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]: ...
    def export_vectors(self) -> np.ndarray: ...
    @property
    def dim(self) -> int: ...
    @property
    def metric(self) -> str: ...
    @property
    def storage(self) -> str: ...
    @property
    def M(self) -> int: ...
    @property
    def ef_construction(self) -> int: ...
    @property
    def seed(self) -> int: ...
    def save(self, path: str) -> None: ...
    @staticmethod
    def load(path: str) -> HnswIndex: ...

class FlatIndex:
    def __init__(self, dim: int, metric: int) -> None: ...
    def add(self, x: np.ndarray, dtype: int, ids: np.ndarray | None, threads: int) -> None: ...
    def search(
        self, q: np.ndarray, dtype: int, k: int, exclude: np.ndarray | None, threads: int
    ) -> tuple[np.ndarray, np.ndarray]: ...
    def knn_graph(self, k: int, threads: int) -> tuple[np.ndarray, np.ndarray]: ...
    def labels(self) -> np.ndarray: ...
    def size(self) -> int: ...
    def memory_bytes(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def metric(self) -> str: ...

MAX_K: int
MAX_DIM: int
MAX_M: int
MAX_EF_CONSTRUCTION: int
MAX_THREADS: int

def distance_simd_level() -> str: ...
def set_distance_simd_level(level: str) -> None: ...

# ---- HNSW build (bind_hnsw_build.cpp), beam search (bind_hnsw.cpp), GPU kNN (bind_knn.cpp) ----
def prune_candidates(
    x: np.ndarray,
    metric: int,
    cand: np.ndarray,
    cand_dist: np.ndarray,
    extra: np.ndarray | None,
    extra_dist: np.ndarray | None,
    m: int,
    threads: int,
) -> tuple[np.ndarray, np.ndarray]: ...
def reverse_merge(
    x: np.ndarray,
    metric: int,
    fwd: np.ndarray,
    fwd_dist: np.ndarray,
    reverse_cap: int,
    m: int,
    threads: int,
) -> tuple[np.ndarray, np.ndarray]: ...
def beam_search(
    x: np.ndarray,
    metric: int,
    M: int,
    level0: np.ndarray,
    upper: np.ndarray,
    upper_offset: np.ndarray,
    entry: int,
    max_level: int,
    q: np.ndarray,
    k: int,
    ef: int,
    threads: int,
) -> tuple[np.ndarray, np.ndarray]: ...
def knn_workspace_bytes(nq: int, nx: int) -> int: ...
def knn_reset_cuda(rows: int, k: int, ids: int, dist: int, device: int, stream: int) -> None: ...
def knn_merge_cuda(
    q: DeviceMatrix,
    q_base: int,
    x: DeviceMatrix,
    x_base: int,
    metric: int,
    k: int,
    ids: int,
    dist: int,
    workspace: int,
    workspace_bytes: int,
    device: int,
    stream: int,
) -> None: ...
def knn_refine_cuda(
    q: DeviceMatrix,
    x: DeviceMatrix,
    metric: int,
    k: int,
    ids: int,
    dist: int,
    device: int,
    stream: int,
) -> None: ...
def prune_candidates_cuda(
    x: DeviceMatrix,
    metric: int,
    cand: int,
    cand_dist: int,
    K: int,
    extra: int,
    extra_dist: int,
    E: int,
    m: int,
    out: int,
    out_dist: int,
    device: int,
    stream: int,
) -> None: ...
def reverse_merge_workspace_bytes(n: int, m_in: int, device: int) -> int: ...
def reverse_merge_cuda(
    x: DeviceMatrix,
    metric: int,
    fwd: int,
    fwd_dist: int,
    m_in: int,
    reverse_cap: int,
    m: int,
    out: int,
    out_dist: int,
    workspace: int,
    workspace_bytes: int,
    device: int,
    stream: int,
) -> None: ...
def beam_search_cuda(
    x: DeviceMatrix,
    metric: int,
    M: int,
    level0: int,
    upper: int,
    upper_offset: int,
    entry: int,
    max_level: int,
    q: DeviceMatrix,
    k: int,
    ef: int,
    out_ids: int,
    out_dist: int,
    device: int,
    stream: int,
) -> None: ...
