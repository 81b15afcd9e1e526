/**
 * F.attention: fused scaled-dot-product attention with autograd (native/ops/attention: the
 * FlashAttention-2 forward and backward on CPU; lib/backends/reference-attention.ts without the
 * addon). Same function as PyTorch's `F.scaled_dot_product_attention(q, k, v, attn_mask,
 * dropout_p, is_causal, scale)` with three documented differences:
 *  - a rank-2 bool mask is a key-padding mask [B, Nk] (true = attend); other masks broadcast to
 *    [B, H, Nq, Nk] as in PyTorch (bool: true = attend; float: added to the scaled logits);
 *  - `causal` is bottom-right aligned (FlashAttention 2) when Nq != Nk; PyTorch aligns top-left;
 *  - rows whose keys are all masked give zeros and zero gradients (PyTorch's math path: NaN).
 * `k`/`v` may have fewer heads than `q` (Hk divides H: grouped-query / multi-query attention).
 * `returnLse: true` also returns the row log-sum-exp [B, H, Nq] (differentiable; -Infinity on
 * fully masked rows). The mask is not differentiable.
 *
 * On 'cuda' (float32, bfloat16 or float16 inputs) the CUDA flash attention runs forward and
 * backward (native/ops/attention/cuda.h); its lse is float32 for every input dtype, and dropout
 * draws the CPU's Philox stream, so a seed gives the same keep pattern on both devices.
 */
import { defineOp as defineFunction, type FunctionCtx } from '../autograd/function';
import { selfsupError } from '../errors';
import { resolveSeed } from '../factories';
import {
  attention as attentionKernel, attentionBackward as attentionBackwardKernel, maskBroadcastStrides, planAttentionScalars,
  planAttentionSizes, type AttentionOptions,
} from '../kernels/attention';
import { Tensor } from '../tensor';
import type { FloatArray } from '../validate';
import { tryNative, useReference } from '../backends/native';
import type { NativeAttentionOptions } from '../backends/native-api';
import { uninitialized } from '../storage';
import { checkFloat, checkSameDtype, checkTensor, opts, optBool } from './common';
import { checkSameDevice, dev, devOut, devTensor, fused } from './fused-device';

export interface AttentionOpOptions {
  /** Logit scale (default 1/sqrt(d)). */
  scale?: number;
  /** Bottom-right aligned causal mask: key j is visible to query i iff j <= i + Nk - Nq. */
  causal?: boolean;
  /** bool [B, Nk] (key padding) or bool / additive float broadcastable to [B, H, Nq, Nk]. */
  mask?: Tensor | null;
  /** Dropout probability on the attention weights, in [0, 1). */
  dropout?: number;
  /** Philox seed of the dropout mask (default: the next global seed). */
  seed?: number;
  /** Also return the row log-sum-exp: the result is then { out, lse }. */
  returnLse?: boolean;
}

type KernelOpts = AttentionOptions & { maskShape?: number[]; maskStrides?: number[]; maskTensor?: Tensor };

/** The CUDA binding's options object (the CPU binding's layout, native/napi/attention.cc). */
function nativeOpts(q: Tensor, k: Tensor, ko: KernelOpts): Record<string, unknown> {
  const [B, H, Nq, d] = q.shape;
  return {
    B, H, Hk: k.shape[1], Nq, Nk: k.shape[2], d, scale: ko.scale, causal: ko.causal, dropout: ko.dropout ?? 0,
    seed: ko.seed ?? 0, maskArray: ko.maskTensor ? dev(ko.maskTensor) : null, maskStrides: ko.maskStrides ?? [0, 0, 0, 0],
  };
}

// The device path: the same saved values, in device storage; lse and lseLo are float32.
function forwardCuda(ctx: FunctionCtx, q: Tensor, k: Tensor, v: Tensor, ko: KernelOpts, useLse: boolean) {
  const nl = q.shape[0] * q.shape[1] * q.shape[2];
  const out = devOut(q.dtype, q.numel()), lse = devOut('float32', nl), lseLo = devOut('float32', nl);
  fused('attention').cudaAttention(dev(q), dev(k), dev(v), out, lse, lseLo, nativeOpts(q, k, ko));
  ctx.save(q, k, v);
  Object.assign(ctx, { out, lse, lseLo, ko, useLse });
  return { out: devTensor(out, q.shape), lse: devTensor(lse, q.shape.slice(0, 3)) };
}

function backwardCuda(ctx: FunctionCtx, gOut: Tensor, gLse: Tensor) {
  const [q, k, v] = ctx.saved;
  const dq = devOut(q.dtype, q.numel()), dk = devOut(q.dtype, k.numel()), dv = devOut(q.dtype, v.numel());
  fused('attention').cudaAttentionBackward(dev(q), dev(k), dev(v), ctx.out, ctx.lse, dev(gOut), ctx.useLse ? dev(gLse) : null, ctx.lseLo,
    dq, dk, dv, nativeOpts(q, k, ctx.ko));
  return [devTensor(dq, q.shape), devTensor(dk, k.shape), devTensor(dv, v.shape)];
}

