"""Every user error of the ``panning`` command exits 2 with one stderr line naming the argument."""

from __future__ import annotations

import json

import numpy as np
import pytest

from panning.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 8)).astype(np.float32)
    y = rng.integers(0, 3, 120).astype(np.int32)
    np.save(d / "e.npy", x)
    np.save(d / "l.npy", y)
    np.save(d / "p.npy", rng.dirichlet(np.ones(4), size=50).astype(np.float32))
    np.savez(d / "e.npz", x=x)
    (d / "empty.npy").write_bytes(b"")
    np.save(d / "zero_rows.npy", np.zeros((0, 8), np.float32))
    np.save(d / "scalar.npy", np.int64(3))
    np.save(d / "vec.npy", np.zeros(120, np.float32))
    np.save(d / "flabels.npy", y.astype(np.float32) + 0.5)
    np.save(d / "slabels.npy", np.array(["a"] * 120))
    np.save(d / "short.npy", y[:10])
    np.save(d / "ints.npy", np.ones((50, 4), np.int32))
    (d / "text.npy").write_text("not an array\n")
    (d / "graph.npz").write_text("not a zip")
    np.savez(d / "other.npz", a=np.zeros(3))
    with open(d / "items.jsonl", "w") as f:
        for i in range(100):  # 100 items for 120 rows
            f.write(json.dumps({"text": f"t{i}"}) + "\n")
    (d / "bad.jsonl").write_text('{"text": "a"}\n{oops\n')
    return d


def S(d, *extra):
    return ["seals", "--embeddings", str(d / "e.npy"), "--labels", str(d / "l.npy"),
            "--concept", "1", "--budget", "20", *extra]  # fmt: skip


def V(d, *extra):
    return ["svp", "--embeddings", str(d / "e.npy"), "--labels", str(d / "l.npy"), *extra]


