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

interface Handle {
  host: HostArray;
  dtype: CudaDType;
  disposed: boolean;
}

export interface MockCuda extends CudaAddon {
  live(): number;
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
      if (x.dtype === 'bfloat16' || x.dtype === 'float16' || y.dtype === 'bfloat16' || y.dtype === 'float16') throw new Error('mock cuda: no 16-bit casts');
      for (let i = 0; i < a.length; i++) {
        const v = a[i];
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
  };
  return mock as unknown as MockCuda & Record<string, unknown>;
}
