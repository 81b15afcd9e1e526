/**
 * matmul / bmm / linear on top of kernels.matmul (native packed GEMM when the addon is built,
 * the float64-accumulating TS reference otherwise). Backward passes are GEMMs too, using the
 * kernel's transA/transB flags instead of materialized transposes.
 */
import { defineOp as defineFunction } from '../autograd/function';
import { rangeError, selfsupError, shapeStr } from '../errors';
import { useReference } from '../backends/native';
import { matmul as kmatmul } from '../kernels/linalg';
import { sumRows as ksumRows } from '../kernels/pointwise';
import { Tensor } from '../tensor';
import type { FloatArray } from '../validate';
import { broadcastShapes, checkFloat, checkSameDtype, expandRaw, newArray, sameShape, sizeOf, sumToShape, zerosArray } from './common';
import { expand, reshape, squeeze, unsqueeze } from './shape';
import * as nc from './native-core';

function gemm(a: Tensor, b: Tensor, transA = false, transB = false, bias: Tensor | null = null): Tensor {
  const ra = a.ndim, rb = b.ndim;
  const m = transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const n = transB ? b.shape[rb - 2] : b.shape[rb - 1];
  const k = transA ? a.shape[ra - 2] : a.shape[ra - 1];
  const batch = ra >= rb ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
  const shape = [...batch, m, n];
  if (a.device === 'cuda') return gemmCuda(a, b, transA, transB, bias, shape, m, n, k);
  // Empty operands: the kernel refuses a 0-sized batch (it wants batch >= 1), and any empty
  // product is all zeros (an empty sum) plus the bias, so no kernel call is needed.
  if (k === 0 || shape.includes(0)) {
    const out = new Tensor(newArray(a.dtype, sizeOf(shape)), shape);
    if (bias) for (let r = 0; r < out.data.length; r += n) out.data.set(bias.data, r);
    return out;
  }
  const r = kmatmul(a.data as FloatArray, a.shape, b.data as FloatArray, b.shape, { transA, transB, bias: (bias?.data ?? null) as FloatArray | null });
  return new Tensor(r, shape);
}

/**
 * The same product on 'cuda' through cuda::gemm (float32 SIMT; bfloat16 / float16 on the tensor
 * cores with float32 accumulation, stored in the inputs' type). A 2-D operand beside a batched one
 * is broadcast by a zero batch stride.
 */
function gemmCuda(a: Tensor, b: Tensor, transA: boolean, transB: boolean, bias: Tensor | null, shape: number[], m: number, n: number, k: number): Tensor {
  if (k === 0 || shape.includes(0)) {
    // An empty sum: zeros, plus the bias rows.
    return bias ? expandRaw(bias, shape) : new Tensor(zerosArray(a.dtype, sizeOf(shape), 'cuda'), shape);
  }
  const out = nc.deviceArray(a.dtype, sizeOf(shape));
  const batch = sizeOf(shape.slice(0, -2));
  nc.matmulDevice(a.data, b.data, out, bias?.data ?? null, {
    batch, m, n, k, transA, transB, strideA: a.ndim > 2 ? m * k : 0, strideB: b.ndim > 2 ? k * n : 0,
  });
  return new Tensor(out, shape);
}

/** a [..., m, k] @ b [..., k, n] with identical batch dims (or b 2-D, broadcast by the kernel). */
const MatmulFn = defineFunction({
  name: 'Matmul',
  forward(ctx, a: Tensor, b: Tensor) {
    ctx.save(ctx.needsInputGrad[1] ? a : null, ctx.needsInputGrad[0] ? b : null);
    return gemm(a, b);
  },
  backward(ctx, g) {
    const [a, b] = ctx.saved;
    return [b ? gemm(g, b, false, true) : null, a ? gemm(a, g, true, false) : null];
  },
});

