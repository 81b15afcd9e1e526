/**
 * The native addon's export table (native/napi/addon.cc and native/napi/<family>.cc), typed.
 * Every export is listed here with its signature, so call sites need no casts.
 *
 * Conventions of the fused families (attention, InfoNCE, VICReg / Barlow Twins, Sinkhorn, tokens):
 * `name(inputs..., outputs..., options)` is the zero-copy sync form (the outputs are written in
 * place) and `nameAsync(inputs..., options)` the copy-then-run form, resolving with fresh output
 * arrays by name. Scalar options travel as one object and are read by name natively, so the
 * family's plan object (lib/kernels/<family>.ts) is passed as it is. The native side checks
 * every argument again (types, lengths, ranges) and throws the package's error grammar.
 */
import type { MultiBlockArgs, MultiBlockRaw } from './reference-tokens';

type FloatArray = Float32Array | Float64Array;
type TensorData = Float32Array | Float64Array | Int32Array | Uint8Array;

// ---- attention (native/napi/attention.cc) ------------------------------------------------------
export interface NativeAttentionOptions {
  B: number; H: number; Hk: number; Nq: number; Nk: number; d: number;
  scale: number; causal: boolean; dropout: number; seed: number;
  /** Bool (Uint8Array) or additive (q's type) mask, read at the offsets of maskStrides. */
  maskArray: Uint8Array | FloatArray | null;
  maskStrides: readonly [number, number, number, number];
  /**
   * [offset, sb, sh, sr] in elements: where q / k / v / out (and dq / dk / dv / dout) sit inside
   * larger arrays (a packed qkv [B, N, 3, H, d], an out in [B, N, H, d] order). Absent: contiguous.
   */
  qLayout?: readonly [number, number, number, number];
  kLayout?: readonly [number, number, number, number];
  vLayout?: readonly [number, number, number, number];
  oLayout?: readonly [number, number, number, number];
}

// ---- InfoNCE (native/napi/info_nce.cc) ---------------------------------------------------------
export interface NativeInfoNCEOptions {
  n: number; d: number; m: number; temperature: number;
  normalize: boolean; both: boolean; decoupled: boolean;
}

// ---- VICReg / Barlow Twins (native/napi/vicreg.cc) ---------------------------------------------
export interface NativeVICRegOptions {
  n: number; d: number; eps: number;
  /** Covariance path: 0 auto (Gram when n < d), 1 Gram, 2 direct. */
  path: 0 | 1 | 2;
}
export interface VICRegTerms { invariance: number; variance: number; covariance: number }
export interface BarlowTwinsTerms { loss: number; onDiagonal: number; offDiagonal: number }

// ---- Sinkhorn (native/napi/sinkhorn.cc) --------------------------------------------------------
export interface NativeSinkhornOptions {
  B: number; K: number; probs: boolean; epsilon: number; iterations: number; tolerance: number;
  colMarginal: Float64Array; rowMarginal: Float64Array | null; wantError: boolean;
  /** Sums its argument across processes between sweeps (sync form only). */
  allReduceSum?: ((buf: Float32Array) => Float32Array | void) | null;
}
export interface NativeSinkhornInfo { iterations: number; marginalError: number; sweeps: number }

// ---- tokens (native/napi/tokens.cc) ------------------------------------------------------------
export interface NativeTokenOptions { B: number; N: number; D: number; K: number; xShared?: boolean }
export interface NativeStopOptions { B: number; N: number; Dp: number; K: number; Din: number; std: number; seed: number }
export interface NativeMaskRandomOptions { B: number; N: number; keepCount: number; seed: number }
// ---- pointwise (native/napi/pointwise.cc) ------------------------------------------------------
export interface NativeRows { rows: number; cols: number }

/** GEMM sizes (the matmul plan): C[b] = op(A[b]) op(B[b]), a stride of 0 broadcasts that operand. */
export interface MatmulNativeOptions {
  batch: number; m: number; n: number; k: number;
  transA: boolean; transB: boolean; strideA: number; strideB: number;
}

export type DistArray = Float32Array | Float64Array | Int32Array;
export type DistOp = 'sum' | 'max' | 'min';

export interface NativeAddon {
  // package level (core.cc, isa.cc, memory.cc)
  isa(): string;
  numThreads(): number;
  setNumThreads(n: number): void;
  cudaInfo(): { built: boolean; devices: Array<{ name: string; computeCapability: string; memoryBytes: number }>; error?: string };
  measurePeakGflops(threads: number, seconds: number): number;
  measureBandwidthGBs(threads: number, seconds: number): number;
  /** ISA variants from the widest down (optional: an addon built before they existed lacks them): which this CPU supports, which runs, which is the default. */
  isaVariants?(): Array<{ name: string; supported: boolean; active: boolean; default: boolean }>;
  /** FMA peak of one supported variant (GFLOP/s). */
  measurePeakGflopsIsa?(isa: string, threads: number, seconds: number): number;
  memoryInfo(): { mallocTuned: boolean; trimThresholdBytes: number };

