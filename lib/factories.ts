/**
 * Tensor factories. Random factories draw from lib/random.ts (Philox 4x32-10, counter based):
 *
 * - `randn(shape, { seed })` is `normalFloat32(seed, STREAM_RANDN = 0, 0, n)`; `rand` is
 *   `uniformFloat32(seed, STREAM_RAND = 1, 0, n)`; dropout masks use STREAM_DROPOUT = 2. The same
 *   seed therefore gives the same numbers in TS, C++ and CUDA.
 * - `randint` draws element i from words (2i, 2i+1) of STREAM_RANDINT = 3; `randperm` is a
 *   Fisher-Yates shuffle whose swap k uses words (2k, 2k+1) of STREAM_RANDPERM = 4. Both read the
 *   word pair as a 53-bit uniform u and take floor(u * range): the bias is at most range / 2^53.
 * - float64 `randn`/`rand` widen the float32 draws (so a float64 tensor holds exactly the values of
 *   the float32 one with the same seed; they are not 53-bit random numbers).
 * - Without a seed, each call takes the next seed of a global sequence: seed k is the 53-bit number
 *   made of words (2k, 2k+1) of `randomWords(globalSeed, SEED_STREAM, ...)`; `globalSeed` is
 *   DEFAULT_SEED (0) at load, so an unseeded program is reproducible run to run. `manualSeed(s)`
 *   restarts the sequence from `s`.
 */
import { rangeError, typeError } from './errors';
import { normalFloat32, randomWords, uniformFloat32 } from './random';
import { checkAllocation } from './validate';
import { Tensor, arrayCtor, checkDevice, dtypeOf, isFloatDType, type DType, type TensorData, type TensorOptions } from './tensor';

export const DEFAULT_SEED = 0;
export const STREAM_RANDN = 0;
export const STREAM_RAND = 1;
export const STREAM_DROPOUT = 2;
export const STREAM_RANDINT = 3;
export const STREAM_RANDPERM = 4;
const SEED_STREAM = 0xffffffff;

let globalSeed = DEFAULT_SEED;
let draws = 0;

function checkSeed(name: string, s: unknown): number {
  if (typeof s !== 'number') throw typeError('an integer', name, s);
  if (!Number.isSafeInteger(s) || s < 0) throw rangeError('an integer in [0, 2^53 - 1]', name, s);
  return s;
}

/** Restarts the global seed sequence used by unseeded random ops (randn, rand, dropout). */
export function manualSeed(seed: number): void {
  globalSeed = checkSeed('manualSeed(seed)', seed);
  draws = 0;
}

/** The next seed of the global sequence (for random ops called without a seed). */
export function nextSeed(): number {
  const w = randomWords(globalSeed, SEED_STREAM, 2 * draws, 2);
  draws++;
  return w[0] + (w[1] & 0x1fffff) * 4294967296;
}

/** Seed from options (validated), or the next global one. */
export function resolveSeed(name: string, seed: unknown): number {
  return seed === undefined || seed === null ? nextSeed() : checkSeed(name, seed);
}

type Nested = number | boolean | Nested[];

function inferShape(data: Nested, name: string): number[] {
  const shape: number[] = [];
  let cur: Nested = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0];
  }
  return shape;
  void name;
}

function flattenNested(data: Nested, shape: number[], name: string): Array<number | boolean> {
  const out: Array<number | boolean> = [];
  const rec = (v: Nested, d: number, path: string): void => {
    if (d === shape.length) {
      if (Array.isArray(v)) throw typeError('a number or boolean (ragged nested arrays)', `${name}${path}`, v);
      out.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[d]) throw rangeError(`an array of length ${shape[d]} (nested arrays must be rectangular)`, `${name}${path}`, v);
    v.forEach((c, i) => rec(c, d + 1, `${path}[${i}]`));
  };
  rec(data, 0, '');
  return out;
}

