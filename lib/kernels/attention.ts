/**
 * Raw typed-array fused attention (zero-copy in the synchronous forms): the same function as
 * PyTorch's `scaled_dot_product_attention`, plus the row log-sum-exp that FlashAttention returns.
 *
 *   q [B, H, Nq, d], k and v [B, Hk, Nk, d] (Hk divides H: grouped-query / multi-query)
 *   out [B, H, Nq, d], lse [B, H, Nq] (the inputs' float type)
 *
 * Options: `scale` (default 1/sqrt(d)), `causal` (bottom-right aligned as in FlashAttention 2:
 * key j is visible to query i iff j <= i + Nk - Nq), `mask` + `maskShape`, `dropout` + `seed`.
 * Masks: a Uint8Array (bool, nonzero = attend) or an array of q's float type (additive, added to
 * the scaled logits). A rank-2 bool mask is a key-padding mask [B, Nk]; every other mask is
 * broadcast (right-aligned, like PyTorch) to [B, H, Nq, Nk]: use [1, 1, Nq, Nk] or [Nq, Nk]
 * (additive) for a per-query mask. Rows whose keys are all masked give zeros, lse = -Infinity and
 * zero gradients (PyTorch's math path gives NaN there). Dropout keeps element (b,h,i,j) iff
 * uniformFloat32(seed, 2, ((b*H + h)*Nq + i)*Nk + j) >= p, exactly F.dropout's mask on the
 * [B, H, Nq, Nk] probabilities.
 */
import { native, useReference } from '../backends/native';
import { refAttention, refAttentionBackward, type RefAttentionArgs } from '../backends/reference-attention';
import { selfsupError, shapeStr, typeError } from '../errors';
import { uninitialized } from '../storage';
import { named } from './args';
import { checkArray, checkBoolean, checkNumber, checkOptions, checkShape, type FloatArray } from '../validate';

export interface AttentionOptions {
  /** Logit scale; default 1/sqrt(d). Any finite number. */
  scale?: number;
  causal?: boolean;
  /** Uint8Array (bool) or q's float type (additive); needs maskShape. */
  mask?: Uint8Array | FloatArray | null;
  maskShape?: number[];
  /** Dropout probability on the attention weights, in [0, 1). Default 0. */
  dropout?: number;
  /** Philox seed of the dropout mask (integer in [0, 2^53 - 1]); default 0. */
  seed?: number;
}

export interface AttentionForwardOptions extends AttentionOptions {
  /** Written in place when given ([B, H, Nq, d], q's type; must not alias an input). */
  out?: FloatArray;
  /** Written in place when given ([B, H, Nq], q's type). */
  lse?: FloatArray;
  /**
   * When given ([B, H, Nq]), receives lse's rounding residual (exact lse minus the stored one);
   * pass it to attentionBackward so float32 gradients do not inherit lse's rounding (F.attention
   * does). Ignored by the reference backend (its lse is exact before rounding).
   */
  lseLo?: FloatArray;
}

export interface AttentionBackwardOptions extends AttentionOptions {
  /** Gradient of the loss with respect to lse ([B, H, Nq]) when lse was used. */
  dlse?: FloatArray | null;
  /** The forward's lse residual (AttentionForwardOptions.lseLo), when it was requested. */
  lseLo?: FloatArray | null;
  dq?: FloatArray;
  dk?: FloatArray;
  dv?: FloatArray;
}

/** Everything the kernels need, validated once. */
// Keys of each entry point: planAttention is shared by the forward, its async form and the backward.
const ATTENTION_KEYS = ['scale', 'causal', 'mask', 'maskShape', 'dropout', 'seed'] as const;
const FORWARD_KEYS = [...ATTENTION_KEYS, 'out', 'lse', 'lseLo'] as const;
const BACKWARD_KEYS = [...ATTENTION_KEYS, 'dlse', 'lseLo', 'dq', 'dk', 'dv'] as const;

export interface AttentionPlan extends RefAttentionArgs {
  maskArray: Uint8Array | FloatArray | null;
  maskStrides: [number, number, number, number];
}

export interface AttentionSizes { B: number; H: number; Hk: number; Nq: number; Nk: number; d: number }

/**
 * The shape rules, written once: q [B, H, Nq, d], k and v [B, Hk, Nk, d] with Hk dividing H
 * (grouped-query). `names` are the arguments as messages name them: the raw kernels' shapes
 * (qShape, ...) or an op's tensors (attention(q), ...).
 */
