/**
 * Sorting and selection along one dim: sort (stable) and topk, both { values, indices } like
 * PyTorch. One kernel serves both: each line along the dim is argsorted, and the first k entries
 * are gathered. The gradient flows to the values only: it is scattered back to the selected
 * positions (torch.sort / torch.topk backward).
 */
import { defineOp as defineFunction } from '../autograd/function';
import { rangeError, typeError } from '../errors';
import { Tensor } from '../tensor';
import { checkTensor, newArray, normDim, optBool, splitAt } from './common';

/** Value order with NaN above everything (PyTorch sorts NaN as the largest value); 0 for ties. */
function compareValues(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  const na = a !== a, nb = b !== b;
  return na === nb ? 0 : na ? 1 : -1;
}

/**
 * The first k of the sorted order, written to order[0..k): one pass keeping the best k seen so far
 * in order (a new value goes after its equals, so ties keep the lower index, as the full sort).
 * O(size + inserts * k) instead of O(size log size) per line: topk(k = 20) over 5000 candidates
 * is the kNN evaluation's shape.
 */
function selectBest(line: Float64Array, order: Int32Array, k: number, sign: number): void {
  let n = 0;
  for (let j = 0; j < line.length; j++) {
    const v = line[j];
    if (n === k && sign * compareValues(v, line[order[k - 1]]) >= 0) continue; // not better than the worst kept
    let lo = 0, hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sign * compareValues(v, line[order[mid]]) < 0) hi = mid;
      else lo = mid + 1;
    }
    for (let p = Math.min(n, k - 1); p > lo; p--) order[p] = order[p - 1];
    order[lo] = j;
    if (n < k) n++;
  }
}

/**
 * Sorts the indices in `order` (0..n-1 on entry) by line[index] (sign -1: descending), stably: a
 * bottom-up merge sort that takes from the left run on ties, with insertion-sorted runs of 16.
 * Plain typed-array loops, several times faster than Array.prototype.sort with a comparator.
 */
function mergeSort(line: Float64Array, order: Int32Array, tmp: Int32Array, sign: number): void {
  const n = order.length, RUN = 16;
  for (let s = 0; s < n; s += RUN) {
    const e = Math.min(s + RUN, n);
    for (let i = s + 1; i < e; i++) {
      const v = order[i], lv = line[v];
      let j = i - 1;
      while (j >= s && sign * compareValues(lv, line[order[j]]) < 0) {
        order[j + 1] = order[j];
        j--;
      }
      order[j + 1] = v;
    }
  }
  let src = order, dst = tmp;
  for (let width = RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n), hi = Math.min(lo + 2 * width, n);
      let a = lo, b = mid, o = lo;
      while (a < mid && b < hi) dst[o++] = sign * compareValues(line[src[b]], line[src[a]]) < 0 ? src[b++] : src[a++];
      while (a < mid) dst[o++] = src[a++];
      while (b < hi) dst[o++] = src[b++];
    }
    [src, dst] = [dst, src];
  }
  if (src !== order) order.set(src);
}

const SortFn = defineFunction({
  name: 'Sort',
  forward(ctx, x: Tensor, dim: number, descending: boolean, k: number) {
    const { outer, size, inner } = splitAt(x.shape, dim);
    const shape = x.shape.slice();
    shape[dim] = k;
    const vals = newArray(x.dtype, outer * k * inner), idx = new Int32Array(outer * k * inner);
    const xd = x.data, line = new Float64Array(size), order = new Int32Array(size), tmp = new Int32Array(size);
    const sign = descending ? -1 : 1;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        for (let j = 0; j < size; j++) {
          line[j] = xd[(o * size + j) * inner + i];
          order[j] = j;
        }
        if (k * 4 <= size) selectBest(line, order, k, sign);
        else mergeSort(line, order, tmp, sign);
        for (let j = 0; j < k; j++) {
          const dst = (o * k + j) * inner + i;
          idx[dst] = order[j];
          vals[dst] = line[order[j]];
        }
      }
    }
    const indices = new Tensor(idx, shape);
    ctx.save(indices);
    Object.assign(ctx, { inShape: x.shape, dim });
    return [new Tensor(vals, shape), indices];
  },
  backward(ctx, g) {
    const [indices] = ctx.saved;
    const { outer, size, inner } = splitAt(ctx.inShape, ctx.dim);
    const k = indices.shape.length ? indices.shape[ctx.dim] : 1;
    const gx = newArray(g.dtype, outer * size * inner), id = indices.data;
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < k; j++) {
        for (let i = 0; i < inner; i++) {
          const src = (o * k + j) * inner + i;
          gx[(o * size + id[src]) * inner + i] = g.data[src];
        }
      }
    }
    return [new Tensor(gx, ctx.inShape)];
  },
});

function run(op: string, x: Tensor, dim: number, descending: boolean, k: number | null): { values: Tensor; indices: Tensor } {
  const d = normDim(op, 'dim', dim, x.ndim);
  const size = x.ndim === 0 ? 1 : x.shape[d];
  if (k !== null) {
    if (typeof k !== 'number') throw typeError('an integer', `${op}(k)`, k);
    if (!Number.isInteger(k) || k < 0 || k > size) throw rangeError(`an integer in [0, ${size}] (the size of dim ${d})`, `${op}(k)`, k);
  }
  const xs = x.ndim === 0 ? x.reshape([1]) : x;
  const [values, indices] = SortFn(xs, x.ndim === 0 ? 0 : d, descending, k ?? size) as Tensor[];
  return x.ndim === 0 ? { values: values.reshape([]), indices: indices.reshape([]) } : { values, indices };
}

/**
 * Sorts along `dim` (default -1), ascending unless `descending`; stable (equal values keep their
 * order) and NaN sorts as the largest value, as torch.sort(stable=True). indices are int32.
 */
export function sort(x: Tensor, dim = -1, descending = false): { values: Tensor; indices: Tensor } {
  checkTensor('sort', 'x', x, ['float32', 'float64', 'int32']);
  return run('sort', x, dim, optBool('sort', 'descending', descending, false), null);
}

/**
 * The k largest (or smallest, `largest = false`) values along `dim` and their int32 indices, in
 * sorted order (torch.topk). `sorted = false` is accepted and also returns them sorted (PyTorch
 * leaves that order unspecified). Ties go to the lower index.
 */
export function topk(x: Tensor, k: number, dim = -1, largest = true, sorted = true): { values: Tensor; indices: Tensor } {
  checkTensor('topk', 'x', x, ['float32', 'float64', 'int32']);
  optBool('topk', 'sorted', sorted, true);
  return run('topk', x, dim, optBool('topk', 'largest', largest, true), k);
}