const AttentionFn = defineFunction({
  name: 'Attention',
  forward(ctx: FunctionCtx, q: Tensor, k: Tensor, v: Tensor, ko: KernelOpts, useLse: boolean) {
    if (q.device === 'cuda') return forwardCuda(ctx, q, k, v, ko, useLse);
    // The lse residual keeps float32 gradients free of lse's own rounding (see params.h).
    const lseLo = new (q.dtype === 'float32' ? Float32Array : Float64Array)(q.shape[0] * q.shape[1] * q.shape[2]);
    const r = attentionKernel(q.data as FloatArray, q.shape, k.data as FloatArray, k.shape, v.data as FloatArray, v.shape, { ...ko, lseLo });
    // Backward needs q, k, v, the output and the log-sum-exp (FlashAttention-2 recomputes P).
    ctx.save(q, k, v);
    Object.assign(ctx, { out: r.out, lse: r.lse, lseLo, ko, useLse });
    return { out: new Tensor(r.out, q.shape), lse: new Tensor(r.lse, q.shape.slice(0, 3)) };
  },
  backward(ctx: FunctionCtx, gOut: Tensor, gLse: Tensor) {
    if (ctx.saved[0].device === 'cuda') return backwardCuda(ctx, gOut, gLse);
    const [q, k, v] = ctx.saved;
    const dlse = ctx.useLse ? (gLse.data as FloatArray) : null;
    const g = attentionBackwardKernel(
      q.data as FloatArray, q.shape, k.data as FloatArray, k.shape, v.data as FloatArray, v.shape,
      ctx.out, ctx.lse, gOut.data as FloatArray, { ...ctx.ko, dlse, lseLo: ctx.lseLo },
    );
    return [new Tensor(g.dq, q.shape), new Tensor(g.dk, k.shape), new Tensor(g.dv, v.shape)];
  },
});

/** Validates with op-style argument names, then resolves the kernel options. */
function resolve(q: unknown, k: unknown, v: unknown, options: unknown): { Q: Tensor; K: Tensor; V: Tensor; ko: KernelOpts; returnLse: boolean } {
  const Q = checkFloat('attention', 'q', q);
  const K = checkFloat('attention', 'k', k);
  const V = checkFloat('attention', 'v', v);
  checkSameDtype('attention', 'k', K, Q, 'q');
  checkSameDtype('attention', 'v', V, Q, 'q');
  const { B, H, Nq, Nk, d } = planAttentionSizes(Q.shape, K.shape, V.shape, { q: 'attention(q)', k: 'attention(k)', v: 'attention(v)' });
  if (Q.device === 'cuda' && d > 256) {
    throw selfsupError('ERR_UNSUPPORTED', "a head dim <= 256 on 'cuda' (the CUDA kernels' limit; the CPU has none)", 'attention(q)', `d = ${d}`);
  }
  const o = opts<AttentionOpOptions>('attention', options, ['scale', 'causal', 'mask', 'dropout', 'seed', 'returnLse']);
  const { scale, causal, dropout } = planAttentionScalars('attention', o, d);
  const returnLse = optBool('attention', 'options.returnLse', o.returnLse, false);
  const ko: KernelOpts = { scale, causal, dropout };
  if (dropout > 0) ko.seed = resolveSeed('attention(options.seed)', o.seed);
  if (o.mask !== undefined && o.mask !== null) {
    const M = checkTensor('attention', 'options.mask', o.mask, ['bool', Q.dtype]);
    checkSameDevice('attention', 'options.mask', M, Q, 'q');
    if (M.dtype !== 'bool' && M.dtype !== Q.dtype) throw selfsupError('ERR_DTYPE_MISMATCH', `a bool or ${Q.dtype} Tensor (q's dtype)`, 'attention(options.mask)', `a ${M.dtype} Tensor`);
    if (M.requiresGrad) {
      throw selfsupError('ERR_UNSUPPORTED', 'a mask that does not require grad (the attention mask is not differentiable)', 'attention(options.mask)', 'a Tensor with requiresGrad: true');
    }
    const ms = M.shape;
    const strides = maskBroadcastStrides(ms, M.dtype === 'bool', [B, H, Nq, Nk], 'attention(options.mask)');
    // The raw kernels take the mask array and its shape; the device binding its strides.
    if (M.device === 'cuda') Object.assign(ko, { maskTensor: M, maskStrides: strides });
    else Object.assign(ko, { mask: M.data as Uint8Array | FloatArray, maskShape: ms });
  }
  return { Q, K, V, ko, returnLse };
}

