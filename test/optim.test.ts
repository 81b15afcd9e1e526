import { describe, it, expect } from 'vitest';
import { Tensor } from '../lib/index';
import * as optim from '../lib/optim';

const { SGD, Adam, AdamW, LARS, cosineWithWarmup, stepLR, multiStepLR, clipGradNorm } = optim;

/** Deterministic pseudo-random values in [-1, 1) (xorshift): never zeros, fresh per seed. */
function values(n: number, seed: number): number[] {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out.push((s / 2 ** 32) * 2 - 1);
  }
  return out;
}

function param(shape: number[], seed: number, dtype: 'float32' | 'float64' = 'float64'): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = dtype === 'float64' ? Float64Array.from(values(n, seed)) : Float32Array.from(values(n, seed));
  return new Tensor(data, shape, { requiresGrad: true });
}

function setGrad(p: Tensor, g: number[]): void {
  const data = p.dtype === 'float64' ? Float64Array.from(g) : Float32Array.from(g);
  p.grad = new Tensor(data, p.shape);
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= tol * (1 + Math.abs(expected[i])))) {
      throw new Error(`index ${i}: got ${actual[i]}, expected ${expected[i]} (|err| ${err} > tol ${tol})`);
    }
  }
}

const norm = (a: number[]) => Math.sqrt(a.reduce((s, v) => s + v * v, 0));

describe('SGD (PyTorch semantics)', () => {
  /** torch.optim.SGD's update in float64 (its docs' pseudo-code), checked after every step. */
  function checkSgd(shape: number[], seed: number, o: { lr: number; momentum: number; dampening?: number; nesterov?: boolean; weightDecay: number; maximize?: boolean }, steps: number): void {
    const p = param(shape, seed);
    const opt = new SGD([p], o);
    let w = Array.from(p.data);
    let buf: number[] | null = null;
    const damp = o.dampening ?? 0;
    for (let step = 0; step < steps; step++) {
      const g = values(p.numel(), seed * 100 + step);
      setGrad(p, g);
      opt.step();
      const d = g.map((gi, i) => (o.maximize ? -gi : gi) + o.weightDecay * w[i]);
      buf = buf === null ? d.slice() : buf.map((b, i) => o.momentum * b + (1 - damp) * d[i]);
      const upd = o.nesterov ? d.map((di, i) => di + o.momentum * buf![i]) : buf;
      w = w.map((wi, i) => wi - o.lr * upd[i]);
      expectClose(p.data, w, 1e-14);
    }
  }

  it('momentum + nesterov + weight decay matches the float64 formulas over 4 steps', () => {
    checkSgd([3, 5], 1, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }, 4);
  });

  it('momentum with dampening (no nesterov) and maximize', () => {
    checkSgd([7], 2, { lr: 0.05, momentum: 0.5, dampening: 0.3, weightDecay: 0.1, maximize: true }, 3);
  });

  it('plain SGD on float32 stays within float32 rounding; params without grad are skipped', () => {
    const p = param([4, 4], 3, 'float32');
    const q = param([2], 4, 'float32');
    const q0 = Float32Array.from(q.data);
    const opt = new SGD([p, q], { lr: 0.5 });
    const w0 = Array.from(p.data);
    const g = values(16, 5);
    setGrad(p, g);
    opt.step();
    expectClose(p.data, w0.map((wi, i) => wi - 0.5 * g[i]), 1e-6);
    expect(Array.from(q.data)).toEqual(Array.from(q0));
  });

  it('validates options with the package grammar', () => {
    const p = param([2], 6);
    expect(() => new SGD([p], { lr: -1 })).toThrow(/Expected a number >= 0 for SGD paramGroups\[0\]\.lr but received -1/);
    expect(() => new SGD([p], { momentum: 0, nesterov: true })).toThrow(/Expected momentum > 0 and dampening = 0 for SGD paramGroups\[0\]\.nesterov/);
    expect(() => new SGD([], { lr: 0.1 })).toThrow(RangeError);
    expect(() => new SGD([p, p], { lr: 0.1 })).toThrow(/each parameter in exactly one group/);
    expect(() => new SGD([{ params: [p], lrr: 1 } as never])).toThrow(/SGD paramGroups\[0\]\.lrr/);
  });

  it('param groups take per-group options and zeroGrad clears grads', () => {
    const a = param([2], 7), b = param([2], 8);
    const opt = new SGD([{ params: [a] }, { params: [b], lr: 1 }], { lr: 0.1 });
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.1, 1]);
    const a0 = Array.from(a.data), b0 = Array.from(b.data);
    setGrad(a, [1, 1]);
    setGrad(b, [1, 1]);
    opt.step();
    expectClose(a.data, a0.map((v) => v - 0.1), 1e-15);
    expectClose(b.data, b0.map((v) => v - 1), 1e-15);
    opt.zeroGrad(false);
    expect(Array.from(a.grad!.data)).toEqual([0, 0]);
    opt.zeroGrad();
    expect(a.grad).toBeNull();
  });
});

