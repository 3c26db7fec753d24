"""Scale out: sharded nearest-neighbour search and distributed uncertainty scoring.

Nothing here is imported by ``import panning``; Ray (``pip install "panning[ray]"``) is imported
only by the Ray classes and functions, when they are used.

- :func:`build_shards`, :class:`LocalShardedIndex`, :class:`RayShardedIndex`: a dataset split into
  HNSW shards, searched with one batched request per shard and merged exactly. Both take the place
  of an ``HNSWIndex`` in ``panning.Seals(..., neighbors=index)``.
- :func:`score`, :func:`most_uncertain`: full-scan scoring with Ray Data (an actor pool running
  panning's kernels, a per-block top-k merged exactly), the same ids as
  :func:`panning.most_uncertain` on one machine.
"""

from __future__ import annotations

from .ray_index import RayShardedIndex
from .scoring import most_uncertain, score
from .sharded_index import (
    LocalShardedIndex,
    ShardedIndexBase,
    ShardInfo,
    build_shards,
    merge_topk,
    read_manifest,
)

__all__ = [
    "LocalShardedIndex",
    "RayShardedIndex",
    "ShardInfo",
    "ShardedIndexBase",
    "build_shards",
    "merge_topk",
    "most_uncertain",
    "read_manifest",
    "score",
]
