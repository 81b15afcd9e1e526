/**
 * Fused attention (kernels.attention / attentionBackward), self-attention shapes of ViTs plus
 * long sequences; q, k, v [B, H, N, d], no mask, scale 1/sqrt(d).
 *
 * FLOPs as FlashAttention counts them: forward 4·B·H·N²·d (q k^T and P v, 2 flops per
 * multiply-add); forward + backward 3.5x that (the backward's five N²·d products, q k^T recomputed,
 * count 2.5x the forward, as in the FlashAttention-2 paper). Softmax exps are not counted.
 * Bytes (minimum traffic): fwd reads q, k, v and writes out and lse, 4·(4·B·H·N·d + B·H·N);
 * fwd+bwd adds reading out, dout, lse and writing dq, dk, dv: 4·(10·B·H·N·d + 2·B·H·N).
 *
 * Check: head (0, 0), its first min(N, 256) queries against the float64 reference (lib/backends/
 * reference-attention.ts): the output rows (fwd) and the dq rows (fwd+bwd); a query row's output
 * and dq depend only on that row, so the slice is exact. Normwise error max|x - x64| / max|x64|.
 *
 * extraBytes: the kernel's workspace, O(N·d) (never N²): forward, per thread, one head's K^T and V
 * packed into 16-column panels, one 64x128 score tile and one 64xd accumulator; backward
 * D = rowsum(dO∘O) plus per thread a dq accumulator for one head and seven 64x64 tiles.
 *
 * Unfused (--vs unfused): the same attention composed of selfsup's own Tensor ops,
 * softmax(q kᵀ · scale) v with autograd, which materializes the [B, H, N, N] scores.
 *
 * Peer: F.scaled_dot_product_attention when torch has it (2.x), else the textbook composition
 * softmax(q k^T / sqrt(d)) v (torch 1.13); backward through autograd with a fixed dout.
 * ONNX Runtime (--vs ort, forward): the fastest of the textbook composition,
 * com.microsoft.MultiHeadAttention and opset 23's Attention that the installed ORT runs.
 */
import { attention, attentionBackward } from '../../lib/kernels/attention';
import { refAttention, refAttentionBackward } from '../../lib/backends/reference-attention';
import { tryNative } from '../../lib/backends/native';
import { tensor } from '../../lib/factories';
import { noGrad } from '../../lib/autograd/grad-mode';
import type { BenchMode, Workload, WorkloadInstance } from '../types';
import { seededNormal } from './sgemm';
import { tfjsAttention } from '../tfjs-peers';
import { autogradPath, leaf, place } from '../autograd-path';
import { F } from '../../lib/functional';
import { normwiseError } from '../check';
import { ortAttention } from '../onnx-models';

const TORCH = `
def setup(shape, dtype):
    dt = getattr(torch, dtype)
    g = torch.Generator().manual_seed(0)
    B, H, N, d = shape["B"], shape["H"], shape["N"], shape["d"]
    q = torch.randn(B, H, N, d, generator=g, dtype=dt).requires_grad_()
    k = torch.randn(B, H, N, d, generator=g, dtype=dt).requires_grad_()
    v = torch.randn(B, H, N, d, generator=g, dtype=dt).requires_grad_()
    go = torch.randn(B, H, N, d, generator=g, dtype=dt)
    sdpa = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
    def attn(q, k, v):
        if sdpa is not None:
            return sdpa(q, k, v)
        return torch.softmax((q @ k.transpose(-2, -1)) * (d ** -0.5), dim=-1) @ v
    def run(mode):
        if mode == "fwd":
            with torch.no_grad():
                attn(q, k, v)
        else:
            q.grad = k.grad = v.grad = None
            attn(q, k, v).backward(go)
    return run
`;

const CHECK_ROWS = 256;

function slice(x: Float32Array | Float64Array, n: number): Float64Array {
  return Float64Array.from(x.subarray(0, n));
}