/** Both optimizers step their parameter with gradient g; the parameters must come out identical. */
function expectSameStep([o1, p1]: [{ step(): void }, Tensor], [o2, p2]: [{ step(): void }, Tensor], g: number[]): void {
  setGrad(p1, g);
  setGrad(p2, g);
  o1.step();
  o2.step();
  expect(Array.from(p2.data)).toEqual(Array.from(p1.data));
}

/**
 * torch.optim.Adam / AdamW written out in float64: g = (maximize ? -g : g), then either the
 * decoupled decay p *= 1 - lr wd (AdamW) or the L2 term g += wd p (Adam), then the bias-corrected step.
 */
class AdamReference {
  private m: number[];
  private v: number[];
  private vmax: number[];
  private t = 0;
  constructor(private w: number[], private o: { lr: number; b1: number; b2: number; eps: number; wd: number; amsgrad: boolean; decoupled: boolean; maximize: boolean }) {
    this.m = w.map(() => 0);
    this.v = w.map(() => 0);
    this.vmax = w.map(() => 0);
  }
  step(grad: number[]): number[] {
    const { lr, b1, b2, eps, wd, amsgrad, decoupled, maximize } = this.o;
    const t = ++this.t;
    let g = grad.map((gi) => (maximize ? -gi : gi));
    if (decoupled) this.w = this.w.map((wi) => wi * (1 - lr * wd));
    else g = g.map((gi, i) => gi + wd * this.w[i]);
    this.m = this.m.map((mi, i) => b1 * mi + (1 - b1) * g[i]);
    this.v = this.v.map((vi, i) => b2 * vi + (1 - b2) * g[i] * g[i]);
    this.vmax = this.vmax.map((x, i) => Math.max(x, this.v[i]));
    const second = amsgrad ? this.vmax : this.v;
    const bc1 = 1 - b1 ** t, bc2 = 1 - b2 ** t;
    this.w = this.w.map((wi, i) => wi - (lr / bc1) * this.m[i] / (Math.sqrt(second[i]) / Math.sqrt(bc2) + eps));
    return this.w;
  }
}

describe('AdamW (PyTorch semantics)', () => {
  for (const amsgrad of [false, true]) {
    it(`bias-corrected decoupled update over 5 steps (amsgrad ${amsgrad})`, () => {
      const p = param([6, 3], 10);
      const lr = 0.01, b1 = 0.8, b2 = 0.95, eps = 1e-6, wd = 0.05;
      const opt = new AdamW([p], { lr, betas: [b1, b2], eps, weightDecay: wd, amsgrad });
      const ref = new AdamReference(Array.from(p.data), { lr, b1, b2, eps, wd, amsgrad, decoupled: true, maximize: false });
      for (let t = 1; t <= 5; t++) {
        // Large and small gradients in turn, so amsgrad's running max actually matters.
        const g = values(18, 300 + t).map((x) => (t % 2 ? 3 * x : 0.1 * x));
        setGrad(p, g);
        opt.step();
        expectClose(p.data, ref.step(g), 1e-13);
      }
      expect(opt.state.get(p)!.step).toBe(5);
    });
  }

  it('stateDict round trip: a restored optimizer continues identically', () => {
    const p1 = param([4], 11), p2 = param([4], 11);
    const o1 = new AdamW([p1], { lr: 0.1 });
    for (let t = 0; t < 3; t++) {
      setGrad(p1, values(4, 400 + t));
      o1.step();
    }
    p2.data.set(p1.data);
    const o2 = new AdamW([p2], { lr: 0.5 });
    o2.loadStateDict(o1.stateDict());
    expect(o2.paramGroups[0].lr).toBe(0.1);
    expectSameStep([o1, p1], [o2, p2], values(4, 500));
    const bad = new AdamW([param([5], 12)]);
    expect(() => bad.loadStateDict(o1.stateDict())).toThrow(/AdamW\.loadStateDict stateDict\.state\[0\]\.expAvg/);
    expect(() => new AdamW([p1], { betas: [0.9, 1] })).toThrow(/Expected a number >= 0 and < 1 for AdamW paramGroups\[0\]\.betas\[1\]/);
  });
});