CASES = {
    # name: (argv builder, the argument the message must name)
    "seals missing embeddings": (
        lambda d: S(d)[:2] + [str(d / "no.npy")] + S(d)[3:],
        "--embeddings",
    ),
    "seals npz for npy": (lambda d: S(d)[:2] + [str(d / "e.npz")] + S(d)[3:], "--embeddings"),
    "seals empty file": (lambda d: S(d)[:2] + [str(d / "empty.npy")] + S(d)[3:], "--embeddings"),
    "seals text file": (lambda d: S(d)[:2] + [str(d / "text.npy")] + S(d)[3:], "--embeddings"),
    "seals zero rows": (lambda d: S(d)[:2] + [str(d / "zero_rows.npy")] + S(d)[3:], "--embeddings"),
    "seals 1-D embeddings": (lambda d: S(d)[:2] + [str(d / "vec.npy")] + S(d)[3:], "--embeddings"),
    "seals 0-d labels": (lambda d: S(d)[:4] + [str(d / "scalar.npy")] + S(d)[5:], "--labels"),
    "seals float labels": (lambda d: S(d)[:4] + [str(d / "flabels.npy")] + S(d)[5:], "--labels"),
    "seals string labels": (lambda d: S(d)[:4] + [str(d / "slabels.npy")] + S(d)[5:], "--labels"),
    "seals short labels": (lambda d: S(d)[:4] + [str(d / "short.npy")] + S(d)[5:], "--labels"),
    "seals index not a zip": (lambda d: S(d, "--index", str(d / "graph.npz")), "--index"),
    "seals index other npz": (lambda d: S(d, "--index", str(d / "other.npz")), "--index"),
    "seals k 0": (lambda d: S(d, "--k", "0"), "--k"),
    "seals budget -1": (lambda d: S(d, "--budget", "-1"), "--budget"),
    "seals test split 2": (lambda d: S(d, "--test-split", "2"), "--test-split"),
    "seals concept x": (lambda d: S(d)[:6] + ["x"] + S(d)[7:], "--concept"),
    "svp hidden 0": (lambda d: V(d, "--hidden", "0"), "--hidden"),
    "svp epochs x": (lambda d: V(d, "--proxy-epochs", "x"), "--proxy-epochs"),
    "svp npz": (lambda d: V(d)[:2] + [str(d / "e.npz")] + V(d)[3:], "--embeddings"),
    "svp 0-d labels": (lambda d: V(d)[:4] + [str(d / "scalar.npy")], "--labels"),
    "svp test fraction": (lambda d: V(d, "--test-fraction", "1.5"), "--test-fraction"),
    "uncertain k 0": (lambda d: ["uncertain", str(d / "p.npy"), "-k", "0"], "-k"),
    "uncertain 1-D": (lambda d: ["uncertain", str(d / "vec.npy"), "-k", "3"], "predictions"),
    "uncertain ints": (lambda d: ["uncertain", str(d / "ints.npy"), "-k", "3"], "predictions"),
    "uncertain empty": (lambda d: ["uncertain", str(d / "empty.npy"), "-k", "3"], "predictions"),
    "uncertain method": (
        lambda d: ["uncertain", str(d / "p.npy"), "-k", "3", "--method", "x"],
        "--method",
    ),  # fmt: skip
    "demo data dir": (lambda d: ["demo", "--data", str(d / "nowhere")], "--data"),
    "session new 1-D": (
        lambda d: ["session", "new", str(d / "n1.db"), "--embeddings", str(d / "vec.npy")],
        "--embeddings",
    ),  # fmt: skip
    "session new items count": (
        lambda d: [
            "session",
            "new",
            str(d / "n2.db"),
            "--embeddings",
            str(d / "e.npy"),
            "--items",
            str(d / "items.jsonl"),
        ],
        "--items",
    ),  # fmt: skip
    "session new items json": (
        lambda d: [
            "session",
            "new",
            str(d / "n3.db"),
            "--embeddings",
            str(d / "e.npy"),
            "--items",
            str(d / "bad.jsonl"),
        ],
        "--items",
    ),  # fmt: skip
    "session new one class": (
        lambda d: [
            "session",
            "new",
            str(d / "n4.db"),
            "--embeddings",
            str(d / "e.npy"),
            "--classes",
            "yes",
        ],
        "--classes",
    ),  # fmt: skip
    "session new k 0": (
        lambda d: [
            "session",
            "new",
            str(d / "n5.db"),
            "--embeddings",
            str(d / "e.npy"),
            "--k",
            "0",
        ],
        "--k",
    ),  # fmt: skip
    "session status missing": (lambda d: ["session", "status", str(d / "none.db")], "session"),
    "session status not a session": (lambda d: ["session", "status", str(d / "e.npy")], "session"),
    "session query n 0": (lambda d: ["session", "query", str(d / "none.db"), "-n", "0"], "-n"),
    "embed missing items": (lambda d: ["embed", str(d / "none.jsonl"), "--out", "x.npy"], "items"),
    "embed out not npy": (lambda d: ["embed", str(d / "items.jsonl"), "--out", "x.txt"], "--out"),
    "embed bad json": (lambda d: ["embed", str(d / "bad.jsonl"), "--out", "x.npy"], "items"),
    "label port": (lambda d: ["label", "--port", "70000"], "--port"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_user_errors_exit_2_with_one_line(name, files, capsys):
    build, arg = CASES[name]
    with pytest.raises(SystemExit) as exc:
        main(build(files))
    err = capsys.readouterr().err
    assert exc.value.code == 2, (name, err)
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("panning "), (name, err)
    assert arg in err, (name, err)
    for f in ("n1.db", "n2.db", "n3.db", "n4.db", "n5.db"):
        assert not (files / f).exists(), f"{name} left {f} behind"


def test_every_jsonl_reader_names_the_line_that_is_not_json(tmp_path):
    # items (labeling), texts (embed) and label files (session teach) share one JSONL reader
    from panning.cli._common import UsageError
    from panning.cli.session import read_label_file
    from panning.embed import read_texts
    from panning.labeling import _read_items

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "id": 1, "label": 1}\n\n{oops\n')
    want = f"{bad} line 3 is not JSON"
    with pytest.raises(ValueError, match="line 3 is not JSON") as e1:
        _read_items(str(bad), 2)
    with pytest.raises(ValueError, match="line 3 is not JSON") as e2:
        read_texts(str(bad))
    with pytest.raises(UsageError, match="line 3 is not JSON") as e3:
        read_label_file(str(bad))
    assert all(str(e.value).count(want) == 1 for e in (e1, e2, e3))
    bad.write_text('{"text": "a", "id": 1, "label": 1}\n[1]\n')
    with pytest.raises(ValueError, match="line 2: expected a JSON object, got list"):
        _read_items(str(bad), 2)
    with pytest.raises(ValueError, match='line 2: expected an object with a "text" string'):
        read_texts(str(bad))
    with pytest.raises(UsageError, match="line 2: expected"):
        read_label_file(str(bad))
