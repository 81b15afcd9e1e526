/** Generic tests over the op table (op-db.ts): see the header of op-db.ts. */
import { beforeAll, describe, expect, it } from 'vitest';
import { SelfsupError, Tensor, gradcheck } from '../../lib/index';
import { isAvailable as isCudaAvailable } from '../../lib/cuda';
import { setNativeMinElements } from '../../lib/ops/native-core';
import { OP_TABLE } from '../../lib/ops/table';
import { opDb, type OpOutput, type OpRow } from './op-db';
import { Gen, compare, flattenOut, hashString, materialize, materializeRef, type RefTensor } from './helpers';
import { HALF_ROWS, NO_CUDA_ROWS, checkRowOnCuda } from './cuda-parity';

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

// With a CUDA build and a device: every row's float32 sample on 'cuda' against the CPU, outputs
// and gradients (test/ops/cuda-parity.ts; rows without a CUDA kernel must throw ERR_NO_DEVICE),
// and the rows with 16-bit CUDA paths in bfloat16 and float16 with their own tolerances. Skipped
// without a device; test/cuda.test.ts runs the float32 parity against a host stand-in everywhere.
const cuda = isCudaAvailable();
describe.skipIf(!cuda)('CUDA parity', () => {
  for (const row of opDb) {
    it(`${row.name}: cuda matches cpu (float32)${NO_CUDA_ROWS.has(row.name) ? ', or throws ERR_NO_DEVICE (listed)' : ''}`, () => {
      expect(checkRowOnCuda(row, 'float32')).toBe(NO_CUDA_ROWS.has(row.name) ? 'threw' : 'ran');
    });
    if (HALF_ROWS.has(row.name)) {
      for (const dt of ['bfloat16', 'float16'] as const) {
        it(`${row.name}: cuda matches cpu (${dt})`, () => {
          expect(checkRowOnCuda(row, dt)).toBe('ran');
        });
      }
    }
  }
});
