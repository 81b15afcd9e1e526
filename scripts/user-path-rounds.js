#!/usr/bin/env node
// The user-path table against PyTorch over several alternating rounds. On a shared VM a single
// pair of runs moves single rows by 10-30% (torch's included), so each round runs
// scripts/user-path.js plain, then with --tidy, then scripts/user_path_torch.py, rotating which
// goes first; the table gives each side's median over the rounds and the ratio of the medians,
// with the lowest and highest per-round ratio beside it.
//   OPENBLAS_NUM_THREADS=2 PYTHON=/usr/bin/python3 node scripts/user-path-rounds.js [--rounds 5] [--json]
'use strict';
const { execFileSync } = require('child_process');
const path = require('path');

const args = process.argv.slice(2);
const rounds = Number(args[args.indexOf('--rounds') + 1]) || 5;
const json = args.includes('--json');
const here = __dirname;
const python = process.env.PYTHON || 'python3';
const env = { ...process.env, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS || '2', OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS || '2' };

const sides = {
  plain: () => ['node', [path.join(here, 'user-path.js'), '--json']],
  tidy: () => ['node', [path.join(here, 'user-path.js'), '--json', '--tidy']],
  torch: () => [python, [path.join(here, 'user_path_torch.py'), '--json']],
};
const names = Object.keys(sides);
const runs = Object.fromEntries(names.map((n) => [n, []])); // side -> [ {row name -> ms} per round ]
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < names.length; i++) {
    const side = names[(i + r) % names.length];
    const [cmd, argv] = sides[side]();
    const out = JSON.parse(execFileSync(cmd, argv, { env, encoding: 'utf8', maxBuffer: 1 << 24 }));
    runs[side].push(Object.fromEntries(out.rows.map((x) => [x.name, x.ms])));
    process.stderr.write(`round ${r + 1}/${rounds}: ${side} done\n`);
  }
}
const median = (xs) => { const s = xs.slice().sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const rows = Object.keys(runs.torch[0]).map((name) => {
  const med = Object.fromEntries(names.map((n) => [n, median(runs[n].map((x) => x[name]))]));
  const ratios = (n) => runs[n].map((x, i) => runs.torch[i][name] / x[name]);
  const rp = ratios('plain'), rt = ratios('tidy');
  return {
    name, plainMs: med.plain, tidyMs: med.tidy, torchMs: med.torch,
    plainRatio: med.torch / med.plain, tidyRatio: med.torch / med.tidy,
    plainRange: [Math.min(...rp), Math.max(...rp)], tidyRange: [Math.min(...rt), Math.max(...rt)],
  };
});
if (json) {
  console.log(JSON.stringify({ rounds, rows }, null, 1));
} else {
  const f = (x) => x.toFixed(3).padStart(9);
  const rr = (v, [lo, hi]) => `${v.toFixed(2)}x (${lo.toFixed(2)}-${hi.toFixed(2)})`.padEnd(20);
  console.log(`${rounds} rounds; medians in ms; ratio = torch / selfsup (lowest-highest round)`);
  console.log(`${'plain'.padStart(9)} ${'tidy'.padStart(9)} ${'torch'.padStart(9)}  ${'plain ratio'.padEnd(20)}${'tidy ratio'.padEnd(20)}row`);
  for (const x of rows) console.log(`${f(x.plainMs)} ${f(x.tidyMs)} ${f(x.torchMs)}  ${rr(x.plainRatio, x.plainRange)}${rr(x.tidyRatio, x.tidyRange)}${x.name}`);
}
