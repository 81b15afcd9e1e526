#!/usr/bin/env node
// allReduce throughput: `npx selfsup launch -n 2 scripts/dist-allreduce-bw.js [MiB=64] [reps=9]`.
// Rank 0 prints the median time of an in-place float32 sum over all ranks, the algorithm
// bandwidth (bytes / time), the bus bandwidth (NCCL's convention: x 2 (W - 1) / W, the bytes each
// rank sends and receives in a ring) and this machine's triad memory bandwidth measured in the
// same run (before the collectives, every rank at once, as they share the memory).
'use strict';
const path = require('path');
const lib = path.join(__dirname, '..', 'dist', 'lib');
const dist = require(path.join(lib, 'distributed', 'index.js'));
const { native } = require(path.join(lib, 'backends', 'native.js'));
const [mib = 64, reps = 9] = process.argv.slice(2).map(Number);
const { rank, worldSize: W } = dist.init();
const buf = new Float32Array((mib * 2 ** 20) / 4).fill(1);
dist.barrier();
const triad = native().measureBandwidthGBs(1, 1); // one thread per rank, all ranks at once
const times = [];
for (let i = 0; i < reps + 1; i++) {
  dist.barrier();
  const t0 = process.hrtime.bigint();
  dist.allReduceArray(buf, 'sum');
  const t = Number(process.hrtime.bigint() - t0) / 1e9;
  if (i > 0) times.push(t); // the first warms the transport
}
const ok = buf[0] === W ** (reps + 1) && buf[buf.length - 1] === buf[0];
times.sort((a, b) => a - b);
const med = times[times.length >> 1];
const algbw = (mib * 2 ** 20) / med / 1e9;
const t = new Float64Array([triad]);
dist.allReduceArray(t, 'sum');
if (rank === 0) {
  console.log(JSON.stringify({
    worldSize: W, mib, reps, correct: ok, medianMs: +(med * 1e3).toFixed(2), minMs: +(times[0] * 1e3).toFixed(2),
    algbwGBs: +algbw.toFixed(2), busbwGBs: +(algbw * 2 * (W - 1) / W).toFixed(2),
    triadGBsPerRank: +triad.toFixed(2), triadGBsAllRanks: +t[0].toFixed(2),
  }));
}
