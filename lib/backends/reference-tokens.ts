/**
 * Pure-TypeScript reference kernels of the tokens family (float64-accumulating plain loops): the
 * test oracle and the fallback backend. Same argument order and semantics as the native kernels
 * (native/ops/tokens/params.h); `lengths` (null = all K) marks ragged rows whose padding
 * positions are never read, produce zeros and get no gradient.
 *
 * The masks here use the same Philox streams and integer arithmetic as native/ops/tokens/masks.cc,
 * so one seed gives the same masks in both. `refMaskMultiBlock` is written as a plain port of the
 * I-JEPA reference loop (facebookresearch/ijepa src/masks/multiblock.py: materialized H x W masks,
 * acceptable regions multiplied in, nonzero()), with the fixes listed in docs/tokens.md; it is
 * both the agreement oracle and the baseline of the `masks` benchmark.
 */
import { normalFloat32, randomWords } from '../random';
import type { FloatArray } from '../validate';

/** Philox stream domains (high byte of the stream word), as in params.h. */
export const STREAM_RANDOM_MASK = 1 << 24;
export const STREAM_MULTI_BLOCK = 2 << 24;
export const STREAM_STOP = 3 << 24;

type Lengths = Int32Array | null;
const len = (lengths: Lengths, b: number, K: number): number => (lengths ? lengths[b] : K);

/** out[b,k,:] = x[b (or shared), idx[b,k], :] (+ pos[idx[b,k], :]). */
export function refGatherTokens(
  x: FloatArray, idx: Int32Array, lengths: Lengths, pos: FloatArray | null, out: FloatArray,
  B: number, N: number, D: number, K: number, xShared: boolean,
): void {
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) {
      const o = (b * K + k) * D;
      if (k >= len(lengths, b, K)) {
        for (let d = 0; d < D; d++) out[o + d] = 0;
        continue;
      }
      const n = idx[b * K + k];
      const xo = (xShared ? 0 : b * N * D) + n * D;
      for (let d = 0; d < D; d++) out[o + d] = x[xo + d] + (pos ? pos[n * D + d] : 0);
    }
  }
}

/** Scatter-add: dx[b (or shared), idx[b,k], :] += g[b,k,:], dpos[idx[b,k], :] += g[b,k,:] (outputs overwritten). */
export function refGatherTokensBackward(
  g: FloatArray, idx: Int32Array, lengths: Lengths, dx: FloatArray | null, dpos: FloatArray | null,
  B: number, N: number, D: number, K: number, xShared: boolean,
): void {
  if (dx) dx.fill(0);
  if (dpos) dpos.fill(0);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < len(lengths, b, K); k++) {
      const n = idx[b * K + k];
      for (let d = 0; d < D; d++) {
        const v = g[(b * K + k) * D + d];
        if (dx) dx[(xShared ? 0 : b * N * D) + n * D + d] += v;
        if (dpos) dpos[n * D + d] += v;
      }
    }
  }
}

/** out[b, idx[b,k], :] = src[b,k,:]; other rows = fill (or 0). */
export function refScatterTokens(
  src: FloatArray, idx: Int32Array, lengths: Lengths, fill: FloatArray | null, out: FloatArray,
  B: number, N: number, D: number, K: number,
): void {
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) out[(b * N + n) * D + d] = fill ? fill[d] : 0;
    for (let k = 0; k < len(lengths, b, K); k++) {
      const n = idx[b * K + k];
      for (let d = 0; d < D; d++) out[(b * N + n) * D + d] = src[(b * K + k) * D + d];
    }
  }
}

/** dsrc[b,k,:] = g[b, idx[b,k], :] (0 for padding); dfill = sum of g over unselected rows. */
export function refScatterTokensBackward(
  g: FloatArray, idx: Int32Array, lengths: Lengths, dsrc: FloatArray | null, dfill: FloatArray | null,
  B: number, N: number, D: number, K: number,
): void {
  if (dsrc) refGatherTokens(g, idx, lengths, null, dsrc, B, N, D, K, false);
  if (dfill) {
    dfill.fill(0);
    for (let b = 0; b < B; b++) {
      const used = new Uint8Array(N);
      for (let k = 0; k < len(lengths, b, K); k++) used[idx[b * K + k]] = 1;
      for (let n = 0; n < N; n++) if (!used[n]) for (let d = 0; d < D; d++) dfill[d] += g[(b * N + n) * D + d];
    }
  }
}

/** StoP noise n[b, k, :] (std * Philox normal, zero rows for padding), as the native kernel draws it. */
export function refStoPNoise(B: number, K: number, Din: number, std: number, seed: number, lengths: Lengths): Float64Array {
  const out = new Float64Array(B * K * Din);
  for (let b = 0; b < B; b++) {
    const valid = len(lengths, b, K);
    if (valid * Din === 0) continue;
    const z = normalFloat32(seed, STREAM_STOP + b, 0, valid * Din);
    for (let i = 0; i < valid * Din; i++) out[b * K * Din + i] = std * z[i];
  }
  return out;
}

