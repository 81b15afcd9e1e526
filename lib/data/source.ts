/**
 * What training and evaluation read: unlabelled training images by step, and a labelled bank
 * (kNN memory / linear-probe training set) and test set. `--data synthetic[:k=v,...]` or a folder.
 */
import { SyntheticDataset, FACTORS, FACTOR_CLASSES, type Factor } from './synthetic';
import { rangeError } from '../errors';
import type { BatchSpec } from './views';

export interface LabelledSet {
  /** [n, C, H, W] in [0, 1]. */
  images: Float32Array;
  n: number;
  /** Label arrays by name; 'object' is the class. */
  labels: Record<string, Int32Array>;
}

export interface DataSource {
  /** 'synthetic' or the folder path. */
  name: string;
  imageSize: number;
  channels: number;
  /** Classes of each label in the labelled sets ('object' first). */
  classes: Record<string, number>;
  /** Raw training images [B, C, H, W] in [0, 1] for a step (deterministic in (step, B)). */
  trainBatch(step: number, batch: number): Promise<Float32Array>;
  bank(): Promise<LabelledSet>;
  test(): Promise<LabelledSet>;
  /** Loads what must be known before step 1 (decoding, the split); then `warnings` is final. */
  prepare?(): Promise<void>;
  /** Human-readable notes (skipped files...), printed once as warnings. */
  warnings: string[];
  close?(): Promise<void>;
  /**
   * How a worker thread makes trainBatch(step, B) itself, bit for bit (after prepare()); without
   * it, prefetch requests trainBatch early on the main thread.
   */
  batchSpec?(): BatchSpec | undefined;
}

export class SyntheticSource implements DataSource {
  readonly name = 'synthetic';
  readonly ds: SyntheticDataset;
  readonly imageSize: number;
  readonly channels = 3;
  readonly classes: Record<string, number>;
  readonly warnings: string[] = [];
  private cache = new Map<string, LabelledSet>();

  constructor(ds: SyntheticDataset) {
    this.ds = ds;
    this.imageSize = ds.size;
    this.classes = { object: ds.classes, ...FACTOR_CLASSES };
  }

  async trainBatch(step: number, batch: number): Promise<Float32Array> {
    return this.ds.batch('train', step * batch, batch).images;
  }

  batchSpec(): BatchSpec | undefined {
    const { size, classes, seed, heldOut, bankSize, testSize } = this.ds;
    const options = { size, classes, seed, heldOut, bankSize, testSize };
    // A dataset these options do not rebuild (an option added later and not listed here) is
    // rendered on the main thread instead: slower, never different.
    const same = (a: Float32Array, b: Float32Array) => a.every((v, i) => v === b[i]);
    return same(new SyntheticDataset(options).batch('train', 0, 2).images, this.ds.batch('train', 0, 2).images) ? { kind: 'synthetic', options } : undefined;
  }

  private set(split: 'bank' | 'test'): LabelledSet {
    let s = this.cache.get(split);
    if (!s) {
      const b = this.ds.batch(split, 0, this.ds.length(split));
      s = { images: b.images, n: b.n, labels: b.labels as Record<Factor, Int32Array> };
      this.cache.set(split, s);
    }
    return s;
  }
  async bank(): Promise<LabelledSet> {
    return this.set('bank');
  }
  async test(): Promise<LabelledSet> {
    return this.set('test');
  }
}

const SYNTH_KEYS: Record<string, 'size' | 'classes' | 'seed' | 'bankSize' | 'testSize' | 'heldOut'> = {
  size: 'size', classes: 'classes', seed: 'seed', bank: 'bankSize', test: 'testSize', heldout: 'heldOut',
};

/** Parses `synthetic[:k=v,...]` (keys: size, classes, seed, bank, test, heldout). */
export function parseSynthetic(spec: string, defaultSeed: number): SyntheticDataset {
  const rest = spec.slice('synthetic'.length);
  const o: Record<string, number | boolean> = { seed: defaultSeed };
  if (rest.length) {
    if (!rest.startsWith(':')) throw rangeError('synthetic or synthetic:k=v,...', 'data', spec);
    for (const kv of rest.slice(1).split(',')) {
      const [k, v, extra] = kv.split('=');
      const key = SYNTH_KEYS[k];
      if (!key || v === undefined || extra !== undefined) {
        throw rangeError(`k=v with k one of ${Object.keys(SYNTH_KEYS).join(', ')}`, 'data synthetic:...', kv);
      }
      if (key === 'heldOut') {
        if (v !== '0' && v !== '1') throw rangeError('0 or 1', 'data synthetic:heldout', v);
        o.heldOut = v === '1';
      } else {
        const n = Number(v);
        if (!Number.isInteger(n)) throw rangeError('an integer', `data synthetic:${k}`, v);
        o[key] = n;
      }
    }
  }
  return new SyntheticDataset(o);
}

export { FACTORS };
