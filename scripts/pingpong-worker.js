#!/usr/bin/env node
// The selfsup side of scripts/pingpong.py: reads one command per line on stdin ("<row> <reps>
// <plain|tidy>"), runs that row reps times, and answers one line of JSON with the times in ms.
// Run by pingpong.py, never alone.
'use strict';
const fs = require('fs');
const path = require('path');
const s = require(path.resolve(process.argv[2] || path.join(__dirname, '..', 'dist', 'lib', 'index.js')));
const { randn, F, tensor } = s;

const shp = [64, 196, 384];
const x = randn(shp, { seed: 1 }), y = randn(shp, { seed: 2 }), bias = randn([384], { seed: 3 });
const w = randn(shp, { seed: 4, requiresGrad: true }), g = randn(shp, { seed: 5 });
w.mul(2).backward(g);
const sw = randn(shp, { seed: 6, requiresGrad: true });
const [B, N, D, K] = [64, 196, 384, 49];
const xg = randn([B, N, D], { seed: 9, requiresGrad: true });
const idx = new Int32Array(B * K);
for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) idx[b * K + k] = (k * 4 + b) % N;
const it = tensor(idx, [B, K], { dtype: 'int32' });
const rows = {
  add: () => x.add(y),
  mul: () => x.mul(1.5),
  bias: () => x.add(bias),
  sum: () => x.sum(),
  'sum(-1)': () => x.sum(-1),
  'sum([0,1])': () => x.sum([0, 1]),
  softmax: () => x.softmax(-1),
  gradacc: () => w.mul(2).backward(g),
  'softmax-fb': () => { sw.grad = null; sw.softmax(-1).backward(g); },
  gather: () => { xg.grad = null; F.gatherTokens(xg, it).sum().backward(); },
};

const buf = Buffer.alloc(1 << 16);
let pending = '';
function readLine() {
  for (;;) {
    const nl = pending.indexOf('\n');
    if (nl >= 0) { const line = pending.slice(0, nl); pending = pending.slice(nl + 1); return line; }
    let n;
    try { n = fs.readSync(0, buf, 0, buf.length, null); } catch (e) { if (e.code === 'EAGAIN') continue; throw e; }
    if (n === 0) return null;
    pending += buf.toString('utf8', 0, n);
  }
}
process.stdout.write(JSON.stringify({ ready: Object.keys(rows) }) + '\n');
for (let line; (line = readLine()) !== null;) {
  const [name, repsStr, mode] = line.trim().split(/\s+/);
  const fn = rows[name], reps = Number(repsStr);
  const run = mode === 'tidy' ? () => s.tidy(() => { fn(); }) : fn;
  const ts = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    run();
    ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  fs.writeSync(1, JSON.stringify(ts) + '\n');
}