function make(name: string, B: number, H: number, N: number, d: number, quick: boolean): Workload {
  const fl = 4 * B * H * N * N * d;
  return {
    op: 'attention',
    name,
    shape: { B, H, N, d },
    modes: ['fwd', 'fwd+bwd'],
    quick,
    flops: (mode: BenchMode) => (mode === 'fwd' ? fl : 3.5 * fl),
    bytes: (mode: BenchMode) => 4 * (mode === 'fwd' ? 4 * B * H * N * d + B * H * N : 10 * B * H * N * d + 2 * B * H * N),
    setup({ dtype, seed }): WorkloadInstance {
      const Arr = dtype === 'float64' ? Float64Array : Float32Array;
      const n = B * H * N * d, shp = [B, H, N, d];
      const q = seededNormal(n, seed, Arr), k = seededNormal(n, seed + 1, Arr), v = seededNormal(n, seed + 2, Arr);
      const dout = seededNormal(n, seed + 3, Arr);
      const out = new Arr(n), lse = new Arr(B * H * N);
      const dq = new Arr(n), dk = new Arr(n), dv = new Arr(n);
      const fwd = () => attention(q, shp, k, shp, v, shp, { out, lse });
      const bwd = () => attentionBackward(q, shp, k, shp, v, shp, out, lse, dout, { dq, dk, dv });
      const esize = Arr.BYTES_PER_ELEMENT;
      const threads = (tryNative()?.numThreads() as number | undefined) ?? 1;
      return {
        run: (mode: BenchMode) => {
          fwd();
          if (mode === 'fwd+bwd') bwd();
        },
        check: (mode: BenchMode) => {
          fwd();
          if (mode === 'fwd+bwd') bwd();
          // Head (0, 0), first rows: exact slices (see the header).
          const rows = Math.min(N, CHECK_ROWS), hd = N * d;
          const a = { B: 1, H: 1, Hk: 1, Nq: rows, Nk: N, d, scale: 1 / Math.sqrt(d), causal: false, dropout: 0, seed: 0 };
          const q0 = slice(q, rows * d), k0 = slice(k, hd), v0 = slice(v, hd);
          if (mode === 'fwd') return normwiseError(out.subarray(0, rows * d), refAttention(q0, k0, v0, a).out);
          return normwiseError(dq.subarray(0, rows * d), refAttentionBackward(q0, k0, v0, slice(dout, rows * d), null, a).dq);
        },
        extraBytes: (mode: BenchMode) => {
          const dp = Math.ceil(d / 8) * 8;
          const nkp = Math.ceil(N / 16) * 16;
          if (mode === 'fwd') return esize * threads * (d * nkp + nkp * dp + 64 * 128 + 64 * dp + 128);
          return esize * (B * H * d * (Math.ceil(N / 8) * 8) + B * H * N + threads * (N * dp + 7 * 64 * 64));
        },
      };
    },
    torch: TORCH,
    tfjs: N <= 1024 ? (tf, s) => tfjsAttention(tf, s) : undefined, // 4096: the [8, N, N] scores alone are 512 MiB
    ort: ({ seed }) => {
      const n = B * H * N * d, shp = [B, H, N, d];
      const q = seededNormal(n, seed) as Float32Array, k = seededNormal(n, seed + 1) as Float32Array, v = seededNormal(n, seed + 2) as Float32Array;
      return ortAttention({ B, H, N, d }, q, k, v, attention(q, shp, k, shp, v, shp).out);
    },

    autograd(at): WorkloadInstance {
      const n = B * H * N * d, shp = [B, H, N, d], seed = at.seed;
      const Arr = at.dtype === 'float64' ? Float64Array : Float32Array;
      const q = leaf(seededNormal(n, seed, Arr), shp, at), k = leaf(seededNormal(n, seed + 1, Arr), shp, at), v = leaf(seededNormal(n, seed + 2, Arr), shp, at);
      return autogradPath([q, k, v], () => F.attention(q, k, v), place(seededNormal(n, seed + 3, Arr), shp, at));
    },
    cudaHalf: true,

    unfused({ dtype, seed }): WorkloadInstance {
      const n = B * H * N * d, shp = [B, H, N, d];
      const Arr = dtype === 'float64' ? Float64Array : Float32Array;
      const opts = { dtype, requiresGrad: true } as const;
      const q = tensor(seededNormal(n, seed, Arr), shp, opts), k = tensor(seededNormal(n, seed + 1, Arr), shp, opts);
      const v = tensor(seededNormal(n, seed + 2, Arr), shp, opts), dout = tensor(seededNormal(n, seed + 3, Arr), shp, { dtype });
      const compose = () => q.matmul(k.transpose(-2, -1)).mul(1 / Math.sqrt(d)).softmax(-1).matmul(v);
      return {
        run: (mode: BenchMode) => {
          if (mode === 'fwd') noGrad(compose);
          else {
            q.grad = k.grad = v.grad = null;
            compose().backward(dout);
          }
        },
      };
    },
  };
}

export const workloads: Workload[] = [
  make('vit-s', 8, 6, 197, 64, true),
  make('vit-b', 4, 12, 197, 64, true),
  make('long-1024', 1, 8, 1024, 64, false),
  make('long-4096', 1, 8, 4096, 64, false),
];
