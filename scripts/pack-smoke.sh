#!/usr/bin/env bash
# The published package on a machine without a compiler: `npm pack`, install the tarball into an
# empty project with a PATH that has node, npm and sh but no python3, make or g++, then load the
# addon and run a kernel. Fails if the install tried to compile, if the reference backend loaded
# instead of the native addon, or if loading took 5 s or more.
#   scripts/prebuild.sh && scripts/pack-smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ls prebuilds/linux-x64/*.node >/dev/null || { echo "pack-smoke: no prebuilds/linux-x64 (run scripts/prebuild.sh first)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=$(npm pack --silent --pack-destination "$work" | tail -1)
echo "packed $tarball ($(du -h "$work/$tarball" | cut -f1))"

# A PATH with no compiler: only node, npm, npx and a shell.
mkdir -p "$work/bin" "$work/app"
for tool in node sh; do ln -s "$(command -v $tool)" "$work/bin/$tool"; done
npm_cli=$(readlink -f "$(command -v npm)")
printf '#!%s\nrequire(%s)\n' "$(command -v node)" "\"$npm_cli\"" > "$work/bin/npm" && chmod +x "$work/bin/npm"
for tool in python3 make g++ cc c++ gcc; do
  if PATH="$work/bin" command -v $tool >/dev/null 2>&1; then echo "pack-smoke: $tool is still on the sandbox PATH"; exit 1; fi
done

cd "$work/app"
PATH="$work/bin" npm init -y >/dev/null
# --prefer-offline: the two runtime dependencies come from the cache `npm ci` filled.
PATH="$work/bin" npm install --prefer-offline --no-audit --no-fund "$work/$tarball" 2>&1 | tail -3
test ! -d node_modules/selfsup/build || { echo "pack-smoke: the install compiled the addon (node_modules/selfsup/build exists)"; exit 1; }

PATH="$work/bin" node -e '
const t0 = process.hrtime.bigint();
const s = require("selfsup");
const i = s.info();
const y = s.kernels.matmul(new Float32Array([1, 2, 3, 4]), [2, 2], new Float32Array([5, 6, 7, 8]), [2, 2]);
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
console.log(`backend ${i.backend}, addon ${i.addonPath}, isa ${i.isa}; matmul ${Array.from(y)}; load + first call ${ms.toFixed(0)} ms`);
if (i.backend !== "native") { console.error("pack-smoke: the native addon did not load: " + i.loadError); process.exit(1); }
if (!/prebuilds/.test(i.addonPath)) { console.error("pack-smoke: expected the prebuild, loaded " + i.addonPath); process.exit(1); }
if (Array.from(y).join() !== "19,22,43,50") { console.error("pack-smoke: wrong matmul result"); process.exit(1); }
if (ms >= 5000) { console.error("pack-smoke: loading took 5 s or more"); process.exit(1); }
'
echo "pack-smoke: ok"
