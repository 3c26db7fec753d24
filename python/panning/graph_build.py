"""Graph building and batched search, kept for code written before the split: level building
now lives in :mod:`panning.hnsw_build`, the exact GPU kNN graph in :mod:`panning.knn` and the
batched beam search in :mod:`panning.hnsw`. Every name importable here before still is.
"""

from __future__ import annotations

from .hnsw import GpuGraph as GpuGraph
from .hnsw import beam_search
from .hnsw_build import build_levels
from .knn import NONE as NONE
from .knn import gpu_knn_graph, unit_rows

__all__ = ["beam_search", "build_levels", "gpu_knn_graph", "unit_rows"]