/**
 * softmax(scale * q k^T + mask) v per head (fused, O(N d) memory), with dropout on the weights.
 * q [B, H, Nq, d], k and v [B, Hk, Nk, d] -> [B, H, Nq, d]; with `returnLse`, { out, lse }.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOpOptions & { returnLse?: false }): Tensor;
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOpOptions & { returnLse: true }): { out: Tensor; lse: Tensor };
export function attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOpOptions): Tensor | { out: Tensor; lse: Tensor };
export function attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOpOptions): Tensor | { out: Tensor; lse: Tensor } {
  const r = resolve(q, k, v, options);
  const res = AttentionFn(r.Q, r.K, r.V, r.ko, r.returnLse);
  return r.returnLse ? res : res.out;
}

// ---- self-attention over a packed qkv projection ----------------------------------------------

/**
 * Self-attention read straight from a qkv projection [B, N, 3 * H * d] (timm's layout: q, k, v
 * each [B, N, H, d] side by side) and written as [B, N, H * d], the heads already merged: the
 * fused kernel takes element strides, so the split into [B, H, N, d] and the merge back (four
 * copies and four activations per block, forward and backward) are not needed. The gradient
 * comes back as one [B, N, 3 * H * d] array, the kernel writing dq, dk and dv into its parts.
 */
const PackedAttentionFn = defineFunction({
  name: 'PackedAttention',
  forward(ctx: FunctionCtx, qkv: Tensor, heads: number, scale: number) {
    const [B, N, W] = qkv.shape;
    const D = W / 3, d = D / heads;
    const Ctor = qkv.dtype === 'float32' ? Float32Array : Float64Array;
    const o: NativeAttentionOptions = {
      B, H: heads, Hk: heads, Nq: N, Nk: N, d, scale, causal: false, dropout: 0, seed: 0, maskArray: null, maskStrides: [0, 0, 0, 0],
      qLayout: [0, N * W, d, W], kLayout: [D, N * W, d, W], vLayout: [2 * D, N * W, d, W], oLayout: [0, N * D, d, D],
    };
    const out = uninitialized(Ctor, B * N * D), lse = uninitialized(Ctor, B * heads * N), lseLo = uninitialized(Ctor, B * heads * N);
    const a = qkv.data as FloatArray;
    tryNative()!.attention(a, a, a, out, lse, lseLo, o);
    ctx.save(qkv);
    Object.assign(ctx, { out, lse, lseLo, o });
    return new Tensor(out, [B, N, D]);
  },
  backward(ctx: FunctionCtx, g: Tensor) {
    const [qkv] = ctx.saved;
    const a = qkv.data as FloatArray;
    const dqkv = uninitialized(a instanceof Float32Array ? Float32Array : Float64Array, a.length); // dq, dk, dv tile it
    tryNative()!.attentionBackward(a, a, a, ctx.out, ctx.lse, g.data as FloatArray, null, ctx.lseLo, dqkv, dqkv, dqkv, ctx.o);
    return [new Tensor(dqkv, qkv.shape), null, null];
  },
});

let layoutsSupported: boolean | undefined;
/**
 * Whether the loaded addon reads the layout options (an addon built before them ignores unknown
 * options and would treat the packed array as contiguous q, k, v). Probed once: a layout whose
 * extent exceeds the array is an error only for an addon that reads it.
 */
function nativeLayouts(): boolean {
  if (layoutsSupported === undefined) {
    const a = tryNative();
    const z = new Float32Array(1);
    try {
      a?.attention(z, z, z, new Float32Array(1), new Float32Array(1), null, {
        B: 1, H: 1, Hk: 1, Nq: 1, Nk: 1, d: 1, scale: 1, causal: false, dropout: 0, seed: 0, maskArray: null, maskStrides: [0, 0, 0, 0], qLayout: [1, 0, 0, 1],
      });
      layoutsSupported = false;
    } catch {
      layoutsSupported = a !== null;
    }
  }
  return layoutsSupported;
}

/**
 * Multi-head self-attention of a packed qkv [B, N, 3 * heads * d] -> [B, N, heads * d] (no mask,
 * no dropout), the same values as splitting it into q, k, v [B, heads, N, d], `attention`, and
 * merging the heads. null where the packed kernel does not run (the reference backend, 'cuda',
 * an older addon): the caller composes it then.
 */
export function packedSelfAttention(qkv: Tensor, heads: number, scale: number): Tensor | null {
  if (qkv.device !== 'cpu' || useReference() || (qkv.dtype !== 'float32' && qkv.dtype !== 'float64') || !nativeLayouts()) return null;
  return PackedAttentionFn(qkv, heads, scale) as Tensor;
}
