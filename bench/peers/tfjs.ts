/**
 * TensorFlow.js peer: @tensorflow/tfjs on its 'cpu' backend and, when
 * @tensorflow/tfjs-backend-wasm is installed too, on 'wasm'. Both are optional peer dependencies
 * (never installed by default); absent, the peer reports one line and the rest of the bench runs.
 */
import { loadOptional as load } from './load';
import { timeSync, type TimingOptions, type TimingStats } from '../runner';
import type { BenchMode, Workload } from '../types';

export const TFJS_INSTALL_HINT = 'tfjs: not installed; `npm install @tensorflow/tfjs` (and optionally @tensorflow/tfjs-backend-wasm) to compare';

interface Tf {
  version?: Record<string, string> | string;
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  tidy<T>(fn: () => T): T;
  engine?(): { startScope?: unknown };
}

export class TfjsPeer {
  private constructor(readonly tf: Tf, readonly backend: 'cpu' | 'wasm', readonly version: string) {}

  /** The available tfjs backends as peers ('tfjs-cpu', 'tfjs-wasm'), or a message when absent. */
  static async start(): Promise<{ peers: TfjsPeer[]; message?: string }> {
    const tf = load('@tensorflow/tfjs') as Tf | undefined;
    if (!tf) return { peers: [], message: TFJS_INSTALL_HINT };
    const v = typeof tf.version === 'string' ? tf.version : tf.version?.['tfjs-core'] ?? tf.version?.tfjs ?? '?';
    const peers: TfjsPeer[] = [];
    const notes: string[] = [];
    for (const backend of ['cpu', 'wasm'] as const) {
      if (backend === 'wasm' && !load('@tensorflow/tfjs-backend-wasm')) continue;
      try {
        if (!(await tf.setBackend(backend))) throw new Error(`setBackend('${backend}') returned false`);
        await tf.ready();
        peers.push(new TfjsPeer(tf, backend, v));
      } catch (e) {
        notes.push(`tfjs ${backend}: ${(e as Error).message}`);
      }
    }
    return { peers, message: notes.length ? notes.join('; ') : undefined };
  }

  get label(): string {
    return `tfjs-${this.backend}`;
  }

  /** Times the workload's tfjs composition (each run in tf.tidy so intermediates are freed). */
  async run(w: Workload, mode: BenchMode, o: TimingOptions): Promise<TimingStats> {
    if (!w.tfjs) throw new Error('no tfjs peer defined for this workload');
    if (this.tf.getBackend() !== this.backend) {
      await this.tf.setBackend(this.backend);
      await this.tf.ready();
    }
    const inst = w.tfjs(this.tf, w.shape);
    try {
      return timeSync(() => {
        this.tf.tidy(() => {
          inst.run(mode);
        });
      }, o);
    } finally {
      inst.dispose?.();
    }
  }
}
