"""Sharded nearest-neighbour search: one query batch fanned out to every shard, merged exactly.

A dataset too large for one machine is split into shards, each an :class:`panning.HNSWIndex`
saved to a file (:func:`build_shards` writes them and a ``manifest.json``). Two indexes search
them behind the same API as ``HNSWIndex.search``, so a SEALS session (``panning.Seals(...,
neighbors=index)``) takes either without change:

- :class:`LocalShardedIndex`: the shards in this process, searched from a thread pool (the native
  search releases the GIL);
- :class:`RayShardedIndex`: one Ray actor per shard (``pip install panning[ray]``).

Ids are global: every shard stores the dataset ids of its vectors (``build_shards`` adds rows
``start .. stop - 1`` of the embeddings under those very ids, ``HNSWIndex.add(x, ids=...)``), so a
shard's answer needs no translation. Shards written by other means may hold any ids, as long as no
id is stored in two shards.

The merge is exact: each shard returns its own top ``k`` and the driver keeps, per query row, the
``k`` smallest distances of the union, equal distances going to the lower id, ``-1`` / ``+inf``
padding last. With exact shards (:class:`panning.FlatIndex`) the result is the exact search of the
whole dataset; with HNSW shards it is the top ``k`` of what the shards found.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .._native_index import METRICS, Metric, as_ids, as_rows, positive_int
from ..hnsw import HNSWIndex, Storage

__all__ = [
    "LocalShardedIndex",
    "MANIFEST",
    "ShardInfo",
    "ShardedIndexBase",
    "build_shards",
    "merge_topk",
    "check_shards",
    "read_manifest",
    "shard_summary",
]

MANIFEST = "manifest.json"
_NO_ID = np.iinfo(np.int64).max  # sorts padding (-1) after every real id


@dataclass(frozen=True)
class ShardInfo:
    """One shard of a manifest: the saved index file and the dataset rows it holds.

    ``start`` / ``stop`` are the row range for shards written by :func:`build_shards` (the ids
    are those row numbers); both are ``-1`` for shards holding arbitrary ids.
    """

    path: str
    count: int
    start: int = -1
    stop: int = -1


def local_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a local file path: plain paths and ``file://`` URIs are accepted.

    Shard files are read by every node that hosts a shard, so they must live on storage all nodes
    mount at the same path (NFS, a cluster file system). Object-store URIs (``s3://``, ``gs://``)
    are refused with ``ValueError``: copy the files to shared storage first.
    """
    p = os.fspath(path)
    if p.startswith("file://"):
        return p[len("file://") :]
    if "://" in p:
        raise ValueError(
            f"unsupported shard location {p!r}: give a path on storage every node mounts "
            "(or a file:// URI)"
        )
    return p


_METRICS = tuple(METRICS)


