#!/usr/bin/env node
// The streaming-store A/B of docs/tensor-core.md ("Memory"): the same [64,196,384] float32 rows
// through the public API with the tensor core's streaming threshold at its default and switched
// off, in one process, alternating for four rounds (medians of 150 calls each, in ms).
//   node scripts/stream-ab.js [distIndex=dist/lib/index.js]
'use strict';
const path = require('path');
const dist = path.resolve(process.argv[2] || path.join(__dirname, '..', 'dist', 'lib', 'index.js'));
const s = require(dist);
const { tryNative } = require(path.join(path.dirname(dist), 'backends', 'native.js'));
const addon = tryNative();
if (!addon || typeof addon.tensorStreamMinBytes !== 'function') {
  console.error('stream-ab: needs the native addon with tensorStreamMinBytes');
  process.exit(1);
}
const sh = [64, 196, 384];
const x = s.randn(sh, { seed: 1 }), y = s.randn(sh, { seed: 2 }), bias = s.randn([384], { seed: 3 }), g = s.randn(sh, { seed: 4 });
const w = s.randn(sh, { seed: 5, requiresGrad: true }), wa = s.randn(sh, { seed: 6, requiresGrad: true });
wa.mul(2).backward(g);
const med = (fn, reps = 150) => {
  for (let i = 0; i < 10; i++) fn();
  const ts = [];
  for (let i = 0; i < reps; i++) { const t0 = process.hrtime.bigint(); fn(); ts.push(Number(process.hrtime.bigint() - t0) / 1e6); }
  ts.sort((a, b) => a - b);
  return ts[reps >> 1];
};
const rows = {
  'mul 1.5': () => x.mul(1.5),
  'add bias': () => x.add(bias),
  'add': () => x.add(y),
  'exp (never streamed)': () => x.exp(),
  'add(bias).mul(1.5)': () => x.add(bias).mul(1.5),
  'sub(y).mul(y).sum()': () => x.sub(y).mul(y).sum(),
  'relu fwd+bwd': () => { w.grad = null; w.relu().backward(g); },
  'grad accumulation': () => wa.mul(2).backward(g),
};
const def = addon.tensorStreamMinBytes();
const res = {};
for (const k in rows) res[k] = { on: [], off: [] };
for (let r = 0; r < 4; r++) {
  for (const mode of ['on', 'off']) {
    addon.tensorStreamMinBytes(mode === 'on' ? def : 2 ** 52);
    for (const k in rows) res[k][mode].push(med(rows[k]));
  }
}
addon.tensorStreamMinBytes(def);
console.log(`threshold ${def} bytes; per round, sorted (ms)`);
for (const k in rows) {
  const f = (a) => a.sort((p, q) => p - q).map((v) => v.toFixed(3)).join(' ');
  console.log(`${k.padEnd(22)} streaming ${f(res[k].on)} | normal ${f(res[k].off)}`);
}
