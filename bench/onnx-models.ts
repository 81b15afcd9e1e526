/**
 * The ONNX Runtime peer's models (--vs ort): for each op family the composition an ONNX user would
 * export, built in memory with bench/onnx.ts, float32, forward only (onnxruntime-node has no
 * training API). A case holds one or more variants of the same computation (the peer times each
 * and keeps the fastest that agrees with selfsup) and the check of a variant's outputs against
 * selfsup's outputs on the same inputs: a peer that computes something else is not timed against it.
 *
 * Inputs are fed in each variant's natural layout, converted once outside the timed run (this
 * favours ORT: selfsup's rows take [B, H, N, d] as given).
 */
import { OnnxGraph, type ElemData, type ElemType } from './onnx';
import { normwiseError } from './check';

/** Opset 21 (Reduce* take their axes as an input, as in every opset since 18); IR version 10. */
const ONNX = { opsets: { '': 21 }, ir: 10 };

export interface OrtFeed {
  type: ElemType;
  data: ElemData;
  dims: number[];
}

export interface OrtVariant {
  /** Printed in the row: which model won. */
  name: string;
  model: Uint8Array;
  feeds: Record<string, OrtFeed>;
  /** Max relative error of this variant's outputs (by graph output name) against selfsup's. */
  error(outputs: Record<string, Float32Array>): number;
}

export interface OrtCase {
  variants: OrtVariant[];
}

const f32 = (data: Float32Array, dims: number[]): OrtFeed => ({ type: 'float32', data, dims });

/** C = A B through MatMul; checked against selfsup's C. */
export function ortSgemm(a: Float32Array, b: Float32Array, m: number, n: number, k: number, selfsupC: Float32Array): OrtCase {
  const g = new OnnxGraph();
  g.node('MatMul', [g.input('A', 'float32', [m, k]), g.input('B', 'float32', [k, n])], {}, { out: 'C' });
  g.output('C', 'float32', [m, n]);
  return {
    variants: [{
      name: 'MatMul', model: g.model(ONNX.opsets, ONNX.ir), feeds: { A: f32(a, [m, k]), B: f32(b, [k, n]) },
      error: (o) => normwiseError(o.C, selfsupC),
    }],
  };
}

/** [B, H, N, d] -> [B, N, H·d] (the layout of MultiHeadAttention's query, key and value). */
function toBSD(x: Float32Array, B: number, H: number, N: number, d: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < N; i++) {
    const src = ((b * H + h) * N + i) * d;
    out.set(x.subarray(src, src + d), ((b * N + i) * H + h) * d);
  }
  return out;
}

/**
 * softmax(q kᵀ / sqrt(d)) v over [B, H, N, d], three ways: the textbook composition (MatMul, Mul,
 * Softmax, MatMul; ORT's optimizer may fuse it), com.microsoft.MultiHeadAttention (ORT's contrib
 * op, [B, N, H·d] layout) and the standard Attention of opset 23 (IR version 11). Either of the
 * last two may be missing from the installed ORT: the peer then records why and skips it.
 */
export function ortAttention(
  s: { B: number; H: number; N: number; d: number }, q: Float32Array, k: Float32Array, v: Float32Array, selfsupOut: Float32Array,
): OrtCase {
  const { B, H, N, d } = s, shp = [B, H, N, d], scale = 1 / Math.sqrt(d);
  const feeds = { q: f32(q, shp), k: f32(k, shp), v: f32(v, shp) };
  const inputs = (g: OnnxGraph, dims: number[]) => ['q', 'k', 'v'].map((n) => g.input(n, 'float32', dims));

  const tb = new OnnxGraph();
  const [tq, tk, tv] = inputs(tb, shp);
  const kt = tb.node('Transpose', [tk], { perm: { ints: [0, 1, 3, 2] } });
  const p = tb.node('Softmax', [tb.node('Mul', [tb.node('MatMul', [tq, kt]), tb.scalar(scale)])], { axis: { int: -1 } });
  tb.node('MatMul', [p, tv], {}, { out: 'out' });
  tb.output('out', 'float32', shp);

  const bsd = [B, N, H * d];
  const mha = new OnnxGraph();
  mha.node('MultiHeadAttention', inputs(mha, bsd), { num_heads: { int: H }, scale: { float: scale } }, { out: 'out', domain: 'com.microsoft' });
  mha.output('out', 'float32', bsd);
  const selfsupBSD = toBSD(selfsupOut, B, H, N, d);

  const a23 = new OnnxGraph();
  a23.node('Attention', inputs(a23, shp), { scale: { float: scale } }, { out: 'out' });
  a23.output('out', 'float32', shp);

  const vs = (o: Record<string, Float32Array>) => normwiseError(o.out, selfsupOut);
  return {
    variants: [
      { name: 'composition', model: tb.model(ONNX.opsets, ONNX.ir), feeds, error: vs },
      {
        name: 'MultiHeadAttention', model: mha.model({ '': 21, 'com.microsoft': 1 }, ONNX.ir),
        feeds: { q: f32(toBSD(q, B, H, N, d), bsd), k: f32(toBSD(k, B, H, N, d), bsd), v: f32(toBSD(v, B, H, N, d), bsd) },
        error: (o) => normwiseError(o.out, selfsupBSD),
      },
      { name: 'Attention-23', model: a23.model({ '': 23 }, 11), feeds, error: vs },
    ],
  };
}

