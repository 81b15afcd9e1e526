#!/usr/bin/env node
// model.fit step time of three tfjs-layers models on tfjs's 'cpu' backend and on selfsup's
// 'selfsup' backend (model code unchanged), plus the largest difference of the predictions and
// trained weights between the two after the same steps from the same initial weights.
//
//   node scripts/tfjs-models.js [steps=2] [models=mlp,cnn,transformer] [rounds=2] [warmup=1]   (needs dist/: npm run build)
//
// Backends alternate per model (cpu, selfsup, cpu, selfsup: `rounds` of each, every one a fresh
// model after `warmup` untimed steps, which build the training graph); the ratio is of the
// medians from the same run. The models are also what test/tfjs-backend.test.ts trains at small sizes.
'use strict';
const tf = require('@tensorflow/tfjs');
const { registerBackend } = require('../dist/lib/tfjs/index.js');

/** Multi-head self-attention written with tfjs ops, as user code would (no selfsup op). */
class SelfAttention extends tf.layers.Layer {
  static className = 'SelfsupBenchSelfAttention';
  constructor(config) { super(config); this.heads = config.heads; }
  build(inputShape) {
    const D = inputShape[inputShape.length - 1];
    const init = () => tf.initializers.glorotUniform({});
    this.wqkv = this.addWeight('wqkv', [D, 3 * D], 'float32', init());
    this.wo = this.addWeight('wo', [D, D], 'float32', init());
    this.built = true;
  }
  computeOutputShape(inputShape) { return inputShape; }
  call(inputs) {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const [B, N, D] = x.shape, H = this.heads, dh = D / H;
      const qkv = tf.matMul(tf.reshape(x, [B * N, D]), this.wqkv.read());
      const heads = (i) => tf.transpose(tf.reshape(tf.slice(qkv, [0, i * D], [B * N, D]), [B, N, H, dh]), [0, 2, 1, 3]);
      const [q, k, v] = [heads(0), heads(1), heads(2)];
      const p = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)));
      const o = tf.reshape(tf.transpose(tf.matMul(p, v), [0, 2, 1, 3]), [B * N, D]);
      return tf.reshape(tf.matMul(o, this.wo.read()), [B, N, D]);
    });
  }
  getConfig() { return { ...super.getConfig(), heads: this.heads }; }
}
tf.serialization.registerClass(SelfAttention);

const SIZES = {
  full: {
    mlp: { batch: 256, din: 1024, hidden: 1024, dout: 1024 },
    cnn: { batch: 64, hw: 32, c1: 32, c2: 64, classes: 10 },
    transformer: { batch: 32, tokens: 64, dim: 128, heads: 4, ff: 512, classes: 10 },
  },
  small: {
    mlp: { batch: 9, din: 13, hidden: 17, dout: 5 },
    cnn: { batch: 3, hw: 7, c1: 4, c2: 6, classes: 3 },
    transformer: { batch: 3, tokens: 5, dim: 8, heads: 2, ff: 12, classes: 3 },
  },
};

