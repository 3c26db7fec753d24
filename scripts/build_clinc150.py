"""Build ``python/panning/datasets/data/clinc150.npz``, the compact CLINC150 shipped in the wheel.

Source: ``../shared/data/clinc150_*`` (23,700 utterances embedded with all-MiniLM-L6-v2, float16,
unit rows). The embeddings are centred, rotated onto their first ``--dims`` principal axes and
quantised to int8 with one scale per axis; :func:`panning.datasets.load_clinc150` maps them back
into the model's 384-d space (``codes * scale @ components + mean``, rows renormalised), so a query
freshly embedded with the same model is comparable as it is.

Measured on the full set (exact cosine neighbours, each row excluding itself), recall@10 of the
packaged embeddings against the float16 originals, by kept axes (deflated size of the codes):
384 axes 0.993 (7.65 MB), 320 axes 0.987 (6.43 MB), 256 axes 0.965 (5.20 MB). 320 axes keep the
whole file, texts included, under 8 MB with a margin.

Usage: ``python scripts/build_clinc150.py [--data ../shared/data] [--dims 320]``; prints one JSON
line (size, recall@10, sha256), which ``python/panning/datasets/data/CLINC150.md`` records.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "python", "panning", "datasets", "data", "clinc150.npz")


def exact_neighbors(x: np.ndarray, k: int, tile: int = 2048) -> np.ndarray:
    """Exact cosine top-k of every row among the others (NumPy, tiled: O(tile * N) memory)."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    out = np.empty((x.shape[0], k), dtype=np.int64)
    for s in range(0, x.shape[0], tile):
        sim = x[s : s + tile] @ x.T
        rows = np.arange(sim.shape[0])
        sim[rows, s + rows] = -np.inf
        part = np.argpartition(-sim, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sim, part, axis=1), axis=1, kind="stable")
        out[s : s + tile] = np.take_along_axis(part, order, axis=1)
    return out


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(np.intersect1d(a, b)) for a, b in zip(found, truth))
    return hits / truth.size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "..", "shared", "data"))
    ap.add_argument("--dims", type=int, default=320, help="principal axes kept (<= 384)")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()

    emb = np.load(os.path.join(args.data, "clinc150_emb.npy")).astype(np.float32)
    labels = np.load(os.path.join(args.data, "clinc150_labels.npy")).astype(np.int16)
    with open(os.path.join(args.data, "clinc150_classes.json")) as f:
        classes = json.load(f)
    rows = []
    with open(os.path.join(args.data, "clinc150_text.jsonl")) as f:
        for line in f:
            rows.append(json.loads(line))
    n, d = emb.shape
    if len(rows) != n or labels.shape != (n,):
        raise SystemExit("the source files are not row-aligned")
    label_names = [c["name"] for c in sorted(classes["classes"], key=lambda c: c["id"])]
    for i, r in enumerate(rows):
        if r["row"] != i or label_names[labels[i]] != r["label"]:
            raise SystemExit(f"row {i}: text file and labels disagree")

    mean = emb.mean(axis=0)
    _, _, vt = np.linalg.svd(emb - mean, full_matrices=False)
    components = vt[: args.dims].astype(np.float32)  # [dims, 384]
    proj = (emb - mean) @ components.T
    scale = (np.abs(proj).max(axis=0) / 127.0).astype(np.float32)
    codes = np.clip(np.rint(proj / scale), -127, 127).astype(np.int8)

    split_names = sorted({r["split"] for r in rows})
    domain_names = sorted({r["domain"] for r in rows})
    text = [r["text"].encode("utf-8") for r in rows]
    offsets = np.cumsum([0] + [len(t) for t in text]).astype(np.int64)

    # what load_clinc150 returns, measured against the originals
    recon = (codes.astype(np.float32) * scale) @ components + mean
    truth = exact_neighbors(emb, 10)
    recall = recall_at(exact_neighbors(recon, 10), truth)

    info = {
        "name": "clinc150",
        "rows": n,
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "model_dim": d,
        "pca_dims": args.dims,
        "recall_at_10": round(recall, 4),
        "license": "CC BY 3.0",
        "attribution": (
            "Larson et al., An Evaluation Dataset for Intent Classification and Out-of-Scope "
            "Prediction, EMNLP 2019 (github clinc/oos-eval)"
        ),
    }
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=os.path.dirname(out))
    os.close(fd)
    try:
        np.savez_compressed(
            tmp,
            codes=codes,
            scale=scale,
            components=components,
            mean=mean.astype(np.float32),
            labels=labels,
            label_names=np.asarray(label_names),
            domain_of_label=np.asarray([_domain(rows, labels, c) for c in range(len(label_names))]),
            split=np.asarray([split_names.index(r["split"]) for r in rows], dtype=np.int8),
            split_names=np.asarray(split_names),
            domain=np.asarray([domain_names.index(r["domain"]) for r in rows], dtype=np.int8),
            domain_names=np.asarray(domain_names),
            text_utf8=np.frombuffer(b"".join(text), dtype=np.uint8),
            text_offsets=offsets,
            info=np.asarray(json.dumps(info)),
        )
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
    with open(out, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    info.update(bytes=os.path.getsize(out), sha256=sha)
    json.dump(info, sys.stdout)
    sys.stdout.write("\n")
    return 0


def _domain(rows: list[dict[str, str]], labels: np.ndarray, c: int) -> str:
    i = int(np.flatnonzero(labels == c)[0])
    return rows[i]["domain"]


if __name__ == "__main__":
    sys.exit(main())
