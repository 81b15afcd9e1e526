#!/usr/bin/env bash
# The GPU check (docs/cuda.md): run on a machine with an NVIDIA H100/H200-class GPU and nvcc. The
# lent machines have no Node.js and no network: scripts/gpu-carry.sh packs Node, the dev
# dependencies the check loads and dist/ into .gpu-carry/ here; carry that folder with the call.
# In order, each step under its own `timeout` and all of them within an 8-minute budget (a step
# that would start past it is skipped and says so):
#   1. with plain CMake (SELFSUP_CUDA=ON, SELFSUP_TESTS=ON) into build-cuda/: the CUDA addon against
#      Node's headers, and the ctest programs (native/tests/cuda_*_test.cu among them);
#   2. ctest -L cuda;
#   3. the vitest CUDA parity block (test/ops/ops.test.ts), test/cuda.test.ts,
#      test/cuda-fused.test.ts (the fused F.* ops on the device against the CPU) and
#      test/cuda-nn.test.ts (matmul/GELU/LayerNorm/max-dim parity, Module.to, a ViT step on the device)
#      and test/cuda-more.test.ts (where, dropout, the losses and compositions, the EMA update);
#   4. compute-sanitizer --tool memcheck on each CUDA test program;
#   5. selfsup bench --device cuda --vs torch (float32), and its attention rows in bfloat16.
# Without Node, steps 1 (test programs only), 2 and 4 run and the rest say they were skipped.
# Everything goes to $OUT (default ./gpu-check-out): one log per step and summary.txt (nvidia-smi,
# each step's status and seconds). Exit status: 0 when every step ran and passed.
#   bash scripts/gpu-check.sh
#   SELFSUP_GPU_CHECK_BUILD=dir (default build-cuda), SELFSUP_GPU_CHECK_BUDGET=seconds (480),
#   SELFSUP_GPU_CHECK_USE_CARRY=1 (use .gpu-carry/'s Node even where one is on PATH)
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

# Node.js: the lent machines' image has none (nor network). Use the node on PATH, else the one
# scripts/gpu-carry.sh packed into .gpu-carry/ (carried with the call), else run the native steps
# only: the CUDA test programs and memcheck need no Node.
if [ -f .gpu-carry/node.tar.xz ] && { [ -n "${SELFSUP_GPU_CHECK_USE_CARRY:-}" ] || ! command -v node > /dev/null; }; then
  mkdir -p /tmp/selfsup-node && tar xJf .gpu-carry/node.tar.xz -C /tmp/selfsup-node && export PATH=/tmp/selfsup-node/bin:$PATH
  [ -d node_modules ] || tar xJf .gpu-carry/node_modules.tar.xz
  [ -d dist ] || tar xJf .gpu-carry/dist.tar.xz
fi
have_node=0
command -v node > /dev/null && [ -d node_modules/node-addon-api ] && have_node=1
node_inc=
if [ $have_node = 1 ]; then
  for d in "$(dirname "$(dirname "$(command -v node)")")/include/node" /usr/include/node; do
    [ -f "$d/node_api.h" ] && { node_inc=$d; break; }
  done
  [ -n "$node_inc" ] || { echo "node headers not found: the addon is not built" | tee -a "$summary"; have_node=0; }
fi
echo "node: $([ $have_node = 1 ] && echo "$(node --version), headers $node_inc" || echo 'none (native steps only; scripts/gpu-carry.sh packs one)')" | tee -a "$summary"
BUILD=${SELFSUP_GPU_CHECK_BUILD:-build-cuda}
gen=
command -v ninja > /dev/null && gen="-G Ninja"

if [ $have_node = 1 ] && [ -d node_modules/typescript ]; then
  step build-ts 60 bash -c 'npx tsc -p tsconfig.json && node scripts/esm-wrappers.js'
fi
# Plain CMake (no cmake-js, which would fetch Node's headers): the addon against the headers found
# above, and the C++ test programs; without Node the test programs only.
addon=$([ $have_node = 1 ] && echo ON || echo OFF)
step build 300 bash -c "cmake -S . -B $BUILD $gen -DCMAKE_BUILD_TYPE=Release -DSELFSUP_CUDA=ON -DSELFSUP_TESTS=ON -DSELFSUP_ADDON=$addon -DCMAKE_JS_INC=$node_inc -DCMAKE_LIBRARY_OUTPUT_DIRECTORY=$PWD/$BUILD/Release > /dev/null && cmake --build $BUILD -j $JOBS"
step ctest-cuda 90 ctest --test-dir $BUILD -L cuda --output-on-failure --no-tests=error
# The skip code (77) counts as a failure here: this machine is meant to have a device.
if grep -q "Skipped\|Not Run" "$OUT/ctest-cuda.log" 2>/dev/null; then echo "ctest-cuda: a CUDA test was skipped (no device?)" | tee -a "$summary"; failed=1; fi
export SELFSUP_ADDON=$PWD/$BUILD/Release/selfsup.node
if [ $have_node = 1 ]; then
  step info 30 node bin/selfsup.js info
  step vitest-parity 150 npx vitest run test/ops/ops.test.ts test/cuda.test.ts test/cuda-fused.test.ts test/cuda-nn.test.ts test/cuda-more.test.ts -t 'CUDA parity|cuda|CUDA build|fused|several outputs'
else
  echo "info, vitest-parity, bench-cuda: skipped (no Node.js)" | tee -a "$summary"
  failed=1
fi
if command -v compute-sanitizer >/dev/null 2>&1; then
  for t in $(find $BUILD -maxdepth 2 -type f -name 'cuda_*_test' -perm -u+x | sort); do
    # SELFSUP_CUDA_TEST_QUICK: a test may keep to its small cases under the sanitizer's slowdown.
    SELFSUP_CUDA_TEST_QUICK=1 step "memcheck-$(basename "$t")" 120 compute-sanitizer --tool memcheck --error-exitcode 1 --leak-check full "$t"
  done
else
  echo "memcheck: compute-sanitizer not found (CUDA toolkit's compute-sanitizer/ on PATH)" | tee -a "$summary"
  failed=1
fi
# The fused families' rows: F.* on cuda tensors against the same torch compositions on the GPU.
if [ $have_node = 1 ]; then
  step bench-cuda 120 node bin/selfsup.js bench --device cuda --vs torch --out "$OUT/bench-cuda.html"
  step bench-cuda-bf16 45 node bin/selfsup.js bench attention --device cuda --dtype bfloat16 --vs torch
fi
echo "total: $(($(date +%s) - start))s of the ${BUDGET}s budget; $([ $failed -eq 0 ] && echo PASS || echo FAIL)" | tee -a "$summary"
exit $failed