/** out[b,k,:] = pos[idx[b,k], :] + W n[b,k,:] + bias (W: [Dp, Din]); noise written when given. */
export function refStochasticPositions(
  pos: FloatArray, idx: Int32Array, lengths: Lengths, weight: FloatArray, bias: FloatArray | null,
  out: FloatArray, noise: FloatArray | null,
  B: number, N: number, Dp: number, K: number, Din: number, std: number, seed: number,
): void {
  void N;
  const n = refStoPNoise(B, K, Din, std, seed, lengths);
  if (noise) noise.set(n);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) {
      const r = b * K + k;
      const valid = k < len(lengths, b, K);
      for (let j = 0; j < Dp; j++) {
        if (!valid) {
          out[r * Dp + j] = 0;
          continue;
        }
        let s = pos[idx[r] * Dp + j] + (bias ? bias[j] : 0);
        for (let i = 0; i < Din; i++) s += weight[j * Din + i] * n[r * Din + i];
        out[r * Dp + j] = s;
      }
    }
  }
}

export function refStochasticPositionsBackward(
  g: FloatArray, idx: Int32Array, lengths: Lengths, noise: FloatArray | null,
  dpos: FloatArray | null, dweight: FloatArray | null, dbias: FloatArray | null,
  B: number, N: number, Dp: number, K: number, Din: number, std: number, seed: number,
): void {
  const n = noise ?? refStoPNoise(B, K, Din, std, seed, lengths);
  if (dpos) refGatherTokensBackward(g, idx, lengths, null, dpos, B, N, Dp, K, false);
  if (dweight) dweight.fill(0);
  if (dbias) dbias.fill(0);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < len(lengths, b, K); k++) {
      const r = b * K + k;
      for (let j = 0; j < Dp; j++) {
        const gv = g[r * Dp + j];
        if (dbias) dbias[j] += gv;
        if (dweight) for (let i = 0; i < Din; i++) dweight[j * Din + i] += gv * n[r * Din + i];
      }
    }
  }
}

// ---- masks -------------------------------------------------------------------------------

/** MAE random_masking order: argsort of one Philox word per token (ties by index). */
export function refMaskRandom(
  B: number, N: number, keepCount: number, seed: number,
  keep: Int32Array, masked: Int32Array, restore: Int32Array,
): void {
  for (let b = 0; b < B; b++) {
    const w = randomWords(seed, STREAM_RANDOM_MASK + b, 0, N);
    const order = Array.from({ length: N }, (_, i) => i);
    order.sort((a, c) => (w[a] !== w[c] ? w[a] - w[c] : a - c));
    for (let j = 0; j < N; j++) {
      if (j < keepCount) keep[b * keepCount + j] = order[j];
      else masked[b * (N - keepCount) + j - keepCount] = order[j];
      restore[b * N + order[j]] = j;
    }
  }
}

export interface MultiBlockArgs {
  H: number; W: number; B: number; seed: number;
  encScale: [number, number]; predScale: [number, number]; aspectRatio: [number, number];
  nEnc: number; nPred: number; minKeep: number; allowOverlap: boolean; ragged: boolean;
}

/** Same fields as the native maskMultiBlock result. */
export interface MultiBlockRaw {
  kc: number; kt: number;
  context: Int32Array; targets: Int32Array;
  contextLengths: Int32Array; targetLengths: Int32Array;
  relaxed: Int32Array; predBlock: Int32Array; encBlock: Int32Array;
}

/** Sequential words of one stream (the native WordStream). */
class WordStream {
  private buf: Uint32Array = new Uint32Array(0);
  private pos = 0;
  private offset = 0;
  constructor(private readonly seed: number, private readonly stream: number) {}
  next(): number {
    if (this.pos === this.buf.length) {
      this.buf = randomWords(this.seed, this.stream, this.offset, 64);
      this.offset += 64;
      this.pos = 0;
    }
    return this.buf[this.pos++];
  }
  /** Uniform integer in [0, n): top 24 bits scaled, exact in doubles. */
  below(n: number): number {
    return Math.floor(((this.next() >>> 8) * n) / 16777216);
  }
}

/** The reference's _sample_block_size (one uniform for scale and aspect), clamped to [1, H-1] x [1, W-1]. */
export function multiBlockSize(r: number, scale: [number, number], aspect: [number, number], H: number, W: number): [number, number] {
  const s = scale[0] + r * (scale[1] - scale[0]);
  const maxKeep = Math.floor(H * W * s);
  const ar = aspect[0] + r * (aspect[1] - aspect[0]);
  let h = Math.floor(Math.sqrt(maxKeep * ar) + 0.5);
  let w = Math.floor(Math.sqrt(maxKeep / ar) + 0.5);
  h = Math.max(1, Math.min(h, H - 1));
  w = Math.max(1, Math.min(w, W - 1));
  return [h, w];
}

