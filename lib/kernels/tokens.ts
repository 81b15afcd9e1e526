/**
 * Raw typed-array kernels of the tokens family (zero-copy; outputs written into `options.out`
 * when given): token gather/scatter with their backward passes, StoP stochastic positions, and the
 * MAE / I-JEPA masks. Index arrays are Int32Array [B, K] (no int64 [B, K, D] expansion as
 * torch.gather needs). `lengths` (Int32Array [B]) makes the index sets ragged: positions
 * k >= lengths[b] are padding (never read, output zero, no gradient).
 *
 * Every index is checked before any memory access; a bad one is reported with its batch row and
 * position (RangeError), in TS and again natively.
 */
import { uninitialized } from '../storage';
import { native, useReference } from '../backends/native';
import {
  refGatherTokens, refGatherTokensBackward, refMaskMultiBlock, refMaskRandom, refScatterTokens,
  refScatterTokensBackward, refStochasticPositions, refStochasticPositionsBackward,
  type MultiBlockRaw,
} from '../backends/reference-tokens';
import { rangeError, selfsupError, shapeStr, typeError } from '../errors';
import { named } from './args';
import { checkAllocation, checkArray, checkBoolean, checkNumber, checkOptions, checkShape, type FloatArray } from '../validate';

export type { MultiBlockRaw } from '../backends/reference-tokens';


/** Throws the same RangeError as the native check: names the argument, batch row and position. */
export function checkTokenIndices(name: string, idx: Int32Array, lengths: Int32Array | null, B: number, K: number, N: number, unique = false): void {
  // A table of N marks is the fast duplicate check, but N comes from the caller and may dwarf the
  // indices (even be past any array's size): then a set of the row's indices does the same job.
  const table = unique && (N <= 1 << 22 || N <= 4 * B * K);
  const seen = table ? new Int32Array(N).fill(-1) : null;
  const rowSet = unique && !table ? new Set<number>() : null;
  for (let b = 0; b < B; b++) {
    rowSet?.clear();
    let l = K;
    if (lengths) {
      l = lengths[b];
      if (l < 0 || l > K) throw rangeError(`lengths in [0, ${K}]`, 'lengths', `lengths[${b}] = ${l}`, true);
    }
    for (let k = 0; k < l; k++) {
      const v = idx[b * K + k];
      if (v < 0 || v >= N) {
        throw rangeError(`indices in [0, ${N})`, name, `${v} at ${name}[${b}, ${k}] (batch row ${b}, position ${k})`, true);
      }
      if (seen || rowSet) {
        if (seen ? seen[v] === b : rowSet!.has(v)) {
          throw selfsupError('ERR_INVALID_ARGUMENT', 'unique indices within each row', name, `${v} twice in batch row ${b} (again at position ${k})`);
        }
        if (seen) seen[v] = b;
        else rowSet!.add(v);
      }
    }
  }
}

interface IdxArgs { idx: Int32Array; B: number; K: number; lengths: Int32Array | null }

