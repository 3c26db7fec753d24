"""Datasets shipped inside panning.

:func:`load_clinc150` returns CLINC150 (Larson et al., EMNLP 2019; CC BY 3.0): 23,700 user
queries in 150 intents plus out-of-scope, with all-MiniLM-L6-v2 sentence embeddings. The file
(``datasets/data/clinc150.npz``, about 7 MB) is built by ``scripts/build_clinc150.py``;
``datasets/data/CLINC150.md`` carries the licence, the attribution and what the build measured.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Dataset", "load_clinc150", "CLINC150_PATH", "CLINC150_SHA256"]

CLINC150_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "clinc150.npz")
#: sha256 of the shipped file (the test checks it; rebuild with scripts/build_clinc150.py)
CLINC150_SHA256 = "76a5b599e7e631f049de47b8bda4b3a1d810ddbc229301c8a3bed942a34720d2"


@dataclass(repr=False)
class Dataset:
    """A labeled text dataset with embeddings, like scikit-learn's ``Bunch``.

    Attributes
    ----------
    texts : list of str
        One text per row.
    embeddings : ndarray, float32 [rows, dim]
        Unit-normalised sentence embeddings in the embedding model's space.
    labels : ndarray, int64 [rows]
        Class ids, indexes into ``label_names``.
    label_names : list of str
        Class names.
    domains : list of str
        The domain of each row.
    split : list of str
        The official split of each row (``"train"``, ``"val"``, ``"test"``).
    model : str
        The sentence-embedding model that made ``embeddings``.
    info : dict
        Licence, attribution and what the build measured (``recall_at_10``, ``pca_dims``).
    """

    texts: list[str]
    embeddings: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    domains: list[str]
    split: list[str]
    model: str
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.info.get('name', '?')}: {len(self.texts)} rows, "
            f"{self.embeddings.shape[1]} dims, {len(self.label_names)} classes)"
        )


def load_clinc150() -> Dataset:
    """CLINC150: 23,700 utterances, 150 intents + ``oos``, all-MiniLM-L6-v2 embeddings.

    The embeddings were stored as 320 principal components quantised to int8 and are returned
    mapped back into the model's 384-d space (rows renormalised), so a query embedded with
    all-MiniLM-L6-v2 compares with them as it is. Their 10 nearest neighbours keep 98.7% of the
    full float16 embeddings' (``info["recall_at_10"]``).

    Licence: CC BY 3.0. Larson et al., "An Evaluation Dataset for Intent Classification and
    Out-of-Scope Prediction", EMNLP 2019 (github clinc/oos-eval).

    Examples
    --------
    >>> from panning.datasets import load_clinc150
    >>> data = load_clinc150()
    >>> data
    Dataset(clinc150: 23700 rows, 384 dims, 151 classes)
    >>> data.texts[0]
    'what expression would i use to say i love you if i were an italian'
    >>> data.label_names[data.labels[0]], data.domains[0], data.split[0]
    ('translate', 'travel', 'train')
    """
    with np.load(CLINC150_PATH, allow_pickle=False) as f:
        codes = f["codes"]
        x = (codes.astype(np.float32) * f["scale"]) @ f["components"] + f["mean"]
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        blob = f["text_utf8"].tobytes()
        offsets = f["text_offsets"]
        texts = [
            blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(offsets.shape[0] - 1)
        ]
        split_names = [str(s) for s in f["split_names"]]
        domain_names = [str(s) for s in f["domain_names"]]
        info = json.loads(str(f["info"]))
        return Dataset(
            texts=texts,
            embeddings=np.ascontiguousarray(x, dtype=np.float32),
            labels=f["labels"].astype(np.int64),
            label_names=[str(s) for s in f["label_names"]],
            domains=[domain_names[i] for i in f["domain"]],
            split=[split_names[i] for i in f["split"]],
            model=str(info["model"]),
            info=info,
        )