/** The models and their data; `size` is 'full' (the benchmark) or 'small' (the test). */
function buildModel(name, size = 'full') {
  const s = SIZES[size][name];
  let model, x, y, loss;
  if (name === 'mlp') {
    model = tf.sequential({ layers: [
      tf.layers.dense({ inputShape: [s.din], units: s.hidden, activation: 'relu' }),
      tf.layers.dense({ units: s.dout }),
    ] });
    x = tf.randomNormal([s.batch, s.din], 0, 1, 'float32', 1);
    y = tf.randomNormal([s.batch, s.dout], 0, 1, 'float32', 2);
    loss = 'meanSquaredError';
  } else if (name === 'cnn') {
    model = tf.sequential({ layers: [
      tf.layers.conv2d({ inputShape: [s.hw, s.hw, 3], filters: s.c1, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.conv2d({ filters: s.c2, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: s.classes, activation: 'softmax' }),
    ] });
    x = tf.randomNormal([s.batch, s.hw, s.hw, 3], 0, 1, 'float32', 3);
    y = tf.oneHot(tf.tensor1d(Array.from({ length: s.batch }, (_, i) => (i * 7) % s.classes), 'int32'), s.classes).toFloat();
    loss = 'categoricalCrossentropy';
  } else {
    const inp = tf.input({ shape: [s.tokens, s.dim] });
    const a = tf.layers.add().apply([inp, new SelfAttention({ heads: s.heads }).apply(tf.layers.layerNormalization().apply(inp))]);
    const h = tf.layers.dense({ units: s.ff, activation: 'relu' }).apply(tf.layers.layerNormalization().apply(a));
    const b = tf.layers.add().apply([a, tf.layers.dense({ units: s.dim }).apply(h)]);
    const out = tf.layers.dense({ units: s.classes, activation: 'softmax' }).apply(tf.layers.globalAveragePooling1d().apply(b));
    model = tf.model({ inputs: inp, outputs: out });
    x = tf.randomNormal([s.batch, s.tokens, s.dim], 0, 1, 'float32', 4);
    y = tf.oneHot(tf.tensor1d(Array.from({ length: s.batch }, (_, i) => (i * 5) % s.classes), 'int32'), s.classes).toFloat();
    loss = 'categoricalCrossentropy';
  }
  model.compile({ optimizer: tf.train.sgd(0.01), loss });
  return { model, x, y, batch: s.batch };
}

/** Same model on `backend` from `weights` (arrays), trained `steps` fit steps; times each step. */
async function trainOn(backend, name, size, weights, steps) {
  await tf.setBackend(backend);
  const { model, x, y, batch } = buildModel(name, size);
  model.setWeights(weights.map((w) => tf.tensor(w.values, w.shape)));
  const times = [];
  for (let i = 0; i < steps; i++) {
    const t0 = process.hrtime.bigint();
    await model.fit(x, y, { epochs: 1, batchSize: batch, shuffle: false, verbose: 0 });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const pred = model.predict(x);
  const out = { times, pred: pred.dataSync().slice(), weights: model.getWeights().map((w) => w.dataSync().slice()) };
  tf.dispose([pred, x, y]);
  model.dispose();
  return out;
}

const maxDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/**
 * Trains `name` on cpu and on selfsup from the same initial weights, `rounds` times alternating
 * (cpu, selfsup, cpu, ...), `warmup + steps` fit steps each; returns the timed steps' ms (the
 * warm-up steps, which build the training graph, are not timed) and the differences of the last round.
 */
async function compare(name, { size = 'full', steps = 3, rounds = 1, warmup = 0 } = {}) {
  registerBackend(tf);
  await tf.setBackend('cpu');
  const init = buildModel(name, size);
  const weights = init.model.getWeights().map((w) => ({ values: w.dataSync().slice(), shape: w.shape }));
  init.model.dispose();
  tf.dispose([init.x, init.y]);
  const res = { cpu: [], selfsup: [] };
  let last;
  for (let r = 0; r < rounds; r++) {
    last = { cpu: await trainOn('cpu', name, size, weights, warmup + steps), selfsup: await trainOn('selfsup', name, size, weights, warmup + steps) };
    res.cpu.push(...last.cpu.times.slice(warmup));
    res.selfsup.push(...last.selfsup.times.slice(warmup));
  }
  const predDiff = maxDiff(last.selfsup.pred, last.cpu.pred);
  const weightDiff = Math.max(...last.cpu.weights.map((w, i) => maxDiff(last.selfsup.weights[i], w)));
  return { cpuMs: res.cpu, selfsupMs: res.selfsup, predDiff, weightDiff };
}

module.exports = { buildModel, compare, SelfAttention };

if (require.main === module) {
  const steps = Number(process.argv[2] || 2);
  const rounds = Number(process.argv[4] || 2);
  const warmup = Number(process.argv[5] ?? 1);
  const names = (process.argv[3] || 'mlp,cnn,transformer').split(',');
  const med = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];
  (async () => {
    console.log(`# ${require('node:os').cpus()[0].model}, ${require('node:os').cpus().length} cores; medians of ${steps} x ${rounds} model.fit steps per backend after ${warmup} untimed`);
    for (const name of names) {
      const r = await compare(name, { steps, rounds, warmup });
      const c = med(r.cpuMs), s = med(r.selfsupMs);
      console.log(`${name.padEnd(12)} cpu ${c.toFixed(1).padStart(8)} ms  selfsup ${s.toFixed(1).padStart(7)} ms  ${(c / s).toFixed(1).padStart(5)}x  ` +
        `max |pred diff| ${r.predDiff.toExponential(1)}  max |weight diff| ${r.weightDiff.toExponential(1)}`);
    }
  })();
}
