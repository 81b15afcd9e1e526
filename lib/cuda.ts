/**
 * CUDA device memory for `device: 'cuda'` tensors (docs/cuda.md). A cuda tensor's storage is a
 * `DeviceArray`: a handle to a block of the addon's caching allocator (native/cuda/memory.h),
 * with the element count and dtype. Ops on cuda tensors pass these handles to the same native
 * bindings as typed arrays (native/napi/tensor.cc, optim.cc), which enqueue the CUDA kernels on
 * the device's one stream; reading values back (`toArray()`, `item()`, printing) synchronizes.
 *
 * This module holds no op: lib/tensor.ts builds on it, lib/ops/native-core.ts routes the tensor
 * core to it.
 */
import { SelfsupError, rangeError, typeError } from './errors';
import { tryNative } from './backends/native';

/** The dtypes a cuda tensor may have: bfloat16 and float16 exist only on cuda. */
export type CudaDType = 'float32' | 'bfloat16' | 'float16' | 'int32' | 'bool';
/** Host arrays of each cuda dtype: bfloat16 and float16 travel as their Uint16Array bits. */
export type HostArray = Float32Array | Int32Array | Uint8Array | Uint16Array;

/** The CUDA exports of a CUDA build of the addon (native/napi/cuda.cc). */
export interface CudaAddon {
  cudaAlloc(dtype: CudaDType, length: number): unknown;
  cudaDispose(handle: unknown): void;
  cudaUpload(handle: unknown, data: HostArray): void;
  cudaDownload(handle: unknown, out: HostArray): void;
  cudaDownloadAsync(handle: unknown): Promise<HostArray>;
  cudaCast(x: unknown, y: unknown): void;
  cudaArgReduce(isMax: boolean, x: DeviceArray, vals: DeviceArray | null, idx: DeviceArray, outer: number, size: number, inner: number): void;
  cudaMatmul(a: DeviceArray, b: DeviceArray, out: DeviceArray, bias: DeviceArray | null, plan: CudaMatmulPlan): void;
  cudaGeluForward(x: DeviceArray, bias: DeviceArray | null, out: DeviceArray, o: { rows: number; cols: number; mode: number }): void;
  cudaGeluBackward(grad: DeviceArray, x: DeviceArray, bias: DeviceArray | null, dx: DeviceArray, dbias: DeviceArray | null, o: { rows: number; cols: number; mode: number }): void;
  cudaLayerNormForward(x: DeviceArray, weight: DeviceArray | null, bias: DeviceArray | null, out: DeviceArray, mean: DeviceArray, rstd: DeviceArray, o: { rows: number; cols: number; eps: number }): void;
  cudaLayerNormBackward(grad: DeviceArray, x: DeviceArray, weight: DeviceArray | null, mean: DeviceArray, rstd: DeviceArray, dx: DeviceArray,
    dweight: DeviceArray | null, dbias: DeviceArray | null, o: { rows: number; cols: number }): void;
  /** out = cond ? a : b over n contiguous elements (native/napi/cuda_more.cc). */
  cudaWhere(cond: DeviceArray, a: DeviceArray, b: DeviceArray, out: DeviceArray): void;
  /** keep (bool) = uniformFloat32(seed, stream, i) >= p, the CPU's dropout mask (native/napi/cuda_more.cc). */
  cudaDropoutMask(keep: DeviceArray, seed: number, stream: number, p: number): void;
  cudaMemoryStats(): CudaMemoryStats;
  cudaEmptyCache(): void;
  cudaSynchronize(): void;
}

/** A batched GEMM on device buffers: C[b] = op(A[b]) op(B[b]) (+ bias rows); a stride of 0 broadcasts. */
export interface CudaMatmulPlan {
  batch: number; m: number; n: number; k: number;
  transA: boolean; transB: boolean; strideA: number; strideB: number;
}

/** The caching allocator's counters (bytes are size classes: requests rounded up). */
export interface CudaMemoryStats {
  allocatedBytes: number;
  reservedBytes: number;
  peakAllocatedBytes: number;
  numMallocs: number;
  numFrees: number;
  cacheHits: number;
}

let state: { addon: CudaAddon | null; reason: string } | undefined;
let override: CudaAddon | null | undefined;

/**
 * Replaces the CUDA backend (tests: a host-memory stand-in that checks the JS plumbing on a
 * machine without a GPU); null restores the addon's.
 */
export function setCudaBackendForTesting(b: CudaAddon | null): void {
  override = b ?? undefined;
}

function probe(): { addon: CudaAddon | null; reason: string } {
  if (override) return { addon: override, reason: '' };
  if (state) return state;
  let a;
  try {
    a = tryNative();
  } catch (e) {
    return (state = { addon: null, reason: (e as Error).message });
  }
  if (!a) return (state = { addon: null, reason: 'the native addon is not loaded (reference backend)' });
  const c = a as unknown as Partial<CudaAddon>;
  if (typeof c.cudaAlloc !== 'function') return (state = { addon: null, reason: 'this addon was built without CUDA' });
  let info;
  try {
    info = a.cudaInfo();
  } catch (e) {
    return (state = { addon: null, reason: (e as Error).message });
  }
  if (!info.devices.length) return (state = { addon: null, reason: info.error ?? 'no CUDA device' });
  return (state = { addon: c as CudaAddon, reason: '' });
}

