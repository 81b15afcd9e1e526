#!/usr/bin/env node
// Lists native sources by role for binding.gyp (`<!@(node scripts/sources.js isa)`) so that a new
// op folder needs no build-file edit. CMakeLists.txt applies the same rules with file(GLOB).
//   isa  : native/cpu/*_isa.cc and native/ops/*/cpu.cc   (compiled once per ISA variant)
//   core : other native/cpu/*.cc and native/ops/*/*.cc    (compiled once)
//   napi : native/napi/*.cc
//   cuda : native/cuda/*.cu and native/ops/*/cuda.cu
'use strict';
const fs = require('fs');
const path = require('path');
const root = path.resolve(__dirname, '..');
const rel = (p) => path.relative(root, p).split(path.sep).join('/');
const list = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort().map((f) => path.join(dir, f)) : []);
const opDirs = list(path.join(root, 'native/ops')).filter((d) => fs.statSync(d).isDirectory());
const cpuFiles = list(path.join(root, 'native/cpu')).filter((f) => f.endsWith('.cc'));
const opFiles = opDirs.flatMap(list);
const roles = {
  isa: [...cpuFiles.filter((f) => f.endsWith('_isa.cc')), ...opFiles.filter((f) => path.basename(f) === 'cpu.cc')],
  core: [...cpuFiles.filter((f) => !f.endsWith('_isa.cc')), ...opFiles.filter((f) => f.endsWith('.cc') && path.basename(f) !== 'cpu.cc')],
  napi: list(path.join(root, 'native/napi')).filter((f) => f.endsWith('.cc')),
  cuda: [...list(path.join(root, 'native/cuda')).filter((f) => f.endsWith('.cu')), ...opFiles.filter((f) => f.endsWith('.cu'))],
};
const role = process.argv[2];
if (!roles[role]) {
  console.error(`usage: node scripts/sources.js isa|core|napi|cuda (got ${role})`);
  process.exit(2);
}
process.stdout.write(roles[role].map(rel).join(' '));
