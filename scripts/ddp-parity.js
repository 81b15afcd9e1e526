#!/usr/bin/env node
// Training parity of data parallelism: the simclr recipe at a global batch B, run in one process
// (`node scripts/ddp-parity.js`) or over N ranks (`npx selfsup launch -n N scripts/ddp-parity.js`,
// each rank B / N images per step). Rank 0 prints one JSON line with the loss of every step.
// Usage: [steps=40] [batch=64] [seed=0]
'use strict';
const path = require('path');
const { train } = require(path.join(__dirname, '..', 'dist', 'lib', 'index.js'));
const [steps = 40, batch = 64, seed = 0] = process.argv.slice(2).map(Number);
train({
  recipe: 'simclr', data: 'synthetic:size=16,bank=200,test=100', steps, batch, seed, eval: [],
  flags: { dim: 32, depth: 1, heads: 2 },
}).then((r) => {
  if (r.rank === 0) console.log(JSON.stringify({ worldSize: r.worldSize, steps, batch, seconds: +r.trainSeconds.toFixed(2), losses: r.losses }));
});
