"""CUDA frontier expansion: exact parity with the CPU implementation (skipped without a GPU)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from panning import Frontier

pytestmark = pytest.mark.gpu
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_CUPY = importlib.util.find_spec("cupy") is not None


def _graph(n: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n, size=(n, k), dtype=np.int64)
    g[rng.random((n, k)) < 0.1] = -1
    return g


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("n,k", [(1, 1), (65, 5), (5000, 10), (200_000, 64)])
def test_torch_cuda_matches_cpu(n: int, k: int) -> None:
    import torch

    rng = np.random.default_rng(n)
    graph = _graph(n, k, seed=k)
    cpu, gpu = Frontier(n), Frontier(n, device="cuda")
    g_dev = torch.from_numpy(graph).cuda()
    for _ in range(6):
        batch = rng.integers(0, n, size=min(n, 300))
        want = cpu.expand(graph, batch)
        got = gpu.expand(g_dev, torch.from_numpy(batch).cuda())
        assert got.device.type == "cuda"
        np.testing.assert_array_equal(got.cpu().numpy(), want)
        np.testing.assert_array_equal(gpu.pool_ids(), cpu.pool_ids())
        np.testing.assert_array_equal(gpu.labeled_ids(), cpu.labeled_ids())
    assert gpu.expand(g_dev, torch.zeros(0, dtype=torch.int64, device="cuda")).numel() == 0


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_torch_cuda_invalid_ids_leave_state_intact() -> None:
    import torch

    graph = _graph(100, 4, seed=1)
    graph[7, 1] = 1000
    f = Frontier(100, device="cuda")
    g = torch.from_numpy(graph).cuda()
    f.expand(g, torch.tensor([3], device="cuda"))
    pool = f.pool_ids().copy()
    with pytest.raises(ValueError, match=r"new_ids\[1\] = 100 "):
        f.expand(g, torch.tensor([4, 100], device="cuda"))
    with pytest.raises(ValueError, match="holds 1000"):
        f.expand(g, torch.tensor([7], device="cuda"))
    np.testing.assert_array_equal(f.pool_ids(), pool)


@pytest.mark.skipif(not HAS_CUPY or HAS_TORCH, reason="cupy path is used when torch is absent")
def test_cupy_matches_cpu() -> None:
    import cupy

    graph = _graph(3000, 8, seed=2)
    cpu, gpu = Frontier(3000), Frontier(3000, device="cuda")
    batch = np.arange(0, 3000, 7)
    np.testing.assert_array_equal(
        cupy.asnumpy(gpu.expand(cupy.asarray(graph), cupy.asarray(batch))),
        cpu.expand(graph, batch),
    )


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("n,k", [(65, 5), (5000, 10), (200_000, 64)])
def test_torch_cuda_excluded_columns_rows_match_cpu(n: int, k: int) -> None:
    import torch

    rng = np.random.default_rng(n + 7)
    graph = _graph(n, k, seed=k + 1)
    exclude = rng.choice(n, size=n // 5, replace=False)
    cpu, gpu = Frontier(n, exclude=exclude), Frontier(n, device="cuda", exclude=exclude)
    g_dev = torch.from_numpy(graph).cuda()
    for r in range(6):
        batch = rng.integers(0, n, size=min(n, 300))
        cpu.label(batch)
        gpu.label(torch.from_numpy(batch).cuda())
        expanders = batch[: len(batch) // 3]
        cols = (r % 3, min(k, r % 3 + 4))
        if r % 2:
            want = cpu.expand_rows(graph[expanders], columns=cols)
            got = gpu.expand_rows(torch.from_numpy(graph[expanders]).cuda(), columns=cols)
        else:
            want = cpu.expand(graph, expanders, columns=cols)
            got = gpu.expand(g_dev, torch.from_numpy(expanders).cuda(), columns=cols)
        np.testing.assert_array_equal(got.cpu().numpy(), want)
        np.testing.assert_array_equal(gpu.pool_ids(), cpu.pool_ids())
        np.testing.assert_array_equal(gpu.labeled_ids(), cpu.labeled_ids())
