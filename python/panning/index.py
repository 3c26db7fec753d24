"""Nearest-neighbour indexes, kept for code written before the split: :class:`HNSWIndex` now
lives in :mod:`panning.hnsw`, :class:`FlatIndex` and :func:`knn_graph` in :mod:`panning.knn`.
Every name importable here before still is.
"""

from __future__ import annotations

from ._native_index import Metric as Metric
from .hnsw import DEFAULT_EF as DEFAULT_EF
from .hnsw import HNSWIndex
from .hnsw import Storage as Storage
from .knn import FlatIndex, knn_graph

__all__ = ["FlatIndex", "HNSWIndex", "knn_graph"]
