#!/usr/bin/env bash
# The GPU check (docs/cuda.md): run on a machine with an NVIDIA H100/H200-class GPU, nvcc and this
# checkout's node_modules (no network needed). In order, each step under its own `timeout` and all
# of them within an 8-minute budget (a step that would start past it is skipped and says so):
#   1. the CUDA addon (cmake-js, SELFSUP_CUDA=ON) and, in the same build, the ctest programs
#      (SELFSUP_TESTS=ON: native/tests/cuda_*_test.cu among them) into build-cuda/;
#   2. ctest -L cuda;
#   3. the vitest CUDA parity block (test/ops/ops.test.ts), test/cuda.test.ts,
#      test/cuda-fused.test.ts (the fused F.* ops on the device against the CPU) and
#      test/cuda-nn.test.ts (matmul/GELU/LayerNorm/max-dim parity, Module.to, a ViT step on the device);
#   4. compute-sanitizer --tool memcheck on each CUDA test program;
#   5. selfsup bench --device cuda --vs torch (float32), and its attention rows in bfloat16.
# Everything goes to $OUT (default ./gpu-check-out): one log per step and summary.txt (nvidia-smi,
# each step's status and seconds). Exit status: 0 when every step that ran passed.
#   bash scripts/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
BUDGET=${SELFSUP_GPU_CHECK_BUDGET:-480}
JOBS=${SELFSUP_BUILD_JOBS:-$(nproc)}
export PATH="$PATH:/usr/local/cuda/bin"
start=$(date +%s)
failed=0
summary="$OUT/summary.txt"
{
  echo "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi: not available"
  nvcc --version 2>&1 | tail -1
  lscpu 2>/dev/null | grep -m1 'Model name' || true
} > "$summary"

# step NAME SECONDS COMMAND...: runs COMMAND under timeout min(SECONDS, budget left), logs to $OUT/NAME.log.
step() {
  local name=$1 secs=$2
  shift 2
  local left=$((BUDGET - ($(date +%s) - start)))
  if [ "$left" -le 5 ]; then
    echo "$name: skipped (the ${BUDGET}s budget is spent)" | tee -a "$summary"
    failed=1
    return 1
  fi
  [ "$secs" -gt "$left" ] && secs=$left
  local t0=$(date +%s) rc=0
  timeout "$secs" "$@" > "$OUT/$name.log" 2>&1 || rc=$?
  local dt=$(($(date +%s) - t0))
  if [ "$rc" -eq 0 ]; then
    echo "$name: ok (${dt}s)" | tee -a "$summary"
  else
    [ "$rc" -eq 124 ] && echo "$name: TIMED OUT after ${secs}s" | tee -a "$summary" || echo "$name: FAILED rc=$rc (${dt}s; see $name.log)" | tee -a "$summary"
    tail -20 "$OUT/$name.log"
    failed=1
  fi
  return "$rc"
}

if [ ! -d node_modules ]; then
  echo "node_modules is missing: run npm ci on a machine with network and bring it along" | tee -a "$summary"
  exit 1
fi

step build-ts 60 bash -c 'npx tsc -p tsconfig.json && node scripts/esm-wrappers.js'
# configure first: `compile` alone keeps an existing build-cuda/'s options (it may lack the tests).
step build 300 bash -c "npx cmake-js configure -O build-cuda --CDSELFSUP_CUDA=ON --CDSELFSUP_TESTS=ON -l warn && npx cmake-js compile -O build-cuda --CDSELFSUP_CUDA=ON --CDSELFSUP_TESTS=ON -l warn -p $JOBS"
step ctest-cuda 90 ctest --test-dir build-cuda -L cuda --output-on-failure --no-tests=error
# The skip code (77) counts as a failure here: this machine is meant to have a device.
if grep -q "Skipped\|Not Run" "$OUT/ctest-cuda.log" 2>/dev/null; then echo "ctest-cuda: a CUDA test was skipped (no device?)" | tee -a "$summary"; failed=1; fi
export SELFSUP_ADDON=$PWD/build-cuda/Release/selfsup.node
step info 30 node bin/selfsup.js info
step vitest-parity 150 npx vitest run test/ops/ops.test.ts test/cuda.test.ts test/cuda-fused.test.ts test/cuda-nn.test.ts -t 'CUDA parity|cuda|CUDA build|fused|several outputs'
if command -v compute-sanitizer >/dev/null 2>&1; then
  for t in $(find build-cuda -maxdepth 2 -type f -name 'cuda_*_test' -perm -u+x | sort); do
    # SELFSUP_CUDA_TEST_QUICK: a test may keep to its small cases under the sanitizer's slowdown.
    SELFSUP_CUDA_TEST_QUICK=1 step "memcheck-$(basename "$t")" 120 compute-sanitizer --tool memcheck --error-exitcode 1 --leak-check full "$t"
  done
else
  echo "memcheck: compute-sanitizer not found (CUDA toolkit's compute-sanitizer/ on PATH)" | tee -a "$summary"
  failed=1
fi
# The fused families' rows: F.* on cuda tensors against the same torch compositions on the GPU.
step bench-cuda 120 node bin/selfsup.js bench --device cuda --vs torch --out "$OUT/bench-cuda.html"
step bench-cuda-bf16 45 node bin/selfsup.js bench attention --device cuda --dtype bfloat16 --vs torch
echo "total: $(($(date +%s) - start))s of the ${BUDGET}s budget; $([ $failed -eq 0 ] && echo PASS || echo FAIL)" | tee -a "$summary"
exit $failed