def _manifest_int(value: Any, where: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{where} must be an integer >= {low}; got {value!r:.60}")
    return value


def read_manifest(
    path: str | os.PathLike[str], *, allow_outside: bool = False
) -> tuple[list[ShardInfo], dict[str, Any]]:
    """The shards and settings listed by a manifest written by :func:`build_shards`.

    ``path`` is the manifest file or the directory holding ``manifest.json``. Shard paths in the
    file are relative to the manifest's directory and come back absolute.

    A manifest is untrusted input: its schema is checked (format, ``dim``, ``metric``, ``rows``,
    one entry per shard with ``path``, ``count``, ``start``, ``stop``), shard paths must resolve
    inside the manifest's folder (no absolute paths, no ``..``, no symlink leading out) unless
    ``allow_outside=True``, no file may be listed twice, row ranges may not overlap, and the
    counts must add up to ``rows``. The shards themselves are checked against it when loaded
    (:meth:`LocalShardedIndex.load`, :class:`RayShardedIndex`).

    Raises
    ------
    FileNotFoundError
        No manifest there, or a shard file it lists is missing.
    ValueError
        The file is not a valid panning shard manifest.
    """
    p = local_path(path)
    if os.path.isdir(p):
        p = os.path.join(p, MANIFEST)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"no shard manifest at {p!r}")
    try:
        with open(p, encoding="utf-8") as f:
            meta = json.load(f)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{p!r} is not a panning shard manifest (invalid JSON: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != "panning-shards-1":
        raise ValueError(f"{p!r} is not a panning shard manifest (format panning-shards-1)")
    where = f"manifest {p!r}"
    _manifest_int(meta.get("dim"), f"{where}: dim", 1)
    _manifest_int(meta.get("rows"), f"{where}: rows", 0)
    if meta.get("metric") not in _METRICS:
        raise ValueError(f"{where}: metric must be one of {_METRICS}; got {meta.get('metric')!r}")
    entries = meta.get("shards")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{where}: shards must be a non-empty list")
    base = os.path.dirname(os.path.abspath(p))
    real_base = os.path.realpath(base)
    shards: list[ShardInfo] = []
    seen: dict[str, int] = {}
    for i, s in enumerate(entries):
        at = f"{where}: shards[{i}]"
        if not isinstance(s, dict) or not isinstance(s.get("path"), str) or not s["path"]:
            raise ValueError(f"{at} must be an object with a non-empty 'path' string")
        rel = s["path"]
        count = _manifest_int(s.get("count"), f"{at}.count", 0)
        start = _manifest_int(s.get("start", -1), f"{at}.start", -1)
        stop = _manifest_int(s.get("stop", -1), f"{at}.stop", -1)
        if (start < 0) != (stop < 0) or (start >= 0 and stop - start != count):
            raise ValueError(
                f"{at}: start={start}, stop={stop} do not describe count={count} rows "
                "(both -1 for shards with arbitrary ids)"
            )
        shard_path = os.path.join(base, rel)
        real = os.path.realpath(shard_path)
        if not allow_outside:
            if os.path.isabs(rel) or ".." in rel.replace("\\", "/").split("/"):
                raise ValueError(
                    f"{at}: path {rel!r} must be relative to the manifest's folder, without '..' "
                    "(pass allow_outside=True to trust this manifest)"
                )
            if os.path.commonpath([real, real_base]) != real_base:
                raise ValueError(
                    f"{at}: path {rel!r} resolves to {real!r}, outside the manifest's folder "
                    f"{real_base!r} (a symlink?); pass allow_outside=True to trust this manifest"
                )
        if real in seen:
            raise ValueError(
                f"{at}: the shard file {rel!r} is already listed as shards[{seen[real]}]"
            )
        seen[real] = i
        if not os.path.isfile(shard_path):
            raise FileNotFoundError(f"the manifest {p!r} lists a missing shard file {shard_path!r}")
        shards.append(ShardInfo(shard_path, count, start, stop))
    ranges = sorted((s.start, s.stop) for s in shards if s.start >= 0)
    for (a0, a1), (b0, _) in zip(ranges, ranges[1:]):
        if b0 < a1:
            raise ValueError(f"{where}: shard row ranges [{a0}, {a1}) and [{b0}, ...) overlap")
    total = sum(s.count for s in shards)
    if total != meta["rows"]:
        raise ValueError(f"{where}: shard counts add up to {total}, but rows is {meta['rows']}")
    settings = {k: v for k, v in meta.items() if k != "shards"}
    return shards, settings


def check_shards(
    expected: Sequence[ShardInfo] | None,
    settings: dict[str, Any] | None,
    loaded: Sequence[dict[str, Any]],
) -> None:
    """Check what the loaded shards hold against their manifest (when there is one).

    ``loaded`` has one dict per shard: ``size``, ``dim``, ``metric``, ``id_min``, ``id_max``
    (``-1`` for an empty shard). Raises ``ValueError`` naming the shard file and the mismatch.
    """
    if expected is None or settings is None:
        return
    for info, got in zip(expected, loaded):
        at = f"shard {info.path!r}"
        if int(got["size"]) != info.count:
            raise ValueError(f"{at} holds {got['size']} vectors; the manifest says {info.count}")
        if int(got["dim"]) != int(settings["dim"]):
            raise ValueError(f"{at} has dim {got['dim']}; the manifest says {settings['dim']}")
        if str(got["metric"]) != str(settings["metric"]):
            raise ValueError(
                f"{at} has metric {got['metric']!r}; the manifest says {settings['metric']!r}"
            )
        if info.start >= 0 and info.count > 0:
            lo, hi = int(got["id_min"]), int(got["id_max"])
            if lo < info.start or hi >= info.stop:
                raise ValueError(
                    f"{at} holds ids {lo} .. {hi}, outside its manifest range "
                    f"[{info.start}, {info.stop})"
                )


def shard_summary(index: Any) -> dict[str, Any]:
    """``size``, ``dim``, ``metric``, ``id_min``, ``id_max`` of a loaded shard index."""
    ids = np.asarray(index.ids)
    return {
        "size": len(index),
        "dim": int(index.dim),
        "metric": str(index.metric),
        "id_min": int(ids.min()) if ids.size else -1,
        "id_max": int(ids.max()) if ids.size else -1,
    }


def build_shards(
    embeddings: Any,
    directory: str | os.PathLike[str],
    shards: int,
    *,
    metric: Metric = "l2",
    M: int = 16,
    ef_construction: int = 200,
    storage: Storage = "float32",
    seed: int = 0,
    threads: int | None = None,
    block_rows: int = 65536,
) -> str:
    """Split ``embeddings`` into ``shards`` contiguous row ranges, build and save one HNSW index
    per range, and write ``manifest.json``; returns the manifest's path.

    Shard ``i`` holds rows ``start_i .. stop_i - 1`` under those row numbers as ids. Rows are
    read ``block_rows`` at a time, so ``embeddings`` may be an ``np.memmap`` larger than memory
    (each shard's index must fit). Each shard is saved atomically (:meth:`HNSWIndex.save`); the
    manifest is written last, so a directory with a manifest is complete. On a cluster, build
    shards in parallel by calling this once per machine on a slice, or reuse the files.

    Parameters
    ----------
    embeddings : array [N, d]
        float32 or float16 (numpy, memmap, CPU torch).
    directory : path
        Created if missing; files ``shard-00000.pnidx`` ... and ``manifest.json``.
    shards : int
        Number of shards, ``1 <= shards <= N``.
    metric, M, ef_construction, storage, seed, threads
        As for :class:`panning.HNSWIndex` (the same for every shard; shard ``i`` uses
        ``seed + i``).

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from panning.distributed import LocalShardedIndex, build_shards
    >>> x = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
    >>> manifest = build_shards(x, tempfile.mkdtemp(), 3)
    >>> index = LocalShardedIndex.load(manifest)
    >>> len(index), index.shard_sizes
    (500, [167, 167, 166])
    >>> index.search(x[:2], 1)[0].ravel().tolist()
    [0, 1]
    """
    shape = tuple(int(s) for s in embeddings.shape)
    if len(shape) != 2 or shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"embeddings must be a non-empty 2-D [rows, dim] array; got {shape}")
    n, dim = shape
    shards = positive_int(shards, "shards")
    if shards > n:
        raise ValueError(f"shards={shards} is more than the {n} rows")
    block_rows = positive_int(block_rows, "block_rows")
    d = local_path(directory)
    os.makedirs(d, exist_ok=True)
    # Sizes differ by at most one row, larger shards first: 500 rows in 3 -> 167, 167, 166.
    base, extra = divmod(n, shards)
    bounds = [i * base + min(i, extra) for i in range(shards + 1)]
    entries = []
    for i in range(shards):
        start, stop = int(bounds[i]), int(bounds[i + 1])
        index = HNSWIndex(
            dim,
            metric=metric,
            M=M,
            ef_construction=ef_construction,
            seed=seed + i,
            storage=storage,
            threads=threads,
        )
        for s in range(start, stop, block_rows):
            e = min(stop, s + block_rows)
            index.add(_block(embeddings, s, e), ids=np.arange(s, e, dtype=np.int64))
        name = f"shard-{i:05d}.pnidx"
        index.save(os.path.join(d, name))
        entries.append({"path": name, "count": stop - start, "start": start, "stop": stop})
    meta = {
        "format": "panning-shards-1",
        "dim": dim,
        "metric": metric,
        "rows": n,
        "M": M,
        "ef_construction": ef_construction,
        "storage": storage,
        "shards": entries,
    }
    path = os.path.join(d, MANIFEST)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, path)
    return path


