#!/usr/bin/env bash
# Prebuilt addons for the published package: prebuilds/<platform>-<arch>/selfsup.napi.<libc>.node,
# which `npm install` (node-gyp-build) loads instead of compiling. One N-API build serves every
# Node version >= 20.17. x86-64 builds carry all three ISA variants (avx512, avx2, generic) and
# choose at load time, so one file runs on any x86-64 CPU.
#   scripts/prebuild.sh          the host's platform and arch (CI runs this on linux-x64 glibc)
set -euo pipefail
cd "$(dirname "$0")/.."
npx prebuildify --napi --strip --tag-libc
ls -l prebuilds/*/