describe('LARS (VICReg / Barlow Twins form)', () => {
  it('adapts and decays 2-D weights, excludes 1-D biases by default', () => {
    const w = param([4, 3], 20), b = param([3], 21);
    const lr = 0.2, mom = 0.9, wd = 1e-4, eta = 0.001;
    const opt = new LARS([w, b], { lr, momentum: mom, weightDecay: wd, eta });
    let W = Array.from(w.data), B = Array.from(b.data);
    let muW = W.map(() => 0), muB = B.map(() => 0);
    for (let t = 0; t < 3; t++) {
      const gw = values(12, 600 + t), gb = values(3, 700 + t);
      setGrad(w, gw);
      setGrad(b, gb);
      opt.step();
      const d = gw.map((g, i) => g + wd * W[i]);
      const q = (eta * norm(W)) / norm(d);
      muW = muW.map((m, i) => mom * m + q * d[i]);
      W = W.map((x, i) => x - lr * muW[i]);
      muB = muB.map((m, i) => mom * m + gb[i]); // excluded: no decay, no trust ratio
      B = B.map((x, i) => x - lr * muB[i]);
      expectClose(w.data, W, 1e-13);
      expectClose(b.data, B, 1e-13);
    }
  });

  it('exclude: null adapts every parameter; a zero weight uses trust ratio 1', () => {
    const b = param([3], 22);
    b.data.fill(0);
    const opt = new LARS([b], { lr: 1, momentum: 0, weightDecay: 0.5, exclude: null });
    const g = values(3, 23);
    setGrad(b, g);
    opt.step();
    expectClose(b.data, g.map((x) => -x), 1e-15);
    const c = param([3], 24);
    const opt2 = new LARS([c], { lr: 1, momentum: 0, weightDecay: 0, eta: 0.01, exclude: null });
    const c0 = Array.from(c.data), gc = values(3, 25);
    setGrad(c, gc);
    opt2.step();
    const q = (0.01 * norm(c0)) / norm(gc);
    expectClose(c.data, c0.map((x, i) => x - q * gc[i]), 1e-14);
    expect(() => new LARS([c], { exclude: 3 as never })).toThrow(/LARS paramGroups\[0\]\.exclude/);
  });
});

describe('Adam (torch.optim.Adam semantics: L2 decay in the gradient)', () => {
  for (const [dtype, tol] of [['float64', 1e-13], ['float32', 2e-6]] as const) {
    for (const { amsgrad, maximize } of [{ amsgrad: false, maximize: false }, { amsgrad: true, maximize: true }]) {
      it(`5 steps against the closed-form update (${dtype}, amsgrad ${amsgrad}, maximize ${maximize})`, () => {
        const p = param([5, 3], 20, dtype);
        const lr = 0.02, b1 = 0.85, b2 = 0.97, eps = 1e-6, wd = 0.1;
        const opt = new Adam([p], { lr, betas: [b1, b2], eps, weightDecay: wd, amsgrad, maximize });
        const ref = new AdamReference(Array.from(p.data), { lr, b1, b2, eps, wd, amsgrad, decoupled: false, maximize });
        for (let t = 1; t <= 5; t++) {
          const g = values(15, 600 + t).map((x) => (t % 2 ? 2 * x : 0.05 * x));
          setGrad(p, g);
          opt.step();
          expectClose(p.data, ref.step(g), tol);
        }
        expect(opt.state.get(p)!.step).toBe(5);
      });
    }
  }

  it('with weightDecay 0 (the default) takes the same steps as AdamW with weightDecay 0, and differs from AdamW with decay', () => {
    const a = param([7], 40), b = param([7], 40), c = param([7], 40);
    const adam = new Adam([a], { lr: 0.05 });
    const adamw = new AdamW([b], { lr: 0.05, weightDecay: 0 });
    expect(adam.paramGroups[0].weightDecay).toBe(0);
    for (let t = 0; t < 3; t++) {
      const g = values(7, 700 + t);
      setGrad(a, g);
      setGrad(b, g);
      adam.step();
      adamw.step();
    }
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    const l2 = new Adam([c], { lr: 0.05, weightDecay: 0.5 });
    const decoupled = new AdamW([b], { lr: 0.05, weightDecay: 0.5 });
    c.data.set(b.data);
    const g = values(7, 800);
    setGrad(b, g);
    setGrad(c, g);
    decoupled.step();
    l2.step();
    expect(Array.from(c.data)).not.toEqual(Array.from(b.data));
  });

  it('names itself in errors and round-trips its state', () => {
    expect(() => new Adam([param([2], 41)], { weightDecay: -1 })).toThrow(/for Adam paramGroups\[0\]\.weightDecay but received -1/);
    expect(() => new Adam([param([2], 41)], { decay: 1 } as never)).toThrow(/Adam\(options\)/);
    const p1 = param([4], 42), p2 = param([4], 42);
    const o1 = new Adam([p1], { lr: 0.1, weightDecay: 0.01 });
    setGrad(p1, values(4, 900));
    o1.step();
    p2.data.set(p1.data);
    const o2 = new Adam([p2]);
    o2.loadStateDict(o1.stateDict());
    expectSameStep([o1, p1], [o2, p2], values(4, 901));
  });
});

