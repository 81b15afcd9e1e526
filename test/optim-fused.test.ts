// The fused native optimizer steps (native/ops/optim) against the TypeScript loops they replace:
// bit-identical parameters and state after several steps, float32 and float64, every option.
import { afterEach, describe, expect, it } from 'vitest';
import { Tensor } from '../lib';
import { tryNative } from '../lib/backends/native';
import { AdamW } from '../lib/optim/adamw';
import { SGD } from '../lib/optim/sgd';
import { setFusedOptimizers } from '../lib/optim/fused';
import { mulberry32 } from './helpers';

const hasNative = process.env.SELFSUP_BACKEND !== 'reference' && tryNative() !== null;

function params(C: Float32ArrayConstructor | Float64ArrayConstructor, seed: number): Tensor[] {
  const r = mulberry32(seed);
  // Sizes around the native chunking (32768) so tensors straddle task boundaries.
  return [5, 40000, 1, 70001].map((n) => {
    const t = new Tensor(C.from({ length: n }, () => r() * 2 - 1), [n], { requiresGrad: true });
    return t;
  });
}
function setGrads(ps: Tensor[], step: number): void {
  ps.forEach((p, i) => {
    const r = mulberry32(1000 * step + i);
    const C = p.data.constructor as Float32ArrayConstructor;
    p.grad = new Tensor(C.from({ length: p.numel() }, () => (r() * 2 - 1) * (i === 1 ? 1e-6 : 1)), p.shape);
  });
}
function run(fused: boolean, C: Float32ArrayConstructor | Float64ArrayConstructor, make: (ps: Tensor[]) => { step(): void }): Tensor[] {
  setFusedOptimizers(fused);
  const ps = params(C, 7);
  const opt = make(ps);
  for (let s = 0; s < 4; s++) {
    setGrads(ps, s);
    opt.step();
  }
  return ps;
}

afterEach(() => setFusedOptimizers(true));

describe.skipIf(!hasNative)('fused optimizer steps match the TypeScript loops bit for bit', () => {
  const cases: Array<[string, (ps: Tensor[]) => { step(): void }]> = [
    ['AdamW', (ps) => new AdamW(ps, { lr: 1e-2 })],
    ['AdamW amsgrad maximize', (ps) => new AdamW(ps, { lr: 3e-3, weightDecay: 0.05, amsgrad: true, maximize: true, betas: [0.8, 0.95] })],
    ['SGD', (ps) => new SGD(ps, { lr: 0.1 })],
    ['SGD momentum dampening wd', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-4 })],
    ['SGD nesterov', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 })],
  ];
  for (const [name, make] of cases) {
    for (const C of [Float32Array, Float64Array]) {
      it(`${name} ${C.name}`, () => {
        const a = run(true, C, make), b = run(false, C, make);
        a.forEach((p, i) => expect(Buffer.from(p.data.buffer).equals(Buffer.from(b[i].data.buffer)), `param ${i}`).toBe(true));
      });
    }
  }
});

describe.skipIf(!hasNative)('fused optimizer bindings', () => {
  it('accept SharedArrayBuffer-backed parameters and reject a short gradient in the grammar', () => {
    const sab = (n: number) => new Float32Array(new SharedArrayBuffer(4 * n)).fill(0.5);
    const w = new Tensor(sab(1000), [1000], { requiresGrad: true });
    w.grad = new Tensor(sab(1000), [1000]);
    new SGD([w], { lr: 0.1 }).step();
    expect(w.data[0]).toBeCloseTo(0.45, 6);
    const a = tryNative() as unknown as { optimSGD: (...x: unknown[]) => void };
    expect(() => a.optimSGD([new Float32Array(4)], [new Float32Array(3)], null, null, Float64Array.of(0.1, 0, 0, 0, 1, 0)))
      .toThrow(/^Expected a Float32Array of length 4 for grads\[0\] but received length 3/);
  });
});
