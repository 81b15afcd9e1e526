/**
 * A host-memory stand-in for the CUDA build's device exports, for testing the JS side of cuda
 * tensors (lib/cuda.ts, the device paths of lib/ops, the engine, AdamW) on machines without a GPU.
 * A "device buffer" is a host typed array behind an opaque handle; the tensor-core functions
 * unwrap the handles and call the real (CPU) addon, and refuse a plain typed array the way the
 * CUDA build refuses to mix host and device arrays. New buffers are filled with NaN (float) or a
 * junk pattern, so a device op that reads memory nobody wrote shows up in the results. It checks
 * the plumbing, not the CUDA kernels (native/tests/cuda_tensor_test.cu does that on a GPU).
 */
import { DeviceArray, type CudaAddon, type CudaDType, type HostArray } from '../lib/cuda';
import type { NativeAddon } from '../lib/backends/native-api';
import { uniformFloat32 } from '../lib/random';

interface Handle {
  host: HostArray;
  dtype: CudaDType;
  disposed: boolean;
}

export interface MockCuda extends CudaAddon {
  live(): number;
}

// bfloat16 / float16 bits <-> float32, rounding to nearest even (the device's casts).
const F32 = new Float32Array(1), U32 = new Uint32Array(F32.buffer);
function toBf16(v: number): number {
  F32[0] = v;
  const u = U32[0];
  if (Number.isNaN(F32[0])) return 0x7fc0;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}