describe('stepLR and multiStepLR (closed-form torch schedules)', () => {
  it('stepLR: lr = base * gamma^floor(t / stepSize), per group', () => {
    const opt = new SGD([{ params: [param([2], 50)], lr: 0.3 }, { params: [param([2], 51)], lr: 0.05 }]);
    const sched = stepLR(opt, { stepSize: 3, gamma: 0.5 });
    for (let t = 0; t <= 10; t++) {
      const k = Math.floor(t / 3);
      expect(sched.getLastLr()[0]).toBeCloseTo(0.3 * 0.5 ** k, 15);
      expect(opt.paramGroups[1].lr).toBeCloseTo(0.05 * 0.5 ** k, 15);
      expect(sched.valueAt(t, 1)).toBeCloseTo(0.05 * 0.5 ** k, 15);
      sched.step();
    }
    expect(stepLR(new SGD([param([1], 52)], { lr: 1 }), { stepSize: 2 }).valueAt(5)).toBeCloseTo(0.01, 15); // gamma 0.1 by default
  });

  it('multiStepLR: lr = base * gamma^(milestones <= t), repeated milestones count twice', () => {
    const opt = new SGD([param([2], 53)], { lr: 1 });
    const sched = multiStepLR(opt, { milestones: [7, 2, 7], gamma: 0.1 });
    const want = (t: number) => 0.1 ** [2, 7, 7].filter((m) => m <= t).length;
    for (let t = 0; t <= 9; t++) {
      expect(opt.paramGroups[0].lr).toBeCloseTo(want(t), 15);
      sched.step();
    }
    expect(sched.valueAt(1)).toBe(1);
    expect(sched.valueAt(2)).toBeCloseTo(0.1, 15);
    expect(sched.valueAt(7)).toBeCloseTo(0.001, 15);
  });

  it('restores from a state dict and rejects bad options naming them', () => {
    const opt = new SGD([param([2], 54)], { lr: 0.2 });
    const s1 = multiStepLR(opt, { milestones: [2, 4], gamma: 0.5 });
    for (let t = 0; t < 3; t++) s1.step();
    const opt2 = new SGD([param([2], 55)], { lr: 9 });
    const s2 = multiStepLR(opt2, { milestones: [2, 4], gamma: 0.5 });
    s2.loadStateDict(s1.stateDict());
    expect(opt2.paramGroups[0].lr).toBeCloseTo(0.1, 15);
    s1.step();
    s2.step();
    expect(opt2.paramGroups[0].lr).toBe(opt.paramGroups[0].lr);
    expect(() => stepLR(opt, { stepSize: 0 })).toThrow(/Expected a number >= 1 for stepLR options\.stepSize but received 0/);
    expect(() => stepLR(opt, { stepSize: 1.5 })).toThrow(/Expected an integer for stepLR options\.stepSize/);
    expect(() => stepLR(opt, { stepSize: 2, gamma: -0.1 })).toThrow(/for stepLR options\.gamma/);
    expect(() => multiStepLR(opt, { milestones: 3 as never })).toThrow(/for multiStepLR options\.milestones/);
    expect(() => multiStepLR(opt, { milestones: [1, -2] })).toThrow(/for multiStepLR options\.milestones\[1\] but received -2/);
    expect(() => stepLR({} as never, { stepSize: 1 })).toThrow(/Expected an Optimizer for stepLR\(optimizer\)/);
  });
});