export function planAttentionSizes(sq: readonly number[], sk: readonly number[], sv: readonly number[], names: { q: string; k: string; v: string }): AttentionSizes {
  const bad = (name: string, expected: string, got: readonly number[]) => selfsupError('ERR_SHAPE_MISMATCH', expected, name, shapeStr(got));
  if (sq.length !== 4) throw bad(names.q, 'a shape [B, H, Nq, d] of rank 4', sq);
  if (sk.length !== 4) throw bad(names.k, 'a shape [B, Hk, Nk, d] of rank 4', sk);
  const [B, H, Nq, d] = sq;
  const [Bk, Hk, Nk, dk] = sk;
  if (Bk !== B) throw bad(names.k, `a batch size equal to q's (${B})`, sk);
  if (dk !== d) throw bad(names.k, `a head dim equal to q's (d = ${d})`, sk);
  if (H < 1) throw bad(names.q, 'at least one head', sq);
  if (d < 1) throw bad(names.q, 'a head dim >= 1', sq);
  if (Hk < 1 || H % Hk !== 0) throw bad(names.k, `a number of key/value heads that divides H = ${H}`, sk);
  if (shapeStr(sv) !== shapeStr(sk)) throw bad(names.v, `a shape equal to k's ${shapeStr(sk)}`, sv);
  return { B, H, Hk, Nq, Nk, d };
}

/**
 * The scalar options' rules and defaults (scale 1/sqrt(d), not causal, no dropout), written
 * once for the raw kernels (op '') and F.attention (op 'attention').
 */
export function planAttentionScalars(op: string, o: Pick<AttentionOptions, 'scale' | 'causal' | 'dropout'>, d: number): { scale: number; causal: boolean; dropout: number } {
  const at = (k: string) => named(op, `options.${k}`);
  return {
    scale: o.scale === undefined ? 1 / Math.sqrt(d) : checkNumber(at('scale'), o.scale),
    causal: o.causal === undefined ? false : checkBoolean(at('causal'), o.causal),
    dropout: o.dropout === undefined ? 0 : checkNumber(at('dropout'), o.dropout, { min: 0, max: 1, maxExclusive: true }),
  };
}

/**
 * Validates shapes and options and resolves the mask's broadcast strides. Shared by the raw
 * kernels and F.attention (which passes its tensors' data and shapes).
 */
export function planAttention(
  q: unknown, qShape: unknown, k: unknown, kShape: unknown, v: unknown, vShape: unknown, options: unknown,
  known: readonly string[] = FORWARD_KEYS,
): { Q: FloatArray; K: FloatArray; V: FloatArray; plan: AttentionPlan } {
  const sq = checkShape('qShape', qShape), sk = checkShape('kShape', kShape), sv = checkShape('vShape', vShape);
  const { B, H, Hk, Nq, Nk, d } = planAttentionSizes(sq, sk, sv, { q: 'qShape', k: 'kShape', v: 'vShape' });
  const Q = checkArray<FloatArray>('q', q, ['float32', 'float64'], sq);
  const dt = Q instanceof Float32Array ? 'float32' : 'float64';
  const K = checkArray<FloatArray>('k', k, [dt], sk);
  const V = checkArray<FloatArray>('v', v, [dt], sv);

  const o = checkOptions<AttentionOptions>('options', options, known as readonly (keyof AttentionOptions)[]);
  const { scale, causal, dropout } = planAttentionScalars('', o, d);
  const seed = o.seed === undefined ? 0 : checkNumber('options.seed', o.seed, { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
  let maskArray: Uint8Array | FloatArray | null = null;
  let maskStrides: [number, number, number, number] = [0, 0, 0, 0];
  if (o.mask !== undefined && o.mask !== null) {
    if (o.maskShape === undefined) throw typeError('an array of non-negative integers (the mask shape)', 'options.maskShape', undefined);
    const ms = checkShape('options.maskShape', o.maskShape);
    maskArray = checkArray<Uint8Array | FloatArray>('options.mask', o.mask, ['bool', dt], ms);
    maskStrides = maskBroadcastStrides(ms, maskArray instanceof Uint8Array, [B, H, Nq, Nk], 'options.maskShape');
  }
  const plan: AttentionPlan = {
    B, H, Hk, Nq, Nk, d, scale, causal, dropout, seed, maskArray, maskStrides,
    mask: maskArray ? { data: maskArray, strides: maskStrides } : null,
  };
  return { Q, K, V, plan };
}

/**
 * Element strides of a mask of shape `ms` broadcast to [B, H, Nq, Nk] (0 on broadcast dims): the
 * mask rules, written once (a rank-2 bool mask is key padding [B, Nk]; any other mask broadcasts,
 * right-aligned). `name` is the mask's argument in messages.
 */
export function maskBroadcastStrides(ms: readonly number[], isBool: boolean, target: readonly [number, number, number, number], name: string): [number, number, number, number] {
  const [B, , , Nk] = target;
  if (isBool && ms.length === 2) {
    if (ms[0] !== B || ms[1] !== Nk) {
      throw selfsupError('ERR_SHAPE_MISMATCH', `a key-padding mask shape [B, Nk] = [${B}, ${Nk}] (rank-2 bool masks are key padding; use rank 4 for other masks)`, name, shapeStr(ms));
    }
    return [Nk, 0, 0, 1];
  }
  if (ms.length > 4 || ms.length < 1) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `a mask shape broadcastable to [B, H, Nq, Nk] = ${shapeStr(target)}`, name, shapeStr(ms));
  }
  const full = [...new Array(4 - ms.length).fill(1), ...ms];
  const strides: [number, number, number, number] = [0, 0, 0, 0];
  let s = 1;
  for (let i = 3; i >= 0; i--) {
    if (full[i] !== target[i] && full[i] !== 1) {
      throw selfsupError('ERR_SHAPE_MISMATCH', `a mask shape broadcastable to [B, H, Nq, Nk] = ${shapeStr(target)}`, name, shapeStr(ms));
    }
    strides[i] = full[i] === 1 ? 0 : s;
    s *= full[i];
  }
  return strides;
}

