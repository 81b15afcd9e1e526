#!/usr/bin/env node
// Where a ViT training step's wall time goes: the bench's vit_step workload (zeroGrad, forward,
// loss, backward, AdamW) run in a loop, with every synchronous export of the native addon wrapped
// in a timer, so the step splits into time inside each native call (the GEMMs among them), V8's
// garbage-collection pauses on the main thread, and the rest (JavaScript: the autograd engine,
// op wrappers, allocation). Medians over the steps, in ms.
//   node scripts/vit-step-profile.js [s64-b32|tiny-b64] [steps=12] [distRoot=dist] [--json] [--no-wrap] [--no-tidy]
// --no-wrap times the plain step only (the wrappers cost ~0.1 us a call). The forward and backward
// run inside tidy(), as in `selfsup train` and the bench; --no-tidy runs them without it.
'use strict';
const path = require('path');
const { PerformanceObserver } = require('perf_hooks');
const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith('--')));
const pos = args.filter((a) => !a.startsWith('--'));
const name = pos[0] || 's64-b32';
const steps = Number(pos[1] || 12);
const root = path.resolve(pos[2] || path.join(__dirname, '..', 'dist'));
const s = require(path.join(root, 'lib', 'index.js'));
const { native } = require(path.join(root, 'lib', 'backends', 'native.js'));

// Fresh ArrayBuffers per step: what V8 counts as new external memory (large arrays come from
// Buffer.allocUnsafeSlow in lib/storage.ts, zeroed ones from the typed-array constructors, which
// are not counted here).
let freshBytes = 0, freshCount = 0;
const allocSlow = Buffer.allocUnsafeSlow;
Buffer.allocUnsafeSlow = (n) => { freshBytes += n; freshCount++; return allocSlow(n); };

const SHAPES = {
  'tiny-b64': { batch: 64, image: 32, patch: 8, channels: 3, dim: 192, depth: 4, heads: 3 },
  's64-b32': { batch: 32, image: 64, patch: 8, channels: 3, dim: 384, depth: 4, heads: 6 },
};
const sh = SHAPES[name];
if (!sh) throw new Error(`unknown workload ${name} (${Object.keys(SHAPES).join(', ')})`);

