/**
 * The generic tensor ops that surround every fused kernel on the user's path, timed through the
 * public Tensor API (autograd included, as a user calls them): elementwise, broadcasting, scalar
 * forms, reductions, softmax, gradient accumulation into an existing .grad, and the fixed cost of
 * a small op. x is [B, N, D] float32 (B 64, N 196, D 384: ViT-S activations, 4.8M elements).
 *
 * FLOPs: one per output element (add, mul), ~4 per element for softmax (max, exp, sum, scale; exp
 * counted as one); reductions one per input element. Bytes: the minimum traffic (inputs read once,
 * outputs written once; fwd+bwd adds the gradient passes). `small-add` runs 1000 adds of two
 * [4, 4] tensors per run: its time / 1000 is the fixed cost of one op call.
 *
 * Check: max relative error against a float64 computation on the same inputs (first 65,536
 * outputs).
 */
import { randn } from '../../lib/factories';
import type { Tensor } from '../../lib/tensor';
import type { BenchMode, Workload, WorkloadInstance } from '../types';

const S = { B: 64, N: 196, D: 384 };
const NUMEL = S.B * S.N * S.D;

const TORCH_PRELUDE = `
def inputs(shape, dtype):
    dt = getattr(torch, dtype)
    g = torch.Generator().manual_seed(0)
    B, N, D = shape["B"], shape["N"], shape["D"]
    return dt, g, B, N, D
`;

function torchSrc(body: string): string {
  return `${TORCH_PRELUDE}
def setup(shape, dtype):
    dt, g, B, N, D = inputs(shape, dtype)
    x = torch.randn(B, N, D, generator=g, dtype=dt)
    y = torch.randn(B, N, D, generator=g, dtype=dt)
    bias = torch.randn(D, generator=g, dtype=dt)
${body}
    return run
`;
}

function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), 1e-6));
  return e;
}
const CHECK_N = 65536;

interface Row {
  name: string;
  modes: BenchMode[];
  flopsPerElem: number;
  bytes: (mode: BenchMode, bpe: number) => number;
  run: (t: { x: Tensor; y: Tensor; bias: Tensor; w: Tensor; g: Tensor; s1: Tensor; s2: Tensor }, mode: BenchMode) => Tensor | void;
  /** float64 reference of the first CHECK_N outputs (fwd only). */
  ref?: (x: Float64Array, y: Float64Array, bias: Float64Array) => Float64Array;
  torch: string;
}

