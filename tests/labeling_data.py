"""A small labeled text-like set for the labeling tests: clustered embeddings and item texts."""

from __future__ import annotations

import json
import os

import numpy as np


def make_items(
    folder: str, rows: int = 400, dim: int = 16, seed: int = 0
) -> tuple[str, str, np.ndarray]:
    """``(embeddings.npy, items.jsonl, concept)``: rows of cluster 0 are the concept; a third of
    them say "apple" in their text, the rest of the rows say other fruit."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(8, dim)) * 3
    y = rng.integers(0, 8, size=rows)
    x = (centers[y] + rng.normal(size=(rows, dim))).astype(np.float32)
    emb = os.path.join(folder, "emb.npy")
    items = os.path.join(folder, "items.jsonl")
    np.save(emb, x)
    fruit = ["pear", "plum", "fig", "kiwi", "lime", "date", "melon"]
    with open(items, "w") as f:
        for i in range(rows):
            word = ("apple" if i % 3 == 0 else "orchard") if y[i] == 0 else fruit[y[i] - 1]
            f.write(json.dumps({"text": f"item {i} about {word}", "source": "test"}) + "\n")
    return emb, items, (y == 0)
