import { describe, it, expect } from 'vitest';
import { Tensor } from '../lib/index';
import { AdamW, cosineWithWarmup } from '../lib/optim';

// train() resumes by building the optimizer and its schedule, then loading a checkpoint; the
// schedule must keep driving the optimizer's LR after the load.
function params(seed: number): Tensor[] {
  return [3, 5].map((n, j) => new Tensor(Float64Array.from({ length: n }, (_, i) => Math.sin(seed + 7 * j + i)), [n], { requiresGrad: true }));
}

describe('Optimizer.loadStateDict keeps its parameter groups', () => {
  it('a schedule built before the load still sets the LR after it', () => {
    const ps1 = params(1);
    const o1 = new AdamW([{ params: [ps1[0]] }, { params: [ps1[1]], weightDecay: 0 }], { lr: 0.4, weightDecay: 0.1 });
    const s1 = cosineWithWarmup(o1, { warmupSteps: 2, totalSteps: 10 });
    for (let t = 0; t < 4; t++) {
      for (const p of ps1) p.grad = new Tensor(new Float64Array(p.data.length).fill(0.5), p.shape);
      o1.step();
      s1.step();
    }
    const ps2 = params(2);
    const o2 = new AdamW([{ params: [ps2[0]] }, { params: [ps2[1]], weightDecay: 0 }], { lr: 0.4, weightDecay: 0.1 });
    const groupsBefore = [...o2.paramGroups];
    const s2 = cosineWithWarmup(o2, { warmupSteps: 2, totalSteps: 10 }); // built before the load
    o2.loadStateDict(o1.stateDict());
    s2.loadStateDict(s1.stateDict());
    expect(o2.paramGroups[0]).toBe(groupsBefore[0]);
    expect(o2.paramGroups[1]).toBe(groupsBefore[1]);
    expect(o2.paramGroups[1].weightDecay).toBe(0);
    expect(o2.paramGroups[0].params[0]).toBe(ps2[0]);
    const seen: number[] = [];
    for (let t = 4; t < 8; t++) {
      s1.step();
      s2.step();
      seen.push(o2.paramGroups[0].lr);
      expect(o2.paramGroups[0].lr).toBe(o1.paramGroups[0].lr);
      expect(o2.paramGroups[1].lr).toBe(o1.paramGroups[1].lr);
    }
    // The cosine decays: the LR the schedule wrote changed at every step.
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeLessThan(seen[i - 1]);
    expect(seen[3]).toBeCloseTo(s2.valueAt(8), 15);
  });

  it('a rejected load leaves the groups untouched', () => {
    const o = new AdamW(params(3), { lr: 0.1 });
    const sd = o.stateDict();
    (sd.paramGroups[0] as { lr: unknown }).lr = -1;
    expect(() => o.loadStateDict(sd)).toThrow(/AdamW\.loadStateDict stateDict\.paramGroups\[0\]/);
    expect(o.paramGroups[0].lr).toBe(0.1);
  });
});