describe('cosineWithWarmup', () => {
  it('linear warmup then cosine to finalLr, per step', () => {
    const p = param([2], 30);
    const opt = new SGD([p], { lr: 1.0 });
    const sched = cosineWithWarmup(opt, { warmupSteps: 10, totalSteps: 110, finalLr: 0.01 });
    expect(opt.paramGroups[0].lr).toBe(0); // step 0 of the warmup
    const seen: number[] = [opt.paramGroups[0].lr];
    for (let t = 1; t <= 130; t++) {
      sched.step();
      seen.push(opt.paramGroups[0].lr);
    }
    expect(seen[5]).toBeCloseTo(0.5, 15);
    expect(seen[10]).toBeCloseTo(1.0, 15);
    expect(seen[60]).toBeCloseTo(0.01 + 0.99 * 0.5, 15); // halfway down the cosine
    expect(seen[35]).toBeCloseTo(0.01 + 0.99 * 0.5 * (1 + Math.cos(Math.PI / 4)), 14);
    expect(seen[110]).toBeCloseTo(0.01, 15);
    expect(seen[130]).toBeCloseTo(0.01, 15);
    for (let t = 11; t <= 110; t++) expect(seen[t]).toBeLessThanOrEqual(seen[t - 1]);
    expect(sched.lastStep).toBe(130);
    expect(sched.valueAt(5)).toBeCloseTo(0.5, 15);
  });

  it('scales per-group base values and restores from a state dict', () => {
    const a = param([2], 31), b = param([2], 32);
    const opt = new SGD([{ params: [a], lr: 0.4 }, { params: [b], lr: 0.1 }]);
    const sched = cosineWithWarmup(opt, { warmupSteps: 4, totalSteps: 8, warmupStartLr: 0 });
    for (let t = 0; t < 2; t++) sched.step();
    expect(sched.getLastLr()).toEqual([0.2, 0.05]);
    const again = cosineWithWarmup(new SGD([param([2], 33)], { lr: 9 }), { warmupSteps: 4, totalSteps: 8 });
    expect(() => again.loadStateDict(sched.stateDict())).toThrow(TypeError);
    expect(() => cosineWithWarmup(opt, { warmupSteps: 10, totalSteps: 5 })).toThrow(/Expected an integer >= warmupSteps \(10\) for cosineWithWarmup options\.totalSteps but received 5/);
  });
});

describe('clipGradNorm', () => {
  it('returns the total 2-norm and scales grads above maxNorm', () => {
    const a = param([2], 40), b = param([1], 41);
    setGrad(a, [3, 4]);
    setGrad(b, [12]);
    const total = clipGradNorm([a, b], 6.5);
    expect(total).toBeCloseTo(13, 14);
    const c = 6.5 / (13 + 1e-6);
    expectClose(a.grad!.data, [3 * c, 4 * c], 1e-15);
    expectClose(b.grad!.data, [12 * c], 1e-15);
  });

  it('leaves small grads alone; supports the inf-norm and 1-norm', () => {
    const a = param([3], 42);
    setGrad(a, [1, -2, 0.5]);
    expect(clipGradNorm([a], 10)).toBeCloseTo(Math.sqrt(5.25), 14);
    expect(Array.from(a.grad!.data)).toEqual([1, -2, 0.5]);
    expect(clipGradNorm([a], 10, Infinity)).toBe(2);
    expect(clipGradNorm([a], 1, 1)).toBeCloseTo(3.5, 14);
    expectClose(a.grad!.data, [1, -2, 0.5].map((x) => x / (3.5 + 1e-6)), 1e-15);
    expect(clipGradNorm([param([2], 43)], 1)).toBe(0); // no grads
    expect(() => clipGradNorm([a], -1)).toThrow(/Expected a number >= 0 for clipGradNorm\(maxNorm\) but received -1/);
  });
});