function checkOut(name: string, value: unknown, like: FloatArray, length: number, inputs: FloatArray[]): FloatArray {
  const arr = checkArray<FloatArray>(name, value, [like instanceof Float32Array ? 'float32' : 'float64'], [length]);
  if (inputs.some((x) => x.buffer === arr.buffer)) {
    throw selfsupError('ERR_INVALID_ARGUMENT', 'an output buffer that does not alias an input', name, 'an aliasing array');
  }
  return arr;
}

// Uninitialized: the native kernels write every element of out / lse (a fully masked row too) and
// zero dq / dk / dv themselves; the reference path copies whole results in.
function newLike(x: FloatArray, n: number): FloatArray {
  return x instanceof Float32Array ? uninitialized(Float32Array, n) : uninitialized(Float64Array, n);
}

/** Fused attention forward. Returns `{ out, lse }` (written into options.out / options.lse when given). */
export function attention<T extends FloatArray>(
  q: T, qShape: number[], k: T, kShape: number[], v: T, vShape: number[], options?: AttentionForwardOptions,
): { out: T; lse: T } {
  const { Q, K, V, plan: p } = planAttention(q, qShape, k, kShape, v, vShape, options);
  const o = (options ?? {}) as AttentionForwardOptions;
  const inputs = [Q, K, V];
  const out = o.out !== undefined ? checkOut('options.out', o.out, Q, p.B * p.H * p.Nq * p.d, inputs) : newLike(Q, p.B * p.H * p.Nq * p.d);
  const lse = o.lse !== undefined ? checkOut('options.lse', o.lse, Q, p.B * p.H * p.Nq, [...inputs, out]) : newLike(Q, p.B * p.H * p.Nq);
  const lseLo = o.lseLo !== undefined ? checkOut('options.lseLo', o.lseLo, Q, p.B * p.H * p.Nq, [...inputs, out, lse]) : null;
  if (useReference()) {
    const r = refAttention(Q, K, V, p);
    out.set(r.out);
    lse.set(r.lse);
    if (lseLo) for (let i = 0; i < lse.length; i++) lseLo[i] = Number.isFinite(r.lse[i]) ? r.lse[i] - lse[i] : 0;
  } else {
    native().attention(Q, K, V, out, lse, lseLo, p);
  }
  return { out: out as T, lse: lse as T };
}

