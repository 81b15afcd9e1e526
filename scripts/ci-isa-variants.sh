#!/usr/bin/env bash
# The kernels under every ISA variant this machine supports, then under AddressSanitizer + UBSan.
# `npm test` covers the default variant; this adds, for each other supported variant
# (SELFSUP_ISA=<variant>), the op table and the kernel test files. The ctest suite needs no loop:
# simd_test is built once per variant, gemm_test and variants_test run every supported variant,
# and philox_test and threadpool_test call no dispatched code. Then the same JS tests once more
# with an addon built with -fsanitize=address,undefined (build-asan-addon/), in the default
# variant and, when it is not the default, the widest one. Needs the package's addon (npm ci) and dist/.
# Run by .ci/run; locally: bash scripts/ci-isa-variants.sh [--no-asan]
set -euo pipefail
cd "$(dirname "$0")/.."

JS_TESTS=(test/ops test/attention.test.ts test/sinkhorn.test.ts test/info_nce.test.ts test/vicreg.test.ts
  test/tokens.test.ts test/pointwise.test.ts test/tensor-core.test.ts test/stream-stores.test.ts test/packed-attention.test.ts test/isa.test.ts)
# The addon the package itself loads (prebuilds/ first, then build/Release: in CI, prebuild.sh has
# moved build/Release's addon into prebuilds/ by the time this runs).
ADDON=${SELFSUP_ADDON:-$(node -e 'console.log(require("./dist/lib/backends/native.js").nativeAddonPath() || "")')}
[ -n "$ADDON" ] || { echo "ci-isa-variants: the package loads no native addon (build it first)"; exit 1; }

# "default widest other..." from the addon itself: the variants this CPU and OS can run.
variants() {
  env -u SELFSUP_ISA node -e '
    const v = require(process.argv[1]).isaVariants().filter((x) => x.supported);
    const d = v.find((x) => x.default).name;
    console.log([d, v[0].name, ...v.map((x) => x.name).filter((n) => n !== d)].join(" "));' "$1"
}

# Fails unless the addon at $1 runs variant $2 when SELFSUP_ISA=$2 (so a loop cannot silently test the default).
expect_active() {
  SELFSUP_ISA=$2 node -e '
    const got = require(process.argv[1]).isa();
    if (got !== process.argv[2]) { console.error(`SELFSUP_ISA=${process.argv[2]} but the addon runs ${got}`); process.exit(1); }' "$1" "$2"
}

read -r DEFAULT WIDEST OTHERS <<<"$(variants "$ADDON")"
[ -n "$DEFAULT" ] || { echo "ci-isa-variants: could not read the ISA variants from $ADDON"; exit 1; }
echo "::: ISA variants supported here: default $DEFAULT; others: ${OTHERS:-none}"
for isa in $OTHERS; do
  echo "::: SELFSUP_ISA=$isa: op table and kernel tests"
  t0=$SECONDS
  expect_active "$ADDON" "$isa"
  SELFSUP_ISA=$isa SELFSUP_ADDON=$ADDON npx vitest run "${JS_TESTS[@]}"
  echo "::: SELFSUP_ISA=$isa done in $((SECONDS - t0)) s"
done

[ "${1:-}" = "--no-asan" ] && exit 0

echo "::: the addon under AddressSanitizer + UBSan (cmake-js, build-asan-addon/)"
t0=$SECONDS
npx cmake-js compile -O build-asan-addon --CDSELFSUP_SANITIZE=ON -l warn
ASAN_ADDON=$PWD/build-asan-addon/Release/selfsup.node
echo "::: ASan addon built in $((SECONDS - t0)) s"
PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)"
ASAN_RUNS=$DEFAULT
[ "$WIDEST" != "$DEFAULT" ] && ASAN_RUNS="$DEFAULT $WIDEST"
for isa in $ASAN_RUNS; do
  echo "::: ASan + UBSan, SELFSUP_ISA=$isa: op table and kernel tests"
  t0=$SECONDS
  LD_PRELOAD=$PRELOAD ASAN_OPTIONS=detect_leaks=0 expect_active "$ASAN_ADDON" "$isa"
  LD_PRELOAD=$PRELOAD ASAN_OPTIONS=detect_leaks=0 SELFSUP_ISA=$isa SELFSUP_ADDON=$ASAN_ADDON npx vitest run "${JS_TESTS[@]}"
  echo "::: ASan + UBSan, SELFSUP_ISA=$isa done in $((SECONDS - t0)) s"
done