function checkShapeArg(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw typeError('an array of non-negative integers', name, shape);
  shape.forEach((d, i) => {
    if (typeof d !== 'number') throw typeError('a non-negative integer', `${name}[${i}]`, d);
    if (!Number.isSafeInteger(d) || d < 0) throw rangeError('a non-negative integer', `${name}[${i}]`, d);
  });
  return shape as number[];
}

function checkDtype(name: string, d: unknown): DType | undefined {
  if (d === undefined) return undefined;
  if (d === 'float32' || d === 'float64' || d === 'int32' || d === 'bool') return d;
  if (typeof d !== 'string') throw typeError("'float32' | 'float64' | 'int32' | 'bool'", name, d);
  throw rangeError("'float32' | 'float64' | 'int32' | 'bool'", name, d);
}

function fromValues(values: ArrayLike<number | boolean>, dtype: DType, name: string): TensorData {
  const out = new (arrayCtor(dtype))(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === 'boolean') out[i] = v ? 1 : 0;
    else if (typeof v !== 'number') throw typeError('a number or boolean', `${name}[${i}]`, v);
    else if (dtype === 'bool') out[i] = v !== 0 ? 1 : 0;
    else if (dtype === 'int32' && (!Number.isInteger(v) || v < -2147483648 || v > 2147483647)) throw rangeError('an int32 value', `${name}[${i}]`, v);
    else out[i] = v;
  }
  return out;
}

function finish(data: TensorData, shape: number[], o: TensorOptions, name: string): Tensor {
  // 'cuda': made on the host, then uploaded (one copy; docs/cuda.md).
  const device = checkDevice(`${name}(options.device)`, o.device);
  if (device === 'cuda' && dtypeOf(data) === 'float64') throw typeError("a float32, int32 or bool dtype (float64 tensors stay on 'cpu')", `${name}(options.dtype)`, 'float64');
  const t = new Tensor(data, shape, { device });
  if (o.requiresGrad !== undefined && typeof o.requiresGrad !== 'boolean') throw typeError('a boolean', `${name}(options.requiresGrad)`, o.requiresGrad);
  if (o.requiresGrad) {
    if (!isFloatDType(t.dtype)) throw typeError('a float32 or float64 dtype (only floating tensors can require grad)', `${name}(options.requiresGrad)`, `dtype '${t.dtype}'`, true);
    t.requiresGrad = true;
  }
  return t;
}

function checkOpts(name: string, options: unknown): TensorOptions & { seed?: number } {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw typeError('an options object', `${name}(options)`, options);
  return options as TensorOptions;
}

/**
 * A tensor from a typed array (zero-copy when its type is the dtype's storage type), nested or
 * flat JS arrays of numbers/booleans, or a single number/boolean (a 0-d tensor).
 * dtype defaults to the typed array's (Uint8Array -> bool), bool for boolean data, float32 otherwise
 * (unlike PyTorch, integer literals are float32: pass { dtype: 'int32' } for indices).
 * `shape` defaults to the nested arrays' shape (or [n] for flat data); it may reshape flat data.
 */
