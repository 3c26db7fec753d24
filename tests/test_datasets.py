"""The packaged CLINC150: the shipped file is the one the build script measured."""

from __future__ import annotations

import hashlib
import os

import numpy as np

from panning.datasets import CLINC150_PATH, CLINC150_SHA256, load_clinc150


def test_shipped_file_checksum_and_size():
    with open(CLINC150_PATH, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == CLINC150_SHA256
    assert os.path.getsize(CLINC150_PATH) <= 8 * 1024 * 1024
    licence = os.path.join(os.path.dirname(CLINC150_PATH), "CLINC150.md")
    with open(licence) as f:
        text = f.read()
    assert "CC BY 3.0" in text and "Larson" in text


def test_shapes_and_fields():
    d = load_clinc150()
    n = 23700
    assert len(d) == n and len(d.texts) == n and len(d.domains) == n and len(d.split) == n
    assert d.embeddings.shape == (n, 384) and d.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(d.embeddings, axis=1), 1.0, atol=1e-5)
    assert d.labels.shape == (n,) and len(d.label_names) == 151
    counts = np.bincount(d.labels, minlength=151)
    oos = d.label_names.index("oos")
    assert counts[oos] == 1200 and np.all(np.delete(counts, oos) == 150)
    assert set(d.split) == {"train", "val", "test"}
    assert len(set(d.domains)) == 11  # 10 domains + oos
    assert d.info["recall_at_10"] >= 0.95 and d.info["license"] == "CC BY 3.0"
    # intents cluster: a row's nearest other row mostly shares its intent (about 0.86 at 10-NN)
    rng = np.random.default_rng(0)
    rows = rng.choice(n, 300, replace=False)
    sim = d.embeddings[rows] @ d.embeddings.T
    sim[np.arange(300), rows] = -np.inf
    assert np.mean(d.labels[sim.argmax(1)] == d.labels[rows]) > 0.8