function fromBf16(h: number): number {
  U32[0] = h << 16;
  return F32[0];
}
function toF16(v: number): number {
  F32[0] = v;
  const x = U32[0], sign = (x >>> 16) & 0x8000, e = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const exp = e - 127 + 15;
  if (exp >= 0x1f) return sign | 0x7c00;
  let shift = 13, base = exp << 10;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    shift = 14 - exp;
    base = 0;
  }
  let h = base + (mant >>> shift);
  const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
  if (rem > half || (rem === half && (h & 1))) h++;
  return sign | h;
}
function fromF16(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function mockCuda(real: NativeAddon): MockCuda & Record<string, unknown> {
  let live = 0, allocated = 0, peak = 0, mallocs = 0;
  const H = (x: unknown, name: string): HostArray => {
    const h = (x instanceof DeviceArray ? x.handle : x) as Handle | undefined;
    if (!h || typeof h !== 'object' || !('host' in h)) throw new TypeError(`mock cuda: expected a cuda device buffer for ${name} but received ${String(x)}`);
    if (h.disposed) throw new Error(`mock cuda: ${name} was disposed`);
    return h.host;
  };
  const Hn = (x: unknown, name: string): HostArray | null => (x === null || x === undefined ? null : H(x, name));
  const f = (x: unknown, name: string) => H(x, name) as Float32Array;
  const mock = {
    live: () => live,
    cudaInfo: () => ({ built: true, devices: [{ name: 'mock', computeCapability: '9.0', memoryBytes: 1 << 30 }] }),
    cudaAlloc(dtype: CudaDType, n: number): Handle {
      const host = dtype === 'float32' ? new Float32Array(n).fill(NaN) : dtype === 'int32' ? new Int32Array(n).fill(-123456789) : dtype === 'bool' ? new Uint8Array(n).fill(7) : new Uint16Array(n).fill(0x7fc0);
      live++;
      mallocs++;
      allocated += host.byteLength;
      peak = Math.max(peak, allocated);
      return { host, dtype, disposed: false };
    },
    cudaDispose(h: Handle): void {
      if (h.disposed) return;
      h.disposed = true;
      live--;
      allocated -= h.host.byteLength;
    },
    cudaUpload(h: Handle, data: HostArray): void {
      H(h, 'handle').set(data);
    },
    cudaDownload(h: Handle, out: HostArray): void {
      out.set(H(h, 'handle'));
    },
    async cudaDownloadAsync(h: Handle): Promise<HostArray> {
      const copy = H(h, 'handle').slice();
      await new Promise((r) => setImmediate(r));
      return copy;
    },
    cudaCast(x: Handle, y: Handle): void {
      const a = H(x, 'x'), b = H(y, 'y');
      const from = x.dtype === 'bfloat16' ? fromBf16 : x.dtype === 'float16' ? fromF16 : (v: number) => v;
      for (let i = 0; i < a.length; i++) {
        const v = from(a[i]);
        if (y.dtype === 'bfloat16' || y.dtype === 'float16') {
          b[i] = (y.dtype === 'bfloat16' ? toBf16 : toF16)(v);
          continue;
        }
        b[i] = y.dtype === 'bool' ? (v !== 0 ? 1 : 0) : y.dtype === 'int32' ? (Number.isNaN(v) ? 0 : Math.trunc(v)) : v;
      }
    },
    cudaArgReduce(isMax: boolean, x: unknown, vals: unknown, idx: unknown, outer: number, size: number, inner: number): void {
      const a = H(x, 'x'), v = Hn(vals, 'vals'), ix = H(idx, 'idx');
      for (let r = 0; r < outer * inner; r++) {
        const base = Math.floor(r / inner) * size * inner + (r % inner);
        let best = a[base], bi = 0;
        for (let d = 1; d < size && best === best; d++) {
          const w = a[base + d * inner];
          if ((isMax ? w > best : w < best) || w !== w) { best = w; bi = d; }
        }
        if (v) v[r] = best;
        ix[r] = bi;
      }
    },
    cudaMemoryStats: () => ({ allocatedBytes: allocated, reservedBytes: allocated, peakAllocatedBytes: peak, numMallocs: mallocs, numFrees: 0, cacheHits: 0 }),
    cudaEmptyCache: () => undefined,
    cudaSynchronize: () => undefined,
    tensorBinary: (op: number, out: unknown, a: unknown, b: unknown, meta: Float64Array) => real.tensorBinary(op, H(out, 'out') as Float32Array, f(a, 'a'), f(b, 'b'), meta),
    tensorUnary: (op: number, x: unknown, y: unknown, p0: number, p1: number) => real.tensorUnary(op, f(x, 'x'), f(y, 'y'), p0, p1),
    tensorUnaryBackward: (op: number, g: unknown, s: unknown, gx: unknown, p0: number, p1: number) =>
      real.tensorUnaryBackward(op, f(g, 'g'), Hn(s, 's') as Float32Array | null, f(gx, 'gx'), p0, p1),
    tensorReduce: (op: number, x: unknown, out: unknown, meta: Float64Array, scale: number) => real.tensorReduce(op, f(x, 'x'), f(out, 'out'), meta, scale),
    tensorSoftmax: (log: boolean, x: unknown, y: unknown, o: number, s: number, i: number) => real.tensorSoftmax(log, f(x, 'x'), f(y, 'y'), o, s, i),
    tensorSoftmaxBackward: (log: boolean, g: unknown, y: unknown, gx: unknown, o: number, s: number, i: number) =>
      real.tensorSoftmaxBackward(log, f(g, 'g'), f(y, 'y'), f(gx, 'gx'), o, s, i),
    tensorCopy: (src: unknown, dst: unknown, meta: Float64Array) => real.tensorCopy(H(src, 'src') as Float32Array, H(dst, 'dst') as Float32Array, meta),
    tensorAxpy: (y: unknown, x: unknown, alpha: number) => real.tensorAxpy(f(y, 'y'), f(x, 'x'), alpha),
    cudaMatmul: (a: unknown, b: unknown, out: unknown, bias: unknown, plan: object) =>
      real.matmul(f(a, 'a'), f(b, 'b'), f(out, 'out'), Hn(bias, 'bias') as Float32Array | null, plan as never),
    cudaGeluForward: (x: unknown, bias: unknown, out: unknown, o: object) =>
      real.geluForward(f(x, 'x'), Hn(bias, 'bias') as Float32Array | null, f(out, 'out'), o as never),
    cudaGeluBackward: (g: unknown, x: unknown, bias: unknown, dx: unknown, dbias: unknown, o: object) =>
      real.geluBackward(f(g, 'grad'), f(x, 'x'), Hn(bias, 'bias') as Float32Array | null, f(dx, 'dx'), Hn(dbias, 'dbias') as Float32Array | null, o as never),
    // The device keeps LayerNorm's mean / rstd in float32; the CPU kernel wants float64.
    cudaLayerNormForward(x: unknown, w: unknown, b: unknown, out: unknown, mean: unknown, rstd: unknown, o: { rows: number }) {
      const m = new Float64Array(o.rows), r = new Float64Array(o.rows);
      real.layerNormForward(f(x, 'x'), Hn(w, 'weight') as Float32Array | null, Hn(b, 'bias') as Float32Array | null, f(out, 'out'), m, r, o as never);
      f(mean, 'mean').set(m);
      f(rstd, 'rstd').set(r);
    },
    cudaLayerNormBackward: (g: unknown, x: unknown, w: unknown, mean: unknown, rstd: unknown, dx: unknown, dw: unknown, db: unknown, o: object) =>
      real.layerNormBackward(f(g, 'grad'), f(x, 'x'), Hn(w, 'weight') as Float32Array | null, Float64Array.from(f(mean, 'mean')), Float64Array.from(f(rstd, 'rstd')),
        f(dx, 'dx'), Hn(dw, 'dweight') as Float32Array | null, Hn(db, 'dbias') as Float32Array | null, o as never),
    optimAdamW: (w: unknown[], g: unknown[], m: unknown[], v: unknown[], vm: unknown[] | null, ss: Float64Array, sb: Float64Array, hy: Float64Array) =>
      real.optimAdamW(w.map((x, i) => f(x, `params[${i}]`)), g.map((x, i) => f(x, `grads[${i}]`)), m.map((x, i) => f(x, `expAvg[${i}]`)),
        v.map((x, i) => f(x, `expAvgSq[${i}]`)), vm ? vm.map((x, i) => f(x, `maxExpAvgSq[${i}]`)) : null, ss, sb, hy),
    // The select moves elements as they are (any dtype, 16-bit ones as raw words); out may be a or b.
    cudaWhere(cond: unknown, a: unknown, b: unknown, out: unknown): void {
      const c = H(cond, 'cond'), x = H(a, 'a'), y = H(b, 'b'), o = H(out, 'out');
      const dt = (h: unknown) => ((h instanceof DeviceArray ? h.handle : h) as Handle).dtype;
      if (dt(cond) !== 'bool') throw new TypeError('mock cuda: cond must be a bool buffer');
      if (dt(b) !== dt(a) || dt(out) !== dt(a)) throw new TypeError('mock cuda: a, b and out must share a dtype');
      if (x.length !== c.length || y.length !== c.length || o.length !== c.length) throw new RangeError('mock cuda: where operands of different lengths');
      for (let i = 0; i < c.length; i++) o[i] = c[i] ? x[i] : y[i];
    },
    cudaDropoutMask(keep: unknown, seed: number, stream: number, p: number): void {
      const k = H(keep, 'keep'), u = uniformFloat32(seed, stream, 0, k.length);
      for (let i = 0; i < k.length; i++) k[i] = u[i] >= p ? 1 : 0;
    },
    ...fusedMock(real, H, Hn),
  };
  return mock as unknown as MockCuda & Record<string, unknown>;
}

type Unwrap = (x: unknown, name: string) => HostArray;
type UnwrapN = (x: unknown, name: string) => HostArray | null;

/**
 * The fused families' CUDA exports (native/napi/cuda_fused.cc): each unwraps its device buffers
 * and calls the CPU export with the same argument layout. Attention also takes bfloat16 / float16
 * buffers (decoded to float32 for the CPU kernel, results rounded back); its lse is float32.
 */
function fusedMock(real: NativeAddon, H: Unwrap, Hn: UnwrapN): Record<string, unknown> {
  const r = real as unknown as Record<string, (...a: unknown[]) => unknown>;
  const dtypeOf = (x: unknown): CudaDType => ((x instanceof DeviceArray ? x.handle : x) as Handle).dtype;
  // A float32 view of a float buffer (a decoded copy for 16-bit ones) and the write-back of outputs.
  const f32 = (x: unknown, name: string): Float32Array => {
    const h = H(x, name), dt = dtypeOf(x);
    if (dt === 'float32') return h as Float32Array;
    if (dt === 'bool' || dt === 'int32') throw new TypeError(`mock cuda: expected a float buffer for ${name}`);
    return Float32Array.from(h as Uint16Array, dt === 'bfloat16' ? fromBf16 : fromF16);
  };
  const store = (x: unknown, v: Float32Array): void => {
    const dt = dtypeOf(x);
    if (dt === 'float32') return;
    const h = H(x, 'out') as Uint16Array, enc = dt === 'bfloat16' ? toBf16 : toF16;
    for (let i = 0; i < v.length; i++) h[i] = enc(v[i]);
  };
  const maskOf = (o: Record<string, unknown>) => {
    const m = o.maskArray;
    if (m === null || m === undefined) return { ...o, maskArray: null };
    return { ...o, maskArray: dtypeOf(m) === 'bool' ? H(m, 'maskArray') : f32(m, 'maskArray') };
  };
  const arrs = (names: string[], args: unknown[]) => args.map((a, i) => (a === null || a === undefined ? null : H(a, names[i])));
  return {
    cudaAttention(q: unknown, k: unknown, v: unknown, out: unknown, lse: unknown, lseLo: unknown, o: Record<string, unknown>) {
      if (dtypeOf(lse) !== 'float32') throw new TypeError('mock cuda: lse must be a float32 buffer');
      const O = f32(out, 'out');
      r.attention(f32(q, 'q'), f32(k, 'k'), f32(v, 'v'), O, H(lse, 'lse'), Hn(lseLo, 'lseLo'), maskOf(o));
      store(out, O);
    },
    cudaAttentionBackward(q: unknown, k: unknown, v: unknown, out: unknown, lse: unknown, dout: unknown, dlse: unknown, lseLo: unknown,
      dq: unknown, dk: unknown, dv: unknown, o: Record<string, unknown>) {
      const g = [f32(dq, 'dq'), f32(dk, 'dk'), f32(dv, 'dv')];
      r.attentionBackward(f32(q, 'q'), f32(k, 'k'), f32(v, 'v'), f32(out, 'out'), H(lse, 'lse'), f32(dout, 'dout'), Hn(dlse, 'dlse'), Hn(lseLo, 'lseLo'),
        g[0], g[1], g[2], maskOf(o));
      [dq, dk, dv].forEach((x, i) => store(x, g[i]));
    },
    cudaInfoNCEForward: (...a: unknown[]) => r.infoNCEForward(...arrs(['z1', 'z2', 'negatives', 'labels', 'losses', 'lse', 'lsePos'], a.slice(0, 7)), a[7]),
    cudaInfoNCEBackward: (...a: unknown[]) =>
      r.infoNCEBackward(...arrs(['z1', 'z2', 'negatives', 'labels', 'gradRows', 'lse', 'lsePos', 'dz1', 'dz2'], a.slice(0, 9)), a[9]),
    cudaVicregForward: (x: unknown, y: unknown, o: unknown) => r.vicregForward(H(x, 'x'), H(y, 'y'), o),
    cudaVicregBackward: (...a: unknown[]) => r.vicregBackward(...arrs(['x', 'y', 'dx', 'dy'], a.slice(0, 4)), a[4]),
    cudaVicregTermForward: (x: unknown, o: unknown) => r.vicregTermForward(H(x, 'x'), o),
    cudaVicregTermBackward: (x: unknown, dx: unknown, o: unknown) => r.vicregTermBackward(H(x, 'x'), H(dx, 'dx'), o),
    cudaBarlowTwinsForward: (a: unknown, b: unknown, o: unknown) => r.barlowTwinsForward(H(a, 'z1'), H(b, 'z2'), o),
    cudaBarlowTwinsBackward: (...a: unknown[]) => r.barlowTwinsBackward(...arrs(['z1', 'z2', 'dz1', 'dz2'], a.slice(0, 4)), a[4]),
    cudaSinkhorn(scores: unknown, out: unknown, o: Record<string, unknown>) {
      if (o.allReduceSum) throw new Error('mock cuda: Expected a single process for collective on CUDA but received an allReduceSum hook');
      return r.sinkhorn(H(scores, 'scores'), H(out, 'out'), o);
    },
    cudaTokensGather: (...a: unknown[]) => r.tokensGather(...arrs(['x', 'idx', 'lengths', 'pos', 'out'], a.slice(0, 5)), a[5]),
    cudaTokensGatherBackward: (...a: unknown[]) => r.tokensGatherBackward(...arrs(['grad', 'idx', 'lengths', 'dx', 'dpos'], a.slice(0, 5)), a[5]),
    cudaTokensScatter: (...a: unknown[]) => r.tokensScatter(...arrs(['src', 'idx', 'lengths', 'fill', 'out'], a.slice(0, 5)), a[5]),
    cudaTokensScatterBackward: (...a: unknown[]) => r.tokensScatterBackward(...arrs(['grad', 'idx', 'lengths', 'dsrc', 'dfill'], a.slice(0, 5)), a[5]),
    cudaStochasticPositions: (...a: unknown[]) =>
      r.stochasticPositions(...arrs(['pos', 'idx', 'lengths', 'weight', 'bias', 'out', 'noise'], a.slice(0, 7)), a[7]),
    cudaStochasticPositionsBackward: (...a: unknown[]) =>
      r.stochasticPositionsBackward(...arrs(['grad', 'idx', 'lengths', 'noise', 'dpos', 'dweight', 'dbias'], a.slice(0, 7)), a[7]),
  };
}