export function tensor(data: TensorData | ArrayLike<number> | Nested, shape?: number[] | null, options?: TensorOptions): Tensor {
  const o = checkOpts('tensor', options);
  let dtype = checkDtype('tensor(options.dtype)', o.dtype);
  let arr: TensorData;
  let inferred: number[];
  if (ArrayBuffer.isView(data)) {
    if (data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array || data instanceof Uint8Array) {
      const own = dtypeOf(data);
      dtype = dtype ?? own;
      arr = dtype === own ? data : fromValues(data, dtype, 'tensor(data)');
    } else if ((data as unknown) instanceof DataView) {
      throw typeError('a typed array or nested arrays', 'tensor(data)', data);
    } else {
      dtype = dtype ?? 'float32';
      arr = fromValues(data as unknown as ArrayLike<number>, dtype, 'tensor(data)');
    }
    inferred = [arr.length];
  } else if (typeof data === 'number' || typeof data === 'boolean') {
    dtype = dtype ?? (typeof data === 'boolean' ? 'bool' : 'float32');
    arr = fromValues([data], dtype, 'tensor(data)');
    inferred = [];
  } else if (Array.isArray(data)) {
    inferred = inferShape(data as Nested, 'tensor(data)');
    const flat = flattenNested(data as Nested, inferred, 'tensor(data)');
    dtype = dtype ?? (flat.length > 0 && typeof flat[0] === 'boolean' ? 'bool' : 'float32');
    arr = fromValues(flat, dtype, 'tensor(data)');
  } else {
    throw typeError('a typed array, an array of numbers/booleans, or a number', 'tensor(data)', data);
  }
  let s = inferred;
  if (shape !== undefined && shape !== null) {
    s = checkShapeArg('tensor(shape)', shape);
    let n = 1;
    for (const d of s) n *= d;
    if (n !== arr.length) throw rangeError(`data of ${n} elements for shape [${s.join(', ')}]`, 'tensor(data)', `${arr.length} elements`, true);
  }
  return finish(arr, s, o, 'tensor');
}

function filled(name: string, shape: unknown, value: number, options: unknown): Tensor {
  const s = checkShapeArg(`${name}(shape)`, shape);
  const o = checkOpts(name, options);
  const dtype = checkDtype(`${name}(options.dtype)`, o.dtype) ?? 'float32';
  let n = 1;
  for (const d of s) n *= d;
  const Ctor = arrayCtor(dtype);
  checkAllocation(`${name}(shape)`, n, Ctor.BYTES_PER_ELEMENT, `shape [${s.join(', ')}], ${dtype}`);
  const a = new Ctor(n);
  if (value !== 0) a.fill(dtype === 'bool' ? (value ? 1 : 0) : value);
  return finish(a, s, o, name);
}

export function zeros(shape: number[], options?: TensorOptions): Tensor {
  return filled('zeros', shape, 0, options);
}
export function ones(shape: number[], options?: TensorOptions): Tensor {
  return filled('ones', shape, 1, options);
}
export function full(shape: number[], value: number, options?: TensorOptions): Tensor {
  if (typeof value !== 'number' && typeof value !== 'boolean') throw typeError('a number', 'full(value)', value);
  return filled('full', shape, Number(value), options);
}
export function zerosLike(x: Tensor, options?: TensorOptions): Tensor {
  return zeros(x.shape, { dtype: x.dtype, ...options });
}
export function onesLike(x: Tensor, options?: TensorOptions): Tensor {
  return ones(x.shape, { dtype: x.dtype, ...options });
}

/** [start, end) by step; arange(n) is 0..n-1. float32 unless a dtype is given. */
export function arange(start: number, end?: number, step = 1, options?: TensorOptions): Tensor {
  if (typeof start !== 'number' || !Number.isFinite(start)) throw typeError('a finite number', 'arange(start)', start);
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (typeof end !== 'number' || !Number.isFinite(end)) throw typeError('a finite number', 'arange(end)', end);
  if (typeof step !== 'number' || !Number.isFinite(step) || step === 0) throw rangeError('a finite non-zero number', 'arange(step)', step);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const o = checkOpts('arange', options);
  const dtype = checkDtype('arange(options.dtype)', o.dtype) ?? 'float32';
  const Ctor = arrayCtor(dtype);
  checkAllocation('arange(end)', n, Ctor.BYTES_PER_ELEMENT, `${dtype}`);
  const a = new Ctor(n);
  for (let i = 0; i < n; i++) a[i] = start + i * step;
  return finish(a, [n], o, 'arange');
}

export interface RandomOptions {
  seed?: number;
  dtype?: 'float32' | 'float64';
  requiresGrad?: boolean;
  device?: 'cpu' | 'cuda';
}

