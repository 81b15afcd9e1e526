/**
 * Weighted kNN classification on frozen features (Wu et al. 2018, "Unsupervised Feature Learning
 * via Non-Parametric Instance Discrimination"; the protocol DINO and solo-learn use): cosine
 * similarity to a labelled bank, the k = 20 nearest vote with weight exp(sim / T), T = 0.07.
 */
import { Tensor } from '../tensor';
import { noGrad } from '../autograd/grad-mode';
import { rangeError } from '../errors';

export interface KnnOptions {
  k?: number;
  temperature?: number;
}

/** Rows scaled to unit L2 norm, as float32 [N, D] (a zero row stays zero). */
export function l2Rows(x: Float32Array | Float64Array, N: number, D: number): Float32Array {
  const out = new Float32Array(N * D);
  for (let i = 0; i < N; i++) {
    let s = 0;
    for (let j = 0; j < D; j++) s += x[i * D + j] * x[i * D + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < D; j++) out[i * D + j] = x[i * D + j] * inv;
  }
  return out;
}

/**
 * The k largest entries of row [0, n) as indices (local helper: the package has no `topk` op yet).
 * A bounded min-heap: O(n log k).
 */
export function topkIndices(row: ArrayLike<number>, n: number, k: number): Int32Array {
  const heap = new Int32Array(k);
  let size = 0;
  const less = (a: number, b: number) => row[a] < row[b] || (row[a] === row[b] && a > b);
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < size && less(heap[l], heap[m])) m = l;
      if (r < size && less(heap[r], heap[m])) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  };
  for (let j = 0; j < n; j++) {
    if (size < k) {
      heap[size] = j;
      for (let i = size++; i > 0; ) {
        const p = (i - 1) >> 1;
        if (!less(heap[i], heap[p])) break;
        [heap[i], heap[p]] = [heap[p], heap[i]];
        i = p;
      }
    } else if (less(heap[0], j)) {
      heap[0] = j;
      down(0);
    }
  }
  return heap.slice(0, size);
}

/**
 * Top-1 accuracy of kNN predictions for `query` against `bank` (features [N, D] / [M, D], any
 * float tensors; labels int32 [N] / [M] in [0, classes)).
 */
export function knnAccuracy(bank: Tensor, bankLabels: Int32Array, query: Tensor, queryLabels: Int32Array, classes: number, options: KnnOptions = {}): number {
  const k = options.k ?? 20, T = options.temperature ?? 0.07;
  const [N, D] = bank.shape, M = query.shape[0];
  if (bankLabels.length !== N) throw rangeError(`${N} labels (one per bank row)`, 'knnAccuracy(bankLabels)', bankLabels.length);
  if (queryLabels.length !== M) throw rangeError(`${M} labels (one per query row)`, 'knnAccuracy(queryLabels)', queryLabels.length);
  const b = new Tensor(l2Rows(bank.data as Float32Array, N, D), [N, D]);
  const q = new Tensor(l2Rows(query.data as Float32Array, M, D), [M, D]);
  const sims = noGrad(() => q.matmul(b.t())).data as Float32Array; // [M, N]
  const kk = Math.min(k, N);
  const votes = new Float64Array(classes);
  let correct = 0;
  for (let i = 0; i < M; i++) {
    const row = sims.subarray(i * N, (i + 1) * N);
    votes.fill(0);
    for (const j of topkIndices(row, N, kk)) votes[bankLabels[j]] += Math.exp(row[j] / T);
    let best = 0;
    for (let c = 1; c < classes; c++) if (votes[c] > votes[best]) best = c;
    if (best === queryLabels[i]) correct++;
  }
  return correct / M;
}
