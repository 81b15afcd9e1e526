/**
 * sgemm / dgemm through kernels.matmul (the packed GEMM every fused op builds on).
 * FLOPs: 2·m·n·k (one multiply and one add per term). Bytes: A, B read once and C written once,
 * (m·k + k·n + m·n)·sizeof(dtype); compute-bound at these sizes.
 * Check: 16 rows of C recomputed in float64, error normwise: max |C - C64| / max |C64|
 * (elementwise relative error is meaningless for entries that cancel to ~0).
 * Peers: torch.mm(a, b, out=c) (selfsup also writes into a preallocated C); ONNX Runtime's MatMul.
 */
import { matmul } from '../../lib/kernels/linalg';
import type { BenchMode, Workload, WorkloadInstance } from '../types';
import { ortSgemm } from '../onnx-models';

/** Seeded standard normals (mulberry32 + Box-Muller): bench inputs only, not the library's Philox. */
export function seededNormal(n: number, seed: number, Arr: Float32ArrayConstructor | Float64ArrayConstructor = Float32Array): Float32Array | Float64Array {
  let s = (seed * 0x9e3779b9 + 0x6d2b79f5) >>> 0;
  const u = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Arr(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u())), th = 2 * Math.PI * u();
    out[i] = r * Math.cos(th);
    if (i + 1 < n) out[i + 1] = r * Math.sin(th);
  }
  return out;
}

const TORCH = `
def setup(shape, dtype):
    dt = getattr(torch, dtype)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(shape["m"], shape["k"], generator=g, dtype=dt)
    b = torch.randn(shape["k"], shape["n"], generator=g, dtype=dt)
    c = torch.empty(shape["m"], shape["n"], dtype=dt)
    def run(mode):
        torch.mm(a, b, out=c)
    return run
`;

const CHECK_ROWS = 16;

function make(m: number, n: number, k: number, name: string, quick: boolean): Workload & { withShape(s: Record<string, number>): Workload } {
  return {
    op: 'sgemm',
    name,
    shape: { m, n, k },
    modes: ['fwd'],
    quick,
    flops: () => 2 * m * n * k,
    // Counted for float32; float64 runs move twice this (the roofline stays compute-bound).
    bytes: () => 4 * (m * k + k * n + m * n),
    setup({ dtype, seed }): WorkloadInstance {
      const Arr = dtype === 'float64' ? Float64Array : Float32Array;
      const a = seededNormal(m * k, seed, Arr);
      const b = seededNormal(k * n, seed + 1, Arr);
      const c = new Arr(m * n);
      return {
        run: (_mode: BenchMode) => {
          matmul(a, [m, k], b, [k, n], { out: c });
        },
        check: () => {
          matmul(a, [m, k], b, [k, n], { out: c });
          const rows = Math.min(CHECK_ROWS, m);
          let maxErr = 0, maxRef = 0;
          const ref = new Float64Array(n);
          for (let s = 0; s < rows; s++) {
            const i = Math.floor((s * m) / rows); // spread over the matrix (different GEMM blocks)
            ref.fill(0);
            for (let p = 0; p < k; p++) {
              const aip = a[i * k + p];
              for (let j = 0; j < n; j++) ref[j] += aip * b[p * n + j];
            }
            for (let j = 0; j < n; j++) {
              maxErr = Math.max(maxErr, Math.abs(c[i * n + j] - ref[j]));
              maxRef = Math.max(maxRef, Math.abs(ref[j]));
            }
          }
          return maxRef > 0 ? maxErr / maxRef : maxErr;
        },
      };
    },
    torch: TORCH,
    tfjs: (tfm: unknown) => {
      const tf = tfm as {
        randomNormal(s: number[]): { dispose(): void };
        matMul(a: unknown, b: unknown): unknown;
      };
      const a = tf.randomNormal([m, k]), b = tf.randomNormal([k, n]);
      return { run: () => void tf.matMul(a, b), dispose: () => { a.dispose(); b.dispose(); } };
    },
    ort: ({ seed }) => {
      const a = seededNormal(m * k, seed) as Float32Array, b = seededNormal(k * n, seed + 1) as Float32Array;
      return ortSgemm(a, b, m, n, k, matmul(a, [m, k], b, [k, n]));
    },
    withShape: (s) => {
      const mm = s.m ?? m, nn = s.n ?? n, kk = s.k ?? k;
      return make(mm, nn, kk, mm === nn && nn === kk ? `${mm}^3` : `${mm}x${nn}x${kk}`, false);
    },
  };
}

export const workloads: Workload[] = [make(1024, 1024, 1024, '1024^3', true), make(2048, 2048, 2048, '2048^3', false)];
