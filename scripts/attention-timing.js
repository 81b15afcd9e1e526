#!/usr/bin/env node
// Raw-kernel timing of the fused attention (no autograd, output buffers reused), for A/B runs of
// two addon builds: SELFSUP_ADDON=<build A> node scripts/attention-timing.js ... then <build B>,
// interleaved. Prints the median forward and backward times and their FlashAttention-counted
// GFLOP/s (forward 4*B*H*N^2*d, backward 2.5x that).
// Usage: node scripts/attention-timing.js [N=4096] [reps=3] [B=1] [H=8] [d=64] [--packed] [--f64]
//   --packed: q, k, v read from one qkv projection [B, N, 3*H*d] and the output written as
//   [B, N, H*d] (the layout options nn.MultiheadSelfAttention passes; lib/ops/attention.ts).
//   --cpu: the process's CPU time (user + system, all threads) per call instead of wall time, for
//   A/B runs on a machine shared with other work (with SELFSUP_NUM_THREADS=1 it is the kernel's).
// (needs dist/: npm run build)
'use strict';
const { native } = require('../dist/lib/backends/native.js');
const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith('--')));
const pos = args.filter((a) => !a.startsWith('--'));
const [N, reps, B, H, d] = [4096, 3, 1, 8, 64].map((def, i) => Number(pos[i] || def));
const packed = flags.has('--packed');
const Ctor = flags.has('--f64') ? Float64Array : Float32Array;
const cpu = flags.has('--cpu');
const now = () => (cpu ? ((u) => (u.user + u.system) * 1e3)(process.cpuUsage()) : Number(process.hrtime.bigint()));
let seed = 1;
const rnd = (n) => Ctor.from({ length: n }, () => ((seed = (seed * 48271) % 2147483647) / 2147483647) * 2 - 1);
const n = B * H * N * d, D = H * d, W = 3 * D;
const o = { B, H, Hk: H, Nq: N, Nk: N, d, scale: 1 / Math.sqrt(d), causal: false, dropout: 0, seed: 0, maskArray: null, maskStrides: [0, 0, 0, 0] };
let q, kk, v, dq, dk, dv;
if (packed) {
  Object.assign(o, { qLayout: [0, N * W, d, W], kLayout: [D, N * W, d, W], vLayout: [2 * D, N * W, d, W], oLayout: [0, N * D, d, D] });
  q = kk = v = rnd(3 * n);
  dq = dk = dv = new Ctor(3 * n);
} else {
  [q, kk, v] = [rnd(n), rnd(n), rnd(n)];
  [dq, dk, dv] = [new Ctor(n), new Ctor(n), new Ctor(n)];
}
const dO = rnd(n), out = new Ctor(n), lse = new Ctor(B * H * N), lseLo = new Ctor(B * H * N);
const a = native();
const tf = [], tb = [];
for (let i = 0; i < reps; i++) {
  const t0 = now();
  a.attention(q, kk, v, out, lse, lseLo, o);
  const t1 = now();
  a.attentionBackward(q, kk, v, out, lse, dO, null, lseLo, dq, dk, dv, o);
  const t2 = now();
  tf.push((t1 - t0) / 1e6);
  tb.push((t2 - t1) / 1e6);
}
const med = (x) => x.slice().sort((p, r) => p - r)[x.length >> 1];
const F = 4 * B * H * N * N * d;
const ms = (t) => (t < 10 ? t.toFixed(3) : t.toFixed(1));
console.log(`[${B}, ${H}, ${N}, ${d}]${packed ? ' packed' : ''}${Ctor === Float64Array ? ' f64' : ''}${cpu ? ' cpu-time' : ''} fwd ${ms(med(tf))} ms ${(F / med(tf) / 1e6).toFixed(0)} GFLOP/s; ` +
  `bwd ${ms(med(tb))} ms ${((2.5 * F) / med(tb) / 1e6).toFixed(0)} GFLOP/s`);
