/**
 * The benchmark workload table's row type. One file per op family in bench/workloads/ exports an
 * array of these; the CLI (`selfsup bench`), the peer runners (torch, tfjs) and the reports all
 * read the same definitions, so a FLOP or byte count is stated once.
 */
import type { OrtCase } from './onnx-models';

export type BenchMode = 'fwd' | 'fwd+bwd';

/** How an autograd instance builds its tensors: `selfsup bench --device cuda` runs them on the GPU. */
export interface AutogradOptions {
  dtype: 'float32' | 'float64' | 'bfloat16';
  seed: number;
  device?: 'cpu' | 'cuda';
}

export interface WorkloadInstance {
  /** One timed run of the fused selfsup kernel(s) in this mode (synchronous). */
  run(mode: BenchMode): void;
  /**
   * Max relative error of this run's output against a float64 reference on the same inputs
   * (computed once, untimed; may run on the full inputs or a documented slice of them).
   */
  check?(mode: BenchMode): number;
  /** Extra bytes the fused run allocates beyond its inputs and outputs (measured or exact). */
  extraBytes?(mode: BenchMode): number;
}

export interface Workload {
  /** Op name used on the command line: attention, infonce, vicreg, sinkhorn, gather, masks, sgemm... */
  op: string;
  /** Workload name: 'vit-s', '1024x256', ... */
  name: string;
  /** The sizes, printed in the table and passed to peers. */
  shape: Record<string, number>;
  modes: BenchMode[];
  /** FLOPs of one run in this mode (how counted: say it in a comment next to the formula). */
  flops(mode: BenchMode): number;
  /** Minimum bytes one run must move to/from memory in this mode. */
  bytes(mode: BenchMode): number;
  /** Whether --quick includes it. */
  quick?: boolean;
  /** Minutes-long workloads: left out of the default suite, run with --heavy (or --shape). */
  heavy?: boolean;
  /** Builds inputs (seeded) and returns the runner. */
  setup(opts: { dtype: 'float32' | 'float64'; seed: number }): WorkloadInstance;
  /**
   * PyTorch peer: Python source defining `setup(shape: dict, dtype: str)` returning a callable
   * `run(mode: str)`; the textbook composition a PyTorch user would write. Run by bench/peers/torch.
   */
  torch?: string;
  /**
   * selfsup's own composition of primitive Tensor ops for the same computation (--vs unfused),
   * to show what fusion buys. Timed like a peer; no check.
   */
  unfused?: (opts: { dtype: 'float32' | 'float64'; seed: number }) => WorkloadInstance;
  /**
   * The fused op through the public autograd API (--vs autograd): `F.op(...)`, then
   * `.backward(grad)` in fwd+bwd; what a user's code runs, timed next to the raw kernels. With
   * `device: 'cuda'` (float32, or bfloat16 where `cudaHalf`) it is the workload's row of
   * `selfsup bench --device cuda`.
   */
  autograd?: (opts: AutogradOptions) => WorkloadInstance;
  /** The autograd instance also runs in bfloat16 on cuda (the ops with 16-bit CUDA kernels). */
  cudaHalf?: boolean;
  /** TensorFlow.js peer: returns a runner, given the loaded tfjs module. */
  tfjs?: (tf: unknown, shape: Record<string, number>) => { run(mode: BenchMode): void; dispose?(): void };
  /**
   * ONNX Runtime peer (--vs ort, forward, float32): the workload's ONNX model(s) built in memory on
   * the same seeded inputs as `setup`, with the check of ORT's outputs against selfsup's
   * (bench/onnx-models.ts, run by bench/peers/ort).
   */
  ort?: (opts: { seed: number }) => OrtCase;
}
