#!/usr/bin/env bash
# The native C++ tests (ctest) cross-compiled for Linux AArch64 and run under qemu-user: the neon
# and generic ISA variants, on a machine without an arm64 CPU. Needs Debian/Ubuntu's
# g++-aarch64-linux-gnu and qemu-user (qemu-aarch64); CI installs them.
#   scripts/arm64-ctest.sh [build dir, default build-arm64]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-arm64}
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "arm64-ctest: $tool not found (apt-get install g++-aarch64-linux-gnu qemu-user)" >&2
    exit 1
  fi
done
cmake -S . -B "$dir" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
  -DSELFSUP_TESTS=ON -DSELFSUP_ADDON=OFF -DCMAKE_BUILD_TYPE=Release \
  "-DCMAKE_CROSSCOMPILING_EMULATOR=qemu-aarch64;-L;/usr/aarch64-linux-gnu" >/dev/null
cmake --build "$dir" -j "${SELFSUP_BUILD_JOBS:-2}"
# qemu translates every instruction: the tests take ~10-50x their native time.
ctest --test-dir "$dir" --output-on-failure --timeout 900
