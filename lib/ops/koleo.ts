/**
 * F.koleo: the KoLeo regularizer with autograd (DINOv2 adds 0.1 * koleo(cls tokens) to its loss).
 * The rules, the kernel and its float64 path are in lib/kernels/koleo.ts.
 */
import { defineOp as defineFunction, type FunctionCtx } from '../autograd/function';
import { koleoBackward, koleoForward, planKoLeo, type KoLeoOptions } from '../kernels/koleo';
import { Tensor } from '../tensor';
import { checkFloat } from './common';
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
  const { eps } = planKoLeo(OP, t.data as FloatArray, t.shape, options);
  return KoLeoFn(t, eps);
}