/** True when cuda tensors can be made (a CUDA build of the addon and a device). */
export function isAvailable(): boolean {
  return probe().addon !== null;
}

/** Why cuda tensors cannot be made ('' when they can). */
export function unavailableReason(): string {
  return probe().reason;
}

/** The CUDA exports, or ERR_NO_DEVICE naming `name` with the reason. */
export function cudaAddon(name: string): CudaAddon {
  const p = probe();
  if (!p.addon) {
    throw new SelfsupError('ERR_NO_DEVICE', `Expected a CUDA device for ${name} but received none: ${p.reason}. Use device 'cpu' (the default).`);
  }
  return p.addon;
}

const BYTES: Record<CudaDType, number> = { float32: 4, bfloat16: 2, float16: 2, int32: 4, bool: 1 };

/** Device storage of `length` elements of `dtype` (contents unspecified until written). */
export class DeviceArray {
  readonly handle: unknown;
  readonly dtype: CudaDType;
  readonly length: number;
  private released = false;

  constructor(dtype: CudaDType, length: number) {
    if (!(dtype in BYTES)) throw rangeError("'float32' | 'bfloat16' | 'float16' | 'int32' | 'bool'", 'DeviceArray(dtype)', dtype);
    if (!Number.isSafeInteger(length) || length < 0) throw rangeError('a non-negative integer', 'DeviceArray(length)', length);
    this.handle = cudaAddon('DeviceArray').cudaAlloc(dtype, length);
    this.dtype = dtype;
    this.length = length;
  }
  get BYTES_PER_ELEMENT(): number {
    return BYTES[this.dtype];
  }
  get disposed(): boolean {
    return this.released;
  }
  /** Returns the memory to the allocator's cache now (the GC finalizer does it otherwise). */
  dispose(): void {
    if (this.released) return;
    this.released = true;
    cudaAddon('dispose').cudaDispose(this.handle);
  }
}

/** The host array type of a cuda dtype. */
export function hostArray(dtype: CudaDType, n: number): HostArray {
  switch (dtype) {
    case 'float32': return new Float32Array(n);
    case 'int32': return new Int32Array(n);
    case 'bool': return new Uint8Array(n);
    default: return new Uint16Array(n);
  }
}

/** A device copy of a host array of `dtype`. */
export function upload(host: HostArray, dtype: CudaDType): DeviceArray {
  const d = new DeviceArray(dtype, host.length);
  uploadInto(d, host);
  return d;
}

/** Writes `host` (d's dtype and length) into d, after every op enqueued on it. */
export function uploadInto(d: DeviceArray, host: HostArray): void {
  cudaAddon('upload').cudaUpload(d.handle, host);
}

/**
 * A host copy of `d`, after every op enqueued on it (synchronizes). bfloat16 and float16 come
 * back as float32 values.
 */
export function download(d: DeviceArray): Float32Array | Int32Array | Uint8Array {
  const half = d.dtype === 'bfloat16' || d.dtype === 'float16';
  const src = half ? cast(d, 'float32') : d;
  const out = hostArray(src.dtype, src.length) as Float32Array | Int32Array | Uint8Array;
  cudaAddon('download').cudaDownload(src.handle, out);
  if (half) src.dispose();
  return out;
}

/** As download, without blocking the event loop (a libuv worker waits on the copy's event). */
export async function downloadAsync(d: DeviceArray): Promise<Float32Array | Int32Array | Uint8Array> {
  const half = d.dtype === 'bfloat16' || d.dtype === 'float16';
  const src = half ? cast(d, 'float32') : d;
  try {
    return (await cudaAddon('downloadAsync').cudaDownloadAsync(src.handle)) as Float32Array | Int32Array | Uint8Array;
  } finally {
    if (half) src.dispose(); // stream order: the copy was enqueued before any reuse of the block
  }
}

/** A new device array holding `x` converted to `dtype` (float -> int32 rounds toward zero). */
export function cast(x: DeviceArray, dtype: CudaDType): DeviceArray {
  const y = new DeviceArray(dtype, x.length);
  cudaAddon('cast').cudaCast(x.handle, y.handle);
  return y;
}

/** The `cuda` namespace of the package: device state and the allocator. */
export const cuda = {
  isAvailable,
  /** Why CUDA is not available ('' when it is). */
  unavailableReason,
  /** The caching allocator's counters (ERR_NO_DEVICE without CUDA). */
  memoryStats(): CudaMemoryStats {
    return cudaAddon('cuda.memoryStats').cudaMemoryStats();
  },
  /** Returns the cached free blocks to the driver (memory in use stays). */
  emptyCache(): void {
    cudaAddon('cuda.emptyCache').cudaEmptyCache();
  },
  /** Waits for every op enqueued on the device. */
  synchronize(): void {
    cudaAddon('cuda.synchronize').cudaSynchronize();
  },
};

export function checkCudaDtype(name: string, dtype: unknown): CudaDType {
  if (typeof dtype !== 'string') throw typeError("'float32' | 'bfloat16' | 'float16' | 'int32' | 'bool'", name, dtype);
  if (!(dtype in BYTES)) throw rangeError("'float32' | 'bfloat16' | 'float16' | 'int32' | 'bool' (the dtypes of cuda tensors)", name, dtype);
  return dtype as CudaDType;
}
