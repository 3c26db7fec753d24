"""The JSON API of ``panning label`` through an HTTP client (needs the ui extra and httpx)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from labeling_data import make_items

if os.environ.get("PANNING_REQUIRE_UI") != "1":  # CI sets it: there the extra must be present
    pytest.importorskip("starlette")
    pytest.importorskip("httpx")
from starlette.testclient import TestClient  # noqa: E402

from panning.labeling import LabelingSession  # noqa: E402
from panning.ui import SessionWorker, create_app  # noqa: E402


@pytest.fixture()
def client(tmp_path):
    emb, items, concept = make_items(str(tmp_path))
    worker = SessionWorker(
        lambda: LabelingSession.create(str(tmp_path / "s.db"), emb, items=items, k=10)
    )
    with TestClient(create_app(worker)) as c:
        yield c, worker.session, concept
    worker.close()


def test_api_round_trip(client):
    c, session, concept = client
    st = c.get("/api/status").json()
    assert st["labels"] == 0 and st["classes"] == ["no", "yes"] and st["rows"] == 400
    hits = c.post("/api/search", json={"text": "apple", "limit": 5}).json()["items"]
    assert len(hits) == 5 and all("apple" in h["text"] and h["match"] == "keyword" for h in hits)
    neg = [int(i) for i in np.flatnonzero(~concept)[:5]]
    labels = [{"id": h["id"], "label": "yes"} for h in hits] + [{"id": i, "label": 0} for i in neg]
    r = c.post("/api/labels", json={"labels": labels})
    assert r.status_code == 200 and r.json()["recorded"] == 10
    assert r.json()["status"]["positives"] == 5
    batch = c.get("/api/batch?size=7").json()["items"]
    assert len(batch) == 7 and all(b["label"] is None and b["score"] is not None for b in batch)
    assert c.get("/api/batch?size=7").json()["items"] == batch  # a query changes nothing
    like = c.post("/api/search", json={"like": hits[0]["id"], "limit": 4}).json()["items"]
    assert len(like) == 4 and hits[0]["id"] not in [x["id"] for x in like]
    text = c.get("/api/export?format=jsonl").text
    rows = [json.loads(line) for line in text.splitlines()]
    assert [r["id"] for r in rows] == [x["id"] for x in labels]
    assert {"id", "label", "text", "source"} <= set(rows[0])
    csv_text = c.get("/api/export?format=csv").text
    assert csv_text.splitlines()[0].split(",")[:2] == ["id", "label"]
    assert len(csv_text.splitlines()) == 11
    st = c.get("/api/status").json()
    assert st["curve"] == [[10, 5]] and len(st["top_predictions"]) == 10
    assert c.get("/").status_code == 200 and "panning label" in c.get("/").text
    assert c.get("/static/app.js").status_code == 200


BAD_LABELS = [
    ({"labels": [{"id": 400, "label": "yes"}]}, "unknown id"),
    ({"labels": [{"id": -1, "label": "yes"}]}, "unknown id"),
    ({"labels": [{"id": 1, "label": "maybe"}]}, "not one of the classes"),
    ({"labels": [{"id": 1, "label": 2}]}, "not a class number"),
    ({"labels": [{"id": 1, "label": None}]}, "integer or a name"),
    ({"labels": [{"id": 1, "label": 1.0}]}, "integer or a name"),
    ({"labels": [{"id": "1", "label": "yes"}]}, "not an integer"),
    ({"labels": [{"id": True, "label": "yes"}]}, "not an integer"),
    ({"labels": [{"id": 1, "label": "yes"}, {"id": 1, "label": "no"}]}, "twice"),
    ({"labels": [{"id": 1}]}, '"id" and "label"'),
    ({"labels": "yes"}, "must be a list"),
    ({"labels": [3]}, '"id" and "label"'),
    ({}, "must be a list"),
    ([1, 2], "JSON object"),
]


def test_bad_requests_are_4xx_json_and_change_nothing(client):
    c, session, _ = client
    c.post("/api/labels", json={"labels": [{"id": 2, "label": "yes"}, {"id": 3, "label": "no"}]})
    before = c.get("/api/status").json()
    for body, words in BAD_LABELS:
        # a valid entry first: the whole request is refused, the valid entry included
        if isinstance(body.get("labels") if isinstance(body, dict) else None, list):
            body = {"labels": [{"id": 10, "label": "yes"}, *body["labels"]]}
        r = c.post("/api/labels", json=body)
        assert r.status_code == 400, body
        assert words in r.json()["error"], (body, r.json())
    r = c.post("/api/labels", json={"labels": [{"id": 2, "label": "no"}]})
    assert r.status_code == 400 and "already labeled" in r.json()["error"]
    for raw in (b"{not json", b"", b"\xff\xfe"):
        r = c.post("/api/labels", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "not JSON" in r.json()["error"]
        r = c.post("/api/search", content=raw)
        assert r.status_code == 400 and "not JSON" in r.json()["error"]
    for size in ("0", "-3", "x", "1.5", "", "100000"):
        r = c.get(f"/api/batch?size={size}")
        assert r.status_code == 400 and "size" in r.json()["error"], size
    for body in ({"text": ""}, {"text": 3}, {}, {"text": "a", "limit": 0}, {"like": 400},
                 {"like": "x"}, {"text": "a", "limit": "many"}):  # fmt: skip
        r = c.post("/api/search", json=body)
        assert r.status_code == 400 and r.json()["error"], body
    r = c.get("/api/export?format=xml")
    assert r.status_code == 400 and "format" in r.json()["error"]
    r = c.get("/api/nothing")
    assert r.status_code == 404 and r.json()["error"]
    r = c.get("/api/labels")
    assert r.status_code == 405 and r.json()["error"]
    r = c.get("/api/image/5")
    assert r.status_code == 404 and "no local image" in r.json()["error"]
    after = c.get("/api/status").json()
    assert after == before
    assert session.seals.labeled[0].tolist() == [2, 3]


def test_images_of_items_are_served_and_nothing_else(tmp_path):
    emb, _, _ = make_items(str(tmp_path), rows=50)
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    items = tmp_path / "img.jsonl"
    with open(items, "w") as f:
        for i in range(50):
            image = str(png) if i == 0 else f"https://example.org/{i}.png"
            f.write(json.dumps({"image": image, "text": f"picture {i}"}) + "\n")
    worker = SessionWorker(
        lambda: LabelingSession.create(str(tmp_path / "i.db"), emb, items=str(items), k=5)
    )
    try:
        with TestClient(create_app(worker)) as c:
            r = c.get("/api/image/0")
            assert r.status_code == 200 and r.content == png.read_bytes()
            assert c.get("/api/image/1").status_code == 404  # a URL: the page loads it itself
            assert c.get("/api/image/50").status_code == 400
            assert c.get("/api/image/..%2Fs.db").status_code in (400, 404)
            item = c.post("/api/search", json={"text": "picture", "limit": 1}).json()["items"][0]
            assert item["image"] == str(png)
    finally:
        worker.close()
