"""``panning svp`` on embeddings generated inside the test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from panning.cli import main


@pytest.fixture
def arrays(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, size=(3, 8))
    y = rng.integers(0, 3, 300).astype(np.int32)
    x = (centers[y] + rng.normal(size=(300, 8))).astype(np.float16)
    np.save(tmp_path / "e.npy", x)
    np.save(tmp_path / "l.npy", y)
    return str(tmp_path / "e.npy"), str(tmp_path / "l.npy")


FAST = ["--proxy-epochs", "2", "--target-epochs", "3", "--hidden", "16"]


def test_active_json(arrays, capsys, tmp_path):
    emb, lab = arrays
    out = tmp_path / "ids.npy"
    args = ["svp", "--embeddings", emb, "--labels", lab, "--json", "--compare", "--out", str(out)]
    assert main([*args, "--initial", "10", "--schedule", "40,0.5", *FAST]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pool"] == 240 and report["test"] == 60
    assert report["schedule"] == [40, 120]
    assert [r["selector"] for r in report["runs"]] == ["proxy", "target", "random"]
    run = report["runs"][0]
    assert len(run["labeled"]) == 120 and [r["labeled"] for r in run["rounds"]] == [10, 40, 120]
    assert all(r["target_accuracy"] is not None for r in run["rounds"])
    assert np.load(out).tolist() == run["labeled"]


def test_coreset_text_and_plot(arrays, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    emb, lab = arrays
    png = tmp_path / "svp.png"
    args = ["svp", "--embeddings", emb, "--labels", lab, "--mode", "coreset", "--keep", "0.6"]
    assert main([*args, "--plot", str(png), *FAST]) == 0
    text = capsys.readouterr().out
    assert "forgetting" in text and "kept 144" in text
    assert png.stat().st_size > 1000


def test_errors(arrays, tmp_path, capsys):
    emb, lab = arrays
    np.save(tmp_path / "short.npy", np.zeros(10, dtype=np.int32))
    with pytest.raises(SystemExit) as exc:
        main(["svp", "--embeddings", emb, "--labels", str(tmp_path / "short.npy")])
    assert exc.value.code == 2
    assert "--labels: has shape" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["svp", "--embeddings", emb, "--labels", lab, "--schedule", "", *FAST])
    assert "schedule is empty" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["svp", "--embeddings", emb, "--labels", lab, "--schedule", "0.5,1000", *FAST])
    assert "outside 1..240" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["svp", "--embeddings", emb, "--labels", lab, "--strategy", "forgetting"])
    assert "--mode coreset" in capsys.readouterr().err
