/**
 * The CUDA parity check of the op table, shared by test/ops/ops.test.ts (a real device) and
 * test/cuda.test.ts (a host-memory stand-in for the device, which checks the JS plumbing on
 * machines without a GPU). Every row's float32 sample runs on 'cpu' and, with its tensors moved by
 * `.to('cuda')`, on 'cuda': outputs must live on 'cuda' and match, and so must the gradients (they
 * flow back through `to` to the same host leaves). A row whose op has no CUDA kernel is listed in
 * NO_CUDA_ROWS and must throw ERR_NO_DEVICE naming the op; one that throws and is not listed, or is
 * listed and does not throw (a silent CPU fallback), fails.
 */
import { expect } from 'vitest';
import { SelfsupError, Tensor, backward } from '../../lib/index';
import { opDb, type OpOutput, type OpRow } from './op-db';
import { Gen, compare, flattenOut, hashString, materialize } from './helpers';

/** Rows whose op (or an op it calls) has no CUDA kernel: they must throw ERR_NO_DEVICE on 'cuda'. */
export const NO_CUDA_ROWS: ReadonlySet<string> = new Set<string>([
  'cumsum-int32', 'gather', 'scatterAdd', 'sort', 'sort-default-dim', 'sort-int32', 'topk',
]);

/**
 * Rows whose op returns a host value by design (allclose's boolean, which the row wraps in a cpu
 * tensor): their output is compared, not its device.
 */
export const HOST_RESULT_ROWS: ReadonlySet<string> = new Set<string>(['allclose']);

/** Rows also run in bfloat16 and float16 on a real device (the ops with 16-bit CUDA paths). */
export const HALF_ROWS: ReadonlySet<string> = new Set<string>([
  'add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'neg', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'abs', 'relu',
  'sigmoid', 'tanh', 'clamp', 'clampMin', 'clampMax', 'sum', 'mean', 'amax', 'amin', 'softmax', 'logSoftmax',
  'reshape', 'transpose', 'permute', 'view', 'clone', 'expand', 'attention',
]);

const TOL: Record<'float32' | 'bfloat16' | 'float16', { fwd: [number, number]; grad: [number, number] }> = {
  float32: { fwd: [1e-5, 1e-4], grad: [1e-4, 1e-3] },
  // 8 (bfloat16) and 11 (float16) significant bits on the inputs and the stored results.
  bfloat16: { fwd: [2e-2, 3e-2], grad: [5e-2, 5e-2] },
  float16: { fwd: [3e-3, 4e-3], grad: [1e-2, 1e-2] },
};

function outputs(out: OpOutput): Tensor[] {
  return flattenOut<Tensor>(out, (v) => v instanceof Tensor);
}

const isFloat = (t: Tensor): boolean => t.dtype === 'float32' || t.dtype === 'bfloat16' || t.dtype === 'float16';

/** The cotangent of output k: fixed values in [-1, 1). */
function cotangent(t: Tensor, k: number): Float32Array {
  const g = new Gen(1000 + k);
  return Float32Array.from({ length: t.numel() }, () => 2 * g.next() - 1);
}

export type ParityResult = 'ran' | 'threw';

/**
 * One row at one dtype; returns whether it ran or threw the expected ERR_NO_DEVICE (expect()
 * failures otherwise).
 */
export function checkRowOnCuda(row: OpRow, dtype: 'float32' | 'bfloat16' | 'float16'): ParityResult {
  const tol = TOL[dtype];
  const onCuda = (a: unknown): unknown => {
    if (a instanceof Tensor) {
      const d = a.to('cuda');
      return dtype !== 'float32' && a.dtype === 'float32' ? d.to(dtype) : d;
    }
    if (Array.isArray(a)) return a.map(onCuda);
    if (a !== null && typeof a === 'object') return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, onCuda(v)]));
    return a;
  };
  let result: ParityResult = 'ran';
  row.samples(new Gen(hashString(row.name))).forEach((s, si) => {
    const label = `${row.name} sample ${s.label ?? si} (${dtype} on cuda)`;
    const leavesC: Tensor[] = [], leavesG: Tensor[] = [];
    const cpu = outputs(row.fn(...materialize(s.args, 'float32', true, leavesC)));
    const argsG = materialize(s.args, 'float32', true, leavesG).map(onCuda);
    let gpu: Tensor[];
    try {
      gpu = outputs(row.fn(...argsG));
    } catch (e) {
      const listed = NO_CUDA_ROWS.has(row.name);
      const clear = e instanceof SelfsupError && e.code === 'ERR_NO_DEVICE' && /no CUDA kernel yet|has no .* path yet|on 'cpu'/.test(e.message);
      if (!(listed && clear)) throw new Error(`${label}: threw ${(e as Error).name}: ${(e as Error).message}${listed ? '' : ' (not listed in NO_CUDA_ROWS)'}`);
      result = 'threw';
      return;
    }
    expect(NO_CUDA_ROWS.has(row.name), `${label}: listed in NO_CUDA_ROWS but ran`).toBe(false);
    expect(gpu.length, `${label}: number of outputs`).toBe(cpu.length);
    gpu.forEach((g, k) => {
      expect(g.device, `${label}: output ${k} device (no silent CPU fallback)`).toBe(HOST_RESULT_ROWS.has(row.name) ? 'cpu' : 'cuda');
      expect(g.shape, `${label}: output ${k} shape`).toEqual(cpu[k].shape);
      const got = g.toArray(), want = cpu[k].toArray();
      if (isFloat(g)) {
        const c = compare(got, want, tol.fwd[0], tol.fwd[1]);
        expect(c.ok, `${label}: output ${k}: ${c.msg}`).toBe(true);
      } else {
        expect(Array.from(got), `${label}: output ${k}`).toEqual(Array.from(want));
      }
    });
    if (row.gradcheck === false || s.gradcheck === false || leavesC.length === 0) return;
    const pairs = cpu.map((c, k) => [c, gpu[k], k] as const).filter(([c]) => isFloat(c) && c.requiresGrad);
    if (pairs.length === 0) return;
    backward(pairs.map(([c]) => c), pairs.map(([c, , k]) => new Tensor(cotangent(c, k), c.shape)));
    backward(pairs.map(([, g]) => g), pairs.map(([c, g, k]) => new Tensor(cotangent(c, k), c.shape).to('cuda').to(g.dtype)));
    leavesC.forEach((l, i) => {
      const gc = l.grad, gg = leavesG[i].grad;
      expect(gg === null, `${label}: leaf ${i} has a gradient on cuda iff on cpu`).toBe(gc === null);
      if (!gc || !gg) return;
      expect(gg.device, `${label}: leaf ${i} gradient device`).toBe('cpu');
      const c = compare(gg.toArray(), gc.toArray(), tol.grad[0], tol.grad[1]);
      expect(c.ok, `${label}: leaf ${i} gradient: ${c.msg}`).toBe(true);
    });
  });
  return result;
}

export { opDb };
