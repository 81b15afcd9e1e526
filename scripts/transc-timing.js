#!/usr/bin/env node
// The float32 transcendentals through the public API on [64, 196, 384] (4.8M elements), medians
// in ms (and the minimum, which a loaded machine disturbs least), for one build of the package; with --torch, the same rows from PyTorch (python3 with
// torch as python3 or $PYTHON, thread count from OMP_NUM_THREADS). Compare builds in one session:
//   SELFSUP_ADDON=<old addon> node scripts/transc-timing.js
//   SELFSUP_ADDON=<new addon> node scripts/transc-timing.js
//   OMP_NUM_THREADS=2 node scripts/transc-timing.js --torch
'use strict';
const path = require('path');
const { execFileSync } = require('child_process');

const ROWS = ['exp', 'log', 'tanh', 'sigmoid', 'gelu', 'gelu fwd+bwd'];

if (process.argv.includes('--torch')) {
  const py = `
import time, torch, torch.nn.functional as F, os
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
g0 = torch.Generator().manual_seed(0)
x = torch.randn(64, 196, 384, generator=g0); ax = x.abs() + 0.1; g = torch.randn(64, 196, 384, generator=g0)
xg = x.clone().requires_grad_()
def bwd():
    xg.grad = None
    F.gelu(xg).backward(g)
fns = [lambda: x.exp(), lambda: ax.log(), lambda: x.tanh(), lambda: x.sigmoid(), lambda: F.gelu(x), bwd]
for fn in fns:
    for _ in range(2): fn()
    ts = []; t0 = time.perf_counter()
    while len(ts) < 5 or time.perf_counter() - t0 < 0.4:
        a = time.perf_counter(); fn(); ts.append((time.perf_counter() - a) * 1e3)
    ts.sort(); print(ts[len(ts) // 2], ts[0])
`;
  const out = execFileSync(process.env.PYTHON || 'python3', ['-c', py], { encoding: 'utf8' }).trim().split('\n').map((l) => l.split(' ').map(Number));
  ROWS.forEach((r, i) => console.log(`${r.padEnd(14)} ${out[i][0].toFixed(3)} (min ${out[i][1].toFixed(3)})`));
  process.exit(0);
}

const { randn, F } = require(path.join(__dirname, '..', 'dist', 'lib', 'index.js'));
function time(fn, minMs = 400, minReps = 5) {
  for (let i = 0; i < 2; i++) fn();
  const ts = [];
  const start = Date.now();
  while (ts.length < minReps || Date.now() - start < minMs) {
    const t0 = process.hrtime.bigint();
    fn();
    ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ts.sort((a, b) => a - b);
  return [ts[ts.length >> 1], ts[0]];
}
const shp = [64, 196, 384];
const x = randn(shp, { seed: 1 }), ax = x.abs().add(0.1), g = randn(shp, { seed: 2 });
const xg = randn(shp, { seed: 1, requiresGrad: true });
const fns = [() => x.exp(), () => ax.log(), () => x.tanh(), () => x.sigmoid(), () => F.gelu(x),
  () => { xg.grad = null; F.gelu(xg).backward(g); }];
ROWS.forEach((r, i) => {
  const [med, min] = time(fns[i]);
  console.log(`${r.padEnd(14)} ${med.toFixed(3)} (min ${min.toFixed(3)})`);
});
