"""Shared fixtures: SIMD levels to sweep, and the GPU marker's skip logic."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

import panning
from panning import _core

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_CUPY = importlib.util.find_spec("cupy") is not None


def cuda_device_count() -> int:
    return int(panning.build_info()["cuda_devices"]) if panning.build_info()["cuda"] else 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """GPU tests are collected everywhere and skipped, visibly, where no CUDA device is usable."""
    if cuda_device_count() > 0:
        return
    reason = "no CUDA device" if panning.build_info()["cuda"] else "panning was built without CUDA"
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=panning.build_info()["simd_available"])
def simd_level(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a test once per SIMD variant this CPU supports, restoring the default after."""
    default = panning.build_info()["simd"]
    _core.set_simd_level(request.param)
    try:
        yield request.param
    finally:
        _core.set_simd_level(default)
