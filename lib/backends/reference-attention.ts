/**
 * Float64 reference for scaled-dot-product attention: the textbook composition, one full
 * [Nq, Nk] score matrix per head, softmax, dropout, times V (and its plain backward). It is the
 * oracle in tests and the fallback backend. Slow on purpose: loops, no tiling.
 */
import { uniformFloat32 } from '../random';
import type { FloatArray } from '../validate';

/** Philox stream of the dropout keep-mask: F.dropout's (lib/factories.ts STREAM_DROPOUT). */
export const ATTENTION_DROPOUT_STREAM = 2;

export interface RefAttentionArgs {
  B: number; H: number; Hk: number; Nq: number; Nk: number; d: number;
  scale: number;
  /** Bottom-right aligned: key j is visible to query i iff j <= i + Nk - Nq. */
  causal: boolean;
  /** Element (b,h,i,j) at data[b*strides[0] + h*strides[1] + i*strides[2] + j*strides[3]]. */
  mask?: { data: Uint8Array | FloatArray; strides: [number, number, number, number] } | null;
  dropout: number;
  seed: number;
}

/** Logits of head (b, h) as a full [Nq, Nk] matrix (-Infinity where masked). */
function logits(q: ArrayLike<number>, k: ArrayLike<number>, a: RefAttentionArgs, b: number, h: number): Float64Array {
  const { H, Hk, Nq, Nk, d } = a;
  const hk = Math.floor(h / (H / Hk));
  const qo = (b * H + h) * Nq * d, ko = (b * Hk + hk) * Nk * d;
  const s = new Float64Array(Nq * Nk);
  for (let i = 0; i < Nq; i++) {
    for (let j = 0; j < Nk; j++) {
      let dot = 0;
      for (let c = 0; c < d; c++) dot += q[qo + i * d + c] * k[ko + j * d + c];
      let x = a.scale * dot;
      if (a.mask) {
        const [sb, sh, sq, sk] = a.mask.strides;
        const m = a.mask.data[b * sb + h * sh + i * sq + j * sk];
        if (a.mask.data instanceof Uint8Array) x = m ? x : -Infinity;
        else x += m;
      }
      if (a.causal && j > i + Nk - Nq) x = -Infinity;
      s[i * Nk + j] = x;
    }
  }
  return s;
}

/** Softmax rows in place; returns the row log-sum-exp. All -inf rows become zeros, lse -inf. */
function softmaxRows(s: Float64Array, Nq: number, Nk: number): Float64Array {
  const lse = new Float64Array(Nq);
  for (let i = 0; i < Nq; i++) {
    let m = -Infinity;
    for (let j = 0; j < Nk; j++) m = Math.max(m, s[i * Nk + j]);
    if (m === -Infinity) {
      for (let j = 0; j < Nk; j++) s[i * Nk + j] = 0;
      lse[i] = -Infinity;
      continue;
    }
    let z = 0;
    for (let j = 0; j < Nk; j++) z += Math.exp(s[i * Nk + j] - m);
    for (let j = 0; j < Nk; j++) s[i * Nk + j] = Math.exp(s[i * Nk + j] - m) / z;
    lse[i] = m + Math.log(z);
  }
  return lse;
}

/** Dropout keep-mask scale of head (b, h): 1/(1-p) where kept, 0 where dropped. */
function dropScale(a: RefAttentionArgs, b: number, h: number): Float64Array | null {
  if (!(a.dropout > 0)) return null;
  const n = a.Nq * a.Nk;
  const u = uniformFloat32(a.seed, ATTENTION_DROPOUT_STREAM, (b * a.H + h) * n, n);
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) z[i] = u[i] >= a.dropout ? 1 / (1 - a.dropout) : 0;
  return z;
}

/** out [B,H,Nq,d] and lse [B,H,Nq] (float64). */
export function refAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, a: RefAttentionArgs): { out: Float64Array; lse: Float64Array } {
  const { B, H, Hk, Nq, Nk, d } = a;
  const out = new Float64Array(B * H * Nq * d);
  const lseAll = new Float64Array(B * H * Nq);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / (H / Hk));
      const p = logits(q, k, a, b, h);
      lseAll.set(softmaxRows(p, Nq, Nk), (b * H + h) * Nq);
      const z = dropScale(a, b, h);
      const vo = (b * Hk + hk) * Nk * d, oo = (b * H + h) * Nq * d;
      for (let i = 0; i < Nq; i++) {
        for (let c = 0; c < d; c++) {
          let acc = 0;
          for (let j = 0; j < Nk; j++) acc += p[i * Nk + j] * (z ? z[i * Nk + j] : 1) * v[vo + j * d + c];
          out[oo + i * d + c] = acc;
        }
      }
    }
  }
  return { out, lse: lseAll };
}

/**
 * Gradients of sum(out * dout) + sum(lse * dlse) with respect to q, k, v (float64), by the
 * textbook chain rule: dV = Pd^T dO, dPd = dO V^T, dP = dPd * Z, dS = P * (dP - rowsum(P * dP))
 * + P * dlse, dQ = scale dS K, dK = scale dS^T Q.
 */
export function refAttentionBackward(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>,
  dout: ArrayLike<number>, dlse: ArrayLike<number> | null | undefined, a: RefAttentionArgs,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { B, H, Hk, Nq, Nk, d } = a;
  const dq = new Float64Array(B * H * Nq * d);
  const dk = new Float64Array(B * Hk * Nk * d);
  const dv = new Float64Array(B * Hk * Nk * d);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / (H / Hk));
      const p = logits(q, k, a, b, h);
      softmaxRows(p, Nq, Nk);
      const z = dropScale(a, b, h);
      const qo = (b * H + h) * Nq * d, ko = (b * Hk + hk) * Nk * d, bh = (b * H + h) * Nq;
      for (let i = 0; i < Nq; i++) {
        const dP = new Float64Array(Nk);
        let rowDot = 0;
        for (let j = 0; j < Nk; j++) {
          const zij = z ? z[i * Nk + j] : 1;
          let g = 0;
          for (let c = 0; c < d; c++) g += dout[qo + i * d + c] * v[ko + j * d + c];
          for (let c = 0; c < d; c++) dv[ko + j * d + c] += p[i * Nk + j] * zij * dout[qo + i * d + c];
          dP[j] = g * zij;
          rowDot += p[i * Nk + j] * dP[j];
        }
        const gl = dlse ? dlse[bh + i] : 0;
        for (let j = 0; j < Nk; j++) {
          const ds = a.scale * p[i * Nk + j] * (dP[j] - rowDot + gl);
          if (ds === 0) continue;
          for (let c = 0; c < d; c++) {
            dq[qo + i * d + c] += ds * k[ko + j * d + c];
            dk[ko + j * d + c] += ds * q[qo + i * d + c];
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}