export function refMaskMultiBlock(a: MultiBlockArgs): MultiBlockRaw {
  const { H, W, B, seed, nEnc, nPred, minKeep } = a;
  const sizes = new WordStream(seed, STREAM_MULTI_BLOCK);
  const rPred = (sizes.next() >>> 8) / 16777216;
  const rEnc = (sizes.next() >>> 8) / 16777216;
  const [ph, pw] = multiBlockSize(rPred, a.predScale, a.aspectRatio, H, W);
  const [eh, ew] = multiBlockSize(rEnc, a.encScale, [1, 1], H, W);
  if (nPred > 0 && ph * pw <= minKeep) {
    throw new RangeError(`Expected minKeep below the target block size (${ph}x${pw} = ${ph * pw} tokens on a ${H}x${W} grid) for minKeep but received ${minKeep} (use a larger grid, larger predScale or a smaller minKeep)`);
  }
  if (nEnc > 0 && eh * ew <= minKeep) {
    throw new RangeError(`Expected minKeep below the context block size (${eh}x${ew} = ${eh * ew} tokens on a ${H}x${W} grid) for minKeep but received ${minKeep} (use a larger grid, larger encScale or a smaller minKeep)`);
  }
  // _sample_block_mask: a materialized H x W mask and its complement.
  const blockMask = (top: number, left: number, h: number, w: number): Uint8Array => {
    const m = new Uint8Array(H * W);
    for (let y = top; y < top + h; y++) for (let x = left; x < left + w; x++) m[y * W + x] = 1;
    return m;
  };
  const nonzero = (m: Uint8Array): number[] => {
    const out: number[] = [];
    for (let i = 0; i < m.length; i++) if (m[i]) out.push(i);
    return out;
  };
  const preds: number[][][] = []; // [b][j] -> indices
  const encs: number[][][] = [];
  const relaxed = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const ws = new WordStream(seed, STREAM_MULTI_BLOCK + b + 1);
    const masksP: number[][] = [];
    const masksC: Uint8Array[] = [];
    for (let j = 0; j < nPred; j++) {
      const top = ws.below(H - ph + 1); // inclusive corner range (github.com/facebookresearch/ijepa/issues/40)
      const left = ws.below(W - pw + 1);
      const m = blockMask(top, left, ph, pw);
      masksP.push(nonzero(m));
      masksC.push(m.map((v) => 1 - v));
    }
    preds.push(masksP);
    const acceptable = a.allowOverlap ? [] : masksC;
    const masksE: number[][] = [];
    for (let e = 0; e < nEnc; e++) {
      let tries = 0;
      let timeout = 20;
      for (;;) {
        const top = ws.below(H - eh + 1);
        const left = ws.below(W - ew + 1);
        const m = blockMask(top, left, eh, ew);
        const used = Math.max(acceptable.length - tries, 0);
        for (let k = 0; k < used; k++) for (let i = 0; i < m.length; i++) m[i] *= acceptable[k][i];
        const idx = nonzero(m);
        if (idx.length > minKeep) {
          masksE.push(idx);
          relaxed[b] = Math.max(relaxed[b], acceptable.length - used);
          break;
        }
        if (--timeout === 0) {
          tries++;
          timeout = 20;
        }
      }
    }
    encs.push(masksE);
  }
  // Collate: cut to the group minimum (reference) or pad to the maximum with -1 (ragged).
  const collate = (sets: number[][][], count: number): { k: number; data: Int32Array; lengths: Int32Array } => {
    const lengths = new Int32Array(count * B);
    for (let b = 0; b < B; b++) for (let j = 0; j < count; j++) lengths[j * B + b] = sets[b][j].length;
    let k = 0;
    if (count > 0 && B > 0) k = a.ragged ? Math.max(...lengths) : Math.min(...lengths);
    const data = new Int32Array(count * B * k).fill(-1);
    for (let b = 0; b < B; b++) for (let j = 0; j < count; j++) {
      const s = sets[b][j];
      for (let i = 0; i < Math.min(k, s.length); i++) data[(j * B + b) * k + i] = s[i];
    }
    return { k, data, lengths };
  };
  const c = collate(encs, nEnc);
  const t = collate(preds, nPred);
  return {
    kc: c.k, kt: t.k, context: c.data, targets: t.data, contextLengths: c.lengths, targetLengths: t.lengths,
    relaxed, predBlock: Int32Array.from([ph, pw]), encBlock: Int32Array.from([eh, ew]),
  };
}