/**
 * NT-Xent over z1, z2 [N, D] (lightly's NTXentLoss, as the torch peer): normalize the
 * concatenated views, Z Zᵀ / tau, the diagonal masked to -inf, cross-entropy against the other
 * view (SoftmaxCrossEntropyLoss, mean). Checked against the mean of selfsup's per-row losses.
 */
export function ortInfoNCE(z1: Float32Array, z2: Float32Array, n: number, dim: number, tau: number, selfsupLosses: Float32Array): OrtCase {
  const R = 2 * n;
  const g = new OnnxGraph();
  const z = g.node('Concat', [g.input('z1', 'float32', [n, dim]), g.input('z2', 'float32', [n, dim])], { axis: { int: 0 } });
  const norm = g.node('Max', [g.node('ReduceL2', [z, g.int64s([1])], { keepdims: { int: 1 } }), g.scalar(1e-12)]);
  const zn = g.node('Div', [z, norm]);
  const logits = g.node('Div', [g.node('MatMul', [zn, g.node('Transpose', [zn], { perm: { ints: [1, 0] } })]), g.scalar(tau)]);
  const eye = new Uint8Array(R * R);
  for (let i = 0; i < R; i++) eye[i * R + i] = 1;
  const masked = g.node('Where', [g.initializer('bool', eye, [R, R]), g.scalar(-Infinity), logits]);
  const labels = g.initializer('int64', BigInt64Array.from({ length: R }, (_, i) => BigInt((i + n) % R)), [R]);
  g.node('SoftmaxCrossEntropyLoss', [masked, labels], { reduction: { str: 'mean' } }, { out: 'loss' });
  g.output('loss', 'float32', []);
  let mean = 0;
  for (const l of selfsupLosses) mean += l / selfsupLosses.length;
  return {
    variants: [{
      name: 'composition', model: g.model(ONNX.opsets, ONNX.ir), feeds: { z1: f32(z1, [n, dim]), z2: f32(z2, [n, dim]) },
      error: (o) => normwiseError(o.loss, [mean]),
    }],
  };
}

/**
 * VICReg (facebookresearch/vicreg, 25 / 25 / 1, eps 1e-4) with the D x D covariance, as the torch
 * peer. The off-diagonal sum of squares is sum(cov²) - sum(diag(cov)²), and diag(cov) is the
 * unbiased variance already computed for the hinge (no D x D mask tensor). Outputs the three terms
 * (checked one by one against selfsup's) and the weighted loss. Two variants: sum(cov²) in one
 * ReduceSumSquare, and as row sums then their sum (ORT 1.30 accumulates a whole-tensor float32
 * reduction in one running sum: over the 67M entries at D = 8192 that is off by ~1%).
 */
export function ortVICReg(
  x: Float32Array, y: Float32Array, n: number, dim: number, selfsup: { invariance: number; variance: number; covariance: number },
): OrtCase {
  const shp = [n, dim];
  const build = (rowSums: boolean): Uint8Array => {
    const g = new OnnxGraph();
    const xi = g.input('x', 'float32', shp), yi = g.input('y', 'float32', shp);
    const all = g.int64s([]), rows = g.int64s([0]);
    const keep = (k: number) => ({ keepdims: { int: k } });
    const sumSquares = (m: string) =>
      rowSums ? g.node('ReduceSum', [g.node('ReduceSumSquare', [m, g.int64s([1])], keep(0)), all], keep(0)) : g.node('ReduceSumSquare', [m, all], keep(0));
    const diff = g.node('Sub', [xi, yi]);
    g.node('ReduceMean', [g.node('Mul', [diff, diff]), all], keep(0), { out: 'invariance' });
    const terms = (z: string): [string, string] => {
      const c = g.node('Sub', [z, g.node('ReduceMean', [z, rows], keep(1))]);
      const variance = g.node('Div', [g.node('ReduceSum', [g.node('Mul', [c, c]), rows], keep(0)), g.scalar(n - 1)]);
      const std = g.node('Sqrt', [g.node('Add', [variance, g.scalar(1e-4)])]);
      const hinge = g.node('Div', [g.node('ReduceMean', [g.node('Relu', [g.node('Sub', [g.scalar(1), std])]), all], keep(0)), g.scalar(2)]);
      const cov = g.node('Div', [g.node('MatMul', [g.node('Transpose', [c], { perm: { ints: [1, 0] } }), c]), g.scalar(n - 1)]);
      const off = g.node('Sub', [sumSquares(cov), g.node('ReduceSumSquare', [variance, all], keep(0))]);
      return [hinge, g.node('Div', [off, g.scalar(dim)])];
    };
    const [vx, cx] = terms(xi), [vy, cy] = terms(yi);
    g.node('Add', [vx, vy], {}, { out: 'variance' });
    g.node('Add', [cx, cy], {}, { out: 'covariance' });
    const weighted = g.node('Add', [g.node('Mul', ['invariance', g.scalar(25)]), g.node('Mul', ['variance', g.scalar(25)])]);
    g.node('Add', [weighted, 'covariance'], {}, { out: 'loss' });
    for (const o of ['invariance', 'variance', 'covariance', 'loss']) g.output(o, 'float32', []);
    return g.model(ONNX.opsets, ONNX.ir);
  };
  const error = (o: Record<string, Float32Array>) =>
    Math.max(...(['invariance', 'variance', 'covariance'] as const).map((t) => normwiseError(o[t], [selfsup[t]])));
  const feeds = { x: f32(x, shp), y: f32(y, shp) };
  return {
    variants: [
      { name: 'composition', model: build(false), feeds, error },
      { name: 'composition (row sums)', model: build(true), feeds, error },
    ],
  };
}