  // attention
  attention(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, lse: FloatArray, lseLo: FloatArray | null, o: NativeAttentionOptions): void;
  attentionAsync<T extends FloatArray>(q: T, k: T, v: T, o: NativeAttentionOptions): Promise<{ out: T; lse: T; lseLo: T }>;
  attentionBackward(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, lse: FloatArray, dout: FloatArray, dlse: FloatArray | null,
    lseLo: FloatArray | null, dq: FloatArray, dk: FloatArray, dv: FloatArray, o: NativeAttentionOptions): void;
  attentionBackwardAsync<T extends FloatArray>(q: T, k: T, v: T, out: T, lse: T, dout: T, dlse: T | null, lseLo: T | null,
    o: NativeAttentionOptions): Promise<{ dq: T; dk: T; dv: T }>;

  // InfoNCE
  infoNCEForward(z1: FloatArray, z2: FloatArray, negatives: FloatArray | null, labels: Int32Array | null,
    losses: FloatArray, lse: FloatArray, lsePos: FloatArray | null, o: NativeInfoNCEOptions): void;
  infoNCEForwardAsync<T extends FloatArray>(z1: T, z2: T, negatives: T | null, labels: Int32Array | null,
    o: NativeInfoNCEOptions): Promise<{ losses: T; lse: T; lsePos: T | null }>;
  infoNCEBackward(z1: FloatArray, z2: FloatArray, negatives: FloatArray | null, labels: Int32Array | null,
    gradRows: FloatArray, lse: FloatArray, lsePos: FloatArray | null, dz1: FloatArray, dz2: FloatArray, o: NativeInfoNCEOptions): void;
  infoNCEBackwardAsync<T extends FloatArray>(z1: T, z2: T, negatives: T | null, labels: Int32Array | null,
    gradRows: T, lse: T, lsePos: T | null, o: NativeInfoNCEOptions): Promise<{ dz1: T; dz2: T }>;

  // VICReg / Barlow Twins
  vicregForward(x: FloatArray, y: FloatArray, o: NativeVICRegOptions): VICRegTerms;
  vicregForwardAsync(x: FloatArray, y: FloatArray, o: NativeVICRegOptions): Promise<VICRegTerms>;
  vicregBackward(x: FloatArray, y: FloatArray, dx: FloatArray, dy: FloatArray, o: NativeVICRegOptions & { gInv: number; gVar: number; gCov: number }): void;
  vicregBackwardAsync<T extends FloatArray>(x: T, y: T, o: NativeVICRegOptions & { gInv: number; gVar: number; gCov: number }): Promise<{ dx: T; dy: T }>;
  /** which: 0 the variance term, 1 the covariance term. */
  vicregTermForward(x: FloatArray, o: NativeVICRegOptions & { which: 0 | 1 }): { value: number };
  vicregTermBackward(x: FloatArray, dx: FloatArray, o: NativeVICRegOptions & { which: 0 | 1; g: number }): void;
  barlowTwinsForward(z1: FloatArray, z2: FloatArray, o: NativeVICRegOptions & { lambda: number }): BarlowTwinsTerms;
  barlowTwinsForwardAsync(z1: FloatArray, z2: FloatArray, o: NativeVICRegOptions & { lambda: number }): Promise<BarlowTwinsTerms>;
  barlowTwinsBackward(z1: FloatArray, z2: FloatArray, dz1: FloatArray, dz2: FloatArray, o: NativeVICRegOptions & { lambda: number; g: number }): void;
  barlowTwinsBackwardAsync<T extends FloatArray>(z1: T, z2: T, o: NativeVICRegOptions & { lambda: number; g: number }): Promise<{ dz1: T; dz2: T }>;

  // Sinkhorn
  sinkhorn(scores: Float32Array, out: Float32Array, o: NativeSinkhornOptions): NativeSinkhornInfo;
  sinkhornAsync(scores: Float32Array, o: NativeSinkhornOptions): Promise<NativeSinkhornInfo & { out: Float32Array }>;

  // tokens: gather / scatter, StoP, masks
  tokensGather(x: FloatArray, idx: Int32Array, lengths: Int32Array | null, pos: FloatArray | null, out: FloatArray, o: NativeTokenOptions): void;
  tokensGatherAsync<T extends FloatArray>(x: T, idx: Int32Array, lengths: Int32Array | null, pos: T | null, o: NativeTokenOptions): Promise<{ out: T }>;
  tokensGatherBackward(grad: FloatArray, idx: Int32Array, lengths: Int32Array | null, dx: FloatArray | null, dpos: FloatArray | null, o: NativeTokenOptions): void;
  tokensScatter(src: FloatArray, idx: Int32Array, lengths: Int32Array | null, fill: FloatArray | null, out: FloatArray, o: NativeTokenOptions): void;
  tokensScatterBackward(grad: FloatArray, idx: Int32Array, lengths: Int32Array | null, dsrc: FloatArray | null, dfill: FloatArray | null, o: NativeTokenOptions): void;
  stochasticPositions(pos: FloatArray, idx: Int32Array, lengths: Int32Array | null, weight: FloatArray, bias: FloatArray | null,
    out: FloatArray, noise: FloatArray | null, o: NativeStopOptions): void;
  stochasticPositionsBackward(grad: FloatArray, idx: Int32Array, lengths: Int32Array | null, noise: FloatArray | null,
    dpos: FloatArray | null, dweight: FloatArray | null, dbias: FloatArray | null, o: NativeStopOptions): void;
  maskRandom(keep: Int32Array, masked: Int32Array, restore: Int32Array, o: NativeMaskRandomOptions): void;
  maskMultiBlock(o: MultiBlockArgs): MultiBlockRaw;
  maskMultiBlockAsync(o: MultiBlockArgs): Promise<MultiBlockRaw>;

