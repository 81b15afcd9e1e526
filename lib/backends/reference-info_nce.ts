/**
 * Float64 reference for InfoNCE / NT-Xent, written plainly: the full [R, K] similarity matrix,
 * masks as booleans, log-sum-exp per row. The oracle in tests and the fallback backend
 * (SELFSUP_BACKEND=reference). See native/ops/info_nce/params.h for the definition.
 */
import type { FloatArray } from '../validate';

export interface RefInfoNCEArgs {
  z1: FloatArray;
  z2: FloatArray;
  negatives: FloatArray | null;
  labels: Int32Array | null;
  n: number;
  d: number;
  m: number;
  temperature: number;
  normalize: boolean;
  both: boolean;
  decoupled: boolean;
}

const NORM_EPS = 1e-12; // F.normalize

interface Setup {
  U: Float64Array[]; // normalized views: z1 rows then z2 rows
  scale: number[]; // 1 / max(||z||, eps)
  bank: Float64Array[];
  rows: number[]; // indices into U
  keys: number[]; // indices into U (main keys)
  R: number;
}

function setup(a: RefInfoNCEArgs): Setup {
  const U: Float64Array[] = [];
  const scale: number[] = [];
  const rowOf = (src: FloatArray, i: number): Float64Array => {
    const v = new Float64Array(a.d);
    for (let k = 0; k < a.d; k++) v[k] = src[i * a.d + k];
    return v;
  };
  const norm = (v: Float64Array): number => {
    let s = 0;
    for (let k = 0; k < v.length; k++) s += v[k] * v[k];
    return a.normalize ? 1 / Math.max(Math.sqrt(s), NORM_EPS) : 1;
  };
  for (const src of [a.z1, a.z2]) {
    for (let i = 0; i < a.n; i++) {
      const v = rowOf(src, i);
      const sc = norm(v);
      for (let k = 0; k < a.d; k++) v[k] *= sc;
      U.push(v);
      scale.push(sc);
    }
  }
  const bank: Float64Array[] = [];
  for (let i = 0; i < a.m; i++) {
    const v = rowOf(a.negatives as FloatArray, i);
    const sc = norm(v);
    for (let k = 0; k < a.d; k++) v[k] *= sc;
    bank.push(v);
  }
  const R = a.both ? 2 * a.n : a.n;
  const rows = Array.from({ length: R }, (_, i) => i);
  const keys = a.both ? rows.slice() : Array.from({ length: a.n }, (_, i) => a.n + i);
  return { U, scale, bank, rows, keys, R };
}

function dot(x: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let k = 0; k < x.length; k++) s += x[k] * y[k];
  return s;
}

/** Masks for row r over the main keys (index c is the position in `keys`). */
function masks(a: RefInfoNCEArgs, r: number, c: number): { self: boolean; pos: boolean } {
  const self = a.both && r === c;
  let pos: boolean;
  if (self) pos = false;
  else if (a.labels) pos = a.labels[r % a.n] === a.labels[c % a.n];
  else pos = a.both ? c === (r + a.n) % (2 * a.n) : c === r;
  return { self, pos };
}

function lse(vals: number[]): number {
  if (vals.length === 0) return -Infinity;
  const mx = Math.max(...vals);
  if (mx === -Infinity) return -Infinity;
  let s = 0;
  for (const v of vals) s += Math.exp(v - mx);
  return mx + Math.log(s);
}

/** The full similarity matrix [R, K + M] (float64). */
function similarities(a: RefInfoNCEArgs, S: Setup): number[][] {
  return S.rows.map((r) => [
    ...S.keys.map((k) => dot(S.U[r], S.U[k]) / a.temperature),
    ...S.bank.map((b) => dot(S.U[r], b) / a.temperature),
  ]);
}

export function refInfoNCEForward(a: RefInfoNCEArgs): { losses: Float64Array; lse: Float64Array; lsePos: Float64Array | null } {
  const S = setup(a);
  const sim = similarities(a, S);
  const losses = new Float64Array(S.R);
  const lseOut = new Float64Array(S.R);
  const lsePos = a.labels ? new Float64Array(S.R) : null;
  const K = S.keys.length;
  for (let r = 0; r < S.R; r++) {
    const den: number[] = [];
    const pos: number[] = [];
    for (let c = 0; c < sim[r].length; c++) {
      const s = sim[r][c];
      if (c >= K) { den.push(s); continue; }
      const mk = masks(a, r, c);
      if (mk.self) continue;
      if (mk.pos) pos.push(s);
      if (!(mk.pos && a.decoupled)) den.push(s);
    }
    lseOut[r] = lse(den);
    const lp = lse(pos);
    if (lsePos) lsePos[r] = lp;
    losses[r] = lseOut[r] - lp;
  }
  return { losses, lse: lseOut, lsePos };
}

/** dL/dz1, dL/dz2 for per-row loss gradients gradRows [R]. */
export function refInfoNCEBackward(a: RefInfoNCEArgs, gradRows: ArrayLike<number>): { dz1: Float64Array; dz2: Float64Array } {
  const S = setup(a);
  const sim = similarities(a, S);
  const fwd = refInfoNCEForward(a);
  const K = S.keys.length;
  const dU = S.U.map(() => new Float64Array(a.d));
  for (let r = 0; r < S.R; r++) {
    const g = gradRows[r];
    const lsePos = fwd.lse[r] - fwd.losses[r];
    for (let c = 0; c < sim[r].length; c++) {
      const s = sim[r][c];
      let w = 0;
      if (c >= K) {
        w = Math.exp(s - fwd.lse[r]);
      } else {
        const mk = masks(a, r, c);
        if (mk.self) continue;
        if (!(mk.pos && a.decoupled)) w += Math.exp(s - fwd.lse[r]);
        if (mk.pos) w -= Math.exp(s - lsePos);
      }
      const coef = (g * w) / a.temperature;
      const ur = S.U[S.rows[r]];
      if (c >= K) {
        const b = S.bank[c - K];
        for (let k = 0; k < a.d; k++) dU[S.rows[r]][k] += coef * b[k];
      } else {
        const key = S.keys[c];
        const uk = S.U[key];
        for (let k = 0; k < a.d; k++) {
          dU[S.rows[r]][k] += coef * uk[k];
          dU[key][k] += coef * ur[k];
        }
      }
    }
  }
  // Through u = z * scale, scale = 1/||z||: dz = (du - u (u . du)) * scale.
  const dz = [new Float64Array(a.n * a.d), new Float64Array(a.n * a.d)];
  for (let v = 0; v < 2 * a.n; v++) {
    const u = S.U[v];
    const src = v < a.n ? a.z1 : a.z2;
    const i = v % a.n;
    let nz = 0;
    for (let k = 0; k < a.d; k++) nz += src[i * a.d + k] ** 2;
    const proj = a.normalize && Math.sqrt(nz) > NORM_EPS ? dot(u, dU[v]) : 0;
    for (let k = 0; k < a.d; k++) dz[v < a.n ? 0 : 1][i * a.d + k] = (dU[v][k] - u[k] * proj) * S.scale[v];
  }
  return { dz1: dz[0], dz2: dz[1] };
}
