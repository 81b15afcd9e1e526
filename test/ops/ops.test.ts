/** Generic tests over the op table (op-db.ts): see the header of op-db.ts. */
import { beforeAll, describe, expect, it } from 'vitest';
import { SelfsupError, Tensor, gradcheck } from '../../lib/index';
import { tryNative } from '../../lib/backends/native';
import { setNativeMinElements } from '../../lib/ops/native-core';
import { OP_TABLE } from '../../lib/ops/table';
import { opDb, type OpOutput, type OpRow } from './op-db';
import { Gen, compare, flattenOut, hashString, materialize, materializeRef, type RefTensor } from './helpers';

const DEFAULT_TOL = { float32: [2e-5, 2e-4] as [number, number], float64: [1e-10, 1e-9] as [number, number] };
/** Gradcheck cost is O(inputs x outputs): larger samples are forward-only. */
const GRADCHECK_MAX_IN = 160;
const GRADCHECK_MAX_OUT = 160;

function samplesOf(row: OpRow) {
  return row.samples(new Gen(hashString(row.name)));
}

function outputs(out: OpOutput): Tensor[] {
  return flattenOut<Tensor>(out, (v) => v instanceof Tensor);
}
function refOutputs(out: ReturnType<OpRow['ref']>): RefTensor[] {
  return flattenOut<RefTensor>(out, (v) => typeof v === 'object' && v !== null && 'data' in (v as object) && 'shape' in (v as object));
}

function checkForward(row: OpRow, dtype: 'float32' | 'float64'): void {
  const [atol, rtol] = row.tol?.[dtype] ?? DEFAULT_TOL[dtype];
  samplesOf(row).forEach((s, si) => {
    const label = `${row.name} sample ${s.label ?? si} (${dtype})`;
    const got = outputs(row.fn(...materialize(s.args, dtype, false)));
    const want = refOutputs(row.ref(...materializeRef(s.args)));
    expect(got.length, `${label}: number of outputs`).toBe(want.length);
    got.forEach((g, k) => {
      expect(g.shape, `${label}: output ${k} shape`).toEqual(want[k].shape);
      if (g.dtype === 'float32' || g.dtype === 'float64') {
        expect(g.dtype, `${label}: output ${k} dtype`).toBe(dtype);
        const c = compare(g.data, want[k].data, atol, rtol);
        expect(c.ok, `${label}: output ${k}: ${c.msg}`).toBe(true);
      } else {
        expect(Array.from(g.data), `${label}: output ${k}`).toEqual(Array.from(want[k].data));
      }
    });
  });
}

/** The row's method form: its own `method`, or `x.op(...rest)` for a one-op row whose table row has `method: true`. */
function methodForm(row: OpRow): ((...args: unknown[]) => OpOutput) | null {
  if (row.method) return row.method;
  const keys = row.op ?? [row.name];
  const t = (OP_TABLE as Record<string, { method?: true }>)[keys[0]];
  if (keys.length !== 1 || t?.method !== true) return null;
  return (x, ...rest) => (x as Record<string, (...a: unknown[]) => OpOutput>)[keys[0]](...rest);
}

// Every sample runs the native tensor core, however small (in use, tensors under 512 elements run
// the TypeScript loops, which SELFSUP_BACKEND=reference runs check).
beforeAll(() => setNativeMinElements(0));

describe('op table', () => {
  it('has rows', () => {
    expect(opDb.length).toBeGreaterThan(20);
    const names = opDb.map((r) => r.name);
    expect(new Set(names).size, 'row names are unique').toBe(names.length);
  });

  for (const row of opDb) {
    describe(row.name, () => {
      for (const dtype of row.dtypes ?? (['float32', 'float64'] as const)) {
        it(`forward matches the float64 reference (${dtype})`, () => checkForward(row, dtype));
      }

      const method = methodForm(row);
      if (method) {
        it('the Tensor method form gives the same result as the function', () => {
          samplesOf(row).forEach((s, si) => {
            const args = materialize(s.args, 'float32', false);
            const want = outputs(row.fn(...args)), got = outputs(method(...args));
            expect(got.length, `${row.name} sample ${s.label ?? si}`).toBe(want.length);
            got.forEach((g, k) => {
              expect(g.shape, `${row.name} sample ${s.label ?? si} output ${k}`).toEqual(want[k].shape);
              expect(Array.from(g.data), `${row.name} sample ${s.label ?? si} output ${k}`).toEqual(Array.from(want[k].data));
            });
          });
        });
      }

      if (row.gradcheck !== false) {
        it('gradients match finite differences (float64)', () => {
          let checked = 0;
          samplesOf(row).forEach((s, si) => {
            if (s.gradcheck === false) return;
            const leaves: Tensor[] = [];
            const args = materialize(s.args, 'float64', true, leaves);
            if (leaves.length === 0) return;
            const nIn = leaves.reduce((a, t) => a + t.numel(), 0);
            const nOut = outputs(row.fn(...args)).reduce((a, t) => a + t.numel(), 0);
            if (nIn > GRADCHECK_MAX_IN || nOut > GRADCHECK_MAX_OUT) return;
            const opts = row.gradcheck === undefined ? {} : row.gradcheck;
            try {
              gradcheck(() => row.fn(...args), leaves, opts);
            } catch (e) {
              throw new Error(`${row.name} sample ${s.label ?? si}: ${(e as Error).message}`);
            }
            checked++;
          });
          expect(checked, `${row.name}: at least one sample small enough for gradcheck`).toBeGreaterThan(0);
        });
      }

      if (row.errors?.length) {
        it('rejects bad inputs with the package error grammar', () => {
          for (const c of row.errors ?? []) {
            let err: unknown;
            try {
              row.fn(...c.args());
            } catch (e) {
              err = e;
            }
            const label = `${row.name} error case ${c.label ?? String(c.message)}`;
            expect(err, `${label}: threw`).toBeInstanceOf(c.error);
            const msg = (err as Error).message;
            expect(msg, label).toMatch(/^Expected .+ for .+ but received/);
            if (typeof c.message === 'string') expect(msg, label).toContain(c.message);
            else expect(msg, label).toMatch(c.message);
            if (c.code) expect((err as SelfsupError).code, label).toBe(c.code);
          }
        });
      }
    });
  }
});

function cudaAvailable(): boolean {
  try {
    const info = tryNative()?.cudaInfo?.();
    return !!info && info.built && info.devices.length > 0;
  } catch {
    return false;
  }
}
const cuda = cudaAvailable();

// CUDA tensors are not implemented yet (device 'cuda' throws ERR_NO_DEVICE); once they are, this
// block moves every row's float32 sample to 'cuda' and compares with the CPU result.
describe.skipIf(!cuda)('CUDA parity', () => {
  for (const row of opDb) {
    it(`${row.name}: cuda matches cpu (float32)`, () => {
      for (const s of samplesOf(row)) {
        const cpu = outputs(row.fn(...materialize(s.args, 'float32', false)));
        const onCuda = (a: unknown): unknown => (a instanceof Tensor ? a.to('cuda') : Array.isArray(a) ? a.map(onCuda) : a);
        const gpu = outputs(row.fn(...(materialize(s.args, 'float32', false).map(onCuda) as unknown[])));
        gpu.forEach((g, k) => expect(compare(g.to('cpu').data, cpu[k].data, 1e-5, 1e-4).ok).toBe(true));
      }
    });
  }
});
