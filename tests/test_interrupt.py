"""Ctrl-C reaches long native loops: the kernels check for signals between chunks of rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

# A billion-row view of one row (zero row stride): hours of work without using any memory.
SCRIPT = r"""
import sys, numpy as np, panning
row = np.full((1, 100), 0.01, np.float32)
huge = np.broadcast_to(row, (1_000_000_000, 100))
print("started", flush=True)
try:
    panning.most_uncertain(huge, 1)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(3)
print("finished", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_interrupts_most_uncertain() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "2"},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    time.sleep(0.5)  # well inside the native call
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert "interrupted" in out, err
    assert proc.returncode == 3
    assert time.monotonic() - t0 < 60
