import { describe, it, expect } from 'vitest';
import { normalFloat32, philox4x32, randomWords, uniformFloat32 } from '../lib/random';

// Shared with native/tests/philox_test.cc (values produced by native/cpu/philox.cc): seed 12345,
// stream 7, offset 3, n 10. Words and uniforms must match bit for bit, normals within 1 ulp.
const WORDS = [
  0x5e9ad4d4, 0xa1b975c9, 0xae052b7e, 0xef9fd9d3, 0x35f25bb1, 0x1889b16b, 0x4f1e38df, 0xe8707b00, 0xce15a877,
  0xc6fb32cd,
];
const UNIFORM = [
  0.36954999, 0.6317361, 0.679766357, 0.936032832, 0.210729301, 0.0958510041, 0.309054852, 0.907966316,
  0.805017948, 0.777270436,
];
const NORMAL = [
  0.980779707, -0.409347564, -0.866603374, 0.0888103768, 0.352593303, -0.785247207, 2.01824331, 0.148897126,
  -0.413431376, -0.70944351,
];
// seed 2^53 - 1, stream 2^32 - 1, offset 9007199254740000, n 6: exercises the high key/counter words.
const WORDS_BIG = [0x3a14f279, 0x45c07dc9, 0x46ece1b7, 0x8414dc1f, 0x7c20f716, 0xcda109b7];
const NORMAL_BIG = [-0.242349058, 1.70526123, -1.59418476, -0.160233214, 0.395018339, -1.13651931];

/** Distance in float32 ulps (both finite, same sign region assumed small). */
function ulpDistance(a: number, b: number): number {
  const f = new Float32Array([a, b]);
  const i = new Int32Array(f.buffer);
  const key = (x: number) => (x < 0 ? -2147483648 - x : x); // monotone integer order
  return Math.abs(key(i[0]) - key(i[1]));
}

describe('philox4x32', () => {
  it('matches the Random123 known-answer vectors', () => {
    expect(philox4x32(0, 0, 0, 0, 0, 0)).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    const f = 0xffffffff;
    expect(philox4x32(f, f, f, f, f, f)).toEqual([0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
    expect(philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0)).toEqual([
      0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1,
    ]);
  });

  it('validates its arguments', () => {
    expect(() => philox4x32(-1, 0, 0, 0, 0, 0)).toThrow(RangeError);
    expect(() => philox4x32(0, 0, 0, 0, 2 ** 32, 0)).toThrow(
      'Expected an integer in [0, 4294967295] for k0 but received 4294967296',
    );
    expect(() => philox4x32(0, '1' as unknown as number, 0, 0, 0, 0)).toThrow(TypeError);
  });
});

describe('stream functions', () => {
  it('reproduce the values shared with the C++ test', () => {
    expect(Array.from(randomWords(12345, 7, 3, 10))).toEqual(WORDS);
    expect(Array.from(uniformFloat32(12345, 7, 3, 10))).toEqual(UNIFORM.map(Math.fround));
    const z = normalFloat32(12345, 7, 3, 10);
    NORMAL.forEach((v, i) => expect(ulpDistance(z[i], v)).toBeLessThanOrEqual(1));
    expect(Array.from(randomWords(2 ** 53 - 1, 2 ** 32 - 1, 9007199254740000, 6))).toEqual(WORDS_BIG);
    const zb = normalFloat32(2 ** 53 - 1, 2 ** 32 - 1, 9007199254740000, 6);
    NORMAL_BIG.forEach((v, i) => expect(ulpDistance(zb[i], v)).toBeLessThanOrEqual(1));
  });

  it('lays blocks end to end: offset 4b + j is word j of counter (b, 0, stream, 0)', () => {
    const seed = 0x123456789abc;
    const w = randomWords(seed, 3, 0, 64);
    for (let b = 0; b < 16; b++) {
      const r = philox4x32(b, 0, 3, 0, 0x56789abc, 0x1234);
      for (let j = 0; j < 4; j++) expect(w[4 * b + j]).toBe(r[j]);
    }
  });

  it('is deterministic and window-consistent (offsets are absolute)', () => {
    const seed = 987654321;
    const u = uniformFloat32(seed, 2, 0, 64);
    const z = normalFloat32(seed, 2, 0, 64);
    const w = randomWords(seed, 2, 0, 64);
    expect(uniformFloat32(seed, 2, 0, 64)).toEqual(u);
    for (let off = 0; off < 9; off++) {
      for (const n of [0, 1, 2, 3, 5, 17]) {
        expect(Array.from(uniformFloat32(seed, 2, off, n))).toEqual(Array.from(u.subarray(off, off + n)));
        expect(Array.from(normalFloat32(seed, 2, off, n))).toEqual(Array.from(z.subarray(off, off + n)));
        expect(Array.from(randomWords(seed, 2, off, n))).toEqual(Array.from(w.subarray(off, off + n)));
      }
    }
    for (let i = 0; i < 64; i++) expect(u[i]).toBe((w[i] >>> 8) / 2 ** 24);
    expect(randomWords(seed, 3, 0, 64)).not.toEqual(w);
    expect(randomWords(seed + 1, 2, 0, 64)).not.toEqual(w);
  });

  it('has the right moments', () => {
    const n = 100000;
    const z = normalFloat32(42, 0, 0, n);
    const u = uniformFloat32(42, 1, 0, n);
    let sz = 0;
    let szz = 0;
    let su = 0;
    let suu = 0;
    let inRange = true;
    for (let i = 0; i < n; i++) {
      sz += z[i];
      szz += z[i] * z[i];
      su += u[i];
      suu += u[i] * u[i];
      inRange &&= u[i] >= 0 && u[i] < 1;
    }
    expect(inRange).toBe(true);
    const mz = sz / n;
    const vz = szz / n - mz * mz;
    const mu = su / n;
    const vu = suu / n - mu * mu;
    expect(Math.abs(mz)).toBeLessThan(0.015);
    expect(Math.abs(vz - 1)).toBeLessThan(0.03);
    expect(Math.abs(mu - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(vu - 1 / 12)).toBeLessThan(0.002);
    expect(z.every(Number.isFinite)).toBe(true);
  });

  it('rejects bad arguments with the package error grammar', () => {
    expect(() => uniformFloat32(-1, 0, 0, 1)).toThrow(
      new RangeError('Expected an integer in [0, 2^53 - 1] for seed but received -1'),
    );
    expect(() => uniformFloat32(1.5, 0, 0, 1)).toThrow(RangeError);
    expect(() => uniformFloat32(2 ** 53, 0, 0, 1)).toThrow(RangeError);
    expect(() => normalFloat32('1' as unknown as number, 0, 0, 1)).toThrow(
      new TypeError('Expected a number for seed but received "1"'),
    );
    expect(() => randomWords(0, 2 ** 32, 0, 1)).toThrow(
      new RangeError('Expected an integer in [0, 4294967295] for stream but received 4294967296'),
    );
    expect(() => randomWords(0, 0, NaN, 1)).toThrow(
      new RangeError('Expected an integer in [0, 2^53 - 1] for offset but received NaN'),
    );
    expect(() => uniformFloat32(0, 0, 0, -1)).toThrow(RangeError);
    expect(() => uniformFloat32(0, 0, 0, 2.5)).toThrow(RangeError);
    expect(() => uniformFloat32(0, 0, 2 ** 53 - 2, 5)).toThrow(RangeError);
    expect(uniformFloat32(0, 0, 0, 0)).toEqual(new Float32Array(0));
  });
});