function random(name: string, shape: unknown, options: unknown, normal: boolean): Tensor {
  const s = checkShapeArg(`${name}(shape)`, shape);
  const o = checkOpts(name, options) as RandomOptions;
  const dtype = checkDtype(`${name}(options.dtype)`, o.dtype) ?? 'float32';
  if (!isFloatDType(dtype)) throw typeError("'float32' | 'float64'", `${name}(options.dtype)`, dtype);
  checkDevice(`${name}(options.device)`, o.device);
  const seed = resolveSeed(`${name}(options.seed)`, o.seed);
  let n = 1;
  for (const d of s) n *= d;
  // The float32 draws exist even for float64 (they are widened), so both sizes must fit.
  checkAllocation(`${name}(shape)`, n, dtype === 'float32' ? 4 : 8, `shape [${s.join(', ')}], ${dtype}`);
  const f32 = normal ? normalFloat32(seed, STREAM_RANDN, 0, n) : uniformFloat32(seed, STREAM_RAND, 0, n);
  const data = dtype === 'float32' ? f32 : Float64Array.from(f32);
  return finish(data, s, o, name);
}

/** Standard normal samples (Philox, seedable; float64 widens the float32 draws). */
export function randn(shape: number[], options?: RandomOptions): Tensor {
  return random('randn', shape, options, true);
}
/** Uniform samples in [0, 1) (Philox, seedable; float64 widens the float32 draws). */
export function rand(shape: number[], options?: RandomOptions): Tensor {
  return random('rand', shape, options, false);
}

function checkInt(name: string, v: unknown, min = -Infinity): number {
  if (typeof v !== 'number') throw typeError('an integer', name, v);
  if (!Number.isSafeInteger(v) || v < min) throw rangeError(min === -Infinity ? 'an integer' : `an integer >= ${min}`, name, v);
  return v;
}

/** Float32/float64/int32 (the numeric dtypes), defaulting to `dflt`. */
function numericDtype(name: string, d: unknown, dflt: DType): DType {
  const dtype = checkDtype(name, d) ?? dflt;
  if (dtype === 'bool') throw rangeError("'float32' | 'float64' | 'int32'", name, dtype);
  return dtype;
}

function allocate(name: string, dtype: DType, n: number, what: string): TensorData {
  const Ctor = arrayCtor(dtype);
  checkAllocation(name, n, Ctor.BYTES_PER_ELEMENT, what);
  return new Ctor(n);
}

/**
 * The 2-D identity [n, m] (m defaults to n), like torch.eye: ones on the main diagonal.
 * `eye(n, options)` is accepted too.
 */
export function eye(n: number, m?: number | TensorOptions | null, options?: TensorOptions): Tensor {
  if (m !== null && typeof m === 'object') {
    options = m;
    m = undefined;
  }
  const rows = checkInt('eye(n)', n, 0);
  const cols = m === undefined || m === null ? rows : checkInt('eye(m)', m, 0);
  const o = checkOpts('eye', options);
  const dtype = checkDtype('eye(options.dtype)', o.dtype) ?? 'float32';
  const a = allocate('eye(n)', dtype, rows * cols, `shape [${rows}, ${cols}], ${dtype}`);
  for (let i = 0; i < Math.min(rows, cols); i++) a[i * cols + i] = 1;
  return finish(a, [rows, cols], o, 'eye');
}

/**
 * `steps` evenly spaced values from start to end, both included (torch.linspace). The second half
 * is computed from the end (end - (steps - 1 - i) * step), as PyTorch does, so the last value is
 * exactly `end`. int32 truncates toward zero.
 */
