/**
 * Inputs from outside the usual path: typed arrays backed by a SharedArrayBuffer reach every
 * native kernel zero-copy (read and written in place), exactly like ArrayBuffer-backed ones.
 */
import { describe, expect, it } from 'vitest';
import { tryNative } from '../lib/backends/native';
import { attention, gelu, matmul, sinkhorn } from '../lib/kernels';

function shared(values: ArrayLike<number>, pad = 0): Float32Array {
  const a = new Float32Array(new SharedArrayBuffer(4 * (values.length + pad)), 4 * pad, values.length);
  a.set(values);
  return a;
}

describe.skipIf(!tryNative())('SharedArrayBuffer-backed arrays', () => {
  it('are accepted as inputs and outputs (with a byte offset) and give the same results', () => {
    const x = [1, -2, 3, 0.5, -7, 2];
    const want = gelu(Float32Array.from(x), [2, 3]);
    expect(Array.from(gelu(shared(x), [2, 3]))).toEqual(Array.from(want));
    const out = shared(new Array(6).fill(0), 3);
    gelu(shared(x, 1), [2, 3], { out });
    expect(Array.from(out)).toEqual(Array.from(want));

    const a = [1, 2, 3, 4, 5, 6], b = [1, 0, -1, 2, 0.5, 1];
    expect(Array.from(matmul(shared(a), [2, 3], shared(b, 2), [3, 2]))).toEqual(Array.from(matmul(Float32Array.from(a), [2, 3], Float32Array.from(b), [3, 2])));

    const q = [0.1, 0.2, 0.3, 0.4], k = [0.5, -0.5, 1, 0, 0.2, 0.1, -1, 1], s = [1, 1, 2, 2], sk = [1, 1, 4, 2];
    const r = attention(shared(q), s, shared(k), sk, shared(k, 5), sk);
    const r0 = attention(Float32Array.from(q), s, Float32Array.from(k), sk, Float32Array.from(k), sk);
    expect(Array.from(r.out)).toEqual(Array.from(r0.out));

    const sc = [0.1, 0.5, -0.2, 0.3, 0.9, -1];
    expect(Array.from(sinkhorn(shared(sc), [2, 3]).out)).toEqual(Array.from(sinkhorn(Float32Array.from(sc), [2, 3]).out));
    // a collective whose allReduceSum answers with a SharedArrayBuffer-backed array (one process:
    // the identity reduction)
    const viaShared = sinkhorn(Float32Array.from(sc), [2, 3], { collective: { allReduceSum: (buf: Float32Array) => shared(buf) } });
    const viaCopy = sinkhorn(Float32Array.from(sc), [2, 3], { collective: { allReduceSum: (buf: Float32Array) => buf.slice() } });
    expect(Array.from(viaShared.out)).toEqual(Array.from(viaCopy.out));
  });
});