function idxArgs(idx: unknown, idxShape: unknown, lengths: unknown): IdxArgs {
  const s = checkShape('idxShape', idxShape);
  if (s.length !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a shape [B, K]', 'idxShape', shapeStr(s));
  const I = checkArray<Int32Array>('idx', idx, ['int32'], s);
  const L = lengths === undefined || lengths === null ? null : checkArray<Int32Array>('options.lengths', lengths, ['int32'], [s[0]]);
  return { idx: I, B: s[0], K: s[1], lengths: L };
}

/** Size check of an output allocated here, before any allocation (its own or the index checks'). */
function checkOutSize(name: string, given: unknown, like: FloatArray, dims: Record<string, number>): void {
  if (given !== undefined && given !== null) return;
  let n = 1;
  for (const d of Object.values(dims)) n *= d;
  checkAllocation(name, n, like.BYTES_PER_ELEMENT, `[${Object.keys(dims).join(', ')}] = ${shapeStr(Object.values(dims))}`);
}

function sameType(name: string, a: FloatArray | null | undefined, ref: FloatArray): void {
  if (a && a.constructor !== ref.constructor) throw typeError(`a ${ref.constructor.name} (same type as the input)`, name, a);
}

// Gather and scatter write every output row (padding and unselected rows included), so a fresh
// output needs no zero-fill; StoP asks for a zeroed one.
function outArray(name: string, given: unknown, like: FloatArray, n: number, inputs: Record<string, ArrayBufferView | null> = {}, zeroed = false): FloatArray {
  if (given === undefined || given === null) return zeroed ? new (like.constructor as Float32ArrayConstructor)(n) : uninitialized(like.constructor as Float32ArrayConstructor, n);
  const o = checkArray<FloatArray>(name, given, [like instanceof Float32Array ? 'float32' : 'float64'], [n]);
  checkNoOverlap(name, o, inputs);
  return o;
}

/**
 * Outputs are written while the inputs are still being read (rows in any order, several threads),
 * so an output whose bytes overlap an input's would read back its own writes: rejected, as matmul,
 * attention and sinkhorn reject aliasing. Views of one buffer that do not overlap are fine.
 */
function checkNoOverlap(name: string, out: ArrayBufferView, inputs: Record<string, ArrayBufferView | null>): void {
  for (const [what, a] of Object.entries(inputs)) {
    if (a && a.buffer === out.buffer && a.byteLength > 0 && out.byteLength > 0 &&
        a.byteOffset < out.byteOffset + out.byteLength && out.byteOffset < a.byteOffset + a.byteLength) {
      throw selfsupError('ERR_INVALID_ARGUMENT', `an output that does not overlap ${what}`, name, `an array overlapping ${what}`);
    }
  }
}

// ---- gather ------------------------------------------------------------------------------

export interface GatherTokensOptions {
  /** Int32Array [B]: ragged index sets. */
  lengths?: Int32Array | null;
  /** [N, D] added to every gathered row in the same pass: out = x[idx] + pos[idx]. */
  addPositions?: FloatArray | null;
  out?: FloatArray;
}

interface GatherPlan extends IdxArgs { x: FloatArray; N: number; D: number; shared: boolean; pos: FloatArray | null; out?: FloatArray }

function gatherPlan(x: unknown, xShape: unknown, idx: unknown, idxShape: unknown, options: unknown): GatherPlan {
  const o = checkOptions<GatherTokensOptions>('options', options, ['lengths', 'addPositions', 'out']);
  const ia = idxArgs(idx, idxShape, o.lengths);
  const xs = checkShape('xShape', xShape);
  if (xs.length !== 3 && xs.length !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a shape [B, N, D] or [N, D]', 'xShape', shapeStr(xs));
  const shared = xs.length === 2;
  if (!shared && xs[0] !== ia.B) throw selfsupError('ERR_SHAPE_MISMATCH', `a batch of ${xs[0]} rows (x is ${shapeStr(xs)})`, 'idxShape', shapeStr([ia.B, ia.K]));
  const X = checkArray<FloatArray>('x', x, ['float32', 'float64'], xs);
  const N = xs[xs.length - 2], D = xs[xs.length - 1];
  let pos: FloatArray | null = null;
  if (o.addPositions !== undefined && o.addPositions !== null) {
    pos = checkArray<FloatArray>('options.addPositions', o.addPositions, [X instanceof Float32Array ? 'float32' : 'float64'], [N, D]);
  }
  checkTokenIndices('idx', ia.idx, ia.lengths, ia.B, ia.K, N);
  return { ...ia, x: X, N, D, shared, pos, out: o.out };
}

/** out[b, k, :] = x[b, idx[b, k], :] (+ pos[idx[b, k], :]); x is [B, N, D] or a shared [N, D]. Returns [B, K, D]. */
export function gatherTokens<T extends FloatArray>(x: T, xShape: number[], idx: Int32Array, idxShape: number[], options?: GatherTokensOptions): T {
  const p = gatherPlan(x, xShape, idx, idxShape, options);
  checkOutSize('gatherTokens(out)', p.out, p.x, { B: p.B, K: p.K, D: p.D });
  const out = outArray('options.out', p.out, p.x, p.B * p.K * p.D, { x: p.x, idx: p.idx, 'options.lengths': p.lengths, 'options.addPositions': p.pos });
  if (useReference()) refGatherTokens(p.x, p.idx, p.lengths, p.pos, out, p.B, p.N, p.D, p.K, p.shared);
  else native().tokensGather(p.x, p.idx, p.lengths, p.pos, out, { ...p, xShared: p.shared });
  return out as T;
}

/** Off-thread form (inputs copied at call time). */
export async function gatherTokensAsync<T extends FloatArray>(x: T, xShape: number[], idx: Int32Array, idxShape: number[], options?: GatherTokensOptions): Promise<T> {
  const p = gatherPlan(x, xShape, idx, idxShape, options);
  checkOutSize('gatherTokensAsync(out)', undefined, p.x, { B: p.B, K: p.K, D: p.D });
  if (useReference()) return gatherTokens(x, xShape, idx, idxShape, options);
  const res = (await native().tokensGatherAsync(p.x as T, p.idx, p.lengths, p.pos as T | null, { ...p, xShared: p.shared })).out;
  if (p.out) {
    const o = outArray('options.out', p.out, p.x, res.length);
    o.set(res);
    return o as T;
  }
  return res;
}

export interface GatherTokensBackwardOptions {
  lengths?: Int32Array | null;
  /** x was a shared [N, D] table (dx is then [N, D]). */
  xShared?: boolean;
  /** Which gradients to compute (default: dx only). */
  wantX?: boolean;
  wantPositions?: boolean;
  /** Preallocated outputs (reused across steps: avoids allocating and page-faulting a dense [B, N, D]). */
  dxOut?: FloatArray;
  dposOut?: FloatArray;
}

/** Scatter-add of grad [B, K, D] back to x ([B, N, D] or [N, D]) and to the positions [N, D]. */
export function gatherTokensBackward<T extends FloatArray>(
  grad: T, idx: Int32Array, idxShape: number[], tokens: number, options?: GatherTokensBackwardOptions,
): { dx: T | null; dpos: T | null } {
  const o = checkOptions<GatherTokensBackwardOptions>('options', options, ['lengths', 'xShared', 'wantX', 'wantPositions', 'dxOut', 'dposOut']);
  const ia = idxArgs(idx, idxShape, o.lengths);
  const N = checkNumber('tokens', tokens, { integer: true, min: 0 });
  const G = checkArray<FloatArray>('grad', grad, ['float32', 'float64']);
  if (ia.B * ia.K === 0 ? G.length !== 0 : G.length % (ia.B * ia.K) !== 0) {
    throw rangeError(`a multiple of B*K = ${ia.B * ia.K} elements`, 'grad', `length ${G.length}`, true);
  }
  const D = ia.B * ia.K === 0 ? 0 : G.length / (ia.B * ia.K);
  const shared = o.xShared === undefined ? false : checkBoolean('options.xShared', o.xShared);
  const wantX = o.wantX === undefined ? true : checkBoolean('options.wantX', o.wantX);
  const wantP = o.wantPositions === undefined ? false : checkBoolean('options.wantPositions', o.wantPositions);
  if (wantX) checkOutSize('gatherTokensBackward(dx)', o.dxOut, G, shared ? { N, D } : { B: ia.B, N, D });
  if (wantP) checkOutSize('gatherTokensBackward(dpos)', o.dposOut, G, { N, D });
  checkTokenIndices('idx', ia.idx, ia.lengths, ia.B, ia.K, N);
  const Ctor = G.constructor as Float32ArrayConstructor;
  const dt = G instanceof Float32Array ? 'float32' : 'float64';
  const dx = !wantX ? null : o.dxOut ? checkArray<FloatArray>('options.dxOut', o.dxOut, [dt], [shared ? N * D : ia.B * N * D]) : uninitialized(Ctor, shared ? N * D : ia.B * N * D);
  const dpos = !wantP ? null : o.dposOut ? checkArray<FloatArray>('options.dposOut', o.dposOut, [dt], [N * D]) : uninitialized(Ctor, N * D);
  const inputs = { grad: G, idx: ia.idx, 'options.lengths': ia.lengths };
  if (dx && o.dxOut) checkNoOverlap('options.dxOut', dx, inputs);
  if (dpos && o.dposOut) checkNoOverlap('options.dposOut', dpos, { ...inputs, 'options.dxOut': dx });
  if (useReference()) refGatherTokensBackward(G, ia.idx, ia.lengths, dx, dpos, ia.B, N, D, ia.K, shared);
  else native().tokensGatherBackward(G, ia.idx, ia.lengths, dx, dpos, { B: ia.B, N, D, K: ia.K, xShared: shared });
  return { dx: dx as T | null, dpos: dpos as T | null };
}

// ---- scatter -----------------------------------------------------------------------------

export interface ScatterTokensOptions {
  lengths?: Int32Array | null;
  /** [D] token written at every unselected position (default zeros). */
  fill?: FloatArray | null;
  out?: FloatArray;
}

/** out [B, N, D]: out[b, idx[b, k]] = src[b, k]; the other rows = fill (or 0). Indices unique per row. */
export function scatterTokens<T extends FloatArray>(src: T, srcShape: number[], idx: Int32Array, tokens: number, options?: ScatterTokensOptions): T {
  const o = checkOptions<ScatterTokensOptions>('options', options, ['lengths', 'fill', 'out']);
  const ss = checkShape('srcShape', srcShape);
  if (ss.length !== 3) throw selfsupError('ERR_SHAPE_MISMATCH', 'a shape [B, K, D]', 'srcShape', shapeStr(ss));
  const ia = idxArgs(idx, [ss[0], ss[1]], o.lengths);
  const S = checkArray<FloatArray>('src', src, ['float32', 'float64'], ss);
  const N = checkNumber('tokens', tokens, { integer: true, min: 0 });
  const D = ss[2];
  const fill = o.fill === undefined || o.fill === null ? null : checkArray<FloatArray>('options.fill', o.fill, [S instanceof Float32Array ? 'float32' : 'float64'], [D]);
  checkOutSize('scatterTokens(out)', o.out, S, { B: ia.B, N, D });
  checkTokenIndices('idx', ia.idx, ia.lengths, ia.B, ia.K, N, true);
  const out = outArray('options.out', o.out, S, ia.B * N * D, { src: S, idx: ia.idx, 'options.lengths': ia.lengths, 'options.fill': fill });
  if (useReference()) refScatterTokens(S, ia.idx, ia.lengths, fill, out, ia.B, N, D, ia.K);
  else native().tokensScatter(S, ia.idx, ia.lengths, fill, out, { B: ia.B, N, D, K: ia.K });
  return out as T;
}

/** grad [B, N, D] -> dsrc [B, K, D] (a gather) and dfill [D] (sum over unselected rows). */
export function scatterTokensBackward<T extends FloatArray>(
  grad: T, gradShape: number[], idx: Int32Array, idxShape: number[],
  options?: { lengths?: Int32Array | null; wantSrc?: boolean; wantFill?: boolean },
): { dsrc: T | null; dfill: T | null } {
  const o = checkOptions<{ lengths?: Int32Array | null; wantSrc?: boolean; wantFill?: boolean }>('options', options, ['lengths', 'wantSrc', 'wantFill']);
  const gs = checkShape('gradShape', gradShape);
  if (gs.length !== 3) throw selfsupError('ERR_SHAPE_MISMATCH', 'a shape [B, N, D]', 'gradShape', shapeStr(gs));
  const ia = idxArgs(idx, idxShape, o.lengths);
  if (ia.B !== gs[0]) throw selfsupError('ERR_SHAPE_MISMATCH', `a batch of ${gs[0]} rows`, 'idxShape', shapeStr([ia.B, ia.K]));
  const G = checkArray<FloatArray>('grad', grad, ['float32', 'float64'], gs);
  const [B, N, D] = gs;
  if (o.wantSrc !== false) checkOutSize('scatterTokensBackward(dsrc)', undefined, G, { B, K: ia.K, D });
  checkTokenIndices('idx', ia.idx, ia.lengths, B, ia.K, N, true);
  const Ctor = G.constructor as Float32ArrayConstructor;
  const dsrc = o.wantSrc === false ? null : new Ctor(B * ia.K * D);
  const dfill = o.wantFill ? new Ctor(D) : null;
  if (useReference()) refScatterTokensBackward(G, ia.idx, ia.lengths, dsrc, dfill, B, N, D, ia.K);
  else native().tokensScatterBackward(G, ia.idx, ia.lengths, dsrc, dfill, { B, N, D, K: ia.K });
  return { dsrc: dsrc as T | null, dfill: dfill as T | null };
}

// ---- stochastic positions ------------------------------------------------------------------

export interface StochasticPositionsKernelOptions {
  /** Standard deviation of the noise (StoP's `var`: 0.25 ViT-B/L, 0.2 ViT-H). Default 0.25. */
  std?: number;
  /** Philox seed (integer 0..2^53-1); the noise is keyed by (seed, b, k, i). Default 0. */
  seed?: number;
  lengths?: Int32Array | null;
  /** Also return the noise n [B, K, Din] (default false: it never exists in memory). */
  materializeNoise?: boolean;
  out?: FloatArray;
}

interface StoPPlan extends IdxArgs { N: number; Dp: number; Din: number; std: number; seed: number }

/** StoP's noise scale: default 0.25 (the StoP paper's sigma), any finite number >= 0; op '' for the raw kernel. */
export function planStopStd(op: string, std: unknown): number {
  return std === undefined ? 0.25 : checkNumber(named(op, 'options.std'), std, { min: 0 });
}

function stopPlan(posShape: unknown, idx: unknown, idxShape: unknown, weightShape: unknown, o: Partial<StochasticPositionsKernelOptions>): StoPPlan {
  const ia = idxArgs(idx, idxShape, o.lengths);
  const ps = checkShape('posShape', posShape);
  if (ps.length !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a shape [N, Dp]', 'posShape', shapeStr(ps));
  const ws = checkShape('weightShape', weightShape);
  if (ws.length !== 2 || ws[0] !== ps[1]) throw selfsupError('ERR_SHAPE_MISMATCH', `a shape [${ps[1]}, Din] (an nn.Linear(Din, ${ps[1]}) weight)`, 'weightShape', shapeStr(ws));
  const std = planStopStd('', o.std);
  const seed = o.seed === undefined ? 0 : checkNumber('options.seed', o.seed, { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
  if (ia.B > (1 << 24) - 2) throw rangeError(`a batch <= ${(1 << 24) - 2}`, 'idxShape', shapeStr([ia.B, ia.K]), true);
  return { ...ia, N: ps[0], Dp: ps[1], Din: ws[1], std, seed };
}

/** out[b, k] = pos[idx[b, k]] + weight n[b, k] + bias, n ~ N(0, std^2) [B, K, Din] from Philox. */
export function stochasticPositions<T extends FloatArray>(
  pos: T, posShape: number[], idx: Int32Array, idxShape: number[], weight: T, weightShape: number[], bias: T | null,
  options?: StochasticPositionsKernelOptions,
): { out: T; noise: T | null } {
  const o = checkOptions<StochasticPositionsKernelOptions>('options', options, ['std', 'seed', 'lengths', 'materializeNoise', 'out']);
  const p = stopPlan(posShape, idx, idxShape, weightShape, o);
  const P = checkArray<FloatArray>('pos', pos, ['float32', 'float64'], [p.N, p.Dp]);
  const dt = P instanceof Float32Array ? 'float32' : 'float64';
  const Wt = checkArray<FloatArray>('weight', weight, [dt], [p.Dp, p.Din]);
  const bs = bias === null || bias === undefined ? null : checkArray<FloatArray>('bias', bias, [dt], [p.Dp]);
  const mat = o.materializeNoise === undefined ? false : checkBoolean('options.materializeNoise', o.materializeNoise);
  checkOutSize('stochasticPositions(out)', o.out, P, { B: p.B, K: p.K, Dp: p.Dp });
  if (mat) checkOutSize('stochasticPositions(noise)', undefined, P, { B: p.B, K: p.K, Din: p.Din });
  checkTokenIndices('idx', p.idx, p.lengths, p.B, p.K, p.N);
  const out = outArray('options.out', o.out, P, p.B * p.K * p.Dp, { pos: P, idx: p.idx, 'options.lengths': p.lengths, weight: Wt, bias: bs }, true);
  const noise = mat ? new (P.constructor as Float32ArrayConstructor)(p.B * p.K * p.Din) : null;
  if (useReference()) refStochasticPositions(P, p.idx, p.lengths, Wt, bs, out, noise, p.B, p.N, p.Dp, p.K, p.Din, p.std, p.seed);
  else native().stochasticPositions(P, p.idx, p.lengths, Wt, bs, out, noise, p);
  return { out: out as T, noise: noise as T | null };
}

export interface StochasticPositionsBackwardOptions {
  std?: number;
  seed?: number;
  lengths?: Int32Array | null;
  /** The forward's materialized noise (else it is regenerated from the seed). */
  noise?: FloatArray | null;
  wantPositions?: boolean;
  wantWeight?: boolean;
  wantBias?: boolean;
}

export function stochasticPositionsBackward<T extends FloatArray>(
  grad: T, posShape: number[], idx: Int32Array, idxShape: number[], weightShape: number[],
  options?: StochasticPositionsBackwardOptions,
): { dpos: T | null; dweight: T | null; dbias: T | null } {
  const o = checkOptions<StochasticPositionsBackwardOptions>('options', options, ['std', 'seed', 'lengths', 'noise', 'wantPositions', 'wantWeight', 'wantBias']);
  const p = stopPlan(posShape, idx, idxShape, weightShape, o);
  const G = checkArray<FloatArray>('grad', grad, ['float32', 'float64'], [p.B, p.K, p.Dp]);
  const noise = o.noise === undefined || o.noise === null ? null : checkArray<FloatArray>('options.noise', o.noise, [G instanceof Float32Array ? 'float32' : 'float64'], [p.B, p.K, p.Din]);
  sameType('options.noise', noise, G);
  checkTokenIndices('idx', p.idx, p.lengths, p.B, p.K, p.N);
  const Ctor = G.constructor as Float32ArrayConstructor;
  const dpos = o.wantPositions === false ? null : new Ctor(p.N * p.Dp);
  const dweight = o.wantWeight === false ? null : new Ctor(p.Dp * p.Din);
  const dbias = o.wantBias === false ? null : new Ctor(p.Dp);
  if (useReference()) refStochasticPositionsBackward(G, p.idx, p.lengths, noise, dpos, dweight, dbias, p.B, p.N, p.Dp, p.K, p.Din, p.std, p.seed);
  else native().stochasticPositionsBackward(G, p.idx, p.lengths, noise, dpos, dweight, dbias, p);
  return { dpos: dpos as T | null, dweight: dweight as T | null, dbias: dbias as T | null };
}

// ---- masks -------------------------------------------------------------------------------

export interface MaskRandomOptions {
  batch: number;
  tokens: number;
  /** Fraction masked (MAE: 0.75); keep = floor(tokens * (1 - ratio)). */
  ratio: number;
  seed?: number;
}

export interface MaskRandomRaw { keepCount: number; keep: Int32Array; masked: Int32Array; restore: Int32Array }

/** MAE random_masking indices: keep [B, K], masked [B, N-K], restore [B, N]. */
export function maskRandom(options: MaskRandomOptions): MaskRandomRaw {
  const o = checkOptions<MaskRandomOptions>('options', options, ['batch', 'tokens', 'ratio', 'seed']);
  const B = checkNumber('options.batch', o.batch, { integer: true, min: 0, max: (1 << 24) - 2 });
  const N = checkNumber('options.tokens', o.tokens, { integer: true, min: 0, max: 2 ** 31 - 1 });
  const ratio = checkNumber('options.ratio', o.ratio, { min: 0, max: 1 });
  const seed = o.seed === undefined ? 0 : checkNumber('options.seed', o.seed, { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
  const keepCount = Math.floor(N * (1 - ratio)); // mae: len_keep = int(L * (1 - mask_ratio))
  checkAllocation('maskRandom(restore)', B * N, Int32Array.BYTES_PER_ELEMENT, `[batch, tokens] = ${shapeStr([B, N])}`);
  const keep = new Int32Array(B * keepCount), masked = new Int32Array(B * (N - keepCount)), restore = new Int32Array(B * N);
  if (useReference()) refMaskRandom(B, N, keepCount, seed, keep, masked, restore);
  else native().maskRandom(keep, masked, restore, { B, N, keepCount, seed });
  return { keepCount, keep, masked, restore };
}

export interface MaskMultiBlockOptions {
  grid: [number, number];
  batch: number;
  seed?: number;
  encScale?: [number, number];
  predScale?: [number, number];
  aspectRatio?: [number, number];
  nEnc?: number;
  nPred?: number;
  minKeep?: number;
  allowOverlap?: boolean;
  ragged?: boolean;
}

function range(name: string, v: unknown, def: [number, number], lo: number, hi: number, loExclusive: boolean): [number, number] {
  if (v === undefined) return def;
  if (!Array.isArray(v) || v.length !== 2) throw typeError('a [min, max] pair of numbers', name, v);
  const a = checkNumber(`${name}[0]`, v[0], { min: lo, max: hi, minExclusive: loExclusive });
  const b = checkNumber(`${name}[1]`, v[1], { min: lo, max: hi, minExclusive: loExclusive });
  if (a > b) throw rangeError(`${name}[0] <= ${name}[1]`, name, v);
  return [a, b];
}

function multiBlockArgs(options: unknown): Parameters<typeof refMaskMultiBlock>[0] {
  const o = checkOptions<MaskMultiBlockOptions>('options', options, ['grid', 'batch', 'seed', 'encScale', 'predScale', 'aspectRatio', 'nEnc', 'nPred', 'minKeep', 'allowOverlap', 'ragged']);
  if (!Array.isArray(o.grid) || o.grid.length !== 2) throw typeError('a [height, width] pair', 'options.grid', o.grid);
  const H = checkNumber('options.grid[0]', o.grid[0], { integer: true, min: 1, max: 1 << 15 });
  const W = checkNumber('options.grid[1]', o.grid[1], { integer: true, min: 1, max: 1 << 15 });
  const B = checkNumber('options.batch', o.batch, { integer: true, min: 0, max: (1 << 24) - 2 });
  const seed = o.seed === undefined ? 0 : checkNumber('options.seed', o.seed, { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
  // Defaults: the I-JEPA in1k configs (vith14_ep300.yaml etc.).
  return {
    H, W, B, seed,
    encScale: range('options.encScale', o.encScale, [0.85, 1.0], 0, 1, true),
    predScale: range('options.predScale', o.predScale, [0.15, 0.2], 0, 1, true),
    aspectRatio: range('options.aspectRatio', o.aspectRatio, [0.75, 1.5], 0, 1e6, true),
    nEnc: o.nEnc === undefined ? 1 : checkNumber('options.nEnc', o.nEnc, { integer: true, min: 0, max: 1024 }),
    nPred: o.nPred === undefined ? 4 : checkNumber('options.nPred', o.nPred, { integer: true, min: 0, max: 1024 }),
    minKeep: o.minKeep === undefined ? 10 : checkNumber('options.minKeep', o.minKeep, { integer: true, min: 0, max: 2 ** 30 }),
    allowOverlap: o.allowOverlap === undefined ? false : checkBoolean('options.allowOverlap', o.allowOverlap),
    ragged: o.ragged === undefined ? false : checkBoolean('options.ragged', o.ragged),
  };
}

/**
 * I-JEPA multi-block masks (raw): context [nEnc, B, kc], targets [nPred, B, kt] (row-major token
 * indices, -1 padding when ragged), lengths [nEnc, B] / [nPred, B], relaxed [B], block sizes.
 */
export function maskMultiBlock(options: MaskMultiBlockOptions): MultiBlockRaw {
  const a = multiBlockArgs(options);
  if (useReference()) return refMaskMultiBlock(a);
  return native().maskMultiBlock(a);
}

/** Off-thread form (for data loaders): resolves with the same result as maskMultiBlock. */
export async function maskMultiBlockAsync(options: MaskMultiBlockOptions): Promise<MultiBlockRaw> {
  const a = multiBlockArgs(options);
  if (useReference()) return refMaskMultiBlock(a);
  return native().maskMultiBlockAsync(a);
}

