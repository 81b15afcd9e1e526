#!/usr/bin/env node
// A/B timing of the ISA variants on this machine (the measurements behind the default-variant
// rule in docs/developing.md): sgemm 1024^3 and 2048^3 through kernels.matmul, and the attention
// forward (raw kernel, output buffers reused) at the vit-s, long-1024 and long-4096 shapes. Each
// round runs every supported variant in its own child process (SELFSUP_ISA is read once per
// process), so the variants interleave and share the machine's background load alike. Prints the
// CPU model and, per variant and workload, the median and best of the rounds.
// Usage: node scripts/isa-timing.js [rounds=5] [variants=avx512,avx2]   (needs dist/: npm run build;
// SELFSUP_TIMING_DIST=<dir> uses another compiled dist/lib)
'use strict';
const path = require('path');
const os = require('os');
const { spawnSync } = require('child_process');

const lib = process.env.SELFSUP_TIMING_DIST || path.join(__dirname, '..', 'dist', 'lib');

if (process.argv[2] === '--child') {
  const k = require(path.join(lib, 'kernels', 'index.js'));
  let seed = 1;
  const rnd = (n) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = ((seed = (seed * 48271) % 2147483647) / 2147483647) * 2 - 1;
    return a;
  };
  const time = (f, reps) => {
    f();
    const t = [];
    for (let i = 0; i < reps; i++) {
      const t0 = process.hrtime.bigint();
      f();
      t.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return t.sort((x, y) => x - y)[t.length >> 1];
  };
  const res = {};
  for (const n of [1024, 2048]) {
    const a = rnd(n * n), b = rnd(n * n), out = new Float32Array(n * n);
    const ms = time(() => k.matmul(a, [n, n], b, [n, n], { out }), n === 1024 ? 7 : 3);
    res[`sgemm ${n}^3 GFLOP/s`] = (2 * n * n * n) / ms / 1e6;
  }
  for (const [name, B, H, N, d] of [['vit-s B8 H6 N197', 8, 6, 197, 64], ['long-1024 B1 H8', 1, 8, 1024, 64], ['long-4096 B1 H8', 1, 8, 4096, 64]]) {
    const s = [B, H, N, d], n = B * H * N * d;
    const q = rnd(n), kk = rnd(n), v = rnd(n), out = new Float32Array(n), lse = new Float32Array(B * H * N);
    res[`attention fwd ${name} ms`] = time(() => k.attention(q, s, kk, s, v, s, { out, lse }), N >= 4096 ? 3 : 7);
  }
  console.log(JSON.stringify(res));
  process.exit(0);
}

const rounds = Number(process.argv[2] || 5);
const variants = (process.argv[3] || 'avx512,avx2').split(',');
let fam = '';
try {
  const ci = require('fs').readFileSync('/proc/cpuinfo', 'utf8');
  const f = /cpu family\s*:\s*(\d+)/.exec(ci), m = /model\s*:\s*(\d+)/.exec(ci);
  if (f && m) fam = ` (family ${f[1]} model ${m[1]})`;
} catch {
  /* not Linux */
}
console.log(`cpu: ${os.cpus()[0].model.trim()}${fam} x ${os.cpus().length}, threads: ${process.env.SELFSUP_NUM_THREADS || 'default'}`);
const all = {};
for (let r = 0; r < rounds; r++) {
  for (const v of variants) {
    const c = spawnSync(process.execPath, [__filename, '--child'], { encoding: 'utf8', env: { ...process.env, SELFSUP_ISA: v } });
    if (c.status !== 0) throw new Error(`variant ${v}: ${c.stderr}`);
    const res = JSON.parse(c.stdout.trim().split('\n').pop());
    for (const [key, val] of Object.entries(res)) ((all[key] ??= {})[v] ??= []).push(val);
  }
}
for (const [key, per] of Object.entries(all)) {
  const higher = key.includes('GFLOP/s');
  const cells = variants.map((v) => {
    const xs = per[v].slice().sort((a, b) => a - b);
    const med = xs[xs.length >> 1], best = higher ? xs[xs.length - 1] : xs[0];
    return `${v} ${med.toFixed(1)} (best ${best.toFixed(1)})`;
  });
  console.log(`${key.padEnd(36)} ${cells.join('   ')}`);
}
