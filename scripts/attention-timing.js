#!/usr/bin/env node
// Raw-kernel timing of the fused attention (no autograd, output buffers reused), for A/B runs of
// two addon builds: SELFSUP_ADDON=<build A> node scripts/attention-timing.js ... then <build B>,
// interleaved. Prints the median forward and backward times and their FlashAttention-counted
// GFLOP/s (forward 4*B*H*N^2*d, backward 2.5x that).
// Usage: node scripts/attention-timing.js [N=4096] [reps=3] [B=1] [H=8] [d=64]   (needs dist/: npm run build)
'use strict';
const k = require('../dist/lib/kernels/index.js');
const [N, reps, B, H, d] = [4096, 3, 1, 8, 64].map((def, i) => Number(process.argv[2 + i] || def));
let seed = 1;
const rnd = (n) => Float32Array.from({ length: n }, () => ((seed = (seed * 48271) % 2147483647) / 2147483647) * 2 - 1);
const s = [B, H, N, d], n = B * H * N * d;
const q = rnd(n), kk = rnd(n), v = rnd(n), dO = rnd(n);
const out = new Float32Array(n), lse = new Float32Array(B * H * N);
const dq = new Float32Array(n), dk = new Float32Array(n), dv = new Float32Array(n);
const tf = [], tb = [];
for (let i = 0; i < reps; i++) {
  const t0 = process.hrtime.bigint();
  k.attention(q, s, kk, s, v, s, { out, lse });
  const t1 = process.hrtime.bigint();
  k.attentionBackward(q, s, kk, s, v, s, out, lse, dO, { dq, dk, dv });
  const t2 = process.hrtime.bigint();
  tf.push(Number(t1 - t0) / 1e6);
  tb.push(Number(t2 - t1) / 1e6);
}
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
const F = 4 * B * H * N * N * d;
console.log(`[${B}, ${H}, ${N}, ${d}] fwd ${med(tf).toFixed(1)} ms ${(F / med(tf) / 1e6).toFixed(0)} GFLOP/s; ` +
  `bwd ${med(tb).toFixed(1)} ms ${((2.5 * F) / med(tb) / 1e6).toFixed(0)} GFLOP/s`);