const rows: Row[] = [
  {
    name: 'add', modes: ['fwd'], flopsPerElem: 1, bytes: (_m, b) => 3 * b * NUMEL,
    run: (t) => t.x.add(t.y),
    ref: (x, y) => x.subarray(0, CHECK_N).map((v, i) => v + y[i]),
    torch: torchSrc('    def run(mode):\n        x.add(y)'),
  },
  {
    name: 'mul-scalar', modes: ['fwd'], flopsPerElem: 1, bytes: (_m, b) => 2 * b * NUMEL,
    run: (t) => t.x.mul(1.5),
    ref: (x) => x.subarray(0, CHECK_N).map((v) => v * 1.5),
    torch: torchSrc('    def run(mode):\n        x.mul(1.5)'),
  },
  {
    name: 'add-bias', modes: ['fwd'], flopsPerElem: 1, bytes: (_m, b) => 2 * b * NUMEL,
    run: (t) => t.x.add(t.bias),
    ref: (x, _y, bias) => x.subarray(0, CHECK_N).map((v, i) => v + bias[i % S.D]),
    torch: torchSrc('    def run(mode):\n        x.add(bias)'),
  },
  {
    name: 'sum', modes: ['fwd'], flopsPerElem: 1, bytes: (_m, b) => b * NUMEL,
    run: (t) => t.x.sum(),
    torch: torchSrc('    def run(mode):\n        x.sum()'),
  },
  {
    name: 'sum-rows', modes: ['fwd'], flopsPerElem: 1, bytes: (_m, b) => b * NUMEL,
    run: (t) => t.x.sum(-1),
    torch: torchSrc('    def run(mode):\n        x.sum(-1)'),
  },
  {
    name: 'sum-cols', modes: ['fwd'], flopsPerElem: 1, bytes: (_m, b) => b * NUMEL,
    run: (t) => t.x.sum([0, 1]),
    torch: torchSrc('    def run(mode):\n        x.sum([0, 1])'),
  },
  {
    name: 'softmax', modes: ['fwd', 'fwd+bwd'], flopsPerElem: 4,
    bytes: (m, b) => (m === 'fwd' ? 2 : 5) * b * NUMEL,
    run: (t, mode) => {
      if (mode === 'fwd') return t.x.softmax(-1);
      t.w.grad = null;
      t.w.softmax(-1).backward(t.g);
    },
    ref: (x) => {
      const out = new Float64Array(CHECK_N);
      for (let r = 0; r < CHECK_N / S.D; r++) {
        const row = x.subarray(r * S.D, (r + 1) * S.D);
        const m = Math.max(...row);
        let s = 0;
        for (const v of row) s += Math.exp(v - m);
        for (let j = 0; j < S.D; j++) out[r * S.D + j] = Math.exp(row[j] - m) / s;
      }
      return out;
    },
    torch: torchSrc(`    w = x.clone().requires_grad_()
    go = torch.randn(B, N, D, generator=g, dtype=dt)
    def run(mode):
        if mode == "fwd":
            x.softmax(-1)
        else:
            w.grad = None
            w.softmax(-1).backward(go)`),
  },
  {
    // w.grad is already set: the backward adds into it (gradient accumulation).
    name: 'grad-accum', modes: ['fwd+bwd'], flopsPerElem: 2, bytes: (_m, b) => 6 * b * NUMEL,
    run: (t) => {
      t.w.mul(2).backward(t.g);
    },
    torch: torchSrc(`    w = x.clone().requires_grad_()
    go = torch.randn(B, N, D, generator=g, dtype=dt)
    w.mul(2).backward(go)
    def run(mode):
        w.mul(2).backward(go)`),
  },
  {
    name: 'small-add', modes: ['fwd'], flopsPerElem: 0, bytes: () => 0,
    run: (t) => {
      for (let i = 0; i < 1000; i++) t.s1.add(t.s2);
    },
    torch: `
def setup(shape, dtype):
    dt = getattr(torch, dtype)
    a = torch.randn(4, 4, dtype=dt)
    b = torch.randn(4, 4, dtype=dt)
    def run(mode):
        for _ in range(1000):
            a.add(b)
    return run
`,
  },
];

function make(r: Row): Workload {
  return {
    op: 'tensor',
    name: r.name,
    shape: { ...S },
    modes: r.modes,
    quick: true,
    flops: (mode) => r.flopsPerElem * NUMEL * (mode === 'fwd' ? 1 : 2),
    bytes: (mode) => r.bytes(mode, 4),
    setup({ dtype, seed }): WorkloadInstance {
      const shape = [S.B, S.N, S.D];
      const t = {
        x: randn(shape, { seed, dtype }), y: randn(shape, { seed: seed + 1, dtype }), bias: randn([S.D], { seed: seed + 2, dtype }),
        w: randn(shape, { seed: seed + 3, dtype, requiresGrad: true }), g: randn(shape, { seed: seed + 4, dtype }),
        s1: randn([4, 4], { seed: seed + 5, dtype }), s2: randn([4, 4], { seed: seed + 6, dtype }),
      };
      if (r.name === 'grad-accum') t.w.mul(2).backward(t.g); // .grad exists before the timed runs
      return {
        run: (mode) => {
          r.run(t, mode);
        },
        check: r.ref
          ? (mode) => {
              if (mode !== 'fwd') return 0;
              const out = r.run(t, mode) as Tensor;
              const f64 = (a: Tensor) => Float64Array.from(a.data as Float32Array);
              return relErr(out.data.subarray(0, CHECK_N), r.ref!(f64(t.x), f64(t.y), f64(t.bias)));
            }
          : undefined,
      };
    },
    torch: r.torch,
  };
}

export const workloads: Workload[] = rows.map(make);
