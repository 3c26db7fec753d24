#!/usr/bin/env bash
# The one GPU command: builds panning with CUDA for the GPU it finds, runs every GPU test, the CPU
# suite, the GPU benchmarks and compute-sanitizer (memcheck, racecheck, initcheck, synccheck) over
# every CUDA kernel family (scoring, frontier, graph build + search). Results go to $OUT (default
# bench/results/gpu): gpu.txt, build.log, gpu_tests.log, bench_scoring_gpu.{jsonl,md},
# bench_frontier_gpu.jsonl, bench_graph_gpu.jsonl, sanitizer_<tool>.log. Exit status is non-zero
# if any step failed, and it fails, rather than passing with everything skipped, when no GPU is
# usable after the build.
#
#   bash bench/gpu_check.sh                 # everything (graph benchmark at --quick sizes)
#   GPU_CHECK_STEPS="tests bench" bash bench/gpu_check.sh
#   GPU_CHECK_SANITIZERS="memcheck" bash bench/gpu_check.sh
#   GPU_CHECK_GRAPH="" bash bench/gpu_check.sh   # graph benchmark at the issue's 1M sizes (long)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/results/gpu}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
STEPS="${GPU_CHECK_STEPS:-build tests bench sanitizer}"
TOOLS="${GPU_CHECK_SANITIZERS:-memcheck racecheck initcheck synccheck}"
status=0

has() { [[ " $STEPS " == *" $1 "* ]]; }
step() { echo "== $* ($(date +%T))"; }

# ---- preflight: fail in seconds, not after a build, on what would stop the run
if ! nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv |
  tee "$OUT/gpu.txt"; then
  echo "nvidia-smi failed: no usable NVIDIA driver"; exit 1
fi
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.[:space:]')
driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1 | cut -d. -f1)
nvcc_major=$(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9]*\)\..*/\1/p')
echo "sm_${cap}, driver ${driver}, nvcc ${nvcc_major:-missing}" | tee -a "$OUT/gpu.txt"
# The CUDA runtime is linked statically: CUDA 13 needs a driver >= 580, CUDA 12 one >= 525.
if [ -n "$nvcc_major" ] && [ "$nvcc_major" -ge 13 ] && [ "${driver:-0}" -lt 580 ]; then
  echo "driver ${driver} is too old for CUDA ${nvcc_major} (needs >= 580): build with CUDA 12"
  exit 1
fi
"$PY" - <<'EOF' || exit 1
import importlib.util
need = ["numpy", "pytest", "scikit_build_core", "pybind11", "ml_dtypes"]
missing = [m for m in need if importlib.util.find_spec(m) is None]
if missing:
    raise SystemExit(f"missing Python packages: {missing} (pip install them first)")
for m in ("torch", "cupy"):  # most graph GPU tests need torch; cupy ones skip without it
    print(f"{m}: {'yes' if importlib.util.find_spec(m) else 'NOT INSTALLED'}")
EOF

if has build; then
  step "build (sm_${cap})"
  # make would build serially; ninja ignores this and uses every core anyway
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" PANNING_CUDA=ON PANNING_WERROR=ON \
    PANNING_CUDA_ARCHITECTURES="${PANNING_CUDA_ARCHITECTURES:-$cap}" \
    "$PY" -m pip install --no-build-isolation --no-deps -v . >"$OUT/build.log" 2>&1 || {
    echo "BUILD FAILED"; tail -40 "$OUT/build.log"; exit 1; }
fi
# Without a usable device every GPU test would be skipped and the run would look green.
"$PY" - <<'EOF' 2>&1 | tee -a "$OUT/build.log" || exit 1
import json, panning
info = panning.build_info()
print(json.dumps(info))
if not info["cuda"] or not info["cuda_devices"]:
    raise SystemExit("panning sees no CUDA device (built without CUDA, or driver too old)")
try:
    import torch
except ImportError:
    print("torch not installed: the torch GPU tests will be skipped")
else:
    if not torch.cuda.is_available():
        raise SystemExit(f"torch {torch.__version__} sees no CUDA device (a CPU-only wheel?)")
EOF

if has tests; then
  step "GPU tests"
  "$PY" -m pytest tests -m gpu -q -rs -p no:cacheprovider 2>&1 | tee "$OUT/gpu_tests.log" | tail -40
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  if grep -qE "SKIPPED.*(no CUDA device|without CUDA)" "$OUT/gpu_tests.log"; then
    echo "GPU tests were skipped for want of a device"; status=1
  fi
  step "CPU tests on this machine"
  "$PY" -m pytest tests -m "not gpu" -q -p no:cacheprovider 2>&1 | tee -a "$OUT/gpu_tests.log" | tail -5
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

if has bench; then
  step "GPU benchmarks"
  rm -f "$OUT/bench_scoring_gpu.jsonl"
  "$PY" bench/bench_scoring.py --device cuda --json "$OUT/bench_scoring_gpu.jsonl" \
    --markdown "$OUT/bench_scoring_gpu.md" >/dev/null || status=1
  cat "$OUT/bench_scoring_gpu.md"
  rm -f "$OUT/bench_frontier_gpu.jsonl"
  "$PY" bench/bench_frontier.py --device cuda --json "$OUT/bench_frontier_gpu.jsonl" | tail -10 ||
    status=1
  rm -f "$OUT/bench_graph_gpu.jsonl"
  # shellcheck disable=SC2086
  "$PY" bench/bench_hnsw_build.py ${GPU_CHECK_GRAPH---quick} --json "$OUT/bench_graph_gpu.jsonl" \
    >/dev/null || status=1
  grep -E '"(knn_graph_gpu|build|build_ratio|batched_search)"' "$OUT/bench_graph_gpu.jsonl" || true
fi

if has sanitizer; then
  SANITIZER="${COMPUTE_SANITIZER:-$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)}"
  # The caching allocator would hide out-of-bounds accesses inside its pools.
  export PYTORCH_NO_CUDA_MEMORY_CACHING=1
  # Small cases that reach every kernel. scoring: the row kernels at each dtype and layout, the
  # radix select, ties; frontier: all; graph build: exact kNN on CUDA cores (float32) and tensor
  # cores (float16, bfloat16), whole and streamed, the refine kernel, the full level build
  # (prune with borrowed links, reverse merge with its id check, the float16 probe), the beam
  # search.
  sel="test_torch_cuda_matches_reference and (1000-17 or 40-5000 or 7-2) or layouts or most_uncertain_is_exact and 5000 or ties or frontier"
  sel="$sel or (knn_graph_numpy and (100-3-5 or 3000-64-10)) or knn_graph_streamed or overflowing"
  sel="$sel or (knn_graph_torch_in_place and float16) or refine_writes or level_steps"
  sel="$sel or gpu_build_offset_data or gpu_search_matches_twin"
  for tool in $TOOLS; do
    step "compute-sanitizer $tool"
    log="$OUT/sanitizer_$tool.log"
    "$SANITIZER" --tool "$tool" --error-exitcode 99 --print-limit 20 \
      "$PY" -m pytest tests/test_scoring_gpu.py tests/test_frontier_gpu.py \
      tests/test_hnsw_build_gpu.py -q -p no:cacheprovider -k "$sel" >"$log" 2>&1
    rc=$?
    echo "$tool exit $rc" | tee -a "$log"
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY|passed|failed" "$log" | tail -3
    [ "$rc" -eq 0 ] || status=1
  done
fi
step "done, status $status"
exit $status