export function linspace(start: number, end: number, steps: number, options?: TensorOptions): Tensor {
  if (typeof start !== 'number' || !Number.isFinite(start)) throw typeError('a finite number', 'linspace(start)', start);
  if (typeof end !== 'number' || !Number.isFinite(end)) throw typeError('a finite number', 'linspace(end)', end);
  const n = checkInt('linspace(steps)', steps, 0);
  const o = checkOpts('linspace', options);
  const dtype = numericDtype('linspace(options.dtype)', o.dtype, 'float32');
  const a = allocate('linspace(steps)', dtype, n, dtype);
  const step = n > 1 ? (end - start) / (n - 1) : 0;
  const half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) {
    const v = n === 1 ? start : i < half ? start + i * step : end - (n - 1 - i) * step;
    a[i] = dtype === 'int32' ? Math.trunc(v) : v;
  }
  return finish(a, [n], o, 'linspace');
}

/** A 53-bit uniform in [0, 1) from words (2i, 2i+1) of a word array. */
function uniform53(w: Uint32Array, i: number): number {
  return ((w[2 * i] >>> 5) * 67108864 + (w[2 * i + 1] >>> 6)) / 9007199254740992;
}

export interface RandintOptions {
  seed?: number;
  /** Default int32 (PyTorch's is int64, which this package does not have). */
  dtype?: 'int32' | 'float32' | 'float64';
  device?: 'cpu' | 'cuda';
}

/**
 * Integers uniform in [low, high) (torch.randint), seedable like randn: element i reads words
 * (2i, 2i+1) of (seed, STREAM_RANDINT). `randint(high, shape, options)` means low = 0.
 */
export function randint(low: number, high: number | number[], shape?: number[] | RandintOptions, options?: RandintOptions): Tensor {
  if (Array.isArray(high)) {
    options = shape as RandintOptions | undefined;
    shape = high;
    high = low;
    low = 0;
  }
  const lo = checkInt('randint(low)', low);
  const hi = checkInt('randint(high)', high);
  if (hi <= lo) throw rangeError(`an integer > low (${lo})`, 'randint(high)', hi);
  const s = checkShapeArg('randint(shape)', shape);
  const o = checkOpts('randint', options) as RandintOptions;
  const dtype = numericDtype('randint(options.dtype)', o.dtype, 'int32');
  if (dtype === 'int32' && (lo < -2147483648 || hi > 2147483648)) throw rangeError('a range within int32', 'randint(high)', hi);
  checkDevice('randint(options.device)', o.device);
  const seed = resolveSeed('randint(options.seed)', o.seed);
  const n = s.reduce((a, b) => a * b, 1);
  const a = allocate('randint(shape)', dtype, n, `shape [${s.join(', ')}], ${dtype}`);
  const range = hi - lo;
  const w = randomWords(seed, STREAM_RANDINT, 0, 2 * n);
  for (let i = 0; i < n; i++) a[i] = lo + Math.floor(uniform53(w, i) * range);
  return finish(a, s, { device: o.device }, 'randint');
}

/**
 * A random permutation of 0..n-1 (torch.randperm), seedable like randn: a Fisher-Yates shuffle
 * (Knuth, TAOCP vol. 2, Algorithm P) whose swap k reads words (2k, 2k+1) of (seed, STREAM_RANDPERM).
 */
export function randperm(n: number, options?: RandintOptions): Tensor {
  const len = checkInt('randperm(n)', n, 0);
  const o = checkOpts('randperm', options) as RandintOptions;
  const dtype = numericDtype('randperm(options.dtype)', o.dtype, 'int32');
  if (dtype === 'int32' && len > 2147483648) throw rangeError('an integer <= 2^31', 'randperm(n)', len);
  checkDevice('randperm(options.device)', o.device);
  const seed = resolveSeed('randperm(options.seed)', o.seed);
  const a = allocate('randperm(n)', dtype, len, `${len} elements, ${dtype}`);
  for (let i = 0; i < len; i++) a[i] = i;
  const w = randomWords(seed, STREAM_RANDPERM, 0, 2 * Math.max(len - 1, 0));
  for (let k = 0, i = len - 1; i > 0; k++, i--) {
    const j = Math.floor(uniform53(w, k) * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return finish(a, [len], { device: o.device }, 'randperm');
}