// Per-export wall time of the current step; native calls do not nest (no JS runs inside one).
const acc = new Map();
const wrap = !flags.has('--no-wrap');
if (wrap) {
  const a = native();
  for (const k of Object.keys(a)) {
    const f = a[k];
    if (typeof f !== 'function' || k.endsWith('Async')) continue;
    a[k] = function (...xs) {
      const t0 = process.hrtime.bigint();
      try {
        return f.apply(this, xs);
      } finally {
        const dt = Number(process.hrtime.bigint() - t0) / 1e6;
        const e = acc.get(k);
        if (e) { e.ms += dt; e.n++; } else acc.set(k, { ms: dt, n: 1 });
      }
    };
  }
}
// Main-thread GC pauses, attributed to steps afterwards by their start time (the observer's
// entries arrive asynchronously). V8's concurrent marking runs on a helper thread and is not
// counted here: it shows as slower native calls (it shares the two cores with the thread pool).
const gcEntries = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcEntries.push({ t: e.startTime, ms: e.duration, kind: ({ 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' })[e.detail ? e.detail.kind : e.kind] || 'other' });
}).observe({ entryTypes: ['gc'] });

const model = new s.nn.VisionTransformer({
  imageSize: sh.image, patchSize: sh.patch, inChannels: sh.channels, dim: sh.dim, depth: sh.depth, heads: sh.heads, seed: 1,
});
const opt = new s.optim.AdamW(model.parameters(), { lr: 1e-4 });
const x = s.randn([sh.batch, sh.channels, sh.image, sh.image], { seed: 2 });

const now = () => performance.now();
const rows = [];
for (let i = 0; i < steps + 2; i++) {
  acc.clear();
  freshBytes = freshCount = 0;
  const pf0 = process.resourceUsage().minorPageFault;
  const t0 = now();
  opt.zeroGrad();
  const t1 = now();
  let t2 = 0, fwdBytes = 0;
  const fb = () => {
    const loss = model.forward(x).tokens.pow(2).mean();
    t2 = now();
    fwdBytes = freshBytes;
    loss.backward();
  };
  if (flags.has('--no-tidy') || !s.tidy) fb();
  else s.tidy(fb);
  const t3 = now();
  opt.step();
  const t4 = now();
  const faults = process.resourceUsage().minorPageFault - pf0;
  if (i >= 2) rows.push({ t0, t4, step: t4 - t0, zero: t1 - t0, fwd: t2 - t1, bwd: t3 - t2, opt: t4 - t3, faults, freshMB: freshBytes / 2 ** 20, freshFwdMB: fwdBytes / 2 ** 20, freshCount, calls: new Map([...acc].map(([k, v]) => [k, { ...v }])) });
}
setTimeout(() => {
  for (const r of rows) {
    const mine = gcEntries.filter((e) => e.t >= r.t0 && e.t < r.t4);
    r.gc = mine.reduce((a, e) => a + e.ms, 0);
    r.gcMajor = mine.filter((e) => e.kind !== 'minor').reduce((a, e) => a + e.ms, 0);
    r.gcCount = mine.length;
  }
  const med = (xs) => { const a = xs.slice().sort((p, q) => p - q); return a.length % 2 ? a[a.length >> 1] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2; };
  const out = { workload: name, steps, isa: native().isa ? native().isa() : '?' };
  for (const k of ['step', 'zero', 'fwd', 'bwd', 'opt', 'gc', 'gcMajor', 'gcCount', 'freshMB', 'freshFwdMB', 'freshCount', 'faults']) out[k] = med(rows.map((r) => r[k]));
  out.steps_ms = rows.map((r) => +r.step.toFixed(1));
  if (wrap) {
    const names = new Set(rows.flatMap((r) => [...r.calls.keys()]));
    const per = [];
    for (const k of names) {
      per.push({ name: k, ms: med(rows.map((r) => (r.calls.get(k) || { ms: 0 }).ms)), calls: med(rows.map((r) => (r.calls.get(k) || { n: 0 }).n)) });
    }
    per.sort((a, b) => b.ms - a.ms);
    out.native = per;
    out.nativeTotal = med(rows.map((r) => [...r.calls.values()].reduce((a, v) => a + v.ms, 0)));
    out.nativeCalls = med(rows.map((r) => [...r.calls.values()].reduce((a, v) => a + v.n, 0)));
  }
  if (flags.has('--json')) { console.log(JSON.stringify(out)); return; }
  console.log(`${name}: ${steps} steps, isa ${out.isa}; medians in ms`);
  console.log(`step ${out.step.toFixed(1)} = zeroGrad ${out.zero.toFixed(2)} + forward ${out.fwd.toFixed(1)} + backward ${out.bwd.toFixed(1)} + AdamW ${out.opt.toFixed(1)}`);
  console.log(`GC pauses ${out.gc.toFixed(1)} ms (${out.gcCount} pauses, ${out.gcMajor.toFixed(1)} ms not minor); fresh uninitialized buffers ${out.freshMB.toFixed(0)} MB in ${out.freshCount} (forward ${out.freshFwdMB.toFixed(0)} MB); ${out.faults} page faults`);
  if (wrap) {
    console.log(`native calls: ${out.nativeTotal.toFixed(1)} ms in ${out.nativeCalls} calls; outside them ${(out.step - out.nativeTotal).toFixed(1)} ms`);
    for (const r of out.native) console.log(`  ${r.name.padEnd(28)} ${r.ms.toFixed(2).padStart(8)} ms  ${String(r.calls).padStart(5)} calls`);
  }
}, 300);
