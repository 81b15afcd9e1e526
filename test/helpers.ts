/** Small helpers shared by the kernel test files and the op table (test/ops/helpers.ts). */
import { expect, vi } from 'vitest';

/** mulberry32: tiny, seeded, independent of lib/random (the op under test must not draw its own inputs). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The command and arguments that run a child Node process: process.execPath, or SELFSUP_TEST_NODE
 * (a command line split on spaces) when set. scripts/arm64-jstest.sh sets it to `qemu-aarch64 -L
 * <libs> <arm64 node>`: qemu-user runs the arm64 node, but that node cannot exec itself (without a
 * binfmt_misc entry the kernel does not know arm64 binaries), so its children go through qemu too.
 */
/** Set by scripts/arm64-jstest.sh: the tests run under qemu-user, ~10-100x slower than the hardware. */
export const emulated = process.env.SELFSUP_TEST_EMULATED === '1';

export function nodeCommand(args: string[]): [string, string[]] {
  const words = (process.env.SELFSUP_TEST_NODE ?? '').split(' ').filter((w) => w !== '');
  return words.length > 0 ? [words[0], [...words.slice(1), ...args]] : [process.execPath, args];
}

/** Normwise relative error max|a - b| / max|b| (b is the reference). */
export function normwiseRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-30);
}

/** Expects max |a - ref| <= atol + rtol * max |ref| (and a finite error): the normwise bound. */
export function expectCloseNormwise(a: ArrayLike<number>, ref: ArrayLike<number>, rtol: number, atol = 1e-6): void {
  expect(a.length).toBe(ref.length);
  let err = 0, mag = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(a[i] - ref[i]));
    mag = Math.max(mag, Math.abs(ref[i]));
  }
  expect(Number.isFinite(err)).toBe(true);
  expect(err).toBeLessThanOrEqual(atol + rtol * mag);
}

/** Runs `selfsup <command> ...args` in process, capturing stdout and stderr. */
export async function runCli(command: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { main } = await import('../lib/cli/main');
  let out = '', err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  try {
    const code = await main([command, ...args]);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

/** Runs fn, expects it to throw an instance of cls whose message matches every pattern given. */
export function expectThrows(fn: () => unknown, cls: abstract new (...args: never[]) => Error, ...patterns: RegExp[]): Error {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(cls);
  for (const p of patterns) expect((err as Error).message).toMatch(p);
  return err as Error;
}
