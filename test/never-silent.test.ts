/**
 * Inputs that used to give a silently wrong result, or an error outside the package grammar:
 * non-typed-array data in the Tensor constructor, tensors whose buffer was transferred away,
 * sizes past what an array can hold, and misspelt or missing options.
 */
import { describe, expect, it } from 'vitest';
import { F, SelfsupError, Tensor, tensor } from '../lib/index';
import { expectThrows } from './helpers';

/** Transfers the tensor's buffer away (as postMessage with a transfer list does). */
function detach(t: Tensor): Tensor {
  structuredClone(t.data.buffer, { transfer: [t.data.buffer as ArrayBuffer] });
  return t;
}

describe('Tensor constructor data', () => {
  it('rejects plain arrays, strings and other non-typed-array data (no bool tensor by default)', () => {
    expectThrows(() => new Tensor([1, 2, 3] as never, [3]), TypeError,
      /^Expected a Float32Array, Float64Array, Int32Array or Uint8Array for Tensor\(data\) but received \[1, 2, 3\]/, /use tensor\(data\)/);
    expectThrows(() => new Tensor('hello' as never, [5]), TypeError, /for Tensor\(data\) but received "hello"/);
    expectThrows(() => new Tensor(new Int8Array(2) as never, [2]), TypeError, /but received a Int8Array of length 2/);
    expectThrows(() => new Tensor(null as never, []), TypeError, /for Tensor\(data\) but received null/);
    expectThrows(() => new Tensor(new Float32Array(2), 2 as never), TypeError, /for Tensor\(shape\) but received 2/);
    // The typed arrays are still accepted, zero-copy.
    const d = new Uint8Array([1, 0]);
    expect(new Tensor(d, [2]).data).toBe(d);
    expect(new Tensor(new Float64Array(4), [2, 2]).dtype).toBe('float64');
  });
});

describe('tensors whose buffer was detached', () => {
  it('are refused by ops, printing, tolist and item instead of giving NaN or an empty tensor', () => {
    const msg = /^Expected a Tensor whose data holds its 4 elements \(shape \[2, 2\]\) for .* but received a Tensor whose buffer was detached \(transferred\)$/;
    const t = detach(tensor([[1, 2], [3, 4]]));
    const e = expectThrows(() => t.add(1), SelfsupError, msg, /add\(a\)/);
    expect((e as SelfsupError).code).toBe('ERR_INVALID_ARGUMENT');
    expectThrows(() => F.add(tensor([[1, 1], [1, 1]]), t), SelfsupError, /for add\(b\)/);
    expectThrows(() => t.sum(), SelfsupError, msg);
    expectThrows(() => t.exp(), SelfsupError, msg);
    expectThrows(() => t.matmul(tensor([[1, 0], [0, 1]])), SelfsupError, msg);
    expectThrows(() => F.softmax(t, -1), SelfsupError, msg);
    expectThrows(() => t.toString(), SelfsupError, msg, /toString\(this\)/);
    expectThrows(() => String(t), SelfsupError, msg);
    expectThrows(() => t.tolist(), SelfsupError, msg, /tolist\(this\)/);
    const s = detach(tensor(3));
    expectThrows(() => s.item(), SelfsupError, /holds its 1 elements .* for item\(this\)/);
    // An empty tensor has nothing to lose: it still prints.
    expect(String(detach(tensor([])))).toBe('tensor([])');
  });
});
