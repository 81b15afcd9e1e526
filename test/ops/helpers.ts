/** Test helpers of the op table: a seeded generator, input specs, float64 reference utilities. */
import { Tensor, tensor } from '../../lib/index';
import { mulberry32 } from '../helpers';

export interface RefTensor {
  shape: number[];
  data: Float64Array | Int32Array | Uint8Array;
}
export type RefOut = RefTensor | RefTensor[] | { [k: string]: RefTensor };

export interface TSpec {
  readonly __spec: true;
  shape: number[];
  kind: 'float' | 'int32' | 'bool';
  values: Float64Array | Int32Array | Uint8Array;
  /** Requires grad in the gradcheck run (float specs; default true). */
  grad: boolean;
}
export type Arg = TSpec | number | string | boolean | null | undefined | Tensor | Arg[] | { [k: string]: Arg };

export { mulberry32 };

export function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export interface FloatSpecOptions {
  /** Uniform range; default: magnitude in [0.1, 1.5] with a random sign (never zero). */
  min?: number;
  max?: number;
  grad?: boolean;
}

export class Gen {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** Float tensor spec; values rounded to float32 so both dtypes see the same inputs. */
  t(shape: number[], o: FloatSpecOptions = {}): TSpec {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const u = this.next();
      v[i] = Math.fround(o.min !== undefined || o.max !== undefined ? (o.min ?? -1) + u * ((o.max ?? 1) - (o.min ?? -1)) : (this.next() < 0.5 ? -1 : 1) * (0.1 + 1.4 * u));
    }
    return { __spec: true, shape, kind: 'float', values: v, grad: o.grad ?? true };
  }
  /** int32 spec with values in [0, high). */
  int(shape: number[], high: number): TSpec {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Int32Array(n);
    for (let i = 0; i < n; i++) v[i] = Math.floor(this.next() * high);
    return { __spec: true, shape, kind: 'int32', values: v, grad: false };
  }
  bool(shape: number[]): TSpec {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Uint8Array(n);
    for (let i = 0; i < n; i++) v[i] = this.next() < 0.5 ? 1 : 0;
    return { __spec: true, shape, kind: 'bool', values: v, grad: false };
  }
  /** Probability rows (positive, summing to 1 along `dim`). */
  probs(shape: number[], dim: number): TSpec {
    const s = this.t(shape, { min: 0.05, max: 1 });
    const { outer, size, inner } = split(shape, dim);
    for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
      let z = 0;
      for (let d = 0; d < size; d++) z += s.values[(o * size + d) * inner + i];
      for (let d = 0; d < size; d++) s.values[(o * size + d) * inner + i] /= z;
    }
    return s;
  }
}

export function isSpec(a: unknown): a is TSpec {
  return typeof a === 'object' && a !== null && (a as TSpec).__spec === true;
}

/** Specs -> Tensors of `dtype` (float specs), requiring grad when `withGrad`; collects the leaves. */
export function materialize(args: Arg[], dtype: 'float32' | 'float64', withGrad: boolean, leaves: Tensor[] = []): unknown[] {
  const rec = (a: Arg): unknown => {
    if (isSpec(a)) {
      if (a.kind === 'float') {
        const data = dtype === 'float32' ? Float32Array.from(a.values) : Float64Array.from(a.values);
        const t = tensor(data, a.shape, { requiresGrad: withGrad && a.grad });
        if (t.requiresGrad) leaves.push(t);
        return t;
      }
      return tensor(a.kind === 'int32' ? Int32Array.from(a.values) : Uint8Array.from(a.values), a.shape, { dtype: a.kind });
    }
    if (a instanceof Tensor) return a;
    if (Array.isArray(a)) return a.map(rec);
    if (a !== null && typeof a === 'object') return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, rec(v)]));
    return a;
  };
  return args.map(rec);
}

export function materializeRef(args: Arg[]): unknown[] {
  const rec = (a: Arg): unknown => {
    if (isSpec(a)) return { shape: a.shape.slice(), data: a.kind === 'float' ? Float64Array.from(a.values) : a.values.slice() } as RefTensor;
    if (a instanceof Tensor) return { shape: a.shape.slice(), data: Float64Array.from(a.data) } as RefTensor;
    if (Array.isArray(a)) return a.map(rec);
    if (a !== null && typeof a === 'object') return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, rec(v)]));
    return a;
  };
  return args.map(rec);
}