/**
 * torch.matmul semantics: 1-D x 1-D is a dot product; a 1-D operand gets a temporary unit dim;
 * batch dims broadcast. A 2-D right operand folds the left batch into rows (one big GEMM, and
 * a single GEMM for its gradient instead of a sum over the batch).
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkFloat('matmul', 'a', a);
  checkFloat('matmul', 'b', b);
  checkSameDtype('matmul', 'b', b, a, 'a');
  if (a.ndim === 0) throw rangeError('a tensor with at least 1 dim', 'matmul(a)', a);
  if (b.ndim === 0) throw rangeError('a tensor with at least 1 dim', 'matmul(b)', b);
  const ka = a.shape[a.ndim - 1];
  const kb = b.ndim === 1 ? b.shape[0] : b.shape[b.ndim - 2];
  if (ka !== kb) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `a shape whose ${b.ndim === 1 ? 'length' : 'dim -2'} matches the last dim of ${shapeStr(a.shape)} (${ka})`, 'matmul(b)', shapeStr(b.shape));
  }
  const A = a.ndim === 1 ? unsqueeze(a, 0) : a;
  const B = b.ndim === 1 ? unsqueeze(b, 1) : b;
  let out: Tensor;
  const m = A.shape[A.ndim - 2], n = B.shape[B.ndim - 1];
  if (B.ndim === 2) {
    const batch = A.shape.slice(0, -2);
    out = A.ndim === 2 ? MatmulFn(A, B) : reshape(MatmulFn(reshape(A, [-1, ka]), B), [...batch, m, n]);
  } else {
    const batch = broadcastShapes('matmul', 'b', A.shape.slice(0, -2), B.shape.slice(0, -2));
    const A2 = sameShape(A.shape.slice(0, -2), batch) ? A : expand(A, [...batch, m, ka]);
    const B2 = sameShape(B.shape.slice(0, -2), batch) ? B : expand(B, [...batch, ka, n]);
    out = MatmulFn(A2, B2);
  }
  if (a.ndim === 1) out = squeeze(out, -2);
  if (b.ndim === 1) out = squeeze(out, -1);
  return out;
}

/** Batched matmul of [B, m, k] and [B, k, n] (no broadcasting, like torch.bmm). */
export function bmm(a: Tensor, b: Tensor): Tensor {
  checkFloat('bmm', 'a', a);
  checkFloat('bmm', 'b', b);
  checkSameDtype('bmm', 'b', b, a, 'a');
  if (a.ndim !== 3) throw selfsupError('ERR_SHAPE_MISMATCH', 'a 3-D tensor [B, m, k]', 'bmm(a)', shapeStr(a.shape));
  if (b.ndim !== 3 || b.shape[0] !== a.shape[0] || b.shape[1] !== a.shape[2]) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `a 3-D tensor [${a.shape[0]}, ${a.shape[2]}, n] (to multiply ${shapeStr(a.shape)})`, 'bmm(b)', shapeStr(b.shape));
  }
  return MatmulFn(a, b);
}

/** y = x W^T + b over x [M, in]; W [out, in]; b [out] or null. */
const LinearFn = defineFunction({
  name: 'Linear',
  forward(ctx, x: Tensor, w: Tensor, b: Tensor | null) {
    // The bias rides in the GEMM (added in the micro-kernel's final write of C; kernels.matmul).
    const y = gemm(x, w, false, true, b);
    ctx.save(ctx.needsInputGrad[1] ? x : null, ctx.needsInputGrad[0] ? w : null);
    return y;
  },
  backward(ctx, g) {
    const [x, w] = ctx.saved;
    let gb: Tensor | null = null;
    if (ctx.needsInputGrad[2] && g.device === 'cuda') {
      gb = sumToShape(g, [g.shape[1]]); // the device's deterministic column sums
    } else if (ctx.needsInputGrad[2] && !useReference()) {
      const n = g.shape[1];
      gb = new Tensor(ksumRows(g.data as FloatArray, [g.shape[0], n]), [n]);
    } else if (ctx.needsInputGrad[2]) {
      const n = g.shape[1], gd = g.data;
      gb = new Tensor(new (g.data.constructor as Float64ArrayConstructor)(n), [n]);
      for (let r = 0; r < gd.length; r += n) for (let j = 0; j < n; j++) gb.data[j] += gd[r + j];
    }
    return [w ? gemm(g, w) : null, x ? gemm(g, x, true, false) : null, gb];
  },
});

/** F.linear: x [..., in] @ weight[out, in]^T + bias[out]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  checkFloat('linear', 'x', x);
  checkFloat('linear', 'weight', weight);
  checkSameDtype('linear', 'weight', weight, x, 'x');
  if (weight.ndim !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a 2-D weight [out, in]', 'linear(weight)', shapeStr(weight.shape));
  if (x.ndim === 0) throw rangeError('a tensor with at least 1 dim', 'linear(x)', x);
  const [out, inF] = weight.shape;
  if (x.shape[x.ndim - 1] !== inF) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `a last dim of ${inF} (weight is ${shapeStr(weight.shape)})`, 'linear(x)', shapeStr(x.shape));
  }
  if (bias !== undefined && bias !== null) {
    checkFloat('linear', 'bias', bias);
    checkSameDtype('linear', 'bias', bias, x, 'x');
    if (bias.ndim !== 1 || bias.shape[0] !== out) throw selfsupError('ERR_SHAPE_MISMATCH', `shape [${out}]`, 'linear(bias)', shapeStr(bias.shape));
  }
  const lead = x.shape.slice(0, -1);
  // The rows as a number, not -1: with inF = 0 a -1 would be ambiguous (0 elements in any rows).
  const rows = lead.reduce((a, b) => a * b, 1);
  const y = LinearFn(reshape(x, [rows, inF]), weight, bias ?? null);
  return reshape(y, [...lead, out]);
}