  // distributed (native/napi/distributed.cc): collectives in place, on the comm thread
  distInit(o: { library?: string; timeout?: number; nccl?: boolean }): { rank: number; size: number; library: string; abi: string; version: string; transport: string };
  distFinalize(): void;
  distAllReduce(buf: DistArray, o: { op: DistOp; average?: boolean }): void;
  distAllReduceAsync(buf: DistArray, o: { op: DistOp; average?: boolean }): Promise<void>;
  distAllGather(send: DistArray, recv: DistArray): void;
  distAllGatherAsync(send: DistArray, recv: DistArray): Promise<void>;
  distReduceScatter(send: DistArray, recv: DistArray, o: { op: DistOp }): void;
  distReduceScatterAsync(send: DistArray, recv: DistArray, o: { op: DistOp }): Promise<void>;
  distBroadcast(buf: DistArray, o: { root: number }): void;
  distBroadcastAsync(buf: DistArray, o: { root: number }): Promise<void>;
  distReduce(buf: DistArray, o: { op: DistOp; root: number }): void;
  distReduceAsync(buf: DistArray, o: { op: DistOp; root: number }): Promise<void>;
  distBarrier(): void;
  distBarrierAsync(): Promise<void>;

  // pointwise (native/napi/pointwise.cc): a rows x cols matrix; mode 0 erf, 1 tanh
  geluForward(x: FloatArray, bias: FloatArray | null, out: FloatArray, o: NativeRows & { mode: 0 | 1 }): void;
  geluBackward(grad: FloatArray, x: FloatArray, bias: FloatArray | null, dx: FloatArray, dbias: FloatArray | null, o: NativeRows & { mode: 0 | 1 }): void;
  layerNormForward(x: FloatArray, weight: FloatArray | null, bias: FloatArray | null, out: FloatArray, mean: Float64Array, rstd: Float64Array,
    o: NativeRows & { eps: number }): void;
  layerNormBackward(grad: FloatArray, x: FloatArray, weight: FloatArray | null, mean: Float64Array, rstd: Float64Array,
    dx: FloatArray, dweight: FloatArray | null, dbias: FloatArray | null, o: NativeRows): void;
  sumRows(x: FloatArray, out: FloatArray, o: NativeRows): void;

  // linalg (native/napi/linalg.cc): batched C = op(A) op(B) (+ bias rows)
  matmul(A: FloatArray, B: FloatArray, C: FloatArray, bias: FloatArray | null, o: MatmulNativeOptions): void;
  matmulAsync<T extends FloatArray>(A: T, B: T, o: MatmulNativeOptions): Promise<T>;

  // tensor core (native/napi/tensor.cc): shapes packed in one Float64Array `meta`
  /** `warm`: the output is in cache (just recycled by the storage pool): normal stores, never streaming. */
  tensorBinary(op: number, out: TensorData, a: FloatArray, b: FloatArray, meta: Float64Array, warm?: boolean): void;
  tensorUnary(op: number, x: FloatArray, y: FloatArray, p0: number, p1: number, warm?: boolean): void;
  tensorUnaryBackward(op: number, g: FloatArray, s: FloatArray | null, gx: FloatArray, p0: number, p1: number, warm?: boolean): void;
  tensorReduce(op: number, x: FloatArray, out: FloatArray, meta: Float64Array, scale: number): void;
  tensorSoftmax(log: boolean, x: FloatArray, y: FloatArray, outer: number, size: number, inner: number): void;
  tensorSoftmaxBackward(log: boolean, g: FloatArray, y: FloatArray, gx: FloatArray, outer: number, size: number, inner: number): void;
  tensorCopy(src: TensorData, dst: TensorData, meta: Float64Array): void;
  tensorAxpy(y: FloatArray, x: FloatArray, alpha: number): void;
  /** The output size (bytes) from which float32 tensor-core outputs use streaming stores; sets it first when given. */
  tensorStreamMinBytes(bytes?: number): number;

  // fused optimizer steps (native/napi/optim.cc): one call per parameter group and dtype
  optimAdamW(params: FloatArray[], grads: FloatArray[], expAvg: FloatArray[], expAvgSq: FloatArray[], maxExpAvgSq: FloatArray[] | null,
    stepSize: Float64Array, sqrtBc2: Float64Array, hyper: Float64Array): void;
  optimSGD(params: FloatArray[], grads: FloatArray[], buffers: FloatArray[] | null, first: Uint8Array | null, hyper: Float64Array): void;
}
