/**
 * F.koleo: the KoLeo regularizer with autograd (DINOv2 adds 0.1 * koleo(cls tokens) to its loss).
 * The rules, the kernel and its float64 path are in lib/kernels/koleo.ts.
 */
import { defineOp as defineFunction, type FunctionCtx } from '../autograd/function';
import { noGrad } from '../autograd/grad-mode';
import { koleoBackward, koleoForward, planKoLeo, planKoLeoShape, type KoLeoOptions } from '../kernels/koleo';
import { Tensor } from '../tensor';
import { checkCudaFloat32, checkFloat } from './common';
import { add, eq, log, neg, sub, where } from './elementwise';
import { matmul } from './linalg';
import { normalize } from './nn-functional';
import { argmax, mean, norm } from './reduce';
import { gatherTokens } from './tokens';
import type { FloatArray } from '../validate';

const OP = 'koleo';

const KoLeoFn = defineFunction({
  name: 'KoLeo',
  forward(ctx: FunctionCtx, x: Tensor, eps: number): Tensor {
    const shape = x.shape as [number, number];
    const r = koleoForward(x.data as FloatArray, shape, { eps });
    ctx.save(x);
    ctx.nn = r.nn;
    ctx.eps = eps;
    const out = new (x.data.constructor as Float64ArrayConstructor)(1);
    out[0] = r.loss;
    return new Tensor(out, []);
  },
  backward(ctx: FunctionCtx, g: Tensor) {
    const [x] = ctx.saved;
    const dx = koleoBackward(x.data as FloatArray, x.shape as [number, number], { nn: ctx.nn as Int32Array }, g.data[0], { eps: ctx.eps as number });
    return [new Tensor(dx, x.shape)];
  },
});

/**
 * KoLeo loss of a batch of embeddings x [N, D] (N >= 2): -mean_i log(distance to the nearest
 * other row), after L2 normalization. A scalar.
 *
 *   const reg = F.koleo(clsTokens);          // DINOv2: loss = dino + 0.1 * reg
 */
export function koleo(x: Tensor, options?: KoLeoOptions): Tensor {
  const t = checkFloat(OP, 'x', x);
  if (t.device === 'cuda') return koleoDevice(t, planKoLeoShape(OP, t.shape, options).eps);
  const { eps } = planKoLeo(OP, t.data as FloatArray, t.shape, options);
  return KoLeoFn(t, eps);
}

/**
 * KoLeo on 'cuda' in device ops (float32): the rows normalized, the neighbours from the n x n Gram
 * matrix (one GEMM; the diagonal set to -inf by the device select; argmax takes the first index on
 * ties, as the CPU), then the distances formed from the gathered neighbour rows, not from the
 * Gram entries (2 - 2 cos cancels for close pairs, the ones KoLeo is about). Autograd runs through
 * the normalization, the gather's scatter-add and the norm; the neighbour choice is not
 * differentiated, as on the CPU. Memory: the n x n Gram matrix (the CPU walks it in row blocks).
 */
function koleoDevice(x: Tensor, eps: number): Tensor {
  checkCudaFloat32(OP, 'x', x);
  const n = x.shape[0];
  const xn = normalize(x, { dim: 1, eps });
  const idx = Float32Array.from({ length: n }, (_, i) => i);
  const self = eq(new Tensor(idx, [n, 1]).to('cuda'), new Tensor(idx, [1, n]).to('cuda'));
  const gram = noGrad(() => where(self, -Infinity, matmul(xn, xn.transpose(0, 1))));
  const nn = argmax(gram, 1);
  const dist = norm(add(sub(xn, gatherTokens(xn, nn.reshape([1, n])).reshape([n, x.shape[1]])), eps), 2, 1);
  return neg(mean(log(add(dist, eps))));
}
