"""The package imports everywhere and reports how it was built."""

from __future__ import annotations

import subprocess
import sys

import pytest

import panning


def test_build_info_keys_and_types() -> None:
    info = panning.build_info()
    assert info["version"] == panning.__version__
    assert isinstance(info["cuda"], bool)
    assert isinstance(info["cuda_devices"], int) and info["cuda_devices"] >= 0
    assert isinstance(info["openmp"], bool)
    assert info["simd"] in {"avx512", "avx2", "generic"}
    assert info["simd"] in info["simd_available"]
    assert "generic" in info["simd_available"]
    if not info["cuda"]:
        assert info["cuda_devices"] == 0


def test_unknown_simd_level_is_refused() -> None:
    with pytest.raises(ValueError, match="SIMD level 'sse9'"):
        panning._core.set_simd_level("sse9")


def test_panning_simd_environment_variable_lowers_the_level() -> None:
    code = "import panning; print(panning.build_info()['simd'])"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PANNING_SIMD": "generic", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "generic"


def test_import_needs_no_gpu_driver() -> None:
    # CUDA_VISIBLE_DEVICES="" hides every device: import and CPU scoring must still work.
    code = (
        "import numpy as np, panning;"
        "assert panning.build_info()['cuda_devices'] == 0;"
        "print(panning.entropy(np.ones((2, 2), np.float32) / 2))"
    )
    subprocess.run(
        [sys.executable, "-c", code], env={"CUDA_VISIBLE_DEVICES": "", "PATH": ""}, check=True
    )