// ---- reference building blocks (plain loops; never call the op under test) -----------------

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
export function split(shape: readonly number[], dim: number): { outer: number; size: number; inner: number } {
  return { outer: size(shape.slice(0, dim)), size: shape.length ? shape[dim] : 1, inner: size(shape.slice(dim + 1)) };
}
export function ref(shape: number[], data?: ArrayLike<number>): RefTensor {
  return { shape, data: data ? Float64Array.from(data) : new Float64Array(size(shape)) };
}
export function refMap(x: RefTensor, f: (v: number) => number): RefTensor {
  const out = ref(x.shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = f(x.data[i]);
  return out;
}
export function bshape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  return Array.from({ length: r }, (_, i) => {
    const da = a[a.length - r + i] ?? 1, db = b[b.length - r + i] ?? 1;
    return da === 1 ? db : da;
  });
}
/** Multi-index of flat i in shape. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}
/** Flat index into `shape` of the broadcast multi-index `idx` (right-aligned, size-1 dims read 0). */
export function bindex(idx: readonly number[], shape: readonly number[]): number {
  let off = 0;
  const shift = idx.length - shape.length;
  for (let d = 0; d < shape.length; d++) off = off * shape[d] + (shape[d] === 1 ? 0 : idx[d + shift]);
  return off;
}
export function refBinary(a: RefTensor, b: RefTensor, f: (x: number, y: number) => number): RefTensor {
  const shape = bshape(a.shape, b.shape);
  const out = ref(shape);
  for (let i = 0; i < out.data.length; i++) {
    const idx = unravel(i, shape);
    out.data[i] = f(a.data[bindex(idx, a.shape)], b.data[bindex(idx, b.shape)]);
  }
  return out;
}
/** Reduces `dims` with (acc, value) starting from init, then finish(acc, count). */
export function refReduce(
  x: RefTensor, dims: number[] | null, keepdim: boolean,
  step: (acc: number, v: number) => number, init: number, finish: (acc: number, n: number) => number = (a) => a,
): RefTensor {
  const nd = x.shape.length;
  const ds = (dims ?? Array.from({ length: nd }, (_, i) => i)).map((d) => (d < 0 ? d + nd : d));
  const kept = x.shape.map((s, i) => (ds.includes(i) ? 1 : s));
  const acc = new Float64Array(size(kept)).fill(init);
  for (let i = 0; i < x.data.length; i++) {
    const o = bindex(unravel(i, x.shape), kept);
    acc[o] = step(acc[o], x.data[i]);
  }
  const n = ds.reduce((a, d) => a * x.shape[d], 1);
  for (let i = 0; i < acc.length; i++) acc[i] = finish(acc[i], n);
  return { shape: keepdim ? kept : x.shape.filter((_, i) => !ds.includes(i)), data: acc };
}

/** Max |a - b| - (atol + rtol |b|) over elements; the first offending index for messages. */
export function compare(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number): { ok: boolean; msg: string } {
  if (actual.length !== expected.length) return { ok: false, msg: `length ${actual.length} vs ${expected.length}` };
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) return { ok: false, msg: `index ${i}: got ${a}, expected ${e}` };
  }
  return { ok: true, msg: '' };
}

export function flattenOut<T>(out: T | T[] | { [k: string]: T }, isLeaf: (v: unknown) => boolean): T[] {
  if (isLeaf(out)) return [out as T];
  if (Array.isArray(out)) return out;
  return Object.values(out as { [k: string]: T });
}
/**
 * out[idx] = x[src(idx)] over `shape` (multi-indices); src returns null for a zero. The reference
 * of the ops that move or mask elements (flip, repeat, tril).
 */
export function refIndexMap(x: RefTensor, shape: number[], src: (idx: number[]) => number[] | null): RefTensor {
  const out = { shape, data: new (x.data.constructor as Float64ArrayConstructor)(size(shape)) };
  const strides = x.shape.map((_, i) => size(x.shape.slice(i + 1)));
  for (let i = 0; i < out.data.length; i++) {
    const s = src(unravel(i, shape));
    if (s) out.data[i] = x.data[s.reduce((a, v, d) => a + v * strides[d], 0)];
  }
  return out;
}
