"""CUDA graph kernels against their CPU twins (skipped without a GPU): exact kNN graph, the HNSW
level build steps, HNSWIndex.build(device="cuda") and the batched beam search."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from test_hnsw_build import clustered, recall

import panning
from panning import _core, reference
from panning.hnsw import beam_search
from panning.knn import NONE

pytestmark = pytest.mark.gpu
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_CUPY = importlib.util.find_spec("cupy") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")


def assert_same_knn(ids, dist, want_ids, want_dist, tol):
    """Distances within tol; ids equal wherever the reference's neighbours are separated by more
    than tol (near-ties may legitimately swap)."""
    np.testing.assert_allclose(dist, want_dist, rtol=tol, atol=tol)
    gaps = np.diff(want_dist, axis=1)
    clear = np.ones_like(want_ids, dtype=bool)
    clear[:, 1:] &= gaps > tol
    clear[:, :-1] &= gaps > tol
    np.testing.assert_array_equal(ids[clear], want_ids[clear])


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
@pytest.mark.parametrize("n,d,k", [(1, 8, 3), (100, 3, 5), (3000, 64, 10), (20_000, 384, 32)])
def test_knn_graph_numpy_matches_cpu(metric: str, n: int, d: int, k: int) -> None:
    x = clustered(n, d, seed=n)
    if metric == "ip":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids, dist = panning.knn_graph(x, k, metric=metric, device="cuda")
    want_ids, want_dist = panning.knn_graph(x, k, metric=metric)
    assert ids.dtype == np.int64 and ids.shape == (n, k)
    assert_same_knn(ids, dist, want_ids, want_dist, 1e-3 * max(1.0, float(np.abs(want_dist).max())))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_knn_graph_streamed_equals_whole(metric: str, dtype: str) -> None:
    # Bit for bit: both paths rank with the same tiles and refine with the same kernel.
    x = clustered(5000, 48, seed=1).astype(dtype)
    whole = panning.knn_graph(x, 16, metric=metric, device="cuda")
    streamed = panning.knn_graph(x, 16, metric=metric, device="cuda", block_rows=1234)
    np.testing.assert_array_equal(streamed[0], whole[0])
    np.testing.assert_array_equal(streamed[1], whole[1])


def test_knn_graph_overflowing_norms_as_on_the_cpu() -> None:
    # |x| ~ 3e19: the expansion gives NaN between the big rows, which must never rank as near
    # (knn_math.hpp); the GPU's lists, full of +inf padding from the start, never take it.
    x = np.array([[0, 0], [1, 0], [0, 2], [3e19, 0], [3e19, 1]], dtype=np.float32)
    ids, dist = panning.knn_graph(x, 4, device="cuda")
    want_ids, want_dist = panning.knn_graph(x, 4)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(dist, want_dist)


@needs_torch
def test_refine_writes_every_slot() -> None:
    import torch

    x = torch.from_numpy(clustered(50, 8, seed=20)).cuda()
    ids = np.full((50, 6), NONE, dtype=np.uint32)
    ids[:, :3] = (np.arange(50)[:, None] + np.arange(1, 4)) % 50
    ids_d = torch.from_numpy(ids.view(np.int32)).cuda()
    dist_d = torch.full((50, 6), float("nan"), device="cuda")  # as uninitialised memory may be
    xm = _core.DeviceMatrix(x.data_ptr(), 50, 8, 8, 1, 0)  # rows, cols, strides, float32
    _core.knn_refine_cuda(
        xm, xm, 0, 6, ids_d.data_ptr(), dist_d.data_ptr(), 0,
        torch.cuda.current_stream().cuda_stream,
    )  # fmt: skip
    got = ids_d.cpu().numpy().view(np.uint32)
    dist = dist_d.cpu().numpy()
    assert (got[:, 3:] == NONE).all() and np.isinf(dist[:, 3:]).all()
    np.testing.assert_array_equal(np.sort(got[:, :3], axis=1), np.sort(ids[:, :3], axis=1))
    want = ((x.cpu().numpy()[:, None] - x.cpu().numpy()[got[:, :3].astype(np.int64)]) ** 2).sum(-1)
    np.testing.assert_allclose(dist[:, :3], want, rtol=1e-5)


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_knn_graph_torch_in_place(dtype: str) -> None:
    import torch

    x = clustered(4000, 128, seed=2)
    t = torch.from_numpy(x).to("cuda", getattr(torch, dtype))
    ids, dist = panning.knn_graph(t, 10)  # follows the input onto the GPU
    assert ids.is_cuda and ids.dtype == torch.int64
    # the exact graph of the values the GPU saw (rounded to the input type)
    seen = t.float().cpu().numpy()
    want_ids, want_dist = panning.knn_graph(seen, 10)
    tol = 1e-3 if dtype == "float32" else 2e-2
    assert_same_knn(
        ids.cpu().numpy(), dist.cpu().numpy(), want_ids, want_dist, tol * float(want_dist.max())
    )


@pytest.mark.skipif(not HAS_CUPY, reason="cupy is not installed")
def test_knn_graph_cupy_in_place() -> None:
    import cupy

    x = clustered(2000, 32, seed=3)
    ids, dist = panning.knn_graph(cupy.asarray(x), 8)
    want_ids, want_dist = panning.knn_graph(x, 8)
    assert_same_knn(
        cupy.asnumpy(ids), cupy.asnumpy(dist), want_ids, want_dist, 1e-3 * float(want_dist.max())
    )


@needs_torch
def test_level_steps_match_cpu_twins() -> None:
    import torch

    x = clustered(6000, 32, seed=4)
    cand, cd = panning.knn_graph(x, 48)
    c32 = cand.astype(np.uint32)
    c32[cand < 0] = NONE
    want_p, want_pd = _core.prune_candidates(x, 0, c32, cd, None, None, 16, -1)
    want_m, _ = _core.reverse_merge(x, 0, want_p, want_pd, 16, 16, -1)
    dev = torch.device("cuda")
    xd = torch.from_numpy(x).to(dev)
    cd_d = torch.from_numpy(cd).to(dev)
    cand_d = torch.from_numpy(c32.view(np.int32)).to(dev)
    out = torch.empty((6000, 16), dtype=torch.int32, device=dev)
    od = torch.empty((6000, 16), dtype=torch.float32, device=dev)
    stream = torch.cuda.current_stream().cuda_stream
    xm = _core.DeviceMatrix(xd.data_ptr(), 6000, 32, 32, 1, 0)
    _core.prune_candidates_cuda(
        xm,
        0,
        cand_d.data_ptr(),
        cd_d.data_ptr(),
        48,
        0,
        0,
        0,
        16,
        out.data_ptr(),
        od.data_ptr(),
        0,
        stream,
    )
    got_p = out.cpu().numpy().view(np.uint32)
    agree = (got_p == np.asarray(want_p)).all(axis=1).mean()
    assert agree >= 0.999  # a row may differ only through a float-rounding tie
    merged = torch.empty_like(out)
    md = torch.empty_like(od)
    ws_bytes = _core.reverse_merge_workspace_bytes(6000, 16, 0)
    ws = torch.empty(ws_bytes, dtype=torch.uint8, device=dev)
    _core.reverse_merge_cuda(
        xm,
        0,
        out.data_ptr(),
        od.data_ptr(),
        16,
        16,
        16,
        merged.data_ptr(),
        md.data_ptr(),
        ws.data_ptr(),
        ws_bytes,
        0,
        stream,
    )
    got_m = merged.cpu().numpy().view(np.uint32)
    want_from_gpu_fwd, _ = _core.reverse_merge(x, 0, got_p, od.cpu().numpy(), 16, 16, -1)
    assert (got_m == np.asarray(want_from_gpu_fwd)).all(axis=1).mean() >= 0.999
    assert (got_m == np.asarray(want_m)).all(axis=1).mean() >= 0.99
    # forward ids are range-checked as by the CPU twin (test_graph_steps_reject_bad_ids)
    bad = out.clone()
    bad[1, 0] = 6000
    with pytest.raises(ValueError, match="holds id 6000 outside"):
        _core.reverse_merge_cuda(
            xm, 0, bad.data_ptr(), od.data_ptr(), 16, 16, 16,
            merged.data_ptr(), md.data_ptr(), ws.data_ptr(), ws_bytes, 0, stream,
        )  # fmt: skip


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_gpu_build_matches_cpu_build(metric: str) -> None:
    x = clustered(8000, 48, seed=5)
    q = clustered(300, 48, seed=6)
    exact, _ = reference.knn_search(q, x, 10, metric)
    cpu = panning.HNSWIndex.build(x, metric=metric, M=12)
    gpu = panning.HNSWIndex.build(x, metric=metric, M=12, device="cuda", rank_dtype="float32")
    r_cpu = recall(cpu.search(q, 10, ef=64)[0], exact)
    r_gpu = recall(gpu.search(q, 10, ef=64)[0], exact)
    assert r_gpu >= 0.95 and abs(r_gpu - r_cpu) <= 0.01
    same = (gpu._index.export_links()[0] == cpu._index.export_links()[0]).all(axis=1).mean()
    assert same >= 0.98
    # the default on the GPU ranks candidates in float16 (tensor cores)
    fast = panning.HNSWIndex.build(x, metric=metric, M=12, device="cuda")
    assert abs(recall(fast.search(q, 10, ef=64)[0], exact) - r_cpu) <= 0.01


@pytest.mark.parametrize("rank_dtype", [None, "float32"])
def test_gpu_build_offset_data(rank_dtype: str | None) -> None:
    # Rows far from the origin: ranked on centred rows (tests/test_hnsw_build.py's
    # test_build_offset_data); small enough for compute-sanitizer, with upper levels, borrowed
    # links (prune with extra candidates) and the float16 precision probe.
    x = 1000 + 0.01 * clustered(2000, 16, seed=18)
    q = 1000 + 0.01 * clustered(150, 16, seed=19)
    exact, _ = reference.knn_search(q, x, 10)
    built = panning.HNSWIndex.build(x, M=8, device="cuda", rank_dtype=rank_dtype)
    assert built._index.max_level() >= 2
    assert recall(built.search(q, 10, ef=64)[0], exact) >= 0.95


@needs_torch
@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_gpu_search_matches_twin(metric: str) -> None:
    import torch

    x = clustered(10_000, 64, seed=7)
    q = clustered(2000, 64, seed=8)
    index = panning.HNSWIndex.build(x, metric=metric, M=16)
    ids, dist = index.search(torch.from_numpy(q).cuda(), 10, ef=96)
    assert ids.is_cuda and ids.dtype == torch.int64
    twin_ids, twin_d = beam_search(index, q, 10, ef=96)
    got = ids.cpu().numpy()
    assert (got == twin_ids).all(axis=1).mean() >= 0.99
    np.testing.assert_allclose(dist.cpu().numpy(), twin_d, rtol=1e-3, atol=1e-3)
    exact, _ = reference.knn_search(q, x, 10, metric)
    assert recall(got, exact) >= 0.95
    with pytest.raises(ValueError, match="exclude"):
        index.search(torch.from_numpy(q).cuda(), 10, exclude=[1])
    # the device copy follows add()
    index.add(clustered(10, 64, seed=9), ids=np.arange(10) + 50_000)
    ids2, _ = index.search(torch.from_numpy(clustered(10, 64, seed=9)).cuda(), 1)
    assert (ids2.cpu().numpy()[:, 0] == np.arange(10) + 50_000).all()


@needs_torch
def test_seals_graph_is_built_on_the_gpu() -> None:
    import torch

    from panning.neighbors import load_or_build_graph

    x = clustered(3000, 32, seed=10)
    got = load_or_build_graph(torch.from_numpy(x).cuda(), 10, metric="cosine")
    want, want_d = panning.knn_graph(x, 10, metric="cosine")
    assert isinstance(got, np.ndarray) and got.dtype == np.int64
    # exact on both sides: equal but for near-ties
    assert (got == want).all(axis=1).mean() >= 0.99
