/**
 * TensorFlow.js peers (--vs tfjs): the textbook compositions in tfjs ops, as a tfjs user would
 * write them, fwd and fwd+bwd (tf.grads with a fixed upstream gradient). Each run happens inside
 * tf.tidy (bench/peers/tfjs.ts), so intermediates are freed.
 */
import type * as TF from '@tensorflow/tfjs';
import type { BenchMode } from './types';

type Runner = { run(mode: BenchMode): void; dispose(): void };

function grads(tf: typeof TF, f: (...xs: TF.Tensor[]) => TF.Tensor, xs: TF.Tensor[], dy?: TF.Tensor): void {
  const g = tf.grads(f)(xs, dy);
  for (const t of g) t.dataSync(); // force the computation on lazy backends
}

/** softmax(q kᵀ / sqrt(d)) v over [B, H, N, d]. */
export function tfjsAttention(tfm: unknown, s: Record<string, number>): Runner {
  const tf = tfm as typeof TF;
  const shape = [s.B * s.H, s.N, s.d];
  const q = tf.randomNormal(shape), k = tf.randomNormal(shape), v = tf.randomNormal(shape), dy = tf.randomNormal(shape);
  const scale = 1 / Math.sqrt(s.d);
  const f = (qq: TF.Tensor, kk: TF.Tensor, vv: TF.Tensor) =>
    tf.matMul(tf.softmax(tf.mul(tf.matMul(qq as TF.Tensor3D, kk as TF.Tensor3D, false, true), scale)), vv as TF.Tensor3D);
  return {
    run: (mode) => (mode === 'fwd' ? void f(q, k, v).dataSync() : grads(tf, f, [q, k, v], dy)),
    dispose: () => tf.dispose([q, k, v, dy]),
  };
}

/** NT-Xent over 2N views: normalize, the [2N, 2N] logits with the diagonal masked, cross-entropy. */
export function tfjsInfoNCE(tfm: unknown, s: Record<string, number>, tau: number): Runner {
  const tf = tfm as typeof TF;
  const n = s.N, R = 2 * n;
  const z1 = tf.randomNormal([n, s.D]), z2 = tf.randomNormal([n, s.D]);
  const mask = tf.mul(tf.eye(R), -1e9);
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: R }, (_, i) => (i + n) % R), 'int32'), R);
  const norm = (z: TF.Tensor) => tf.div(z, tf.maximum(tf.norm(z, 2, 1, true), 1e-12));
  const f = (a: TF.Tensor, b: TF.Tensor) => {
    const z = tf.concat([norm(a), norm(b)], 0) as TF.Tensor2D;
    const logits = tf.add(tf.div(tf.matMul(z, z, false, true), tau), mask);
    return tf.mean(tf.neg(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), 1)));
  };
  return {
    run: (mode) => (mode === 'fwd' ? void f(z1, z2).dataSync() : grads(tf, f, [z1, z2])),
    dispose: () => tf.dispose([z1, z2, mask, labels]),
  };
}

/** VICReg (facebookresearch/vicreg, 25 / 25 / 1, eps 1e-4) with the D x D covariance. */
export function tfjsVICReg(tfm: unknown, s: Record<string, number>): Runner {
  const tf = tfm as typeof TF;
  const n = s.N, d = s.D;
  const x = tf.randomNormal([n, d]), y = tf.randomNormal([n, d]);
  const offDiag = tf.sub(tf.ones([d, d]), tf.eye(d));
  const terms = (z: TF.Tensor) => {
    const c = tf.sub(z, tf.mean(z, 0, true)) as TF.Tensor2D;
    const std = tf.sqrt(tf.add(tf.div(tf.sum(tf.square(c), 0), n - 1), 1e-4));
    const variance = tf.div(tf.mean(tf.relu(tf.sub(1, std))), 2);
    const cov = tf.div(tf.matMul(c, c, true, false), n - 1);
    const covariance = tf.div(tf.sum(tf.square(tf.mul(cov, offDiag))), d);
    return { variance, covariance };
  };
  const f = (a: TF.Tensor, b: TF.Tensor) => {
    const ta = terms(a), tb = terms(b);
    const inv = tf.mean(tf.square(tf.sub(a, b)));
    return tf.add(tf.add(tf.mul(inv, 25), tf.mul(tf.add(ta.variance, tb.variance), 25)), tf.add(ta.covariance, tb.covariance));
  };
  return {
    run: (mode) => (mode === 'fwd' ? void f(x, y).dataSync() : grads(tf, f, [x, y])),
    dispose: () => tf.dispose([x, y, offDiag]),
  };
}
