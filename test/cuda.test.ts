/**
 * Cuda tensors without a GPU: the ERR_NO_DEVICE contract of every build, and the JS side of cuda
 * tensors (storage, moves, the device paths of the ops, autograd, AdamW, the op-table parity with
 * its expected-to-throw rows) against a host-memory stand-in for the device (test/cuda-mock.ts).
 * With a real device, test/ops/ops.test.ts runs the same parity on it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SelfsupError, Tensor, optim, randn, sort, tensor, zeros } from '../lib/index';
import { tryNative } from '../lib/backends/native';
import { DeviceArray, cuda, isAvailable, setCudaBackendForTesting } from '../lib/cuda';
import { mockCuda, type MockCuda } from './cuda-mock';
import { expectThrows } from './helpers';
import { NO_CUDA_ROWS, checkRowOnCuda, opDb } from './ops/cuda-parity';

const real = tryNative();
const realCuda = isAvailable();

describe.skipIf(realCuda)('without a usable CUDA device', () => {
  it("to('cuda') and device: 'cuda' throw ERR_NO_DEVICE with the reason", () => {
    for (const make of [() => tensor([1, 2]).to('cuda'), () => zeros([2], { device: 'cuda' }), () => tensor([1]).cuda()]) {
      const err = expectThrows(make, SelfsupError, /no CUDA device is usable \((.+)\)/);
      expect((err as SelfsupError).code).toBe('ERR_NO_DEVICE');
    }
    expect(() => cuda.memoryStats()).toThrow(/Expected a CUDA device for cuda.memoryStats/);
    expect(cuda.unavailableReason().length).toBeGreaterThan(0);
  });
});

describe.skipIf(!real || realCuda)('cuda tensors on the host stand-in', () => {
  let mock: MockCuda;
  beforeAll(() => {
    mock = mockCuda(real!);
    setCudaBackendForTesting(mock);
  });
  afterAll(() => setCudaBackendForTesting(null));

  it('moves, reads back, disposes', async () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    const d = x.to('cuda');
    expect(d.device).toBe('cuda');
    expect(d.data).toBeInstanceOf(DeviceArray);
    expect(Array.from(d.toArray())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(await d.toArrayAsync())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(d.tolist()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(d.sum().item()).toBe(21);
    expect(String(d)).toContain('4');
    const back = d.cpu();
    expect(back.device).toBe('cpu');
    expect(Array.from(back.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(zeros([2, 2], { device: 'cuda' }).device).toBe('cuda');
    expect(Array.from(tensor([0, 1.5], null, { device: 'cuda' }).toArray())).toEqual([0, 1.5]);
    const before = mock.live();
    const t = randn([4]).to('cuda');
    expect(mock.live()).toBe(before + 1);
    t.dispose();
    expect(mock.live()).toBe(before);
    expect(() => t.add(1)).toThrow(/whose memory was released by dispose\(\)/);
    expect(() => t.toArray()).toThrow(/dispose/);
    expect(cuda.memoryStats().numMallocs).toBeGreaterThan(0);
  });

  it('refuses float64, mixed devices and ops without a CUDA kernel, naming the op', () => {
    expect(() => tensor([1], null, { dtype: 'float64' }).to('cuda')).toThrow(/float64 has no cuda storage/);
    const a = randn([3]).to('cuda'), b = randn([3]);
    expect((expectThrows(() => a.add(b), SelfsupError) as SelfsupError).code).toBe('ERR_DEVICE_MISMATCH');
    // A number (a 0-dim host scalar) is fine: it moves to the device, as in PyTorch.
    expect(Array.from(a.mul(2).toArray())).toEqual(Array.from(a.toArray()).map((v) => Math.fround(v * 2)));
    const err = expectThrows(() => sort(a, 0), SelfsupError,
      /^Expected a Tensor on 'cpu' for sort\(x\) but received a cuda Tensor: sort has no CUDA kernel yet; call \.cpu\(\) first/);
    expect((err as SelfsupError).code).toBe('ERR_NO_DEVICE');
    expect(() => a.to('float64')).toThrow(/float32, bfloat16, float16, int32 or bool/);
    expect(() => tensor([1]).to('bfloat16')).toThrow(/on 'cuda' only/);
    expect(() => tensor([1]).to('cuda:1')).toThrow(/only the first CUDA device/);
  });

  it('AdamW steps cuda parameters like cpu ones, bit for bit', () => {
    for (const amsgrad of [false, true]) {
      const w0 = randn([37, 5], { seed: 3 }), g0 = randn([37, 5], { seed: 4 }), b0 = randn([5], { seed: 5 });
      const pc = [w0.clone().requiresGrad_(), b0.clone().requiresGrad_()];
      const pg = [new Tensor(w0.to('cuda').data as never, w0.shape).requiresGrad_(), new Tensor(b0.to('cuda').data as never, b0.shape).requiresGrad_()];
      const oc = new optim.AdamW(pc, { lr: 1e-2, amsgrad }), og = new optim.AdamW(pg, { lr: 1e-2, amsgrad });
      for (let step = 0; step < 3; step++) {
        pc[0].grad = g0.mul(step + 1);
        pc[1].grad = b0.mul(-1);
        pg[0].grad = pc[0].grad.to('cuda');
        pg[1].grad = pc[1].grad.to('cuda');
        oc.step();
        og.step();
      }
      pc.forEach((p, i) => expect(Array.from(pg[i].toArray())).toEqual(Array.from(p.data)));
    }
    // Adam with weight decay: test/cuda-more.test.ts; SGD and LARS: test/cuda-nn.test.ts.
  });

  it('a training step on the device: forward, backward, AdamW', () => {
    const x = randn([6, 10], { seed: 1 }), w = randn([10], { seed: 2 });
    const run = (dev: 'cpu' | 'cuda') => {
      const p = new Tensor((dev === 'cuda' ? w.to('cuda') : w.clone()).data as never, w.shape).requiresGrad_();
      const xs = x.to(dev);
      const loss = xs.mul(p).relu().softmax(-1).logSoftmax(-1).mean();
      loss.backward();
      return { loss: loss.item(), grad: Array.from(p.grad!.toArray()) };
    };
    const c = run('cpu'), g = run('cuda');
    expect(g.loss).toBeCloseTo(c.loss, 6);
    g.grad.forEach((v, i) => expect(v).toBeCloseTo(c.grad[i], 6));
  });

  describe('op table parity (float32; rows without a CUDA kernel throw ERR_NO_DEVICE)', () => {
    for (const row of opDb) {
      it(`${row.name}${NO_CUDA_ROWS.has(row.name) ? ' (expected to throw)' : ''}`, () => {
        const r = checkRowOnCuda(row, 'float32');
        expect(r).toBe(NO_CUDA_ROWS.has(row.name) ? 'threw' : 'ran');
      });
    }
  });
});

// The loader with a CUDA build of the addon (made by `npm run build:cuda` or the CI's compile
// check): it must load on any machine, report its device state, and keep working; without a
// device it says why on stderr and in info(). Runs the built package (dist/) in a child process.
const root = path.resolve(__dirname, '..');
const cudaBuilds = ['build-cuda/Release/selfsup.node', 'build-cu-addon/Release/selfsup.node'].map((p) => path.join(root, p)).filter((p) => fs.existsSync(p));
const dist = path.join(root, 'dist/lib/index.js');
describe.skipIf(!cudaBuilds.length || !fs.existsSync(dist))('a CUDA build of the addon', () => {
  for (const build of cudaBuilds) {
    it(`${path.relative(root, build)} loads, reports its device state, and runs the CPU kernels`, () => {
      const script = `
        const s = require(${JSON.stringify(dist)});
        const i = s.info();
        let move = 'ok';
        try { s.tensor([1, 2]).to('cuda'); } catch (e) { move = e.code + ': ' + e.message; }
        const sum = Array.from(s.tensor([1, 2, 3]).add(s.tensor([4, 5, 6])).data);
        console.log(JSON.stringify({ sum, cuda: i.cuda, note: i.cudaNote, addon: i.addonPath, available: s.cuda.isAvailable(), move }));`;
      const env: NodeJS.ProcessEnv = { ...process.env, SELFSUP_ADDON: build };
      delete env.SELFSUP_BACKEND; // the child loads the addon even in a reference-backend run
      const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim().split('\n').pop() as string);
      expect(out.addon).toBe(build);
      expect(out.cuda.built).toBe(true);
      expect(out.sum).toEqual([5, 7, 9]);
      if (out.cuda.devices.length === 0) {
        expect(out.available).toBe(false);
        expect(out.note).toMatch(/has no usable device \(.+\); its kernels run on the CPU/);
        expect(r.stderr.match(/^selfsup: /gm)?.length, r.stderr).toBe(1);
        expect(out.move).toMatch(/^ERR_NO_DEVICE: .*no CUDA device is usable/);
      } else {
        expect(out.available).toBe(true);
        expect(out.move).toBe('ok');
      }
    });
  }
});
