#!/usr/bin/env node
// The float32 transcendentals through the public API: the minimum of 60 calls in ms, which the
// other load of a shared machine disturbs least. Default: one thread, 1M elements (input and
// output stay in L3); --big: [64, 196, 384] with 2 threads. Run it once per build and once for
// torch, interleaved (docs/tensor-core.md):
//   SELFSUP_NUM_THREADS=1 SELFSUP_ADDON=<addon> node scripts/transc-timing.js
//   SELFSUP_ADDON=<addon> node scripts/transc-timing.js --big
//   node scripts/transc-timing.js --torch [--big]     (python3 with torch, or $PYTHON)
'use strict';
const path = require('path');
const { execFileSync } = require('child_process');

const big = process.argv.includes('--big');
const SHAPE = big ? [64, 196, 384] : [1 << 20], THREADS = big ? 2 : 1, REPS = 60;
let line;
if (process.argv.includes('--torch')) {
  line = execFileSync(process.env.PYTHON || 'python3', ['-c', `
import time, torch, torch.nn.functional as F
torch.set_num_threads(${THREADS})
g0 = torch.Generator().manual_seed(0)
x = torch.randn(${SHAPE.join(', ')}, generator=g0); ax = x.abs() + 0.1; g = torch.randn(${SHAPE.join(', ')}, generator=g0)
xg = x.clone().requires_grad_()
def bwd():
    xg.grad = None; F.gelu(xg).backward(g)
def best(fn):
    b = 1e9
    for _ in range(${REPS}):
        t0 = time.perf_counter(); fn(); b = min(b, (time.perf_counter() - t0) * 1e3)
    return b
rows = [("exp", lambda: x.exp()), ("log", lambda: ax.log()), ("tanh", lambda: x.tanh()),
        ("sigmoid", lambda: x.sigmoid()), ("gelu", lambda: F.gelu(x)), ("gelu fwd+bwd", bwd)]
print("  ".join(f"{n} {best(f):.3f}" for n, f in rows))`], { encoding: 'utf8' }).trim();
} else {
  const { randn, F } = require(path.join(__dirname, '..', 'dist', 'lib', 'index.js'));
  const x = randn(SHAPE, { seed: 1 }), ax = x.abs().add(0.1), g = randn(SHAPE, { seed: 2 });
  const xg = randn(SHAPE, { seed: 1, requiresGrad: true });
  const rows = { exp: () => x.exp(), log: () => ax.log(), tanh: () => x.tanh(), sigmoid: () => x.sigmoid(),
    gelu: () => F.gelu(x), 'gelu fwd+bwd': () => { xg.grad = null; F.gelu(xg).backward(g); } };
  line = Object.entries(rows).map(([name, fn]) => {
    let best = Infinity;
    for (let i = 0; i < REPS; i++) {
      const t0 = process.hrtime.bigint();
      fn();
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return `${name} ${best.toFixed(3)}`;
  }).join('  ');
}
console.log(line);
