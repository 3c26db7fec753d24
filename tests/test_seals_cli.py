"""``panning seals`` and ``panning demo`` on generated data."""

from __future__ import annotations

import json

import numpy as np
import pytest

import panning.seals
from panning.cli import main


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(20, 16)) * 3
    labels = rng.integers(0, 20, size=1500)
    labels[:12] = 20  # a rare class (0.8%)
    x = centers[np.minimum(labels, 19)] + rng.normal(size=(1500, 16))
    x[:12] += 4.0
    np.save(tmp_path / "e.npy", x.astype(np.float16))
    np.save(tmp_path / "l.npy", labels.astype(np.int32))
    return tmp_path / "e.npy", tmp_path / "l.npy"


def test_seals_command_writes_the_documented_json(tmp_path, files, capsys):
    emb, lab = files
    out = tmp_path / "h.json"
    index = tmp_path / "g.npz"
    args = ["seals", "--embeddings", str(emb), "--labels", str(lab), "--concept", "3"]
    args += ["--concept", "rare", "--budget", "300", "--k", "10", "--index", str(index)]
    assert main([*args, "--json", str(out)]) == 0
    assert index.exists()
    doc = json.loads(out.read_text())
    assert doc["config"]["k"] == 10
    assert doc["config"]["expand_budget"] == panning.seals.DEFAULT_EXPAND_BUDGET
    assert doc["config"]["probe"] == panning.seals.DEFAULT_PROBE  # (a .npz graph: it cannot run)
    assert [c["concept"] for c in doc["concepts"]] == [3, 20]
    r = doc["concepts"][0]["rounds"][-1]
    assert set(r) >= {"labels", "positives", "pool_size", "fraction_scored"}
    assert set(r) >= {"average_precision", "recall", "seconds"}
    assert r["labels"] == 300
    assert 0 < r["recall"] <= 1
    assert "concept 3" in capsys.readouterr().out
    assert main([*args, "--no-expand-budget", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["config"]["expand_budget"] is None
    # a second run loads the cached graph, and full scan runs through the same command
    assert main([*args, "--candidates", "all", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["concepts"][0]["rounds"][-1]["fraction_scored"] > 0.9


def test_seals_command_errors(files):
    emb, lab = files
    with pytest.raises(SystemExit):
        main(["seals", "--embeddings", str(emb), "--labels", str(lab), "--concept", "99"])
    with pytest.raises(SystemExit):
        main(["seals", "--embeddings", str(emb), "--labels", str(lab), "--concept", "x"])


@pytest.mark.slow
def test_demo_runs_on_synthetic_data(tmp_path, capsys):
    plot = tmp_path / "demo.png"
    assert main(["demo", "--dataset", "synthetic", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out
    assert "SEALS (knn)" in out and "full scan (all)" in out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert plot.exists()
