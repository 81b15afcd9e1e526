#!/usr/bin/env bash
# Prebuilt addons for the published package: prebuilds/<platform>-<arch>/selfsup.<libc>.node,
# which `npm install` (node-gyp-build) loads instead of compiling. One N-API build serves every
# Node version >= 20.17. x86-64 builds carry all three ISA variants (avx512, avx2, generic) and
# choose at load time, so one file runs on any x86-64 CPU; arm64 builds carry neon and generic.
#   scripts/prebuild.sh          the host's platform and arch (CI runs this on linux-x64 glibc),
#                                plus linux-arm64 when the host is linux-x64 and Debian's
#                                g++-aarch64-linux-gnu is installed (cross-compiled)
#   scripts/prebuild.sh arm64    only the cross-compiled linux-arm64 one (scripts/arm64-jstest.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
cross=aarch64-linux-gnu-

arm64() {
  # node-gyp always builds in <cwd>/build, so the cross build runs in build-arm64-gyp/, a folder of
  # links to the sources, and the host's build/ is left alone. Node's headers are the same for
  # every arch; node-gyp --arch arm64 sets target_arch, which picks the neon variant in
  # binding.gyp. CC/CXX/LINK/AR are the cross tools.
  local stage=build-arm64-gyp
  mkdir -p $stage
  for f in binding.gyp package.json native scripts node_modules; do ln -sfn "../$f" "$stage/$f"; done
  CC=${cross}gcc CXX=${cross}g++ LINK=${cross}g++ AR=${cross}ar JOBS=${SELFSUP_BUILD_JOBS:-2} \
    npx prebuildify --cwd $stage --out . --napi --strip --strip-bin=${cross}strip --tag-libc --arch arm64
  node=$(ls prebuilds/linux-arm64/*.node)
  # Checks that need no arm64 node (scripts/arm64-jstest.sh then runs the JS suites on it): an
  # AArch64 shared object that exports the N-API entry point and, under qemu-aarch64, that the
  # target's glibc and libstdc++ load it (its constructors run) in a small host program that
  # defines the napi_* functions node would provide as empty stubs.
  file "$node" | grep 'ARM aarch64' >/dev/null || { echo "prebuild: $node is not an AArch64 object"; exit 1; }
  ${cross}nm -D --defined-only "$node" | grep ' napi_register_module_v1$' >/dev/null ||
    { echo "prebuild: $node does not export napi_register_module_v1"; exit 1; }
  if command -v qemu-aarch64 >/dev/null 2>&1; then
    t=$(mktemp -d)
    ${cross}nm -D --undefined-only "$node" | awk '$2 ~ /^(napi|node_api)_/ { print "void " $2 "(void) {}" }' > "$t/stubs.c"
    cat > "$t/load.c" <<'C'
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char** argv) {
  void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (h == NULL || dlsym(h, "napi_register_module_v1") == NULL) { printf("%s\n", dlerror()); return 1; }
  printf("arm64 prebuild loads under qemu-aarch64 (dlopen + napi_register_module_v1)\n");
  return 0;
}
C
    ${cross}gcc -O1 -rdynamic "$t/load.c" "$t/stubs.c" -o "$t/load" -ldl
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$t/load" "$node"
    rm -rf "$t"
  fi
}

if [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] && command -v ${cross}g++ >/dev/null 2>&1; then
  arm64
elif [ "${1:-}" = arm64 ]; then
  echo "prebuild: linux-arm64 needs a linux-x64 host with ${cross}g++ (apt-get install g++-aarch64-linux-gnu)" >&2
  exit 1
else
  echo "prebuild: linux-arm64 skipped (needs a linux-x64 host with ${cross}g++)"
fi
[ "${1:-}" = arm64 ] && { ls -l prebuilds/linux-arm64/; exit 0; }
npx prebuildify --napi --strip --tag-libc
ls -l prebuilds/*/
