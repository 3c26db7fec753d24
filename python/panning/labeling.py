"""Labeling by people over a SEALS session file: items, class names, search, batches, export.

A :class:`LabelingSession` is a :class:`~panning.seals.Seals` session (its SQLite file is the
source of truth: the append-only label log) plus what a person needs to see and say:

- the items shown for each row (``text`` and/or ``image`` and any metadata), from a JSONL file
  with one object per row of the embeddings, or the CLINC150 copy shipped with panning;
- class names (default ``no`` / ``yes``; the second is the concept searched for), so labels can
  be given as names (``"yes"``, ``"y"``, ``"no"``) or class numbers;
- keyword search over item texts (and semantic search when sentence-transformers is installed,
  with the model that made the embeddings) to find the first positives; "more like this";
- the next batch (:meth:`Seals.query`), status, export of the labeled set and of the model's scores.

Where the embeddings and items live, the class names and the kNN-graph cache are kept in a
``labeling`` table of the same session file, written once when the session is created.
Writers hold an exclusive lock on ``SESSION.db.lock`` for their lifetime (one server or one
``panning session teach`` per file at a time).

Examples
--------
>>> import json, os, tempfile
>>> import numpy as np
>>> from panning.labeling import LabelingSession
>>> rng = np.random.default_rng(0)
>>> d = tempfile.mkdtemp()
>>> emb = rng.normal(size=(200, 8)).astype(np.float32)
>>> np.save(os.path.join(d, "e.npy"), emb)
>>> with open(os.path.join(d, "items.jsonl"), "w") as f:
...     for i in range(200):
...         fruit = "apple" if i % 10 == 0 else "pear"
...         _ = f.write(json.dumps({"text": f"item {i} {fruit}"}) + "\\n")
>>> s = LabelingSession.create(os.path.join(d, "s.db"), os.path.join(d, "e.npy"),
...                            items=os.path.join(d, "items.jsonl"), k=10)
>>> [hit["id"] for hit in s.search("apple", limit=3)]
[0, 10, 20]
>>> s.teach([(0, "yes"), (10, "y"), (1, "no")])
3
>>> st = s.status()
>>> st["labels"], st["positives"]
(3, 2)
>>> s.close()
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ._jsonl import jsonl_values
from .seals import DEFAULT_K, Seals, SessionInUseError

__all__ = [
    "LabelingSession",
    "SessionLocked",
    "BUILTIN_CLINC150",
    "DEFAULT_MODEL",
    "DEFAULT_STRATEGY",
    "format_rows",
]

BUILTIN_CLINC150 = "builtin:clinc150"
#: the sentence-embedding model of the packaged CLINC150 and the default of ``panning embed``
DEFAULT_MODEL = "all-MiniLM-L6-v2"
_TABLE = "labeling"
_WORD = re.compile(r"\w+", re.UNICODE)
# status scores every unlabeled row up to this size (a LogisticRegression over 200k rows of 384
# dims is ~0.1 s); above it, the candidate pool only
_FULL_STATUS_ROWS = 200_000
# A person labeling a session wants the concept's items: the default strategy shows the model's
# most likely positives. Measured on the shipped CLINC150 (keyword seed of 20, then five rounds of
# 20, an oracle labeling): positives per round for report_lost_card / book_flight / alarm were
# 15,17,20,20,18,20 / 20,0,20,20,20,20 / 18,20,20,18,20,20 with most_likely_positive and
# 15,15,0,4,5,6 / 20,0,0,20,0,14 / 18,19,20,9,0,0 with max_entropy (uncertainty sampling, the
# better choice for training a classifier, still available as strategy="max_entropy").
DEFAULT_STRATEGY = "most_likely_positive"
_ALIASES = {"y": "yes", "n": "no", "true": "yes", "false": "no", "+": "yes", "-": "no"}


# The session store itself allows one writer per file (``SessionInUseError``, a lock on
# ``SESSION.db.lock`` held by the underlying Seals session); this is its name here.
SessionLocked = SessionInUseError


def _read_items(path: str, rows: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        for n, obj in jsonl_values(f, path):
            if not isinstance(obj, dict):
                raise ValueError(
                    f"{path} line {n}: expected a JSON object, got {type(obj).__name__}"
                )
            items.append(obj)
    if len(items) != rows:
        raise ValueError(f"{path} has {len(items)} items but the embeddings have {rows} rows")
    return items


def _load_embeddings(source: str) -> tuple[Any, list[dict[str, Any]] | None]:
    if source == BUILTIN_CLINC150:
        from .datasets import load_clinc150

        data = load_clinc150()
        items = [{"text": t, "split": s} for t, s in zip(data.texts, data.split)]
        return data.embeddings, items
    emb = np.load(source, mmap_mode="r", allow_pickle=False)
    if not isinstance(emb, np.ndarray) or emb.ndim != 2 or emb.shape[0] == 0:
        raise ValueError(f"{source} must hold a non-empty 2-D [rows, dims] array")
    if not np.issubdtype(emb.dtype, np.floating):
        raise ValueError(f"{source} must hold floating-point embeddings, not {emb.dtype}")
    return emb, None


class LabelingSession:
    """A SEALS session file with items and class names; see the module docstring.

    Use :meth:`create` or :meth:`open`. Methods are safe to call from several threads (a lock
    serialises them), which is how the web server shares one session between tabs.
    """

    def __init__(
        self,
        path: str,
        seals: Seals,
        items: list[dict[str, Any]],
        meta: dict[str, Any],
    ) -> None:
        self.path = path
        self.seals = seals
        self.items = items
        self.meta = meta
        self.class_names: list[str] = list(meta["classes"])
        self._mutex = threading.RLock()
        self._tokens: list[frozenset[str]] | None = None
        self._encoder: Any = None
        self._encoder_tried = False

    # ---- opening ----------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        embeddings: str,
        *,
        items: str | None = None,
        classes: Sequence[str] = ("no", "yes"),
        strategy: str = DEFAULT_STRATEGY,
        k: int = DEFAULT_K,
        index: str | None = None,
        model: str = DEFAULT_MODEL,
        seed: int = 0,
    ) -> LabelingSession:
        """A new session file over ``embeddings`` (an ``.npy`` path or :data:`BUILTIN_CLINC150`).

        ``classes`` names the labels (class ``i`` is ``classes[i]``); with two classes the second
        is the concept searched for. ``index`` is the session's kNN index file (default:
        ``PATH.hnsw``; built on every thread, reloaded by :meth:`open`, never rebuilt silently).
        """
        p = os.path.abspath(os.fspath(path))
        if os.path.exists(p):
            raise FileExistsError(f"{p} already exists; open it instead of creating it")
        names = [str(c).strip() for c in classes]
        if len(names) < 2 or len(set(n.lower() for n in names)) != len(names) or "" in names:
            raise ValueError(f"classes must be two or more distinct names, got {list(classes)}")
        source = embeddings if embeddings == BUILTIN_CLINC150 else os.path.abspath(embeddings)
        emb, builtin_items = _load_embeddings(source)
        item_path: str | None = None
        if items is not None:
            item_path = os.path.abspath(items)
            loaded = _read_items(item_path, int(emb.shape[0]))
        elif builtin_items is not None:
            item_path, loaded = None, builtin_items
        else:
            item_path, loaded = None, [{} for _ in range(int(emb.shape[0]))]
        index_path = os.path.abspath(index) if index else p + ".hnsw"
        binary = len(names) == 2
        try:
            seals = Seals(
                emb, path=p, k=k, strategy=strategy, classes=list(range(len(names))),
                positive_label=1 if binary else None, expand="positives" if binary else "all",
                index_path=index_path, seed=seed,
            )  # fmt: skip
            meta = {
                "embeddings": source, "items": item_path, "classes": names, "index": index_path,
                "model": model, "strategy": strategy,
            }  # fmt: skip
            conn = sqlite3.connect(p)
            try:
                with conn:
                    conn.execute(f"CREATE TABLE {_TABLE} (key TEXT PRIMARY KEY, value TEXT)")
                    conn.executemany(
                        f"INSERT INTO {_TABLE} VALUES (?, ?)",
                        [(k_, json.dumps(v)) for k_, v in meta.items()],
                    )
            finally:
                conn.close()
        except BaseException:
            if "seals" in locals():
                seals.close()
            raise
        return cls(p, seals, loaded, meta)

    @staticmethod
    def read_meta(path: str) -> dict[str, Any]:
        """The ``labeling`` table of a session file (read-only)."""
        if not os.path.exists(path):
            raise FileNotFoundError(f"no session file at {path}")
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                rows = conn.execute(f"SELECT key, value FROM {_TABLE}").fetchall()
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise ValueError(
                f"{path} is not a panning labeling session (made by `panning session new` or "
                f"`panning label`): {exc}"
            ) from None
        return {k: json.loads(v) for k, v in rows}

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, write: bool = True, rebuild_index: bool = False
    ) -> LabelingSession:
        """Reopen a session file: the label log is replayed over the session's saved kNN index.

        ``write=False`` takes no lock (for reading while a server holds the file).
        ``rebuild_index=True`` builds the index again when its file is lost (see
        :meth:`panning.Seals.resume`).
        """
        p = os.path.abspath(os.fspath(path))
        meta = cls.read_meta(p)
        emb, builtin_items = _load_embeddings(meta["embeddings"])
        if meta.get("items"):
            loaded = _read_items(meta["items"], int(emb.shape[0]))
        elif builtin_items is not None:
            loaded = builtin_items
        else:
            loaded = [{} for _ in range(int(emb.shape[0]))]
        seals = Seals.resume(
            p, emb, index_path=meta["index"], read_only=not write, rebuild_index=rebuild_index
        )
        return cls(p, seals, loaded, meta)

    def close(self) -> None:
        with self._mutex:
            self.seals.close()  # releases the session store's writer lock

    def __enter__(self) -> LabelingSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- labels -------------------------------------------------------------------------------
    def parse_label(self, value: Any) -> int:
        """A class number from a class number or name (``"yes"``, ``"y"``, ``"no"``, ``1``)."""
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, (int, np.integer)):
            if 0 <= int(value) < len(self.class_names):
                return int(value)
            raise ValueError(
                f"label {int(value)} is not a class number 0..{len(self.class_names) - 1}"
            )
        if isinstance(value, str):
            v = value.strip().lower()
            lowered = [n.lower() for n in self.class_names]
            if v in lowered:
                return lowered.index(v)
            if v in _ALIASES and _ALIASES[v] in lowered:
                return lowered.index(_ALIASES[v])
            if v.isdigit() and int(v) < len(self.class_names):
                return int(v)
            raise ValueError(f"label {value!r} is not one of the classes {self.class_names}")
        raise ValueError(f"label {value!r} must be a class name or number")

    def check_labels(self, pairs: Iterable[tuple[Any, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Validate ``(id, label)`` pairs as a whole: unknown, labeled, repeated ids, bad labels."""
        ids: list[int] = []
        labels: list[int] = []
        n = len(self.items)
        seen: set[int] = set()
        labeled = set(self.seals.labeled[0].tolist())
        for i, (raw_id, raw_label) in enumerate(pairs):
            if isinstance(raw_id, bool) or not isinstance(raw_id, (int, np.integer, str)):
                raise ValueError(f"entry {i}: id {raw_id!r} is not an integer")
            try:
                item_id = int(raw_id)
            except ValueError:
                raise ValueError(f"entry {i}: id {raw_id!r} is not an integer") from None
            if not 0 <= item_id < n:
                raise ValueError(f"entry {i}: unknown id {item_id} (ids are 0..{n - 1})")
            if item_id in seen:
                raise ValueError(f"entry {i}: id {item_id} appears twice")
            if item_id in labeled:
                raise ValueError(f"entry {i}: id {item_id} is already labeled")
            seen.add(item_id)
            try:
                labels.append(self.parse_label(raw_label))
            except ValueError as exc:
                raise ValueError(f"entry {i} (id {item_id}): {exc}") from None
            ids.append(item_id)
        return np.asarray(ids, dtype=np.int64), np.asarray(labels, dtype=np.int64)

    def teach(self, pairs: Iterable[tuple[Any, Any]]) -> int:
        """Record ``(id, label)`` pairs (all or none); returns how many were recorded."""
        with self._mutex:
            ids, labels = self.check_labels(list(pairs))
            if ids.size:
                self.seals.teach(ids, labels)
            return int(ids.size)

    # ---- what a person sees -------------------------------------------------------------------
    def item(self, item_id: int, score: float | None = None) -> dict[str, Any]:
        """Row ``item_id`` as shown: ``id``, the item's fields, its label (if any), ``score``."""
        out: dict[str, Any] = {"id": int(item_id)}
        out.update(self.items[item_id])
        lab = self._label_of().get(int(item_id))
        out["label"] = None if lab is None else self.class_names[lab]
        out["score"] = None if score is None else round(float(score), 4)
        return out

    def _label_of(self) -> dict[int, int]:
        ids, labels = self.seals.labeled
        return dict(zip(ids.tolist(), labels.tolist()))

    def scores(self, ids: np.ndarray) -> np.ndarray | None:
        """The model's probability of the concept (class 1, or the top class) for ``ids``."""
        with self._mutex:
            s = self.seals
            try:
                p = s.predict_proba(np.asarray(s.embeddings[np.sort(ids)], dtype=np.float32))
            except RuntimeError:  # fewer than two classes labeled: no model yet
                return None
            order = np.argsort(np.argsort(ids))
            classes = list(getattr(s.model, "classes_", range(p.shape[1])))
            if s.positive_label is not None and s.positive_label in classes:
                col = p[:, classes.index(s.positive_label)]
            else:
                col = p.max(axis=1)
            return np.asarray(col, dtype=np.float64)[order]

    def _with_scores(self, ids: np.ndarray) -> list[dict[str, Any]]:
        sc = self.scores(ids) if ids.size else None
        return [self.item(int(i), None if sc is None else sc[j]) for j, i in enumerate(ids)]

    def batch(self, size: int) -> list[dict[str, Any]]:
        """The next ``size`` items to label (the session's query), best first."""
        if isinstance(size, bool) or int(size) != size or size <= 0:
            raise ValueError(f"batch size must be a positive integer, got {size!r}")
        with self._mutex:
            return self._with_scores(self.seals.query(int(size)))

    def search_modes(self) -> list[str]:
        """``["keyword"]``, plus ``"semantic"`` when sentence-transformers can be imported."""
        import importlib.util

        if self._encoder_tried:
            return ["keyword", "semantic"] if self._encoder is not None else ["keyword"]
        has = importlib.util.find_spec("sentence_transformers") is not None
        return ["keyword", "semantic"] if has else ["keyword"]

    def _load_encoder(self) -> Any:
        if not self._encoder_tried:
            self._encoder_tried = True
            try:
                from .embed import load_model

                encoder = load_model(self.meta.get("model") or DEFAULT_MODEL)
                width = (
                    getattr(encoder, "get_embedding_dimension", None)
                    or encoder.get_sentence_embedding_dimension
                )
                dim = width()
                # a model of another width cannot have made these embeddings
                self._encoder = encoder if dim == self.seals.embeddings.shape[1] else None
            except Exception:  # no sentence-transformers, or the model is not available here
                self._encoder = None
        return self._encoder

    def search(self, text: str, limit: int = 50) -> list[dict[str, Any]]:
        """Items whose text holds the most words of ``text`` (then, with a model, nearest ones).

        Keyword hits come first (items holding more of the words first, then by id); when
        sentence-transformers and the session's model are available, the rest of the
        ``limit`` are the items nearest to the embedded ``text``. Each hit has ``match``.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError("search text must be a non-empty string")
        if isinstance(limit, bool) or int(limit) != limit or limit <= 0:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        words = set(_WORD.findall(text.lower()))
        with self._mutex:
            if self._tokens is None:
                self._tokens = [
                    frozenset(_WORD.findall(str(it.get("text", "")).lower())) for it in self.items
                ]
            hits = [(len(words & t), i) for i, t in enumerate(self._tokens) if words & t]
            hits.sort(key=lambda h: (-h[0], h[1]))
            chosen = [i for _, i in hits[:limit]]
            match = {i: "keyword" for i in chosen}
            encoder = self._load_encoder() if len(chosen) < limit else None
            if encoder is not None:
                q = np.asarray(encoder.encode([text], normalize_embeddings=True), np.float32)
                for i in self._nearest(q[0], limit + len(chosen)):
                    if len(chosen) >= limit:
                        break
                    if i not in match:
                        chosen.append(i)
                        match[i] = "semantic"
            out = self._with_scores(np.asarray(chosen, dtype=np.int64))
        for o in out:
            o["match"] = match[o["id"]]
        return out

    def like(self, item_id: int, limit: int = 50) -> list[dict[str, Any]]:
        """The ``limit`` items nearest to item ``item_id`` (cosine), itself excluded."""
        n = len(self.items)
        if isinstance(item_id, bool) or not isinstance(item_id, (int, np.integer)):
            raise ValueError(f"id {item_id!r} is not an integer")
        if not 0 <= int(item_id) < n:
            raise ValueError(f"unknown id {item_id} (ids are 0..{n - 1})")
        if isinstance(limit, bool) or int(limit) != limit or limit <= 0:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        with self._mutex:
            q = np.asarray(self.seals.embeddings[int(item_id)], dtype=np.float32)
            ids = [i for i in self._nearest(q, limit + 1) if i != int(item_id)][:limit]
            out = self._with_scores(np.asarray(ids, dtype=np.int64))
        for o in out:
            o["match"] = "like"
        return out

    def _nearest(self, q: np.ndarray, count: int, tile: int = 65536) -> list[int]:
        """Exact cosine nearest rows to ``q``, streamed over the embeddings in tiles."""
        emb = self.seals.embeddings
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        best_s = np.empty(0, dtype=np.float32)
        best_i = np.empty(0, dtype=np.int64)
        for s in range(0, emb.shape[0], tile):
            x = np.asarray(emb[s : s + tile], dtype=np.float32)
            sim = (x @ q) / np.maximum(np.linalg.norm(x, axis=1), 1e-12)
            best_s = np.r_[best_s, sim]
            best_i = np.r_[best_i, np.arange(s, s + x.shape[0])]
            if best_s.shape[0] > count:
                keep = np.argpartition(-best_s, count)[:count]
                best_s, best_i = best_s[keep], best_i[keep]
        order = np.lexsort((best_i, -best_s))
        return [int(i) for i in best_i[order][:count]]

    # ---- status and export --------------------------------------------------------------------
    def status(self, top: int = 10) -> dict[str, Any]:
        """Labels, positives, pool scored, rounds, an estimate of the positives left, the curve.

        ``estimated_positives_remaining`` is the model's expected number of positives among SEALS'
        candidates (the unlabeled neighbours of labeled positives): the sum of their scores. It
        falls towards 0 as a concept's neighbourhood is exhausted. It is deliberately not a sum
        over every unlabeled row: a model fitted on labels chosen by SEALS (mostly positives and
        near misses) scores most far-away rows above 0.5 (on CLINC150 after 80 labels, 23,620
        rows above 0.5 for 78 true positives left), which would make such a sum meaningless.
        Positives far from every labeled one are not counted, and the model's scores are not
        calibrated: a rough guide (report_lost_card, keyword seed then rounds of 20: 94, 86, 133,
        125 expected against 87, 69, 62, 46 true positives in the pool and 118, 98, 78, 60 left).
        """
        with self._mutex:
            s = self.seals
            ids, labels = s.labeled
            positive = 1 if len(self.class_names) == 2 else None
            positives = int(np.sum(labels == positive)) if positive is not None else None
            curve = [[r.labels, r.positives] for r in s.history]
            estimate = None
            top_items: list[dict[str, Any]] = []
            if len(self.items) <= _FULL_STATUS_ROWS:
                unlabeled = np.flatnonzero(~np.isin(np.arange(len(self.items)), ids))
            else:  # a large pool: the estimate and top predictions cover the candidate pool
                unlabeled = s.pool
            sc = self.scores(unlabeled) if unlabeled.size else None
            if sc is not None:
                pool = s.pool
                if positive is not None and pool.size:
                    pool_scores = self.scores(pool)
                    estimate = None if pool_scores is None else float(np.sum(pool_scores))
                elif positive is not None:
                    estimate = 0.0
                order = np.lexsort((unlabeled, -sc))[:top]
                top_items = [self.item(int(unlabeled[j]), sc[j]) for j in order]
            return {
                "session": self.path,
                "rows": len(self.items),
                "classes": self.class_names,
                "labels": int(ids.size),
                "positives": positives,
                "per_class": {n: int(np.sum(labels == c)) for c, n in enumerate(self.class_names)},
                "pool_size": int(s.pool.shape[0]),
                "fraction_scored": round(s.fraction_scored, 6),
                "rounds": len(s.history),
                "estimated_positives_remaining": None if estimate is None else round(estimate, 1),
                "curve": curve,
                "top_predictions": top_items,
                "search": self.search_modes(),
                "strategy": self.meta.get("strategy"),
                "embeddings": self.meta.get("embeddings"),
            }

    def labeled_rows(self) -> list[dict[str, Any]]:
        """The labeled items in the order they were labeled, with their fields."""
        with self._mutex:
            ids, labels = self.seals.labeled
            return [
                {"id": int(i), "label": self.class_names[int(lab)], **self.items[int(i)]}
                for i, lab in zip(ids, labels)
            ]

    def export(self, fmt: str) -> str:
        """The labeled set as ``csv`` or ``jsonl`` text (id, label, item fields)."""
        return format_rows(self.labeled_rows(), fmt)

    def predictions(self, chunk: int = 65536) -> Iterator[tuple[int, float]]:
        """``(id, score)`` for every row, streamed in chunks (needs labels of two classes)."""
        n = len(self.items)
        for s in range(0, n, chunk):
            ids = np.arange(s, min(n, s + chunk), dtype=np.int64)
            sc = self.scores(ids)
            if sc is None:
                raise ValueError("no model yet: label at least one item of two classes")
            yield from zip(ids.tolist(), sc.tolist())


def format_rows(rows: list[dict[str, Any]], fmt: str) -> str:
    """Rows as ``csv`` or ``jsonl`` text (nested values JSON-encoded in CSV cells)."""
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if fmt == "csv":
        keys: list[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys or ["id", "label"], lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: _cell(v) for k, v in r.items()})
        return buf.getvalue()
    raise ValueError(f"format must be 'csv' or 'jsonl', got {fmt!r}")


def _cell(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, (dict, list)) else v
