/**
 * The model path on 'cuda', against the host stand-in for the device without one (test/cuda-mock.ts:
 * it runs the CPU kernels behind device handles, so this checks the JS routing, autograd and
 * argument plumbing) and on the CUDA kernels with one (scripts/gpu-check.sh): matmul / bmm /
 * linear through the GEMM export, GELU, LayerNorm, max / min over a dim, Module.to('cuda'),
 * optimizer state on the device, and one ViT training step on 'cuda' equal to the same step on
 * the CPU.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { F, SelfsupError, Tensor, backward, nn, optim, randn, tensor } from '../lib/index';
import { tryNative } from '../lib/backends/native';
import { DeviceArray, isAvailable, setCudaBackendForTesting } from '../lib/cuda';
import { splitHeads } from '../lib/ops/shape';
import { mockCuda } from './cuda-mock';
import { expectThrows } from './helpers';
import { parity } from './cuda-parity-helper';
import { compare } from './ops/helpers';

const real = tryNative();

const code = (fn: () => unknown): string => (expectThrows(fn, SelfsupError) as SelfsupError).code;

describe('backward from several outputs of one node', () => {
  it('reaches the inputs once every output has its gradient (a non-leaf input)', () => {
    // Each root used to count the node's edges again, so its non-leaf input never ran.
    const x = randn([2, 3, 12], { seed: 1 }).requiresGrad_();
    const [q, k, v] = splitHeads(x.mul(2), 3, 2);
    backward([q, k, v], [q.mul(0).add(1), k.mul(0).add(2), v.mul(0).add(3)]);
    const g = Array.from(x.grad!.toArray());
    // d/dx of sum(1 q + 2 k + 3 v) with q, k, v the thirds of 2x along the last dim.
    g.forEach((val, i) => expect(val).toBe(2 * (1 + Math.floor((i % 12) / 4))));
  });
});

// On a machine with a device (scripts/gpu-check.sh) the same checks run on the CUDA kernels.
const onDevice = isAvailable();
describe.skipIf(!real)(`the model path on cuda (${onDevice ? 'the device' : 'the host stand-in'})`, () => {
  beforeAll(() => {
    if (!onDevice) setCudaBackendForTesting(mockCuda(real!));
  });
  afterAll(() => setCudaBackendForTesting(null));

  it('matmul, bmm and linear (and their gradients) at awkward shapes', () => {
    const r = (shape: number[], seed: number) => randn(shape, { seed });
    parity([r([7, 13], 1), r([13, 5], 2)], (a, b) => a.matmul(b));
    parity([r([3, 7, 13], 3), r([13, 5], 4)], (a, b) => a.matmul(b)); // batch folded into rows
    parity([r([2, 3, 7, 13], 5), r([3, 13, 5], 6)], (a, b) => a.matmul(b)); // broadcast batch
    parity([r([13], 7), r([4, 13, 5], 8)], (a, b) => a.matmul(b)); // 1-D operand
    parity([r([6, 13], 9), r([13], 10)], (a, b) => a.matmul(b));
    parity([r([4, 1, 9], 11), r([4, 9, 33], 12)], (a, b) => F.bmm(a, b));
    parity([r([2, 5, 17], 13), r([3, 17], 14), r([3], 15)], (x, w, b) => F.linear(x, w, b));
    parity([r([5, 17], 16), r([3, 17], 17)], (x, w) => F.linear(x, w));
    // Empty products on the device: an empty sum is zeros; no rows is an empty result.
    const e = randn([4, 0]).to('cuda').matmul(randn([0, 3]).to('cuda'));
    expect(e.device).toBe('cuda');
    expect(Array.from(e.toArray())).toEqual(new Array(12).fill(0));
    const l0 = F.linear(randn([0, 5]).to('cuda'), randn([3, 5]).to('cuda'), tensor([1, 2, 3]).to('cuda'));
    expect([l0.device, l0.shape]).toEqual(['cuda', [0, 3]]);
  });

  // The stand-in has no 16-bit kernels: on the device only (scripts/gpu-check.sh).
  it.skipIf(!onDevice)('matmul, bmm and linear in bfloat16 / float16 on the tensor cores', () => {
    // The inputs are rounded to the half type on the device and read back, so the float32 CPU
    // reference sees the same values; what remains is the float32 accumulation order and the
    // rounding of the stored output (2^-9 bfloat16, 2^-12 float16, relative).
    for (const [dt, tol] of [['bfloat16', 1e-2], ['float16', 2e-3]] as const) {
      const half = (t: Tensor) => t.to('cuda').to(dt);
      const back = (t: Tensor) => new Tensor(t.toArray() as Float32Array, t.shape);
      const close = (got: Tensor, want: Tensor, what: string) => {
        const w = Array.from(want.toArray()), scale = Math.max(...w.map(Math.abs));
        const c = compare(got.toArray(), w, tol * scale, 0);
        expect(c.ok, `${dt} ${what}: ${c.msg}`).toBe(true);
      };
      const x = half(randn([3, 37, 70], { seed: 70 })), w = half(randn([45, 70], { seed: 71 })), b = half(randn([45], { seed: 72 }));
      const y = F.linear(x, w, b);
      expect(y.dtype).toBe(dt);
      close(y, F.linear(back(x), back(w), back(b)), 'linear');
      close(x.matmul(w.transpose(0, 1)), back(x).matmul(back(w).transpose(0, 1)), 'matmul');
      const p = half(randn([4, 9, 33], { seed: 73 })), q = half(randn([4, 33, 17], { seed: 74 }));
      close(F.bmm(p, q), F.bmm(back(p), back(q)), 'bmm');
      // Gradients of linear: the same rounded cotangent on both sides.
      const lx = x.detach().requiresGrad_(), lw = w.detach().requiresGrad_(), lb = b.detach().requiresGrad_();
      const rx = back(x).requiresGrad_(), rw = back(w).requiresGrad_(), rb = back(b).requiresGrad_();
      const cot = half(randn([3, 37, 45], { seed: 75 }));
      backward(F.linear(lx, lw, lb), cot);
      backward(F.linear(rx, rw, rb), back(cot));
      close(lx.grad!, rx.grad!, 'linear dx');
      close(lw.grad!, rw.grad!, 'linear dweight');
      close(lb.grad!, rb.grad!, 'linear dbias');
    }
  });

  it('GELU (erf and tanh) and LayerNorm (with and without affine) at awkward shapes', () => {
    const x = randn([3, 7, 33], { seed: 20 }).mul(3);
    parity([x], (t) => F.gelu(t));
    parity([x], (t) => F.gelu(t, { approximate: 'tanh' }));
    const w = randn([33], { seed: 21 }), b = randn([33], { seed: 22 });
    parity([x, w, b], (t, ww, bb) => F.layerNorm(t, 33, { weight: ww, bias: bb, eps: 1e-6 }));
    parity([x], (t) => F.layerNorm(t, [7, 33]));
    parity([randn([1, 1025], { seed: 23 }), randn([1025], { seed: 24 })], (t, ww) => F.layerNorm(t, 1025, { weight: ww }));
  });

  it('max / min over a dim with indices: values, indices and the gradient to the chosen index', () => {
    const x = randn([4, 9, 5], { seed: 30 });
    x.data[7] = x.data[2]; // a tie along dim 0 / 1 somewhere: the first index wins on both devices
    for (const dim of [0, 1, -1]) {
      for (const [name, op] of [['max', F.max], ['min', F.min]] as const) {
        for (const keepdim of [false, true]) {
          const c = (op as typeof F.max)(x, dim, keepdim), g = (op as typeof F.max)(x.to('cuda'), dim, keepdim);
          expect(g.values.device, name).toBe('cuda');
          expect(g.indices.dtype).toBe('int32');
          expect(Array.from(g.indices.toArray()), `${name} dim ${dim}`).toEqual(Array.from(c.indices.toArray()));
          expect(Array.from(g.values.toArray())).toEqual(Array.from(c.values.toArray()));
        }
        parity([x], (t) => (op as typeof F.max)(t, dim).values);
      }
    }
    expect(Array.from(F.argmax(x.to('cuda'), 1).toArray())).toEqual(Array.from(F.argmax(x, 1).toArray()));
  });

  it('mixed devices and 16-bit tensors get clear errors naming the argument', () => {
    const a = randn([3, 4]).to('cuda'), h = randn([4, 2]);
    const mm = expectThrows(() => a.matmul(h), SelfsupError, /matmul\(b\)/, /on 'cuda'/);
    expect((mm as SelfsupError).code).toBe('ERR_DEVICE_MISMATCH');
    expect(code(() => F.linear(a, randn([5, 4]).to('cuda'), randn([5])))).toBe('ERR_DEVICE_MISMATCH');
    expectThrows(() => F.linear(a, randn([5, 4]).to('cuda'), randn([5])), SelfsupError, /linear\(bias\)/);
    expectThrows(() => F.layerNorm(a, 4, { weight: randn([4]) }), SelfsupError, /layerNorm\(options\.weight\)/);
    expectThrows(() => F.bmm(randn([2, 3, 4]).to('cuda'), randn([2, 4, 5])), SelfsupError, /bmm\(b\)/);
    // bfloat16 / float16 exist only on the device: GELU and LayerNorm refuse them (float32 kernels).
    const half = new Tensor(new DeviceArray('bfloat16', 12), [3, 4]);
    const ge = expectThrows(() => F.gelu(half), SelfsupError, /gelu\(x\)/, /bfloat16/, /float32 only on cuda/);
    expect((ge as SelfsupError).code).toBe('ERR_UNSUPPORTED');
    expect(code(() => F.layerNorm(new Tensor(new DeviceArray('float16', 12), [3, 4]), 4))).toBe('ERR_UNSUPPORTED');
    // The index reductions over a dim run in float32 only on the device.
    const i32 = tensor([3, 1, 2, 5, 4, 0], [2, 3], { dtype: 'int32' }).to('cuda');
    for (const f of [() => F.max(i32, 1), () => F.min(i32, 0), () => F.argmax(i32, 1), () => F.argmin(half, 0)]) {
      const e = expectThrows(f, SelfsupError, /(max|min|argmax|argmin)\(x\)/, /float32 only on cuda/);
      expect((e as SelfsupError).code).toBe('ERR_UNSUPPORTED');
    }
  });

  it("Module.to('cuda') / cpu() move parameters, buffers and grads in place", () => {
    const m = new nn.LayerNorm(6);
    const vit = new nn.VisionTransformer({ imageSize: 4, patchSize: 2, inChannels: 1, dim: 8, depth: 1, heads: 2, seed: 3 });
    const params = vit.parameters(), before = params.map((p) => Array.from(p.toArray()));
    params[0].grad = randn(params[0].shape, { seed: 4 });
    const g0 = Array.from(params[0].grad.toArray());
    expect(vit.to('cuda')).toBe(vit);
    expect(m.cuda().weight!.device).toBe('cuda');
    const after = vit.parameters();
    after.forEach((p, i) => {
      expect(p).toBe(params[i]); // the same Parameter objects: an optimizer built before follows
      expect(nn.isParameter(p)).toBe(true);
      expect(p.device).toBe('cuda');
      expect(Array.from(p.toArray())).toEqual(before[i]);
    });
    expect(vit.posEmbed.device).toBe('cuda'); // a buffer
    expect(params[0].grad!.device).toBe('cuda');
    vit.cpu();
    expect(vit.parameters().every((p) => p.device === 'cpu' && p.data instanceof Float32Array)).toBe(true);
    expect(Array.from(params[0].grad!.toArray())).toEqual(g0);
    expect(Array.from(params[3].toArray())).toEqual(before[3]);
    // float64 has no cuda storage: refused, naming the key, before anything moved.
    const lin = new nn.Linear(3, 2, { dtype: 'float64' });
    const err = expectThrows(() => lin.to('cuda'), SelfsupError, /Linear\.to\('cuda'\) key "weight"/);
    expect((err as SelfsupError).code).toBe('ERR_UNSUPPORTED');
    expect(lin.weight.device).toBe('cpu');
    expect(code(() => lin.to('cuda:1' as never))).toBe('ERR_NO_DEVICE');
  });

  it('state dicts of a cuda model and of an optimizer with device state are cpu copies; loading uploads', () => {
    const opts = { imageSize: 4, patchSize: 2, inChannels: 1, dim: 8, depth: 1, heads: 2 };
    const a = new nn.VisionTransformer({ ...opts, seed: 5 }).to('cuda');
    const b = new nn.VisionTransformer({ ...opts, seed: 6 }).to('cuda');
    const sd = a.stateDict();
    expect(Object.values(sd).every((t) => t.device === 'cpu')).toBe(true);
    b.loadStateDict(sd);
    const pb = b.parameters();
    a.parameters().forEach((p, i) => {
      expect(pb[i].device).toBe('cuda');
      expect(Array.from(pb[i].toArray())).toEqual(Array.from(p.toArray()));
    });

    // AdamW on the device, two steps; its state dict holds host arrays; a fresh optimizer over
    // cuda parameters that loads it continues exactly like the original.
    const grads = a.parameters().map((p, i) => randn(p.shape, { seed: 100 + i }));
    const step = (model: nn.Module, opt: optim.AdamW, k: number) => {
      model.parameters().forEach((p, i) => { p.grad = grads[i].mul(k).to('cuda'); });
      opt.step();
    };
    const oa = new optim.AdamW(a.parameters(), { lr: 1e-2, weightDecay: 0 });
    step(a, oa, 1);
    const osd = oa.stateDict();
    const s0 = osd.state[0];
    expect(s0.expAvg).toBeInstanceOf(Float32Array);
    b.loadStateDict(a.stateDict());
    const ob = new optim.AdamW(b.parameters(), { lr: 1e-2, weightDecay: 0 });
    ob.loadStateDict(osd);
    expect(ob.state.get(b.parameters()[0])!.expAvg).toBeInstanceOf(DeviceArray);
    step(a, oa, 2);
    step(b, ob, 2);
    a.parameters().forEach((p, i) => expect(Array.from(pb[i].toArray())).toEqual(Array.from(p.toArray())));
  });

  it('SGD, LARS and clipGradNorm on cuda parameters step like the CPU (float32 rounding)', () => {
    const w0 = randn([37, 5], { seed: 40 }), b0 = randn([5], { seed: 41 });
    const grads = [1, 2, 3].map((k) => [randn([37, 5], { seed: 50 + k }), randn([5], { seed: 60 + k })]);
    const make = (dev: 'cpu' | 'cuda') => [w0, b0].map((t) => nn.Parameter(t.clone().to(dev)));
    const configs: Array<[string, (ps: Tensor[]) => optim.Optimizer<object>]> = [
      ['SGD plain', (ps) => new optim.SGD(ps, { lr: 0.1 })],
      ['SGD momentum, dampening, weight decay', (ps) => new optim.SGD(ps, { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-2 })],
      ['SGD nesterov, maximize', (ps) => new optim.SGD(ps, { lr: 0.05, momentum: 0.8, nesterov: true, maximize: true })],
      ['LARS (1-D bias excluded)', (ps) => new optim.LARS(ps, { lr: 0.3, momentum: 0.9, weightDecay: 1e-3, eta: 0.02 })],
      ['LARS nesterov, nothing excluded', (ps) => new optim.LARS(ps, { lr: 0.3, momentum: 0.9, weightDecay: 1e-3, eta: 0.02, exclude: null, nesterov: true })],
    ];
    for (const [label, mk] of configs) {
      const pc = make('cpu'), pg = make('cuda');
      const oc = mk(pc), og = mk(pg);
      for (const [gw, gb] of grads) {
        pc[0].grad = gw.clone(); pc[1].grad = gb.clone();
        pg[0].grad = gw.to('cuda'); pg[1].grad = gb.to('cuda');
        const nc = optim.clipGradNorm(pc, 3), ng = optim.clipGradNorm(pg, 3);
        expect(ng, `${label}: clipGradNorm`).toBeCloseTo(nc, 4);
        oc.step();
        og.step();
      }
      pc.forEach((p, i) => {
        expect(pg[i].device).toBe('cuda');
        const d = compare(pg[i].toArray(), p.toArray(), 1e-6, 1e-5);
        expect(d.ok, `${label}: parameter ${i}: ${d.msg}`).toBe(true);
      });
      // Device state is saved as host arrays and restored onto the device.
      const sd = og.stateDict();
      for (const st of Object.values(sd.state)) for (const v of Object.values(st)) if (typeof v !== 'number') expect(v).toBeInstanceOf(Float32Array);
    }
    const p = make('cuda')[0];
    p.grad = grads[0][0].to('cuda');
    expect(code(() => optim.clipGradNorm([p], 1, 1))).toBe('ERR_NO_DEVICE');
  });

  it('a ViT training step on cuda (two views, InfoNCE, backward, AdamW) equals the CPU step', () => {
    const opts = { imageSize: 8, patchSize: 4, inChannels: 3, dim: 16, depth: 2, heads: 2, seed: 7 };
    const B = 5, tau = 0.2;
    const v1 = randn([B, 3, 8, 8], { seed: 8 }), v2 = randn([B, 3, 8, 8], { seed: 9 });
    const eye = new Tensor(Float32Array.from({ length: B * B }, (_, i) => (i % (B + 1) === 0 ? 1 : 0)), [B, B]);
    // InfoNCE from the core ops: cosine logits of the cls tokens of the two views, cross-entropy
    // against the diagonal.
    const embed = (model: nn.VisionTransformer, x: Tensor) => {
      const z = model.forward(x).tokens.narrow(1, 0, 1).reshape([B, opts.dim]);
      return z.div(z.square().sum(-1, true).sqrt());
    };
    const run = (dev: 'cpu' | 'cuda') => {
      const model = new nn.VisionTransformer(opts).to(dev);
      // AdamW's first step is lr g / (|g| + eps): with the default eps = 1e-8 an element whose
      // gradient is ~1e-8 (cancellation) turns a float32-level gradient difference into a
      // difference of a whole step. eps = 1e-3 bounds d(step)/dg by lr / eps = 1.
      const opt = new optim.AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.05, eps: 1e-3 });
      const z1 = embed(model, v1.to(dev)), z2 = embed(model, v2.to(dev));
      const logits = z1.matmul(z2.transpose(0, 1)).div(tau);
      const loss = logits.logSoftmax(-1).mul(eye.to(dev)).sum().div(-B);
      expect(loss.device).toBe(dev);
      loss.backward();
      const grads = model.parameters().map((p) => p.grad!);
      opt.step();
      return { loss: loss.item(), model, grads };
    };
    const c = run('cpu'), g = run('cuda');
    expect(g.loss).toBeCloseTo(c.loss, 5);
    const pc = c.model.parameters(), pg = g.model.parameters();
    expect(pg.length).toBe(pc.length);
    pg.forEach((p, i) => {
      expect(p.device, `parameter ${i}`).toBe('cuda');
      expect(g.grads[i].device, `gradient ${i}`).toBe('cuda');
      const dg = compare(g.grads[i].toArray(), c.grads[i].toArray(), 1e-5, 1e-4);
      expect(dg.ok, `gradient ${i}: ${dg.msg}`).toBe(true);
      const dp = compare(p.toArray(), pc[i].toArray(), 2e-6, 1e-5);
      expect(dp.ok, `parameter ${i} after the step: ${dp.msg}`).toBe(true);
    });
  });
});
