"""The Python side of the GPU graph paths (device arrays, pointers, strides, streaming, id
mapping), run without a GPU: torch CPU tensors stand in for device memory and the CUDA
launchers are replaced by their CPU twins reading that memory through the same pointers. Each
call first goes to the real launcher too, which must accept the same arguments (and then fail
for want of a device): the fakes' signatures cannot drift from the bindings'.

What this does not test is the CUDA kernels themselves (tests/test_hnsw_build_gpu.py does,
on a GPU); what it does test is everything around them that would otherwise first run there.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np
import pytest
import test_hnsw_build as hnsw_build_tests

import panning
from panning import _core, _device, hnsw, hnsw_build, knn, reference

torch = pytest.importorskip("torch")

NONE = 0xFFFFFFFF


def view(ptr: int, shape: tuple[int, ...], dtype: np.dtype, strides=None) -> np.ndarray:
    """A numpy array over `ptr` (no copy)."""
    dtype = np.dtype(dtype)
    if strides is None:
        count = int(np.prod(shape)) if shape else 1
        buf = (ctypes.c_byte * (count * dtype.itemsize)).from_address(ptr)
        return np.frombuffer(buf, dtype=dtype, count=count).reshape(shape)
    span = sum((s - 1) * st for s, st in zip(shape, strides)) + 1 if all(shape) else 1
    buf = (ctypes.c_byte * (span * dtype.itemsize)).from_address(ptr)
    base = np.frombuffer(buf, dtype=dtype, count=span)
    return np.lib.stride_tricks.as_strided(
        base, shape=shape, strides=tuple(s * dtype.itemsize for s in strides)
    )


DTYPES = {0: np.float32, 1: np.float16}


def matrix(m) -> np.ndarray:
    """The numpy array a ``_core.DeviceMatrix`` describes (no copy)."""
    return view(m.data, (m.rows, m.cols), DTYPES[m.dtype], (m.row_stride, m.col_stride))


def dense(m) -> np.ndarray:
    """A DeviceMatrix the graph kernels read: C-contiguous float32, as the binding checks."""
    assert m.dtype == 0 and m.col_stride == 1 and (m.rows <= 1 or m.row_stride == m.cols)
    return matrix(m)


POISON = 0x5A5A5A5A  # what CpuDevice.empty leaves in id buffers (NaN in float ones)


def written(*arrays: np.ndarray) -> None:
    """Asserts that a fake kernel's inputs hold no CpuDevice.empty garbage: what a kernel reads
    was written first (compute-sanitizer's initcheck, on the CPU)."""
    for a in arrays:
        assert not (np.isnan(a).any() if a.dtype.kind == "f" else (a == POISON).any())


class FakeKernels:
    """CPU twins behind the CUDA launchers' signatures; counts the calls."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.devices: set[int] = set()  # every device argument seen
        self.ranking_dtypes: list[int] = []  # q dtype of each candidate-ranking merge
        self.upper_len = 1
        # Ranking distances off by a per-row amount, as the GPU's expanded form is off the
        # refined direct ones: a tie after refining then is no tie in the ranking.
        self.rank_noise = 0.0

    def _count(self, name: str, device: int | None = None) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if device is not None:
            self.devices.add(device)

    def knn_workspace_bytes(self, nq: int, nx: int) -> int:
        return 64

    def knn_reset_cuda(self, rows, k, ids, dist, device, stream) -> None:
        self._count("reset", device)
        view(ids, (rows, k), np.uint32)[:] = NONE
        view(dist, (rows, k), np.float32)[:] = np.inf

    def knn_merge_cuda(
        self, q, q_base, x, x_base, metric, k, ids, dist, ws, ws_bytes, device, stream
    ):
        self._count("merge", device)
        if q_base >= 0:  # a kNN graph's merge (probes and nearest-node searches pass -1)
            self.ranking_dtypes.append(q.dtype)
        q_rows, x_rows = q.rows, x.rows
        qv, xv = matrix(q).astype(np.float64), matrix(x).astype(np.float64)
        name = {0: "l2", 1: "ip", 2: "cosine"}[metric]
        d = reference.pairwise_distances(qv, xv, name)
        d = (d + self.rank_noise * np.cos(x_base + np.arange(x_rows))).astype(np.float32)
        ids_v = view(ids, (q_rows, k), np.uint32)
        dist_v = view(dist, (q_rows, k), np.float32)
        written(ids_v, dist_v)
        for i in range(q_rows):
            cand_ids = np.concatenate([ids_v[i].astype(np.int64), x_base + np.arange(x_rows)])
            cand_d = np.concatenate([dist_v[i], d[i]])
            keep = cand_ids != (q_base + i if q_base >= 0 else -1)
            cand_ids, cand_d = cand_ids[keep], cand_d[keep]
            order = np.lexsort((cand_ids, cand_d))[:k]
            ids_v[i] = cand_ids[order].astype(np.uint32)
            dist_v[i] = cand_d[order]

    def knn_refine_cuda(self, q, x, metric, k, ids, dist, device, stream):
        self._count("refine", device)
        q_rows, x_rows = q.rows, x.rows
        qv, xv = matrix(q), matrix(x)
        name = {0: "l2", 1: "ip", 2: "cosine"}[metric]
        ids_v = view(ids, (q_rows, k), np.uint32)
        written(ids_v)
        # the kernel's contract: neighbours first (the first kNone ends a row), rows of x
        pad = np.cumsum(ids_v == NONE, axis=1) > 0
        assert (ids_v[pad] == NONE).all() and (ids_v[~pad] < x_rows).all()
        got_ids, got_d = knn.refine_host(np.asarray(qv), np.asarray(xv), ids_v.copy(), name)
        # every slot written, kNone / +inf after the neighbours: dist may start uninitialised
        ids_v[:] = np.where(got_ids < 0, NONE, got_ids).astype(np.uint32)
        view(dist, (q_rows, k), np.float32)[:] = got_d

    def prune_candidates_cuda(
        self, x, metric, cand, cand_dist, K, extra, extra_dist, E, m, out, out_dist, device, stream
    ):
        self._count("prune", device)
        n = x.rows
        xv = dense(x).copy()
        e = view(extra, (n, E), np.uint32).copy() if E else None
        ed = view(extra_dist, (n, E), np.float32).copy() if E else None
        written(view(cand, (n, K), np.uint32), view(cand_dist, (n, K), np.float32))
        if E:  # merge_unique reads the padding's distances too
            written(e, ed)
        got, gd = _core.prune_candidates(
            xv,
            metric,
            view(cand, (n, K), np.uint32).copy(),
            view(cand_dist, (n, K), np.float32).copy(),
            e,
            ed,
            m,
            1,
        )
        view(out, (n, m), np.uint32)[:] = got
        view(out_dist, (n, m), np.float32)[:] = gd

    def reverse_merge_workspace_bytes(self, n: int, m_in: int, device: int) -> int:
        self._count("merge_workspace", device)  # CUB sizes it for the device's SM count
        return 64

    def reverse_merge_cuda(
        self, x, metric, fwd, fwd_dist, m_in, cap, m, out, out_dist, ws, ws_bytes, device, stream
    ):
        n = x.rows
        self._count("reverse_merge", device)
        written(view(fwd, (n, m_in), np.uint32), view(fwd_dist, (n, m_in), np.float32))
        got, gd = _core.reverse_merge(
            dense(x).copy(),
            metric,
            view(fwd, (n, m_in), np.uint32).copy(),
            view(fwd_dist, (n, m_in), np.float32).copy(),
            cap,
            m,
            1,
        )
        view(out, (n, m), np.uint32)[:] = got
        view(out_dist, (n, m), np.float32)[:] = gd

    def beam_search_cuda(
        self,
        x,
        metric,
        M,
        level0,
        upper,
        upper_offset,
        entry,
        max_level,
        q,
        k,
        ef,
        out_ids,
        out_dist,
        device,
        stream,
    ):
        n, nq = x.rows, q.rows
        self._count("beam_search", device)
        got, gd = _core.beam_search(
            dense(x).copy(),
            metric,
            M,
            view(level0, (n, 2 * M), np.uint32).copy(),
            view(upper, (self.upper_len,), np.uint32).copy(),
            view(upper_offset, (n,), np.int64).copy(),
            entry,
            max_level,
            dense(q).copy(),
            k,
            ef,
            1,
        )
        view(out_ids, (nq, k), np.uint32)[:] = got
        view(out_dist, (nq, k), np.float32)[:] = gd


class CpuDevice(_device.Device):
    """A Device whose "device memory" is torch CPU memory. New buffers hold garbage (NaN,
    out-of-range ids), as uninitialised device memory may: the glue must never read a buffer
    no kernel has written."""

    def __init__(self, like, device) -> None:  # noqa: D107
        self.index = int(device.split(":")[1]) if device and ":" in device else 0
        self.where = "cpu"
        self.torch = torch
        self.cupy = None

    def put(self, a):
        return super().put(a).clone()  # a copy, as on a device (torch would share host memory)

    def empty(self, shape, dtype):
        out = super().empty(shape, dtype)
        if out.is_floating_point():
            out.fill_(float("nan"))
        else:
            out.view(torch.uint8).fill_(0x5A)  # 0x5A5A5A5A: beyond every test's row count
        return out

    @property
    def stream(self) -> int:
        return 0

    def synchronize(self) -> None:
        pass


NO_GPU = panning.build_info().get("cuda_devices", 0) == 0


def signature_checked(name: str, real, fake_fn):
    """``fake_fn`` behind a first call of the real launcher with the same arguments (without a
    GPU only): it must take them, then fail for want of a device (or return early), never with
    pybind11's TypeError, which would mean the Python call and the binding disagree. Launchers
    select the device before they touch memory, so the host pointers are never dereferenced."""

    def call(*args, **kwargs):
        if NO_GPU:
            try:
                real(*args, **kwargs)
            except TypeError as exc:
                pytest.fail(
                    f"_core.{name} does not take the arguments the Python side passes: {exc}"
                )
            except (RuntimeError, ValueError):
                pass
        return fake_fn(*args, **kwargs)

    return call


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeKernels:
    kernels = FakeKernels()
    for name in (
        "knn_workspace_bytes",
        "knn_reset_cuda",
        "knn_merge_cuda",
        "knn_refine_cuda",
        "prune_candidates_cuda",
        "reverse_merge_workspace_bytes",
        "reverse_merge_cuda",
        "beam_search_cuda",
    ):
        real = getattr(_core, name)
        monkeypatch.setattr(_core, name, signature_checked(name, real, getattr(kernels, name)))
    monkeypatch.setattr(_device, "Device", CpuDevice)
    real_init = hnsw.GpuGraph.__init__

    def record_upper(self, index, dev):
        real_init(self, index, dev)
        kernels.upper_len = int(self.upper.numel())

    monkeypatch.setattr(hnsw.GpuGraph, "__init__", record_upper)
    return kernels


clustered = functools.partial(hnsw_build_tests.clustered, clusters=10)


@pytest.mark.parametrize("block_rows", [None, 70, 1000])
@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_gpu_knn_graph_glue(fake: FakeKernels, block_rows, metric: str) -> None:
    x = clustered(230, 12, seed=1)
    ids, dist = knn.gpu_knn_graph(x, 7, metric=metric, block_rows=block_rows)
    want_ids, want_dist = panning.knn_graph(x, 7, metric=metric)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(dist, want_dist, rtol=1e-4, atol=1e-4)
    streamed = block_rows is not None and block_rows < 230
    assert fake.calls["merge"] == (16 if streamed else 1)  # ceil(230 / 70)^2 blocks


def test_gpu_knn_graph_glue_pads(fake: FakeKernels) -> None:
    ids, dist = knn.gpu_knn_graph(np.eye(3, dtype=np.float32), 5)
    assert (ids[:, 2:] == -1).all() and np.isinf(dist[:, 2:]).all()
    assert sorted(ids[0, :2].tolist()) == [1, 2]


def test_gpu_knn_graph_glue_strided_half(fake: FakeKernels) -> None:
    x = clustered(90, 16, seed=2).astype(np.float16)
    t = torch.from_numpy(x.T.copy()).T  # column-major: strides (1, 90)
    ids, _ = knn.gpu_knn_graph(t.numpy(), 4)
    np.testing.assert_array_equal(ids, panning.knn_graph(x, 4)[0])


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_gpu_build_glue_equals_cpu_build(fake: FakeKernels, metric: str) -> None:
    x = clustered(600, 10, seed=3)
    gpu = panning.HNSWIndex.build(x, metric=metric, M=6, device="cuda", rank_dtype="float32")
    cpu = panning.HNSWIndex.build(x, metric=metric, M=6)
    for a, b in zip(gpu._index.export_links(), cpu._index.export_links()):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert fake.calls["prune"] == fake.calls["reverse_merge"] == gpu._index.max_level() + 1


def test_gpu_build_glue_float16_ranking(fake: FakeKernels) -> None:
    x = clustered(1500, 16, seed=6)
    q = clustered(100, 16, seed=7)
    gpu = panning.HNSWIndex.build(x, M=8, device="cuda")  # default on the GPU: float16 ranking
    exact, _ = reference.knn_search(q, x, 10)
    found = gpu.search(q, 10, ef=64)[0]
    assert hnsw_build_tests.recall(found, exact) >= 0.95
    cpu = panning.HNSWIndex.build(x, M=8)
    same = (gpu._index.export_links()[0] == cpu._index.export_links()[0]).all(axis=1).mean()
    assert same >= 0.9  # only near-ties at the K-th candidate may differ
    with pytest.raises(ValueError, match="rank_dtype"):
        panning.HNSWIndex.build(x, device="cuda", rank_dtype="int8")


def test_gpu_search_glue_equals_twin(fake: FakeKernels) -> None:
    x = clustered(800, 10, seed=4)
    ids = np.arange(800, dtype=np.int64) * 3 + 11
    index = panning.HNSWIndex.build(x, ids=ids, metric="cosine", M=6)
    q = clustered(40, 10, seed=5)
    empty = panning.HNSWIndex(10)
    dev = CpuDevice(None, "cuda")
    e_ids, e_d = hnsw.GpuGraph(empty, dev).search(torch.from_numpy(q), 3, 8)
    assert (e_ids.numpy() == -1).all() and np.isinf(e_d.numpy()).all()
    g = hnsw.GpuGraph(index, dev)
    got_ids, got_d = g.search(torch.from_numpy(q), 5, 32)
    want_ids, want_d = hnsw.beam_search(index, q, 5, ef=32)
    np.testing.assert_array_equal(got_ids.numpy(), want_ids)
    # queries are normalised in float32 on the device, in float64 by the twin
    np.testing.assert_allclose(got_d.numpy(), want_d, rtol=1e-4, atol=1e-6)
    assert set(want_ids.ravel()) <= set(ids)
    with pytest.raises(ValueError, match="NaN"):
        g.search(torch.full((1, 10), float("nan")), 5, 32)


def test_seals_graph_takes_the_gpu_route(monkeypatch: pytest.MonkeyPatch) -> None:
    from panning import neighbors

    calls = []
    real = panning.knn_graph

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    info = panning.build_info()
    monkeypatch.setattr(neighbors, "on_cuda", lambda e: True)
    monkeypatch.setattr(panning, "build_info", lambda: {**info, "cuda": True})
    monkeypatch.setattr(panning, "knn_graph", spy)
    x = clustered(300, 8, seed=11)
    got = neighbors._build_default_graph(torch.from_numpy(x), 5, metric="cosine", progress=False)
    assert calls == [{"metric": "cosine"}]
    np.testing.assert_array_equal(got, real(x, 5, metric="cosine")[0])


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_gpu_knn_graph_streamed_is_the_whole_graph(
    fake: FakeKernels, monkeypatch: pytest.MonkeyPatch, metric: str
) -> None:
    # Integer points: most distances tie, so the (distance, id) order of the streamed refine's
    # renumbered neighbours is tested, not only the distances.
    x = np.random.default_rng(12).integers(0, 3, size=(150, 5)).astype(np.float32)
    fake.rank_noise = 1e-3
    whole = knn.gpu_knn_graph(x, 9, metric=metric)
    refines = fake.calls["refine"]
    monkeypatch.setattr(knn, "_REFINE_CHUNK_BYTES", 16 * 9 * 5 * 4)  # 16 rows a call
    streamed = knn.gpu_knn_graph(x, 9, metric=metric, block_rows=40)
    assert fake.calls["refine"] - refines == 10  # ceil(150 / 16), on the "device"
    np.testing.assert_array_equal(streamed[0], whole[0])
    np.testing.assert_array_equal(streamed[1], whole[1])
    from_torch = knn.gpu_knn_graph(torch.from_numpy(x), 9, metric=metric, block_rows=40)
    np.testing.assert_array_equal(from_torch[1], whole[1])
    if metric == "l2":  # integer distances: exact on the CPU too, ties to the lower id
        fake.rank_noise = 0.0
        np.testing.assert_array_equal(knn.gpu_knn_graph(x, 9)[0], panning.knn_graph(x, 9)[0])


def test_gpu_build_glue_passes_the_device(fake: FakeKernels) -> None:
    x = clustered(400, 8, seed=13)
    panning.HNSWIndex.build(x, M=4, device="cuda:1")
    assert fake.devices == {1}  # the reverse-merge workspace is sized on that device too
    assert fake.calls["merge_workspace"] == fake.calls["reverse_merge"]


def test_gpu_build_glue_offset_data(fake: FakeKernels) -> None:
    # 1000 + 0.01 randn: float16's spacing near 1000 is 0.5, and the expansion that ranks
    # candidates cancels every digit of the neighbours' distances in float32 too. Centred (l2
    # ignores a shift) the data ranks in float16 as in float32.
    x = 1000 + 0.01 * clustered(1500, 16, seed=14)
    q = 1000 + 0.01 * clustered(100, 16, seed=15)
    index = panning.HNSWIndex.build(x, M=8, device="cuda")
    assert fake.ranking_dtypes and set(fake.ranking_dtypes) == {
        1
    }  # float16 ranking passed the precision check
    exact, _ = reference.knn_search(q, x, 10)
    assert hnsw_build_tests.recall(index.search(q, 10, ef=64)[0], exact) >= 0.95


def test_gpu_build_glue_float16_refused_where_imprecise(fake: FakeKernels) -> None:
    # Two clusters at +-100 with spread 0.05: centring cannot help (the mean is 0), and float16
    # (spacing 0.06 near 100) cannot tell the neighbours apart; the check falls back to float32.
    rng = np.random.default_rng(16)
    side = np.where(rng.random((1200, 1)) < 0.5, 100.0, -100.0)
    x = (side + 0.05 * clustered(1200, 16, seed=16)).astype(np.float32)
    dev = CpuDevice(None, "cuda")
    assert not hnsw_build._float16_ranks_like_float32(dev, dev.put(x), 64, 0)
    fine = clustered(1200, 16, seed=16)
    assert hnsw_build._float16_ranks_like_float32(dev, dev.put(fine), 64, 0)
    fake.ranking_dtypes.clear()
    index = panning.HNSWIndex.build(x, M=8, device="cuda")
    assert fake.ranking_dtypes and set(fake.ranking_dtypes) == {0}
    q = (side[:100] + 0.05 * clustered(100, 16, seed=17)).astype(np.float32)
    exact, _ = reference.knn_search(q, x, 10)
    assert hnsw_build_tests.recall(index.search(q, 10, ef=64)[0], exact) >= 0.95
