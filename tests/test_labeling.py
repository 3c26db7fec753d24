"""panning.labeling and ``panning session ...`` on a small generated set."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from labeling_data import make_items

from panning.cli import main
from panning.labeling import LabelingSession, SessionLocked


@pytest.fixture()
def made(tmp_path):
    emb, items, concept = make_items(str(tmp_path))
    return tmp_path, emb, items, concept


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_session_commands_end_to_end(made, capsys):
    tmp, emb, items, concept = made
    db = str(tmp / "s.db")
    new = ["session", "new", db, "--embeddings", emb, "--items", items, "--k", "10"]
    assert run(capsys, *new, "--strategy", "most_likely_positive")[0] == 0
    # seed by keyword: every hit holds the word
    seed_out = str(tmp / "seed.jsonl")
    assert (
        run(capsys, "session", "seed", db, "--search", "apple", "-n", "10", "--out", seed_out)[0]
        == 0
    )
    seed = read_jsonl(seed_out)
    assert len(seed) == 10 and all("apple" in s["text"] for s in seed)
    assert all(s["source"] == "test" for s in seed)
    # label the seed hits yes, and the first non-concept items no, with names
    labels_csv = tmp / "labels.csv"
    negatives = np.flatnonzero(~concept)[:10]
    with open(labels_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "label"])
        for s in seed:
            w.writerow([s["id"], "yes"])
        for i in negatives:
            w.writerow([int(i), "n"])
    code, out, _ = run(capsys, "session", "teach", db, str(labels_csv))
    assert code == 0 and "20 labels recorded" in out and "10 positives" in out
    # rounds driven by an oracle through query / teach files
    for r in range(3):
        batch = str(tmp / f"b{r}.jsonl")
        assert run(capsys, "session", "query", db, "-n", "10", "--out", batch)[0] == 0
        rows = read_jsonl(batch)
        assert len(rows) == 10 and all(row["score"] is not None for row in rows)
        with open(tmp / f"l{r}.jsonl", "w") as f:
            for row in rows:
                f.write(json.dumps({"id": row["id"], "label": int(concept[row["id"]])}) + "\n")
        assert run(capsys, "session", "teach", db, str(tmp / f"l{r}.jsonl"))[0] == 0
    code, out, _ = run(capsys, "session", "status", db, "--json")
    st = json.loads(out)
    assert st["labels"] == 50 and st["rounds"] == 4
    # the kNN pool around the positives is the concept's cluster (1/8 of the rows)
    assert st["positives"] >= 35
    assert st["estimated_positives_remaining"] is not None
    # export with item fields, and every row's score streamed
    out_csv, preds = str(tmp / "labeled.csv"), str(tmp / "pred.csv")
    code, _, _ = run(capsys, "session", "export", db, "--out", out_csv, "--predictions", preds)
    assert code == 0
    with open(out_csv) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 50 and set(rows[0]) == {"id", "label", "text", "source"}
    assert all((r["label"] == "yes") == bool(concept[int(r["id"])]) for r in rows)
    with open(preds) as f:
        scores = list(csv.DictReader(f))
    assert len(scores) == 400
    s = np.asarray([float(r["score"]) for r in scores])
    assert s[concept].mean() > s[~concept].mean() + 0.5
    # more like this: the nearest items to a positive are mostly the concept
    code, out, _ = run(capsys, "session", "seed", db, "--like", str(seed[0]["id"]), "-n", "10")
    near = [json.loads(line)["id"] for line in out.splitlines()]
    assert seed[0]["id"] not in near and concept[near].mean() >= 0.8


def test_teach_refuses_a_bad_file_whole(made, capsys):
    tmp, emb, items, _ = made
    db = str(tmp / "s.db")
    assert main(["session", "new", db, "--embeddings", emb, "--items", items, "--k", "10"]) == 0
    cases = {
        "unknown.csv": "id,label\n1,yes\n100000,no\n",
        "badlabel.csv": "id,label\n1,yes\n2,maybe\n",
        "dup.csv": "id,label\n1,yes\n1,no\n",
        "noheader.csv": "1,yes\n",
        "badid.jsonl": '{"id": 1, "label": "yes"}\n{"id": "x", "label": "no"}\n',
        "notjson.jsonl": '{"id": 1, "label": "yes"}\n{oops\n',
    }
    for name, text in cases.items():
        (tmp / name).write_text(text)
        with pytest.raises(SystemExit) as exc:
            main(["session", "teach", db, str(tmp / name)])
        assert exc.value.code == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "labels:" in err, (name, err)
    with LabelingSession.open(db, write=False) as s:
        assert s.seals.n_labeled == 0  # nothing was written by any of them
    (tmp / "ok.csv").write_text("id,label\n1,yes\n")
    assert main(["session", "teach", db, str(tmp / "ok.csv")]) == 0
    (tmp / "again.csv").write_text("id,label\n2,no\n1,no\n")  # 1 is already labeled
    with pytest.raises(SystemExit):
        main(["session", "teach", db, str(tmp / "again.csv")])
    assert "already labeled" in capsys.readouterr().err
    with LabelingSession.open(db, write=False) as s:
        assert s.seals.labeled[0].tolist() == [1]


def test_one_writer_per_session_file(made):
    tmp, emb, items, _ = made
    db = str(tmp / "s.db")
    first = LabelingSession.create(db, emb, items=items, k=10)
    with pytest.raises(SessionLocked):
        LabelingSession.open(db)
    with LabelingSession.open(db, write=False) as reader:  # readers need no lock
        assert reader.seals.n_labeled == 0
    first.close()
    with LabelingSession.open(db) as again:
        assert len(again.items) == 400


def test_labels_by_name_and_number(made):
    tmp, emb, items, _ = made
    with LabelingSession.create(
        str(tmp / "m.db"), emb, items=items, k=10, classes=["cat", "dog", "bird"]
    ) as s:
        assert s.parse_label("Dog") == 1 and s.parse_label(2) == 2 and s.parse_label("0") == 0
        for bad in ("yes", 3, -1, None, 1.5):
            with pytest.raises(ValueError):
                s.parse_label(bad)
        assert s.teach([(0, "cat"), (5, "bird"), ("7", 1)]) == 3
        assert s.export("jsonl").count("\n") == 3
