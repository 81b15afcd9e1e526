/**
 * cpu-vs-cuda parity of a function of tensors, for the device-path tests (test/cuda-nn.test.ts,
 * test/cuda-more.test.ts): on the host stand-in for the device without one, on the CUDA kernels
 * with one.
 */
import { expect } from 'vitest';
import { Tensor, backward, randn } from '../lib/index';
import { compare } from './ops/helpers';

/**
 * Runs `f` on cpu and on cuda copies of `inputs` (leaves), then backward with the same cotangent;
 * the output must live on 'cuda' and match, and so must every input's gradient.
 */
export function parity(inputs: Tensor[], f: (...xs: Tensor[]) => Tensor, tol = { fwd: 1e-5, grad: 1e-4 }): void {
  const lc = inputs.map((t) => t.clone().requiresGrad_());
  const lg = inputs.map((t) => t.clone().requiresGrad_());
  const yc = f(...lc), yg = f(...lg.map((t) => t.to('cuda')));
  expect(yg.device).toBe('cuda');
  expect(yg.shape).toEqual(yc.shape);
  const c = compare(yg.toArray(), yc.toArray(), tol.fwd, tol.fwd);
  expect(c.ok, `forward: ${c.msg}`).toBe(true);
  const cot = randn(yc.shape, { seed: 99 });
  backward(yc, cot);
  backward(yg, cot.to('cuda'));
  lc.forEach((l, i) => {
    expect(lg[i].grad, `input ${i} gradient`).not.toBeNull();
    const d = compare(lg[i].grad!.toArray(), l.grad!.toArray(), tol.grad, tol.grad);
    expect(d.ok, `input ${i} gradient: ${d.msg}`).toBe(true);
  });
}
