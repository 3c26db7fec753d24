"""The sharded index on Ray: one actor per shard, the merge in the driver.

Ray is imported when a :class:`RayShardedIndex` is made, never by ``import panning``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._native_index import positive_int
from ..hnsw import HNSWIndex
from .sharded_index import ShardedIndexBase, _shard_plan, check_shards, shard_summary

__all__ = ["RayShardedIndex"]


class _ShardServer:
    """The body of a shard actor: an HNSWIndex loaded from its file.

    The constructor takes a path, never the vectors: a restarted actor (``max_restarts=-1``)
    re-runs it and reloads the same saved index, its checkpoint. Every method only reads, so a
    task retried after a restart (``max_task_retries=-1``) gives the same answer.
    """

    def __init__(self, path: str, threads: int | None) -> None:
        self._path = path
        self._error: str | None = None
        self._index: HNSWIndex | None = None
        try:
            self._index = HNSWIndex.load(path, threads=threads)
        except Exception as e:  # reported by info(): a constructor error would end the actor
            self._error = f"{type(e).__name__}: {e}"

    def _loaded(self) -> HNSWIndex:
        if self._index is None:
            import ray

            node = ray.get_runtime_context().get_node_id()
            raise RuntimeError(f"shard {self._path!r} failed to load on node {node}: {self._error}")
        return self._index

    def info(self) -> dict[str, Any]:
        import ray

        index = self._loaded()
        return {
            "path": self._path,
            **shard_summary(index),
            "memory_bytes": index.memory_bytes(),
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
        }

    def search(
        self, q: np.ndarray, k: int, ef: int | None, exclude: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        return self._loaded().search(q, k, ef=ef, exclude=exclude)


@functools.cache
def _shard_actor_class() -> Any:
    import ray

    return ray.remote(max_restarts=-1, max_task_retries=-1)(_ShardServer)


class RayShardedIndex(ShardedIndexBase):
    """A sharded HNSW index whose shards are Ray actors; searched like :class:`panning.HNSWIndex`.

    Each search sends the query batch to the object store once and one task to every shard
    actor; the driver merges the per-shard top ``k`` exactly (equal distances to the lower id).
    Over the same shard files it returns the same bits as
    :class:`~panning.distributed.LocalShardedIndex`.

    Actors load their shard from its file (shared storage every node mounts at the same path),
    are restarted without limit when they or their node die (``max_restarts=-1``) and retry
    interrupted searches (``max_task_retries=-1``); searches are read-only, so a retried one
    returns what the first would have. Connect to a cluster the usual way (``ray.init(address=
    ...)``) before making the index; without it, Ray starts a local one.

    Parameters
    ----------
    manifest : path or sequence of paths
        A manifest from :func:`~panning.distributed.build_shards` (file or directory), or saved
        :class:`panning.HNSWIndex` files over disjoint ids.
    num_cpus : float
        CPUs reserved by each shard actor (fractions allowed).
    threads : int or None
        Search threads inside each actor (default 1; None: every core of its node).
    ef : int, optional
        Default ``ef`` of :meth:`search`.
    actor_options : dict, optional
        More ``ray.remote`` options for the actors (``resources``, ``scheduling_strategy``,
        ``memory`` ...); restarts and retries stay unlimited.
    allow_outside : bool
        Trust shard paths that lead outside the manifest's folder (see
        :func:`~panning.distributed.read_manifest`).

    Examples
    --------
    >>> import ray                                                    # doctest: +SKIP
    >>> ray.init(address="auto")                                      # doctest: +SKIP
    >>> index = RayShardedIndex("/shared/emb-shards", num_cpus=2)     # doctest: +SKIP
    >>> ids, dist = index.search(queries, 10, ef=64)                  # doctest: +SKIP
    >>> session = panning.Seals(emb, neighbors=index)                 # doctest: +SKIP
    """

    def __init__(
        self,
        manifest: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        num_cpus: float = 1.0,
        threads: int | None = 1,
        ef: int | None = None,
        actor_options: dict[str, Any] | None = None,
        allow_outside: bool = False,
    ) -> None:
        import ray

        paths, expected, settings = _shard_plan(manifest, allow_outside)
        if not num_cpus >= 0:
            raise ValueError(f"num_cpus must be >= 0; got {num_cpus!r}")
        options = dict(actor_options or {})
        for key in ("max_restarts", "max_task_retries"):
            if key in options:
                raise ValueError(f"{key} is fixed at -1 (unlimited) for shard actors")
        options.setdefault("num_cpus", num_cpus)
        self.ef = None if ef is None else positive_int(ef, "ef")
        cls = _shard_actor_class()
        self._paths = paths
        self._actors: list[Any] = [cls.options(**options).remote(p, threads) for p in paths]
        try:
            infos = ray.get([a.info.remote() for a in self._actors])
        except BaseException:
            self.close()
            raise
        try:
            check_shards(expected, settings, infos)
        except ValueError:
            self.close()
            raise
        dims = {int(i["dim"]) for i in infos}
        metrics = {str(i["metric"]) for i in infos}
        if len(dims) != 1 or len(metrics) != 1:
            self.close()
            raise ValueError(
                f"shards disagree: dims {sorted(dims)}, metrics {sorted(metrics)}; "
                "all shards need one dim and metric"
            )
        self._dim = dims.pop()
        self._metric = metrics.pop()
        self._sizes = [int(i["size"]) for i in infos]

    def __repr__(self) -> str:
        return f"RayShardedIndex(shards={self.num_shards}, dim={self.dim}, size={len(self)})"

    @property
    def actors(self) -> list[Any]:
        """The shard actor handles, in shard order."""
        return list(self._actors)

    @property
    def paths(self) -> list[str]:
        """The shard files, in shard order."""
        return list(self._paths)

    def shard_info(self) -> list[dict[str, Any]]:
        """Per shard: path, size, dim, metric, memory_bytes, and the pid and node it runs on."""
        import ray

        return list(ray.get([a.info.remote() for a in self._actors]))

    def _search_shards(
        self, q: np.ndarray, k: int, ef: int | None, exclude: np.ndarray | None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        import ray

        if not self._actors:
            raise RuntimeError("this RayShardedIndex is closed")
        # One object-store copy of the batch (and of the excluded ids) shared by every shard.
        q_ref = ray.put(q)
        ex_ref = None if exclude is None else ray.put(exclude)
        refs = [a.search.remote(q_ref, k, ef, ex_ref) for a in self._actors]
        return [(np.asarray(i), np.asarray(d)) for i, d in ray.get(refs)]

    def close(self) -> None:
        """End the shard actors for good (no restart)."""
        import ray

        for a in self._actors:
            ray.kill(a, no_restart=True)
        self._actors = []
