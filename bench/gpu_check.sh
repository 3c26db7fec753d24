#!/usr/bin/env bash
# The one GPU command: builds panning with CUDA for the GPU it finds, runs every GPU test, the GPU
# benchmarks and compute-sanitizer (memcheck + racecheck) on the CUDA kernels. Results go to $OUT
# (default bench/results/gpu): build.log, gpu_tests.log, bench_scoring_gpu.{jsonl,md},
# bench_frontier_gpu.jsonl, bench_graph_gpu.jsonl, sanitizer.log. Exit status is non-zero if any
# step failed.
#
#   bash bench/gpu_check.sh                 # everything (graph benchmark at --quick sizes)
#   GPU_CHECK_STEPS="tests bench" bash bench/gpu_check.sh
#   GPU_CHECK_GRAPH="" bash bench/gpu_check.sh   # graph benchmark at the issue's 1M sizes (long)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/results/gpu}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
STEPS="${GPU_CHECK_STEPS:-build tests bench sanitizer}"
status=0

has() { [[ " $STEPS " == *" $1 "* ]]; }
step() { echo "== $* ($(date +%T))"; }

nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.[:space:]')

if has build; then
  step "build (sm_${cap})"
  PANNING_CUDA=ON PANNING_WERROR=ON PANNING_CUDA_ARCHITECTURES="${PANNING_CUDA_ARCHITECTURES:-$cap}" \
    "$PY" -m pip install --no-build-isolation --no-deps -v . >"$OUT/build.log" 2>&1 || {
    echo "BUILD FAILED"; tail -40 "$OUT/build.log"; exit 1; }
  "$PY" -c "import panning, json; print(json.dumps(panning.build_info()))" | tee -a "$OUT/build.log"
fi

if has tests; then
  step "GPU tests"
  "$PY" -m pytest tests -m gpu -q -rs -p no:cacheprovider 2>&1 | tee "$OUT/gpu_tests.log" | tail -40
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
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
  "$PY" bench/bench_graph_build.py ${GPU_CHECK_GRAPH---quick} --json "$OUT/bench_graph_gpu.jsonl" \
    >/dev/null || status=1
  grep -E '"(knn_graph_gpu|build|build_ratio|batched_search)"' "$OUT/bench_graph_gpu.jsonl" || true
fi

if has sanitizer; then
  # The caching allocator would hide out-of-bounds accesses inside its pools.
  export PYTORCH_NO_CUDA_MEMORY_CACHING=1
  sel="test_torch_cuda_matches_reference and (1000-17 or 40-5000 or 7-2) or layouts or most_uncertain_is_exact and 5000 or ties or frontier"
  sel="$sel or (knn_graph_numpy and (100-3-5 or 3000-64-10)) or knn_graph_streamed or level_steps or gpu_search_matches_twin"
  for tool in memcheck racecheck; do
    step "compute-sanitizer $tool"
    compute-sanitizer --tool "$tool" --error-exitcode 99 --print-limit 20 \
      "$PY" -m pytest tests/test_scoring_gpu.py tests/test_frontier_gpu.py \
      tests/test_graph_build_gpu.py -q -p no:cacheprovider -k "$sel" \
      >>"$OUT/sanitizer.log" 2>&1
    rc=$?
    echo "$tool exit $rc" | tee -a "$OUT/sanitizer.log"
    grep -E "ERROR SUMMARY|passed|failed" "$OUT/sanitizer.log" | tail -3
    [ "$rc" -eq 0 ] || status=1
  done
fi
step "done, status $status"
exit $status