/** Off-thread form: inputs are copied at call time; resolves with fresh arrays. */
export async function attentionAsync<T extends FloatArray>(
  q: T, qShape: number[], k: T, kShape: number[], v: T, vShape: number[], options?: AttentionOptions,
): Promise<{ out: T; lse: T }> {
  const { Q, K, V, plan: p } = planAttention(q, qShape, k, kShape, v, vShape, options, ATTENTION_KEYS);
  if (useReference()) return attention(q, qShape, k, kShape, v, vShape, { ...options, out: undefined, lse: undefined, lseLo: undefined } as AttentionForwardOptions);
  const r = await native().attentionAsync(Q as T, K as T, V as T, p);
  return { out: r.out, lse: r.lse };
}

function planBackward(
  q: unknown, qShape: unknown, k: unknown, kShape: unknown, v: unknown, vShape: unknown,
  out: unknown, lse: unknown, dout: unknown, options: unknown,
) {
  const { Q, K, V, plan: p } = planAttention(q, qShape, k, kShape, v, vShape, options, BACKWARD_KEYS);
  const dt = Q instanceof Float32Array ? 'float32' : 'float64';
  const qs = [p.B, p.H, p.Nq, p.d], ls = [p.B, p.H, p.Nq];
  const O = checkArray<FloatArray>('out', out, [dt], qs);
  const L = checkArray<FloatArray>('lse', lse, [dt], ls);
  const G = checkArray<FloatArray>('dout', dout, [dt], qs);
  const o = (options ?? {}) as AttentionBackwardOptions;
  const GL = o.dlse === undefined || o.dlse === null ? null : checkArray<FloatArray>('options.dlse', o.dlse, [dt], ls);
  const LO = o.lseLo === undefined || o.lseLo === null ? null : checkArray<FloatArray>('options.lseLo', o.lseLo, [dt], ls);
  return { Q, K, V, O, L, G, GL, LO, p, o };
}

/**
 * Fused attention backward (FlashAttention-2: recomputes the probabilities from `lse`).
 * `out` and `lse` are the forward's results on the same inputs and options; `dout` the gradient
 * of the loss with respect to out. Returns `{ dq, dk, dv }` (options.dq/dk/dv when given).
 */
export function attentionBackward<T extends FloatArray>(
  q: T, qShape: number[], k: T, kShape: number[], v: T, vShape: number[],
  out: T, lse: T, dout: T, options?: AttentionBackwardOptions,
): { dq: T; dk: T; dv: T } {
  const { Q, K, V, O, L, G, GL, LO, p, o } = planBackward(q, qShape, k, kShape, v, vShape, out, lse, dout, options);
  const nq = p.B * p.H * p.Nq * p.d, nk = p.B * p.Hk * p.Nk * p.d;
  const inputs = [Q, K, V, O, L, G, ...(GL ? [GL] : [])];
  const dq = o.dq !== undefined ? checkOut('options.dq', o.dq, Q, nq, inputs) : newLike(Q, nq);
  const dk = o.dk !== undefined ? checkOut('options.dk', o.dk, Q, nk, [...inputs, dq]) : newLike(Q, nk);
  const dv = o.dv !== undefined ? checkOut('options.dv', o.dv, Q, nk, [...inputs, dq, dk]) : newLike(Q, nk);
  if (useReference()) {
    const r = refAttentionBackward(Q, K, V, G, GL, p);
    dq.set(r.dq);
    dk.set(r.dk);
    dv.set(r.dv);
  } else {
    native().attentionBackward(Q, K, V, O, L, G, GL, LO, dq, dk, dv, p);
  }
  return { dq: dq as T, dk: dk as T, dv: dv as T };
}

/** Off-thread form of attentionBackward (inputs copied at call time). */
export async function attentionBackwardAsync<T extends FloatArray>(
  q: T, qShape: number[], k: T, kShape: number[], v: T, vShape: number[],
  out: T, lse: T, dout: T, options?: AttentionBackwardOptions,
): Promise<{ dq: T; dk: T; dv: T }> {
  const { Q, K, V, O, L, G, GL, LO, p } = planBackward(q, qShape, k, kShape, v, vShape, out, lse, dout, options);
  if (useReference()) {
    return attentionBackward(q, qShape, k, kShape, v, vShape, out, lse, dout, { ...options, dq: undefined, dk: undefined, dv: undefined });
  }
  return native().attentionBackwardAsync(Q as T, K as T, V as T, O as T, L as T, G as T, GL as T | null, LO as T | null, p);
}
