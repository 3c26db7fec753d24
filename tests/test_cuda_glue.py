"""Every CUDA entry point of scoring, BALD and the frontier is reached from its public Python
call without a GPU, and accepts the arguments the Python side builds.

torch CPU tensors are described to panning as device memory, so the public call runs its GPU
branch (device buffers, candidate folding, pointers, strides, streams) up to the real ``_core``
launcher. The launcher must accept the call (a pybind11 ``TypeError`` would mean the Python side
and the binding disagree, something only a GPU run would otherwise show) and then fail for want
of a device: a CUDA error, or "built without CUDA" in a CPU-only build. Launchers check their
arguments and select the device before they touch memory, so host pointers never reach a kernel.
(tests/test_hnsw_build_glue.py does the same for the kNN, graph-build and search launchers,
whose CPU twins it also runs.) Skipped where a GPU is present: there the GPU tests run instead.
The calls written out in the GPU-only tests are checked for the bindings' arity.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import panning
from panning import _arrays, _core, _device, _scoring_gpu, scoring

torch = pytest.importorskip("torch")

GPU_PRESENT = panning.build_info().get("cuda_devices", 0) > 0


class HostDevice(_device.Device):
    """A Device whose "device memory" is torch CPU memory."""

    def __init__(self, like: Any, device: str = "cuda") -> None:  # noqa: D107
        self.index = 0
        self.where = "cpu"
        self.torch = torch
        self.cupy = None

    @property
    def stream(self) -> int:
        return 0

    def synchronize(self) -> None:
        pass


LAUNCHERS = (
    "score_cuda",
    "most_uncertain_cuda",
    "most_uncertain_cuda_workspace_bytes",
    "bald_cuda",
    "bald_top_k_cuda",
    "expand_frontier_cuda",
    "expand_frontier_cuda_workspace_bytes",
)


@pytest.fixture
def reached(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the ``_core`` launchers a call reached, in order. Workspace-size queries
    are called for real and then answer 64 bytes; every other launcher is the real one."""
    if GPU_PRESENT:
        pytest.skip("a GPU is present: host memory must not reach its kernels as device memory")
    calls: list[str] = []
    real_torch_matrix = _arrays._torch_matrix

    def torch_on_device(t: Any, what: str, allow_float64: bool = False) -> Any:
        m = real_torch_matrix(t, what, allow_float64)
        return dataclasses.replace(m, on_gpu=True, host=None, data_ptr=int(t.data_ptr()))

    monkeypatch.setattr(_arrays, "_torch_matrix", torch_on_device)
    monkeypatch.setattr(scoring, "_require_cuda", lambda m: None)
    for module in (_device, _scoring_gpu):
        monkeypatch.setattr(module, "Device", HostDevice)
    for name in LAUNCHERS:
        real = getattr(_core, name)

        def spy(*args: Any, _name: str = name, _real: Any = real) -> Any:
            calls.append(_name)
            if _name.endswith("workspace_bytes"):
                try:  # the signature is checked all the same; it may ask CUB on a device
                    _real(*args)
                except RuntimeError as exc:
                    assert "CUDA" in str(exc)
                return 64
            return _real(*args)

        monkeypatch.setattr(_core, name, spy)
    return calls


def no_device(call: Any) -> None:
    """``call`` reaches a launcher, which takes its arguments and fails for want of a GPU."""
    with pytest.raises(RuntimeError, match="CUDA") as info:
        call()
    assert not isinstance(info.value, TypeError)


def probs(rows: int = 12, classes: int = 5, dtype: Any = torch.float32) -> Any:
    p = np.random.default_rng(0).dirichlet(np.ones(classes), size=rows)
    return torch.from_numpy(p).to(dtype)


@pytest.mark.parametrize("method", ["entropy", "margin", "least_confidence"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_scores_reach_the_launcher(reached: list[str], method: str, dtype: Any) -> None:
    x = probs(dtype=dtype)
    no_device(lambda: getattr(panning, method)(x))
    no_device(lambda: getattr(panning, method)(x.t().contiguous().t()))  # column-major
    assert reached == ["score_cuda", "score_cuda"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"candidates": [0, 3, 5, 7]},
        {"exclude": [1, 2]},
        {"candidates": [0, 3, 5, 7], "exclude": [3], "return_scores": True},
        {"from_logits": True, "return_scores": True},
    ],
)
def test_most_uncertain_reaches_the_launcher(reached: list[str], kwargs: dict) -> None:
    x = probs(dtype=torch.float64)
    no_device(lambda: panning.most_uncertain(x, 2, method="margin", **kwargs))
    assert reached == ["most_uncertain_cuda_workspace_bytes", "most_uncertain_cuda"]


def test_bald_reaches_the_launchers(reached: list[str]) -> None:
    s = torch.stack([probs(), probs().flip(1)])
    no_device(lambda: panning.bald(s))
    no_device(lambda: panning.most_uncertain(s, 3, method="bald", candidates=[1, 4, 6, 9]))
    assert reached == ["bald_cuda", "most_uncertain_cuda_workspace_bytes", "bald_top_k_cuda"]


def test_frontier_reaches_the_launcher(reached: list[str]) -> None:
    f = panning.Frontier(10, device="cuda", exclude=[9])
    graph = torch.arange(30, dtype=torch.int64).reshape(10, 3) % 10
    no_device(lambda: f.expand(graph, torch.tensor([0, 2])))
    no_device(lambda: f.expand(graph, torch.tensor([0, 2]), columns=(1, 3)))
    no_device(lambda: f.expand_rows(graph[:2]))
    no_device(lambda: f.label(torch.tensor([4])))
    assert reached == ["expand_frontier_cuda_workspace_bytes", "expand_frontier_cuda"] * 4


ROOT = Path(__file__).resolve().parents[1]


def _arity(name: str) -> int:
    """The number of parameters of ``_core.<name>``, from pybind11's signature line."""
    head = getattr(_core, name).__doc__.splitlines()[0]
    return len(re.findall(r"(?:\(|, )\w+: ", head))


def test_direct_launcher_calls_have_the_bindings_arity() -> None:
    """Calls of ``_core.*_cuda`` written out in the package and in the GPU-only tests (which
    never run here) pass as many arguments as the binding takes."""
    files = sorted((ROOT / "python" / "panning").rglob("*.py")) + sorted(
        (ROOT / "tests").glob("*.py")
    )
    checked = 0
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "_core"
                and node.func.attr.endswith("_cuda")
            ):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno} {node.func.attr}"
            assert not any(isinstance(a, ast.Starred) for a in node.args), where
            assert len(node.args) + len(node.keywords) == _arity(node.func.attr), where
            checked += 1
    assert checked >= 14  # every launcher call site of the package and the GPU tests
