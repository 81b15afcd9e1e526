/**
 * The op table (lib/ops/table.ts) drives F, the Tensor methods and the package exports; this file
 * checks that they agree and that the op tests (test/ops/rows) cover every key and every method.
 * A new op or method without a test row fails here.
 */
import { describe, expect, it } from 'vitest';
import * as pkg from '../../lib/index';
import { F, Tensor } from '../../lib/index';
import { OP_TABLE } from '../../lib/ops/table';
import { GETTERS, TABLE_METHODS, VARIANT_METHODS } from '../../lib/tensor-methods';
import { opDb } from './op-db';

/** Tensor members that are not ops: state, conversion, autograd and in-place updates, each tested in its own file. */
const NOT_OPS: Record<string, string> = {
  constructor: 'test/tensor.test.ts', requiresGrad: 'test/autograd.test.ts', requiresGrad_: 'test/autograd.test.ts',
  isLeaf: 'test/autograd.test.ts', ndim: 'test/tensor.test.ts', numel: 'test/tensor.test.ts', size: 'test/tensor.test.ts',
  toArray: 'test/tensor.test.ts', tolist: 'test/tensor.test.ts', item: 'test/tensor.test.ts', toString: 'test/tensor.test.ts',
  detach: 'test/autograd.test.ts', to: 'test/tensor.test.ts', float: 'test/tensor.test.ts', double: 'test/tensor.test.ts',
  int: 'test/tensor.test.ts', bool: 'test/tensor.test.ts', backward: 'test/autograd.test.ts', version: 'test/version.test.ts',
  zero_: 'test/version.test.ts', fill_: 'test/version.test.ts', copy_: 'test/version.test.ts', add_: 'test/version.test.ts',
  sub_: 'test/version.test.ts', mul_: 'test/version.test.ts', div_: 'test/version.test.ts', lerp_: 'test/version.test.ts',
  cpu: 'test/cuda.test.ts', cuda: 'test/cuda.test.ts', toArrayAsync: 'test/cuda.test.ts', cpuCopy: 'test/cuda.test.ts',
  dispose: 'test/cuda.test.ts',
};

const covered = new Map<string, string[]>(); // op key or method -> rows
for (const r of opDb) for (const k of r.op ?? [r.name]) covered.set(k, [...(covered.get(k) ?? []), r.name]);

describe('op table', () => {
  const table = OP_TABLE as Record<string, { fn: unknown; method?: true; aliasOf?: string }>;

  it('F has exactly the table keys, each the table function', () => {
    expect(Object.keys(F).sort()).toEqual(Object.keys(table).sort());
    for (const [k, r] of Object.entries(table)) expect((F as Record<string, unknown>)[k], k).toBe(r.fn);
  });

  it('the package exports every table key as the same function', () => {
    const missing = Object.keys(table).filter((k) => (pkg as Record<string, unknown>)[k] !== table[k].fn);
    expect(missing).toEqual([]);
  });

  it('every key has a test row (aliases through the op they name)', () => {
    const missing = Object.entries(table).filter(([k, r]) => !covered.has(r.aliasOf ?? k)).map(([k]) => k);
    expect(missing).toEqual([]);
    for (const [k, r] of Object.entries(table)) if (r.aliasOf) expect(table[r.aliasOf]?.fn, `${k} aliases ${r.aliasOf}`).toBe(r.fn);
  });

  it('every Tensor method is an op with a test row, or a member listed with the file that tests it', () => {
    const members = Object.getOwnPropertyNames(Tensor.prototype).filter((m) => typeof m === 'string');
    const unclassified = members.filter((m) => !(m in NOT_OPS) && !covered.has(m));
    expect(unclassified).toEqual([]);
    for (const m of [...TABLE_METHODS, ...VARIANT_METHODS, ...GETTERS]) expect(members, m).toContain(m);
  });

  it('every getter (x.T) is a read-only property whose row reads it', () => {
    expect(GETTERS).toContain('T');
    for (const m of GETTERS) {
      const d = Object.getOwnPropertyDescriptor(Tensor.prototype, m);
      expect(typeof d?.get, `${m} is a getter`).toBe('function');
      expect(d?.set, `${m} has no setter`).toBeUndefined();
      // The getter's row is its own (name === m) and is not a table key: its fn reads x[m].
      expect(m in table, `${m} is not an op-table key`).toBe(false);
      expect(opDb.some((r) => r.name === m), `${m}: a row named ${m}`).toBe(true);
    }
  });

  it("every method variant's row runs the method form", () => {
    const ops = new Set(TABLE_METHODS);
    for (const m of VARIANT_METHODS) {
      if (m in NOT_OPS) continue;
      const rows = opDb.filter((r) => (r.op ?? [r.name]).includes(m));
      // A row runs the method when it has `method`, or when its fn is the method itself (name === m, no table row).
      const runs = rows.some((r) => r.method !== undefined || (!(m in table) && r.name === m));
      expect(runs, `${m}: a row that calls x.${m}(...)`).toBe(true);
    }
    expect(ops.size).toBeGreaterThan(40);
  });
});
