/**
 * selfsup/tfjs: every op against the same function written in plain tfjs ops (forward, and
 * gradients through tf.grads with a random cotangent), on both paths (registered 'cpu' kernels
 * and tf.customGrad), at awkward small shapes on fresh seeded inputs; a tiny SGD loop on
 * infoNCE; no tensor leaks; error inputs. Skipped when @tensorflow/tfjs is not installed.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type * as tfjs from '@tensorflow/tfjs';
import { SelfsupError } from '../lib/errors';
import { createOps, register, type SelfsupTfOps } from '../lib/tfjs/index';
import { expectCloseNormwise } from './helpers';

type Tensor = tfjs.Tensor;
type TF = typeof tfjs;

function loadTf(): TF | null {
  try {
    const tf = createRequire(import.meta.url)('@tensorflow/tfjs') as TF;
    tf.setBackend('cpu');
    return tf;
  } catch {
    return null;
  }
}
const tfOrNull = loadTf();
const tf = tfOrNull as TF;

let seedCounter = 1000;
/** Fresh seeded N(0, scale^2) float32 input. */
function randn(shape: number[], scale = 1): Tensor {
  return tf.randomNormal(shape, 0, scale, 'float32', seedCounter++);
}

/** max |a - b| <= atol + rtol * max |b| (float32 on both sides). */
function expectClose(a: Tensor, b: Tensor, rtol: number, atol = 1e-6): void {
  expect(a.shape).toEqual(b.shape);
  expectCloseNormwise(a.dataSync(), b.dataSync(), rtol, atol);
}

/** Forward and gradients (random cotangent) of `ours` vs `ref`, both functions of `xs`. */
function expectSameFunction(ours: (...xs: Tensor[]) => Tensor, ref: (...xs: Tensor[]) => Tensor, xs: Tensor[], rtol = { fwd: 2e-5, grad: 1e-4 }): void {
  tf.tidy(() => {
    const yo = ours(...xs), yr = ref(...xs);
    expectClose(yo, yr, rtol.fwd);
    const w = randn(yr.shape);
    const go = tf.grads((...a: Tensor[]) => tf.sum(tf.mul(ours(...a), w)))(xs);
    const gr = tf.grads((...a: Tensor[]) => tf.sum(tf.mul(ref(...a), w)))(xs);
    go.forEach((g, i) => expectClose(g, gr[i], rtol.grad));
  });
}

// ---- plain-tfjs compositions -------------------------------------------------------------------

function refAttention(q: Tensor, k: Tensor, v: Tensor, o: { scale?: number; causal?: boolean; mask?: Tensor }): Tensor {
  const [B, H, Nq, d] = q.shape;
  const Hk = k.shape[1]!, Nk = k.shape[2]!;
  if (Hk !== H) {
    const heads = Array.from({ length: H }, (_, h) => Math.floor(h / (H / Hk)));
    k = tf.gather(k, heads, 1);
    v = tf.gather(v, heads, 1);
  }
  let logits = tf.mul(tf.matMul(q, k, false, true), o.scale ?? 1 / Math.sqrt(d));
  if (o.causal) {
    const m = new Float32Array(Nq * Nk);
    for (let i = 0; i < Nq; i++) for (let j = 0; j < Nk; j++) m[i * Nk + j] = j <= i + Nk - Nq ? 0 : -1e9;
    logits = tf.add(logits, tf.tensor(m, [Nq, Nk]));
  }
  if (o.mask) {
    const add = o.mask.dtype === 'bool' ? tf.where(o.mask, tf.zerosLike(o.mask).toFloat(), tf.fill(o.mask.shape, -1e9)) : o.mask;
    logits = tf.add(logits, o.mask.dtype === 'bool' && o.mask.rank === 2 ? tf.reshape(add, [B, 1, 1, Nk]) : add);
  }
  return tf.matMul(tf.softmax(logits), v);
}