/**
 * Sinkhorn-Knopp on scores [B, K], the same two forms as the torch peer: SwAV's exp form
 * (facebookresearch/swav main_swav.py distributed_sinkhorn, one process, in [B, K] layout: its
 * transposes are views) or the log-domain form. The log-domain form has two variants: ONNX's
 * ReduceLogSumExp, and log-sum-exp spelt out with the max shift (ReduceMax, Sub, Exp, ReduceSum,
 * Log, Add), which ORT runs much faster. Iterations unrolled. Rows of the output sum to 1 in
 * every form; checked against selfsup's output.
 */
export function ortSinkhorn(
  scores: Float32Array, B: number, K: number, o: { epsilon: number; iterations: number; logDomain: boolean }, selfsupOut: Float32Array,
): OrtCase {
  const shp = [B, K];
  const build = (form: 'exp' | 'ReduceLogSumExp' | 'max-shifted'): Uint8Array => {
    const g = new OnnxGraph();
    const s = g.input('scores', 'float32', shp);
    const prototypes = g.int64s([0]), samples = g.int64s([1]); // sums over samples (per prototype), over prototypes
    const keep = { keepdims: { int: 1 } };
    if (form === 'exp') {
      let q = g.node('Exp', [g.node('Div', [s, g.scalar(o.epsilon)])]);
      q = g.node('Div', [q, g.node('ReduceSum', [q, g.int64s([])], { keepdims: { int: 0 } })]);
      for (let it = 0; it < o.iterations; it++) {
        q = g.node('Div', [g.node('Div', [q, g.node('ReduceSum', [q, prototypes], keep)]), g.scalar(K)]);
        q = g.node('Div', [g.node('Div', [q, g.node('ReduceSum', [q, samples], keep)]), g.scalar(B)]);
      }
      g.node('Mul', [q, g.scalar(B)], {}, { out: 'out' });
    } else {
      const lse = (x: string, axes: string): string => {
        if (form === 'ReduceLogSumExp') return g.node('ReduceLogSumExp', [x, axes], keep);
        const m = g.node('ReduceMax', [x, axes], keep);
        return g.node('Add', [m, g.node('Log', [g.node('ReduceSum', [g.node('Exp', [g.node('Sub', [x, m])]), axes], keep)])]);
      };
      const L = g.node('Div', [s, g.scalar(o.epsilon)]);
      const logR = g.scalar(-Math.log(B)), logC = g.scalar(-Math.log(K));
      let f = g.initializer('float32', new Float32Array(B), [B, 1]);
      let gk = '';
      for (let it = 0; it < o.iterations; it++) {
        gk = g.node('Sub', [logC, lse(g.node('Add', [L, f]), prototypes)]);
        f = g.node('Sub', [logR, lse(g.node('Add', [L, gk]), samples)]);
      }
      g.node('Exp', [g.node('Sub', [g.node('Add', [g.node('Add', [L, f]), gk]), logR])], {}, { out: 'out' });
    }
    g.output('out', 'float32', shp);
    return g.model(ONNX.opsets, ONNX.ir);
  };
  const forms = o.logDomain ? (['ReduceLogSumExp', 'max-shifted'] as const) : (['exp'] as const);
  return {
    variants: forms.map((form) => ({
      name: form === 'exp' ? 'exp (SwAV)' : `log-domain ${form}`, model: build(form), feeds: { scores: f32(scores, shp) },
      error: (out: Record<string, Float32Array>) => normwiseError(out.out, selfsupOut),
    })),
  };
}
