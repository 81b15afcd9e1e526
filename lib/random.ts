/**
 * Counter-based random numbers: Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy
 * as 1, 2, 3", SC'11), the TypeScript twin of native/cpu/philox.cc (one stream, same numbers on every backend).
 *
 * Stream definition (identical to native/include/selfsup/philox.h):
 *   key     = (seed_lo32, seed_hi32)            seed: integer 0..2^53-1
 *   counter = (block_lo32, block_hi32, stream, 0), block = floor(offset / 4)
 *   the 4 output words of a block are the values at offsets 4*block + 0..3
 *   uniform float32 in [0, 1): (word >>> 8) * 2^-24
 *   normal float32: Box-Muller on the uniform pair at offsets 2*floor(i/2), 2*floor(i/2)+1:
 *     u1 = ((w0 >>> 8) + 1) * 2^-24 in (0, 1], u2 = (w1 >>> 8) * 2^-24,
 *     r = sqrt(-2 ln u1), value i = r cos(2 pi u2) for even i, r sin(2 pi u2) for odd i,
 *     computed in double and rounded to float32.
 *
 * Guarantees against the C++ (and CUDA) implementation: `randomWords` and `uniformFloat32` are
 * bit-identical. `normalFloat32` agrees to within 1 float32 ulp: JS Math.log/cos/sin and the C
 * library's log/cos/sin may differ in the last bit of a double, which after rounding to float32
 * almost always vanishes but can, rarely, flip the last float32 bit.
 */

import { rangeError, typeError } from './errors';

const M0 = 0xd2511f53; // round multipliers
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9; // Weyl key increments
const W1 = 0xbb67ae85;
const TWO_POW_32 = 4294967296;
const TWO_POW_NEG_24 = 1 / 16777216;
const TWO_PI = 6.283185307179586; // the double nearest 2*pi, the same literal as philox.cc

/**
 * High 32 bits of the 64-bit product a*b of two uint32s. The product does not fit a double's
 * 53-bit mantissa, so it is assembled from 16-bit halves whose partial products are exact:
 * a*b = ah*bh*2^32 + (ah*bl + al*bh)*2^16 + al*bl.
 */
function mulHi32(a: number, b: number): number {
  const ah = a >>> 16;
  const al = a & 0xffff;
  const bh = b >>> 16;
  const bl = b & 0xffff;
  const lo = al * bl; // < 2^32
  const mid = ah * bl + al * bh + Math.floor(lo / 65536); // < 2^33 + 2^16, exact
  return (ah * bh + Math.floor(mid / 65536)) >>> 0;
}

/** One Philox 4x32-10 block: counter (c0..c3), key (k0, k1), all uint32. Returns 4 uint32s. */
function philoxBlock(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number): [number, number, number, number] {
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulHi32(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulHi32(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return [c0, c1, c2, c3];
}

function checkUint32(value: unknown, name: string): number {
  if (typeof value !== 'number') throw typeError('a number', name, value);
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw rangeError('an integer in [0, 4294967295]', name, value);
  }
  return value;
}

function checkSafeUint(value: unknown, name: string): number {
  if (typeof value !== 'number') throw typeError('a number', name, value);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw rangeError('an integer in [0, 2^53 - 1]', name, value);
  }
  return value;
}

/** Largest n accepted by the array-producing functions (a typed array of that length). */
const MAX_N = 2 ** 31 - 1;

function checkArgs(seed: unknown, stream: unknown, offset: unknown, n: unknown): void {
  checkSafeUint(seed, 'seed');
  checkUint32(stream, 'stream');
  checkSafeUint(offset, 'offset');
  if (typeof n !== 'number') throw typeError('a number', 'n', n);
  if (!Number.isInteger(n) || n < 0 || n > MAX_N) {
    throw rangeError(`an integer in [0, ${MAX_N}]`, 'n', n);
  }
  if ((offset as number) + (n as number) > Number.MAX_SAFE_INTEGER) {
    throw rangeError('offset + n <= 2^53 - 1', 'offset', offset);
  }
}

/**
 * Raw Philox 4x32-10: counter (c0, c1, c2, c3) and key (k0, k1), each a uint32; returns the four
 * output words. Matches the Random123 known-answer vectors.
 */
export function philox4x32(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number): [number, number, number, number] {
  const u = checkUint32;
  return philoxBlock(u(c0, 'c0'), u(c1, 'c1'), u(c2, 'c2'), u(c3, 'c3'), u(k0, 'k0'), u(k1, 'k1'));
}

/**
 * Calls visit(i, word) for the words at offsets [offset, offset + n) of (seed, stream), one block
 * evaluation per 4 words.
 */
function forEachWord(
  seed: number,
  stream: number,
  offset: number,
  n: number,
  visit: (i: number, w: number) => void,
): void {
  const k0 = seed >>> 0; // ToUint32 is exact modulo 2^32 for safe integers
  const k1 = Math.floor(seed / TWO_POW_32) >>> 0;
  let block = Math.floor(offset / 4);
  let lane = offset - block * 4;
  let i = 0;
  while (i < n) {
    const w = philoxBlock(block >>> 0, Math.floor(block / TWO_POW_32) >>> 0, stream, 0, k0, k1);
    for (; lane < 4 && i < n; lane++, i++) visit(i, w[lane]);
    lane = 0;
    block++;
  }
}

/** Raw 32-bit words at offsets [offset, offset + n) of (seed, stream); bit-identical to C++. */
export function randomWords(seed: number, stream: number, offset: number, n: number): Uint32Array {
  checkArgs(seed, stream, offset, n);
  const out = new Uint32Array(n);
  forEachWord(seed, stream, offset, n, (i, w) => {
    out[i] = w;
  });
  return out;
}

/** Uniform float32 in [0, 1) at offsets [offset, offset + n); bit-identical to C++. */
export function uniformFloat32(seed: number, stream: number, offset: number, n: number): Float32Array {
  checkArgs(seed, stream, offset, n);
  const out = new Float32Array(n);
  forEachWord(seed, stream, offset, n, (i, w) => {
    out[i] = (w >>> 8) * TWO_POW_NEG_24; // exact in float32
  });
  return out;
}

/**
 * Standard normal float32 values at normal-value offsets [offset, offset + n) of (seed, stream)
 * (Box-Muller, see the header comment); equal to the C++ values to within 1 float32 ulp.
 */
export function normalFloat32(seed: number, stream: number, offset: number, n: number): Float32Array {
  checkArgs(seed, stream, offset, n);
  const out = new Float32Array(n);
  const k0 = seed >>> 0;
  const k1 = Math.floor(seed / TWO_POW_32) >>> 0;
  let cachedBlock = -1;
  let w: [number, number, number, number] = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    const j = offset + i;
    const odd = j % 2;
    const pair = j - odd; // even, so both words of the pair sit in one block
    const block = Math.floor(pair / 4);
    if (block !== cachedBlock) {
      w = philoxBlock(block >>> 0, Math.floor(block / TWO_POW_32) >>> 0, stream, 0, k0, k1);
      cachedBlock = block;
    }
    const lane = pair - block * 4; // 0 or 2
    const u1 = ((w[lane] >>> 8) + 1) * TWO_POW_NEG_24;
    const u2 = (w[lane + 1] >>> 8) * TWO_POW_NEG_24;
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = Math.fround(odd === 0 ? r * Math.cos(TWO_PI * u2) : r * Math.sin(TWO_PI * u2));
  }
  return out;
}