def _block(embeddings: Any, start: int, stop: int) -> Any:
    block = embeddings[start:stop]
    if isinstance(block, np.ndarray) and block.dtype not in (np.float32, np.float16):
        raise TypeError(f"embeddings have dtype {block.dtype}; expected float32 or float16")
    return np.ascontiguousarray(block) if isinstance(block, np.ndarray) else block


def merge_topk(
    parts: Sequence[tuple[np.ndarray, np.ndarray]], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The exact per-row top ``k`` of several ``(ids, distances)`` results over disjoint ids.

    Rows are ordered by distance, equal distances by lower id (the order of a single index), and
    ``-1`` / ``+inf`` padding last; rows with fewer than ``k`` results are padded.

    Examples
    --------
    >>> import numpy as np
    >>> a = (np.array([[4, 1]]), np.array([[0.5, 2.0]], dtype=np.float32))
    >>> b = (np.array([[3, -1]]), np.array([[2.0, np.inf]], dtype=np.float32))
    >>> ids, dist = merge_topk([a, b], 3)
    >>> ids.tolist(), dist.tolist()
    ([[4, 1, 3]], [[0.5, 2.0, 2.0]])
    """
    if not parts:
        raise ValueError("nothing to merge: no shard results")
    k = positive_int(k, "k")
    ids = np.concatenate([np.asarray(p[0], dtype=np.int64) for p in parts], axis=1)
    dist = np.concatenate([np.asarray(p[1], dtype=np.float32) for p in parts], axis=1)
    nq = ids.shape[0]
    id_key = np.where(ids < 0, _NO_ID, ids)
    dist_key = np.where(ids < 0, np.float32(np.inf), dist)
    order = np.lexsort((id_key, dist_key), axis=1)[:, :k]
    out_ids = np.full((nq, k), -1, dtype=np.int64)
    out_dist = np.full((nq, k), np.inf, dtype=np.float32)
    kk = order.shape[1]
    out_ids[:, :kk] = np.take_along_axis(ids, order, axis=1)
    out_dist[:, :kk] = np.take_along_axis(dist, order, axis=1)
    out_dist[out_ids < 0] = np.inf
    return out_ids, out_dist


class ShardedIndexBase:
    """What the local and the Ray sharded index share: validation, fan-out, exact merge.

    Subclasses implement :meth:`_search_shards`, returning one ``(ids, distances)`` per shard.
    """

    _dim: int
    _metric: str
    _sizes: list[int]
    ef: int | None

    def __len__(self) -> int:
        return int(sum(self._sizes))

    @property
    def dim(self) -> int:
        """Vector length."""
        return self._dim

    @property
    def metric(self) -> str:
        """``"l2"``, ``"ip"`` or ``"cosine"``."""
        return self._metric

    @property
    def shard_sizes(self) -> list[int]:
        """Vectors held by each shard."""
        return list(self._sizes)

    @property
    def num_shards(self) -> int:
        """Number of shards."""
        return len(self._sizes)

    def search(
        self,
        q: npt.ArrayLike,
        k: int,
        *,
        ef: int | None = None,
        exclude: npt.ArrayLike | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest stored vectors of each query row over all shards.

        One request per shard carries the whole query batch; the per-shard top ``k`` are merged
        exactly (:func:`merge_topk`). Parameters and results as :meth:`panning.HNSWIndex.search`:
        ``int64 [nq, k]`` global ids and ``float32 [nq, k]`` distances, nearest first, equal
        distances by lower id, ``-1`` / ``+inf`` padding.

        Raises
        ------
        ValueError, TypeError
            A query array of the wrong shape or dtype, a non-positive ``k`` or ``ef``, non-integer
            ``exclude`` (checked here, before anything is sent to a shard).
        """
        rows, _ = as_rows(q, self._dim, "q")
        k = positive_int(k, "k")
        ef = self.ef if ef is None else positive_int(ef, "ef")
        ex = None if exclude is None else as_ids(exclude, "exclude")
        rows = np.ascontiguousarray(rows)
        if rows.shape[0] == 0:
            return np.empty((0, k), dtype=np.int64), np.empty((0, k), dtype=np.float32)
        return merge_topk(self._search_shards(rows, k, ef, ex), k)

    def _search_shards(
        self, q: np.ndarray, k: int, ef: int | None, exclude: np.ndarray | None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        raise NotImplementedError


class LocalShardedIndex(ShardedIndexBase):
    """Shards held in this process and searched in parallel threads.

    The twin of :class:`panning.distributed.RayShardedIndex`: over the same shard files it
    returns bit-identical results.

    Parameters
    ----------
    shards : sequence of HNSWIndex (or objects with its ``search`` API, e.g. FlatIndex)
        Over disjoint ids, all of one ``dim`` and ``metric``.
    ef : int, optional
        Default ``ef`` of :meth:`search` (each shard's own default when None).
    workers : int, optional
        Threads searching shards at once (default: one per shard).

    Examples
    --------
    >>> import numpy as np, panning
    >>> from panning.distributed import LocalShardedIndex
    >>> x = np.eye(4, dtype=np.float32)
    >>> a, b = panning.FlatIndex(4), panning.FlatIndex(4)
    >>> a.add(x[:2], ids=[0, 1]); b.add(x[2:], ids=[2, 3])
    >>> LocalShardedIndex([a, b]).search(x[3:], 2)[0].tolist()
    [[3, 0]]
    """

    def __init__(
        self, shards: Sequence[Any], *, ef: int | None = None, workers: int | None = None
    ) -> None:
        shards = list(shards)
        if not shards:
            raise ValueError("a sharded index needs at least one shard")
        for s in shards:
            if not callable(getattr(s, "search", None)):
                raise TypeError(f"shard {s!r} has no search(q, k, ...) method")
        dims = {int(s.dim) for s in shards}
        metrics = {str(s.metric) for s in shards}
        if len(dims) != 1 or len(metrics) != 1:
            raise ValueError(
                f"shards disagree: dims {sorted(dims)}, metrics {sorted(metrics)}; "
                "all shards need one dim and metric"
            )
        self._shards = shards
        self._dim = dims.pop()
        self._metric = metrics.pop()
        self._sizes = [len(s) for s in shards]
        self.ef = None if ef is None else positive_int(ef, "ef")
        workers = len(shards) if workers is None else positive_int(workers, "workers")
        self._pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None

    @classmethod
    def load(
        cls,
        manifest: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        threads: int | None = 1,
        ef: int | None = None,
        workers: int | None = None,
        allow_outside: bool = False,
    ) -> LocalShardedIndex:
        """Load the shards of a manifest (file or directory), or a list of saved index files.

        ``threads`` is each shard's search threads (default 1: the shards already run in
        parallel, one thread each). The manifest is validated (:func:`read_manifest`, whose
        ``allow_outside`` this passes on) and each loaded shard checked against it.
        """
        paths, expected, settings = _shard_plan(manifest, allow_outside)
        shards = [HNSWIndex.load(p, threads=threads) for p in paths]
        check_shards(expected, settings, [shard_summary(s) for s in shards])
        return cls(shards, ef=ef, workers=workers)

    @property
    def shards(self) -> list[Any]:
        """The shard indexes."""
        return list(self._shards)

    def __repr__(self) -> str:
        return f"LocalShardedIndex(shards={self.num_shards}, dim={self.dim}, size={len(self)})"

    def _search_shards(
        self, q: np.ndarray, k: int, ef: int | None, exclude: np.ndarray | None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        def one(shard: Any) -> tuple[np.ndarray, np.ndarray]:
            if isinstance(shard, HNSWIndex):
                return shard.search(q, k, ef=ef, exclude=exclude)
            ids, dist = shard.search(q, k, exclude=exclude)
            return np.asarray(ids), np.asarray(dist)

        if self._pool is None:
            return [one(s) for s in self._shards]
        return list(self._pool.map(one, self._shards))

    def close(self) -> None:
        """Stop the search threads (the shards stay usable one at a time)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def _shard_plan(
    manifest: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    allow_outside: bool = False,
) -> tuple[list[str], list[ShardInfo] | None, dict[str, Any] | None]:
    """Shard file paths, and the manifest's entries and settings when loading from one."""
    if isinstance(manifest, (str, os.PathLike)):
        shards, settings = read_manifest(manifest, allow_outside=allow_outside)
        return [s.path for s in shards], shards, settings
    paths = [local_path(p) for p in manifest]
    if not paths:
        raise ValueError("no shard files given")
    seen: set[str] = set()
    for p in paths:
        if not os.path.isfile(p):
            raise FileNotFoundError(f"no index file at {p!r}")
        real = os.path.realpath(p)
        if real in seen:
            raise ValueError(f"the shard file {p!r} is listed twice")
        seen.add(real)
    return paths, None, None
