/**
 * ONNX Runtime peer (--vs ort): onnxruntime-node on its CPU execution provider, a devDependency
 * (absent, the peer reports one line and the rest of the bench runs). Each workload's `ort` field
 * builds its models in memory (bench/onnx-models.ts); every variant of a case gets its own session
 * with the bench's thread count as intra-op threads and all graph optimizations, runs once to
 * check its outputs against selfsup's, and is timed when it agrees; the row keeps the fastest.
 * Forward only: onnxruntime-node has no training API.
 */
import { loadOptional as load } from './load';
import { timeAsync, type TimingOptions, type TimingStats } from '../runner';
import type { OrtCase, OrtFeed } from '../onnx-models';
import type { BenchMode, Workload } from '../types';

export const ORT_INSTALL_HINT = 'ort: onnxruntime-node not installed; `npm install onnxruntime-node` to compare';

interface OrtTensor {
  data: unknown;
}
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface Ort {
  env: { versions?: { common?: string }; logLevel?: string };
  Tensor: new (type: string, data: unknown, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSession> };
}

/** One variant's outcome in a row: its median, or why it was not timed. */
export interface OrtVariantResult {
  name: string;
  median?: number;
  maxRelError?: number;
  error?: string;
}

export interface OrtRun {
  /** The fastest variant that agreed with selfsup (absent when none did). */
  best?: { name: string; stats: TimingStats; maxRelError: number };
  variants: OrtVariantResult[];
}

function firstLine(e: unknown): string {
  const m = ((e as Error)?.message ?? String(e)).trim().split('\n')[0];
  return m.length > 200 ? m.slice(0, 200) + '…' : m;
}

export class OrtPeer {
  readonly label = 'ort';

  private constructor(private ort: Ort, readonly version: string, readonly threads: number) {}

  /** Loads onnxruntime-node (`moduleName` is for tests); a message instead when it is absent. */
  static start(threads: number, moduleName = 'onnxruntime-node'): { peer?: OrtPeer; message?: string } {
    const ort = load(moduleName) as Ort | undefined;
    if (!ort?.InferenceSession) return { message: ORT_INSTALL_HINT };
    ort.env.logLevel = 'error'; // ORT prints warnings (e.g. about a missing CUDA provider) on stderr otherwise
    return { peer: new OrtPeer(ort, ort.env.versions?.common ?? '?', threads) };
  }

  private options(): Record<string, unknown> {
    return {
      executionProviders: ['cpu'],
      intraOpNumThreads: this.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    };
  }

  private feeds(f: Record<string, OrtFeed>): Record<string, OrtTensor> {
    return Object.fromEntries(Object.entries(f).map(([k, v]) => [k, new this.ort.Tensor(v.type, v.data, v.dims)]));
  }

  /**
   * Checks and times every variant of the workload's case; `tolerance` bounds the max relative
   * error against selfsup's outputs (a variant over it is reported, never timed against selfsup).
   */
  async run(w: Workload, mode: BenchMode, dtype: string, seed: number, tolerance: number, o: TimingOptions): Promise<OrtRun> {
    if (!w.ort) throw new Error('no ONNX composition defined');
    if (mode !== 'fwd') throw new Error('no backward: onnxruntime-node runs inference only');
    if (dtype !== 'float32') throw new Error(`no ${dtype} run: the ONNX models are float32`);
    const c: OrtCase = w.ort({ seed });
    const out: OrtRun = { variants: [] };
    for (const v of c.variants) {
      let session: OrtSession | undefined;
      try {
        session = await this.ort.InferenceSession.create(v.model, this.options());
      } catch (e) {
        out.variants.push({ name: v.name, error: `not supported by this onnxruntime-node (${firstLine(e)})` });
        continue;
      }
      try {
        const feeds = this.feeds(v.feeds);
        const first = await session.run(feeds);
        const outputs = Object.fromEntries(Object.entries(first).map(([k, t]) => [k, t.data as Float32Array]));
        const err = v.error(outputs);
        if (!(err <= tolerance)) {
          out.variants.push({ name: v.name, maxRelError: err, error: `output differs from selfsup's (max rel err ${err.toExponential(1)} > ${tolerance})` });
          continue;
        }
        const stats = await timeAsync(() => session!.run(feeds), o);
        out.variants.push({ name: v.name, median: stats.median, maxRelError: err });
        if (!out.best || stats.median < out.best.stats.median) out.best = { name: v.name, stats, maxRelError: err };
      } catch (e) {
        out.variants.push({ name: v.name, error: `run failed: ${firstLine(e)}` });
      } finally {
        await session.release(); // ends its thread pool, whose spinning threads would slow the next row
      }
    }
    return out;
  }
}

/** "composition 2.91 ms (err 4.7e-7), MultiHeadAttention 2.70 ms (err 5.1e-7, fastest), Attention-23: not supported (...)". */
export function describeOrtVariants(r: OrtRun, fmt: (s: number) => string): string {
  const timed = (v: OrtVariantResult) =>
    `${v.name} ${fmt(v.median!)} (err ${v.maxRelError!.toExponential(1)}${r.variants.length > 1 && r.best?.name === v.name ? ', fastest' : ''})`;
  return r.variants.map((v) => (v.median !== undefined ? timed(v) : `${v.name}: ${v.error}`)).join(', ');
}