/**
 * tf.matMul with the batch dims broadcast explicitly: tfjs 4.22's own BatchMatMul gradient does
 * not sum over a broadcast batch (it returns the broadcast shape), tf.broadcastTo's does.
 */
function refMatmul(a: Tensor, b: Tensor, tA: boolean, tB: boolean): Tensor {
  const ba = a.shape.slice(0, -2), bb = b.shape.slice(0, -2);
  const batch = ba.reduce((x, y) => x * y, 1) >= bb.reduce((x, y) => x * y, 1) && ba.length >= bb.length ? ba : bb;
  const A = tf.broadcastTo(a, [...batch, ...a.shape.slice(-2)]);
  const B = tf.broadcastTo(b, [...batch, ...b.shape.slice(-2)]);
  return tf.matMul(A, B, tA, tB);
}

function l2n(z: Tensor): Tensor {
  return tf.div(z, tf.norm(z, 'euclidean', 1, true));
}

/** lightly's NTXentLoss: mean over the 2N rows of -log(e^{s_i,pos} / sum_{j != i} e^{s_ij}). */
function refNTXent(z1: Tensor, z2: Tensor, temperature: number, reduction: 'mean' | 'none' = 'mean'): Tensor {
  const n = z1.shape[0];
  const z = l2n(tf.concat([z1, z2], 0));
  const sim = tf.div(tf.matMul(z, z, false, true), temperature);
  const lse = tf.logSumExp(tf.sub(sim, tf.mul(tf.eye(2 * n), 1e9)), 1);
  const pos = Array.from({ length: 2 * n }, (_, i) => (i + n) % (2 * n));
  const rows = tf.sub(lse, tf.sum(tf.mul(sim, tf.oneHot(pos, 2 * n)), 1));
  return reduction === 'none' ? rows : tf.mean(rows);
}

function refOneWay(z1: Tensor, z2: Tensor, temperature: number): Tensor {
  const n = z1.shape[0];
  const sim = tf.div(tf.matMul(l2n(z1), l2n(z2), false, true), temperature);
  return tf.mean(tf.sub(tf.logSumExp(sim, 1), tf.sum(tf.mul(sim, tf.eye(n)), 1)));
}

/** facebookresearch/vicreg: mse, mean relu(1 - std) / 2 per view, off-diagonal cov^2 / D per view. */
function refVicregTerms(x: Tensor, y: Tensor, eps = 1e-4): Tensor[] {
  const [n, d] = x.shape;
  const offDiag = tf.sub(1, tf.eye(d));
  const std = (z: Tensor) => tf.sqrt(tf.add(tf.mul(tf.moments(z, 0).variance, n / (n - 1)), eps));
  const cov = (z: Tensor) => {
    const zc = tf.sub(z, tf.mean(z, 0));
    const c = tf.div(tf.matMul(zc, zc, true, false), n - 1);
    return tf.div(tf.sum(tf.square(tf.mul(c, offDiag))), d);
  };
  return [
    tf.mean(tf.squaredDifference(x, y)),
    tf.add(tf.div(tf.mean(tf.relu(tf.sub(1, std(x)))), 2), tf.div(tf.mean(tf.relu(tf.sub(1, std(y)))), 2)),
    tf.add(cov(x), cov(y)),
  ];
}

/** facebookresearch/barlowtwins: per-view batch norm (biased var), c = z1n^T z2n / N. */
function refBarlow(z1: Tensor, z2: Tensor, lambda = 0.0051, eps = 1e-5): Tensor {
  const [n, d] = z1.shape;
  const bn = (z: Tensor) => {
    const m = tf.moments(z, 0);
    return tf.div(tf.sub(z, m.mean), tf.sqrt(tf.add(m.variance, eps)));
  };
  const c = tf.div(tf.matMul(bn(z1), bn(z2), true, false), n);
  const eye = tf.eye(d);
  const on = tf.sum(tf.square(tf.sub(1, tf.sum(tf.mul(c, eye), 1))));
  const off = tf.sum(tf.square(tf.mul(c, tf.sub(1, eye))));
  return tf.add(on, tf.mul(off, lambda));
}

/** SwAV's distributed_sinkhorn (one process), in [B, K] orientation. */
function refSinkhorn(scores: Tensor, epsilon: number, iterations: number): Tensor {
  const [B, K] = scores.shape;
  let Q = tf.exp(tf.div(tf.sub(scores, tf.max(scores)), epsilon));
  Q = tf.div(Q, tf.sum(Q));
  for (let it = 0; it < iterations; it++) {
    Q = tf.div(tf.div(Q, tf.sum(Q, 0, true)), K);
    Q = tf.div(tf.div(Q, tf.sum(Q, 1, true)), B);
  }
  return tf.mul(Q, B);
}

function randomIdx(B: number, K: number, N: number, unique: boolean): Tensor {
  const a = new Int32Array(B * K);
  for (let b = 0; b < B; b++) {
    const perm = Array.from({ length: N }, (_, i) => i);
    for (let i = N - 1; i > 0; i--) {
      const j = (Math.imul(seedCounter++, 2654435761) >>> 0) % (i + 1);
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    for (let k = 0; k < K; k++) a[b * K + k] = unique ? perm[k] : perm[(k * 7) % 3];
  }
  return tf.tensor(a, [B, K], 'int32');
}

// ---- tests -------------------------------------------------------------------------------------

describe.skipIf(!tfOrNull)('selfsup/tfjs', () => {
  const pathsUnderTest: Array<[string, () => SelfsupTfOps]> = [
    ['registered kernels', () => createOps(tf)],
    ['tf.customGrad', () => createOps(tf, { kernels: false })],
  ];

  describe.each(pathsUnderTest)('%s', (label, make) => {
    // Built lazily: describe bodies run at collection even when the suite is skipped (no tfjs).
    let cached: SelfsupTfOps | undefined;
    const ops = new Proxy({} as SelfsupTfOps, { get: (_, k) => (cached ??= make())[k as keyof SelfsupTfOps] });

    it('runs on the expected path', () => {
      expect(ops.path()).toBe(label === 'registered kernels' ? 'kernel' : 'customGrad');
    });

    it('matmul matches tf.matMul (transposes, broadcast batch)', () => {
      const cases: Array<[number[], number[], boolean, boolean]> = [
        [[5, 7], [7, 3], false, false],
        [[2, 3, 5, 7], [7, 4], false, false],
        [[7, 5], [3, 2, 4, 7], true, true],
        [[3, 7, 5], [3, 6, 7], true, true],
        [[3, 5, 7], [3, 6, 7], false, true],
        [[1, 7, 5], [4, 7, 2], true, false],
      ];
      for (const [sa, sb, tA, tB] of cases) {
        expectSameFunction(
          (a, b) => ops.matmul(a, b, { transposeA: tA, transposeB: tB }),
          (a, b) => refMatmul(a, b, tA, tB),
          [randn(sa), randn(sb)],
        );
      }
    });

    it('attention matches softmax(scale q k^T + mask) v', () => {
      const B = 2, H = 3, Nq = 7, Nk = 11, d = 5;
      const q = randn([B, H, Nq, d]), k = randn([B, H, Nk, d]), v = randn([B, H, Nk, d]);
      expectSameFunction((a, b, c) => ops.attention(a, b, c), (a, b, c) => refAttention(a, b, c, {}), [q, k, v]);
      expectSameFunction((a, b, c) => ops.attention(a, b, c, { scale: 0.37, causal: true }), (a, b, c) => refAttention(a, b, c, { scale: 0.37, causal: true }), [q, k, v]);
      // Key padding (bool [B, Nk]) and an additive float mask [Nq, Nk].
      const pad = tf.tensor(Array.from({ length: B * Nk }, (_, i) => i % Nk < Nk - 1 - (i >= Nk ? 3 : 0)), [B, Nk], 'bool');
      expectSameFunction((a, b, c) => ops.attention(a, b, c, { mask: pad }), (a, b, c) => refAttention(a, b, c, { mask: pad }), [q, k, v]);
      const add = randn([Nq, Nk]);
      expectSameFunction((a, b, c) => ops.attention(a, b, c, { mask: add }), (a, b, c) => refAttention(a, b, c, { mask: add }), [q, k, v]);
      // Grouped-query attention: 4 query heads on 2 key/value heads; a single query row.
      const q4 = randn([1, 4, 1, 3]), k2 = randn([1, 2, 6, 3]), v2 = randn([1, 2, 6, 3]);
      expectSameFunction((a, b, c) => ops.attention(a, b, c), (a, b, c) => refAttention(a, b, c, {}), [q4, k2, v2]);
    });

    it('infoNCE matches NT-Xent written in tf ops', () => {
      for (const [n, d, t] of [[9, 13, 0.1], [1, 3, 0.5], [5, 2, 0.07]] as const) {
        expectSameFunction((a, b) => ops.infoNCE(a, b, { temperature: t }), (a, b) => refNTXent(a, b, t), [randn([n, d]), randn([n, d])]);
      }
      const z1 = randn([6, 5]), z2 = randn([6, 5]);
      expectSameFunction((a, b) => ops.infoNCE(a, b, { temperature: 0.2, reduction: 'none' }), (a, b) => refNTXent(a, b, 0.2, 'none'), [z1, z2]);
      expectSameFunction((a, b) => ops.infoNCE(a, b, { temperature: 0.2, direction: 'oneWay' }), (a, b) => refOneWay(a, b, 0.2), [z1, z2]);
      tf.tidy(() => {
        const sum = ops.infoNCE(z1, z2, { temperature: 0.2, reduction: 'sum' }).dataSync()[0];
        expect(sum).toBeCloseTo(refNTXent(z1, z2, 0.2).dataSync()[0] * 12, 3);
        // Extra negatives and labels reach the kernel (the loss changes; still finite).
        const withNeg = ops.infoNCE(z1, z2, { negatives: randn([4, 5]) }).dataSync()[0];
        const withLab = ops.infoNCE(z1, z2, { labels: tf.tensor([0, 1, 0, 2, 1, 3], [6], 'int32') }).dataSync()[0];
        const plain = ops.infoNCE(z1, z2).dataSync()[0];
        expect(Number.isFinite(withNeg) && withNeg > plain).toBe(true);
        expect(Number.isFinite(withLab) && withLab !== plain).toBe(true);
      });
    });

    it('vicreg matches the official terms in tf ops; all four outputs are differentiable', () => {
      for (const [n, d] of [[7, 5], [3, 11], [2, 1]] as const) {
        // Per-feature scales around 1 so the variance hinge is active on some features only.
        const scales = tf.linspace(0.3, 1.7, d);
        const x = tf.mul(randn([n, d]), scales), y = tf.mul(randn([n, d]), scales);
        const weights = { simCoeff: 25, stdCoeff: 25, covCoeff: 1 };
        expectSameFunction((a, b) => ops.vicreg(a, b, weights).loss, (a, b) => {
          const [i, v, c] = refVicregTerms(a, b);
          return tf.addN([tf.mul(i, 25), tf.mul(v, 25), c]);
        }, [x, y], { fwd: 2e-5, grad: 2e-4 });
        (['invariance', 'variance', 'covariance'] as const).forEach((term, j) => {
          expectSameFunction((a, b) => ops.vicreg(a, b)[term], (a, b) => refVicregTerms(a, b)[j], [x, y], { fwd: 2e-5, grad: 2e-4 });
        });
      }
    });

    it('barlowTwins matches the official loss in tf ops', () => {
      for (const [n, d] of [[8, 5], [3, 10]] as const) {
        expectSameFunction((a, b) => ops.barlowTwins(a, b), (a, b) => refBarlow(a, b), [randn([n, d]), randn([n, d])], { fwd: 5e-5, grad: 2e-4 });
        expectSameFunction((a, b) => ops.barlowTwins(a, b, { lambda: 0.1 }), (a, b) => refBarlow(a, b, 0.1), [randn([n, d]), randn([n, d])], { fwd: 5e-5, grad: 2e-4 });
      }
    });

    it('sinkhorn matches SwAV distributed_sinkhorn and is a constant under tf.grad', () => {
      const s = randn([13, 7]);
      tf.tidy(() => {
        expectClose(ops.sinkhorn(s, { epsilon: 0.5, iterations: 3 }), refSinkhorn(s, 0.5, 3), 1e-4);
        const codes = ops.sinkhorn(s, { epsilon: 0.5 });
        const g = tf.grad((x: Tensor) => tf.sum(tf.mul(ops.sinkhorn(x, { epsilon: 0.5 }), x)))(s);
        expectClose(g, codes, 1e-6);
        // PMSN power-law prior: the column marginal follows k^-tau.
        const p = ops.sinkhorn(s, { epsilon: 0.5, prior: { powerLaw: 0.5 }, tolerance: 1e-6 });
        const cols = tf.sum(p, 0).dataSync();
        expect(cols[0] / cols[6]).toBeCloseTo(Math.sqrt(7), 3);
      });
    });

    it('gatherTokens / scatterTokens match one-hot compositions', () => {
      const B = 3, N = 10, D = 4, K = 6;
      const idx = randomIdx(B, K, N, true);
      const oh = tf.oneHot(idx, N).toFloat(); // [B, K, N]
      expectSameFunction((x) => ops.gatherTokens(x, idx), (x) => tf.matMul(oh, x), [randn([B, N, D])]);
      expectSameFunction((x) => ops.gatherTokens(x, idx), (x) => tf.gather(x, idx), [randn([N, D])]);
      expectSameFunction(
        (x, p) => ops.gatherTokens(x, idx, { addPositions: p }),
        (x, p) => tf.add(tf.matMul(oh, x), tf.gather(p, idx)),
        [randn([B, N, D]), randn([N, D])],
      );
      // Repeated indices (gather only): the backward accumulates.
      const rep = randomIdx(B, K, N, false);
      expectSameFunction((x) => ops.gatherTokens(x, rep), (x) => tf.matMul(tf.oneHot(rep, N).toFloat(), x), [randn([B, N, D])]);
      expectSameFunction(
        (s, f) => ops.scatterTokens(s, idx, N, { maskToken: f }),
        (s, f) => tf.add(tf.matMul(oh, s, true, false), tf.mul(tf.sub(1, tf.sum(oh, 1)).reshape([B, N, 1]), f)),
        [randn([B, K, D]), randn([D])],
      );
    });

    it('trains: SGD on an infoNCE of a tf.variable projection lowers the loss', () => {
      const X = randn([24, 10]);
      const v1 = tf.add(X, randn([24, 10], 0.1)), v2 = tf.add(X, randn([24, 10], 0.1));
      const W = tf.variable(randn([10, 6], 0.3));
      const opt = tf.train.sgd(0.5);
      const losses: number[] = [];
      for (let step = 0; step < 25; step++) {
        const loss = opt.minimize(() => ops.infoNCE(ops.matmul(v1, W), ops.matmul(v2, W), { temperature: 0.2 }) as tfjs.Scalar, true)!;
        losses.push(loss.dataSync()[0]);
        loss.dispose();
      }
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses[losses.length - 1]).toBeLessThan(0.8 * losses[0]);
      // tf.variableGrads sees the variable too.
      const { grads } = tf.variableGrads(() => ops.vicreg(ops.matmul(v1, W), ops.matmul(v2, W)).loss);
      expect(grads[W.name].shape).toEqual([10, 6]);
      tf.dispose([W, grads[W.name]]);
      opt.dispose();
    });

    it('leaks no tensors through forward and backward', () => {
      const q = randn([1, 2, 3, 4]), k = randn([1, 2, 5, 4]), v = randn([1, 2, 5, 4]);
      const z1 = randn([4, 3]), z2 = randn([4, 3]);
      const idx = randomIdx(1, 2, 5, true);
      const table = randn([5, 4]);
      const before = tf.memory().numTensors;
      const g = tf.grads((a: Tensor, b: Tensor, c: Tensor) => tf.sum(ops.attention(a, b, c, { mask: tf.ones([1, 5], 'bool') })))([q, k, v]);
      const h = tf.grads((a: Tensor, b: Tensor) => tf.add(ops.infoNCE(a, b, { labels: tf.tensor([0, 1, 1, 2], [4], 'int32') }), ops.vicreg(a, b).loss))([z1, z2]);
      const t = tf.grad((x: Tensor) => tf.sum(ops.gatherTokens(x, idx)))(table);
      expect(tf.memory().numTensors).toBe(before + 3 + 2 + 1);
      tf.dispose([...g, ...h, t]);
      const y = tf.tidy(() => ops.sinkhorn(tf.reshape(z1, [4, 3])));
      y.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it('registers Selfsup* kernels for the cpu backend, visible in tf.profile', async () => {
    const ops = register(tf);
    expect(ops.kernelNames).toContain('SelfsupAttention');
    expect(ops.kernelNames).toContain('SelfsupAttentionGrad');
    expect(tf.getKernel('SelfsupInfoNCE', 'cpu')).toBeDefined();
    expect(tf.getGradient('SelfsupVICReg')).toBeDefined();
    createOps(tf); // registering twice is a no-op (no tfjs warning, same kernels)
    const q = randn([1, 1, 3, 2]);
    const info = await tf.profile(() => tf.grad((x: Tensor) => tf.sum(ops.attention(x, x, x)))(q));
    const names = info.kernelNames;
    expect(names).toContain('SelfsupAttention');
    expect(names).toContain('SelfsupAttentionGrad');
    tf.dispose(info.result as Tensor);
  });

  describe('errors', () => {
    let cached: SelfsupTfOps | undefined;
    const ops = new Proxy({} as SelfsupTfOps, { get: (_, k) => (cached ??= createOps(tf))[k as keyof SelfsupTfOps] });
    const z = () => randn([4, 3]);

    it('rejects a tf argument that is not a tfjs module', () => {
      expect(() => createOps({} as TF)).toThrow(TypeError);
      expect(() => createOps({} as TF)).toThrow(/^Expected a TensorFlow\.js module \(import \* as tf from '@tensorflow\/tfjs'\) for createOps\(tf\) but received an object \(Object\) without tf\.Tensor/);
      expect(() => createOps(undefined as unknown as TF)).toThrow('for createOps(tf) but received undefined');
      expect(() => createOps(tf, { kernels: 'yes' } as never)).toThrow('Expected a boolean for createOps(options.kernels) but received "yes"');
    });

    it('rejects non-tfjs inputs and wrong dtypes with TypeError', () => {
      expect(() => ops.infoNCE(new Float32Array(12) as never, z())).toThrow(new TypeError('Expected a float32 tf.Tensor for tfjs.infoNCE(z1) but received a Float32Array of length 12'));
      expect(() => ops.vicreg(z(), [[1, 2, 3]] as never)).toThrow(TypeError);
      const zi = tf.tensor([[1, 2], [3, 4]], [2, 2], 'int32');
      expect(() => ops.barlowTwins(zi, zi)).toThrow(new TypeError('Expected a float32 tf.Tensor for tfjs.barlowTwins(z1) but received a int32 tf.Tensor of shape [2, 2]'));
      expect(() => ops.gatherTokens(randn([2, 5, 3]), tf.tensor([[0.5, 1]], [1, 2]))).toThrow('Expected a int32 tf.Tensor for tfjs.gatherTokens(idx)');
      expect(() => ops.attention(randn([1, 1, 2, 2]), randn([1, 1, 2, 2]), randn([1, 1, 2, 2]), { mask: tf.tensor([[1, 1]], [1, 2], 'int32') })).toThrow('Expected a bool or float32 tf.Tensor for tfjs.attention(options.mask)');
    });

    it('rejects wrong ranks and shapes with ERR_SHAPE_MISMATCH', () => {
      const err = (f: () => unknown): SelfsupError => {
        try {
          f();
        } catch (e) {
          return e as SelfsupError;
        }
        throw new Error('did not throw');
      };
      const e1 = err(() => ops.attention(randn([2, 3, 4]), randn([2, 3, 4]), randn([2, 3, 4])));
      expect(e1).toBeInstanceOf(SelfsupError);
      expect(e1.code).toBe('ERR_SHAPE_MISMATCH');
      expect(e1.message).toBe('Expected a 4-D tensor [B, H, Nq, d] for tfjs.attention(q) but received [2, 3, 4]');
      expect(err(() => ops.infoNCE(z(), randn([4, 2]))).message).toBe('Expected shape [4, 3] (the shape of z1) for tfjs.infoNCE(z2) but received [4, 2]');
      expect(err(() => ops.attention(randn([1, 3, 2, 4]), randn([1, 2, 5, 4]), randn([1, 2, 5, 4]))).code).toBe('ERR_SHAPE_MISMATCH');
      expect(err(() => ops.matmul(randn([2, 3]), randn([4, 2]))).message).toBe('Expected inner dimensions to agree (a has k = 3) for tfjs.matmul(b) but received [4, 2] (k = 4)');
      expect(() => ops.vicreg(randn([1, 3]), randn([1, 3]))).toThrow(RangeError);
      expect(err(() => ops.sinkhorn(randn([3, 4]), { prior: randn([5]) })).code).toBe('ERR_SHAPE_MISMATCH');
    });

    it('rejects bad options, bad indices and disposed tensors; the engine stays usable', () => {
      expect(() => ops.infoNCE(z(), z(), { temperature: 0 })).toThrow(new RangeError('Expected a number > 0 for tfjs.infoNCE(options.temperature) but received 0'));
      expect(() => ops.infoNCE(z(), z(), { reduction: 'avg' as never })).toThrow("Expected 'mean' | 'sum' | 'none' for tfjs.infoNCE(options.reduction) but received \"avg\"");
      expect(() => ops.attention(randn([1, 1, 2, 2]), randn([1, 1, 2, 2]), randn([1, 1, 2, 2]), { dropout: 1 })).toThrow(RangeError);
      expect(() => ops.gatherTokens(randn([1, 5, 3]), tf.tensor([[0, 5]], [1, 2], 'int32'))).toThrow(/Expected indices in \[0, 5\) for idx but received 5 at idx\[0, 1\]/);
      const d = z();
      d.dispose();
      expect(() => ops.infoNCE(d, z())).toThrow(/^Expected a live float32 tf.Tensor for tfjs.infoNCE\(z1\) but received a disposed tf.Tensor of shape \[4, 3\]$/);
      const before = tf.memory().numTensors;
      expect(() => tf.grad((x: Tensor) => ops.infoNCE(x, x, { temperature: -1 }))(randn([3, 2]))).toThrow(RangeError);
      expect(tf.memory().numTensors).toBeLessThanOrEqual(before + 1);
      expect(ops.infoNCE(z(), z()).dataSync()[0]).toBeGreaterThan(0);
    });
  });

  it('never imports @tensorflow at run time (type-only imports)', () => {
    const dir = path.join(__dirname, '..', 'lib', 'tfjs');
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const src = readFileSync(path.join(dir, f), 'utf8');
      expect(src).not.toMatch(/^import (?!type )[^;]*['"]@tensorflow/m);
      expect(src).not.toMatch(/require\(['"]@tensorflow/);
    }
  });
});
