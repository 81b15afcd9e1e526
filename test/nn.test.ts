import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Tensor } from '../lib/index';
import { rand, randn, tensor } from '../lib/factories';
import { noGrad } from '../lib/autograd/grad-mode';
import { F } from '../lib/functional';
import { nn } from '../lib/index';
import * as optim from '../lib/optim';

const tmp = (name: string) => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-nn-')), name);

function bytesOf(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

describe('Module basics', () => {
  it('registers parameters, buffers and children by reflection with PyTorch key names', () => {
    const m = new nn.Sequential(new nn.Linear(4, 8, { seed: 1 }), new nn.BatchNorm1d(8), new nn.ReLU(), new nn.Linear(8, 2, { bias: false, seed: 2 }));
    expect(m.namedParameters().map(([k]) => k)).toEqual(['0.weight', '0.bias', '1.weight', '1.bias', '3.weight']);
    expect(Object.keys(m.stateDict())).toEqual([
      '0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', '3.weight',
    ]);
    expect(m.numParameters()).toBe(4 * 8 + 8 + 8 + 8 + 16);
    expect(m.parameters().every((p) => p.requiresGrad && nn.isParameter(p))).toBe(true);
    expect(m.buffers().some((b) => b.requiresGrad)).toBe(false);
    m.eval();
    expect([...m.modules()].every((c) => !c.training)).toBe(true);
    m.train();
    expect([...m.modules()].every((c) => c.training)).toBe(true);
    expect(String(m)).toContain('(0): Linear(inFeatures=4, outFeatures=8, bias=true)');
  });

  it('Linear init: PyTorch kaiming-uniform bounds, seeded and reproducible; timm trunc-normal', () => {
    const a = new nn.Linear(50, 40, { seed: 7 });
    const b = new nn.Linear(50, 40, { seed: 7 });
    const c = new nn.Linear(50, 40, { seed: 8 });
    expect(bytesOf(a.weight).equals(bytesOf(b.weight))).toBe(true);
    expect(bytesOf(a.weight).equals(bytesOf(c.weight))).toBe(false);
    const bound = 1 / Math.sqrt(50);
    for (const v of a.weight.data) expect(Math.abs(v)).toBeLessThanOrEqual(bound);
    for (const v of a.bias!.data) expect(Math.abs(v)).toBeLessThanOrEqual(bound);
    const t = new nn.Linear(256, 256, { init: 'truncNormal', seed: 3 });
    const w = Array.from(t.weight.data);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(0.04 + 1e-7);
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    // std of N(0, 0.02^2) truncated at +-2 std is 0.02 * 0.8796.
    expect(std).toBeGreaterThan(0.02 * 0.86);
    expect(std).toBeLessThan(0.02 * 0.90);
    expect(Array.from(t.bias!.data).every((v) => v === 0)).toBe(true);
  });
});

describe('training', () => {
  it('a 2-layer MLP trained with SGD separates a nonlinear 2-D problem (> 95% accuracy)', () => {
    // Points in [-1, 1]^2, label: inside the circle of radius 0.7 (needs the hidden layer).
    const n = 512;
    const x = rand([n, 2], { seed: 11 }).mul(2).sub(1);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) labels[i] = x.data[2 * i] ** 2 + x.data[2 * i + 1] ** 2 < 0.49 ? 1 : 0;
    const y = new Tensor(labels, [n]);
    const model = new nn.Sequential(new nn.Linear(2, 64, { seed: 1 }), new nn.ReLU(), new nn.Linear(64, 2, { seed: 2 }));
    const opt = new optim.SGD(model.parameters(), { lr: 0.2, momentum: 0.9 });
    let loss = Infinity;
    for (let step = 0; step < 200; step++) {
      const out = model.forward(x);
      const l = F.crossEntropy(out, y);
      opt.zeroGrad();
      l.backward();
      opt.step();
      loss = l.item();
    }
    const logits = noGrad(() => model.forward(x));
    let correct = 0;
    for (let i = 0; i < n; i++) correct += (logits.data[2 * i + 1] > logits.data[2 * i] ? 1 : 0) === labels[i] ? 1 : 0;
    expect(loss).toBeLessThan(0.2);
    expect(correct / n).toBeGreaterThan(0.95);
  });
});

describe('BatchNorm1d', () => {
  const N = 6, C = 3;
  const xs = Array.from({ length: N * C }, (_, i) => Math.sin(1.3 * i + 0.2) * (1 + (i % C)));

  function reference(x: number[], mean: number[], vr: number[], w: number[], b: number[], eps: number): number[] {
    return x.map((v, i) => ((v - mean[i % C]) / Math.sqrt(vr[i % C] + eps)) * w[i % C] + b[i % C]);
  }

  it('training uses batch stats and updates running stats (unbiased var); eval uses running stats', () => {
    const bn = new nn.BatchNorm1d(C, { dtype: 'float64', momentum: 0.1 });
    bn.weight!.data.set([1.5, -0.5, 2]);
    bn.bias!.data.set([0.1, 0.2, -0.3]);
    const w = [1.5, -0.5, 2], b = [0.1, 0.2, -0.3];
    const x = tensor(Float64Array.from(xs), [N, C]);
    const mean = [0, 1, 2].map((c) => xs.filter((_, i) => i % C === c).reduce((s, v) => s + v, 0) / N);
    const ss = [0, 1, 2].map((c) => xs.filter((_, i) => i % C === c).reduce((s, v) => s + (v - mean[c]) ** 2, 0));
    const yTrain = bn.forward(x);
    const expTrain = reference(xs, mean, ss.map((s) => s / N), w, b, 1e-5);
    Array.from(yTrain.data).forEach((v, i) => expect(v).toBeCloseTo(expTrain[i], 12));
    const rm = mean.map((m) => 0.1 * m);
    const rv = ss.map((s) => 0.9 + (0.1 * s) / (N - 1));
    Array.from(bn.runningMean!.data).forEach((v, i) => expect(v).toBeCloseTo(rm[i], 14));
    Array.from(bn.runningVar!.data).forEach((v, i) => expect(v).toBeCloseTo(rv[i], 14));
    expect(bn.numBatchesTracked!.data[0]).toBe(1);

    bn.eval();
    const yEval = bn.forward(x);
    const expEval = reference(xs, rm, rv, w, b, 1e-5);
    Array.from(yEval.data).forEach((v, i) => expect(v).toBeCloseTo(expEval[i], 12));
    const before = Array.from(bn.runningMean!.data);
    bn.forward(x);
    expect(Array.from(bn.runningMean!.data)).toEqual(before);
    expect(bn.numBatchesTracked!.data[0]).toBe(1);
  });

  it('momentum null is a cumulative average; [N, C, L] inputs and bad shapes', () => {
    const bn = new nn.BatchNorm1d(2, { momentum: null, dtype: 'float64' });
    const a = tensor(Float64Array.from([1, 2, 3, 6]), [2, 2]);
    const b = tensor(Float64Array.from([5, 0, 7, 2]), [2, 2]);
    bn.forward(a);
    bn.forward(b);
    expect(Array.from(bn.runningMean!.data)).toEqual([(2 + 6) / 2, (4 + 1) / 2]);
    const bn3 = new nn.BatchNorm1d(2);
    expect(bn3.forward(randn([4, 2, 5], { seed: 1 })).shape).toEqual([4, 2, 5]);
    expect(() => bn3.forward(randn([4, 3], { seed: 1 }))).toThrow(/Expected 2 channels in dim 1 for BatchNorm1d\.forward\(x\) but received \[4, 3\]/);
    expect(() => bn3.forward(randn([1, 2], { seed: 1 }))).toThrow(/more than 1 value per channel/);
  });
});

describe('MLP projector presets', () => {
  it('builds the VICReg / BYOL / SimCLR / MoCo v3 layer stacks', () => {
    const kinds = (m: nn.MLP) => [...m.children()].map((c) => c.moduleName + (c instanceof nn.Linear ? (c.bias ? '+b' : '') : ''));
    expect(kinds(new nn.MLP([16, 32, 32, 8]))).toEqual(['Linear+b', 'BatchNorm1d', 'ReLU', 'Linear+b', 'BatchNorm1d', 'ReLU', 'Linear']);
    expect(kinds(new nn.MLP([16, 32, 8], { projector: 'byol' }))).toEqual(['Linear+b', 'BatchNorm1d', 'ReLU', 'Linear+b']);
    expect(kinds(new nn.MLP([16, 32, 8], { projector: 'simclr' }))).toEqual(['Linear', 'BatchNorm1d', 'ReLU', 'Linear', 'BatchNorm1d']);
    const moco = new nn.MLP([16, 32, 8], { projector: 'mocov3' });
    expect((moco.at(-1) as nn.BatchNorm1d).weight).toBeNull();
    const y = new nn.MLP([16, 32, 8]).forward(randn([5, 16], { seed: 2 }));
    expect(y.shape).toEqual([5, 8]);
    expect(() => new nn.MLP([16])).toThrow(/MLP\(sizes\)/);
  });
});

describe('VisionTransformer', () => {
  it('tiny ViT forward+backward: every parameter gets a finite, non-zero-somewhere gradient', () => {
    const vit = new nn.VisionTransformer({ imageSize: 16, patchSize: 4, inChannels: 3, dim: 64, depth: 2, heads: 4, seed: 5 });
    const images = randn([2, 3, 16, 16], { seed: 9 });
    const out = vit.forward(images);
    expect(out.tokens.shape).toEqual([2, 17, 64]);
    expect(out.blocks.length).toBe(2);
    expect(out.blocks[0].shape).toEqual([2, 17, 64]);
    const target = randn([2, 17, 64], { seed: 10 });
    out.tokens.mul(target).sum().backward();
    const names = vit.namedParameters().map(([k]) => k);
    expect(names).toContain('cls_token');
    expect(names).toContain('patch_embed.proj.weight');
    expect(names).toContain('blocks.1.attn.qkv.weight');
    expect(names).toContain('blocks.0.mlp.fc2.bias');
    expect(Object.keys(vit.stateDict())).toContain('pos_embed');
    for (const [name, p] of vit.namedParameters()) {
      const g = p.grad;
      expect(g, name).not.toBeNull();
      expect(Array.from(g!.data).every(Number.isFinite), name).toBe(true);
      expect(Array.from(g!.data).some((v) => v !== 0), name).toBe(true);
    }
  });

  it('keeps a subset of tokens (I-JEPA context) and uses MAE-style sin-cos positions', () => {
    const vit = new nn.VisionTransformer({ imageSize: [8, 16], patchSize: 4, inChannels: 1, dim: 32, depth: 1, heads: 2, clsToken: false, seed: 6 });
    const keep = new Tensor(Int32Array.from([0, 3, 5, 1, 2, 7]), [2, 3]);
    const out = vit.forward(randn([2, 1, 8, 16], { seed: 3 }), { keep });
    expect(out.tokens.shape).toEqual([2, 3, 32]);
    const pe = nn.sincosPosEmbed2d(8, 2, 4);
    // Patch (row 1, col 2) = index 6: first half encodes the column, second half the row.
    expect(pe[6 * 8 + 0]).toBeCloseTo(Math.sin(2), 15);
    expect(pe[6 * 8 + 1]).toBeCloseTo(Math.sin(2 / 100), 15);
    expect(pe[6 * 8 + 2]).toBeCloseTo(Math.cos(2), 15);
    expect(pe[6 * 8 + 4]).toBeCloseTo(Math.sin(1), 15);
    expect(pe[6 * 8 + 7]).toBeCloseTo(Math.cos(1 / 100), 15);
    expect(() => vit.forward(randn([2, 1, 8, 8], { seed: 3 }))).toThrow(/images \[B, 1, 8, 16\]/);
  });

  it('attention fallback equals a float64 loop; a bool mask removes keys', () => {
    const B = 1, H = 2, N = 3, d = 4;
    const q = randn([B, H, N, d], { seed: 1 }).double(), k = randn([B, H, N, d], { seed: 2 }).double(), v = randn([B, H, N, d], { seed: 3 }).double();
    const mask = tensor([true, false, true], [1, 3], { dtype: 'bool' });
    const o = nn.attentionReference(q, k, v, { scale: 0.5, mask });
    for (let h = 0; h < H; h++) for (let i = 0; i < N; i++) {
      const s = [0, 2].map((j) => { let t = 0; for (let c = 0; c < d; c++) t += q.data[(h * N + i) * d + c] * k.data[(h * N + j) * d + c]; return Math.exp(0.5 * t); });
      const z = s[0] + s[1];
      for (let c = 0; c < d; c++) {
        const e = (s[0] * v.data[(h * N + 0) * d + c] + s[1] * v.data[(h * N + 2) * d + c]) / z;
        expect(o.data[(h * N + i) * d + c]).toBeCloseTo(e, 12);
      }
    }
  });
});

describe('state dicts and safetensors', () => {
  function model(seed: number) {
    return new nn.Sequential(
      new nn.VisionTransformer({ imageSize: 8, patchSize: 4, inChannels: 1, dim: 16, depth: 1, heads: 2, seed }),
      new nn.MLP([16, 24, 8], { seed: seed + 1 }),
    );
  }

  it('save -> load is bit-identical, and re-saving gives identical file bytes', () => {
    const a = model(1);
    // Run BN in training once so running stats and num_batches_tracked are not at their defaults.
    (a.at(1) as nn.MLP).forward(randn([4, 16], { seed: 4 }));
    const file = tmp('a.safetensors');
    a.save(file, { note: 'test' });
    const b = model(100);
    const sdA = a.stateDict();
    expect(bytesOf(b.stateDict()['0.cls_token']).equals(bytesOf(sdA['0.cls_token']))).toBe(false);
    const weightRef = b.stateDict()['1.0.weight'].data;
    b.loadFrom(file);
    expect(b.stateDict()['1.0.weight'].data).toBe(weightRef); // loaded in place (optimizers keep references)
    const sdB = b.stateDict();
    expect(Object.keys(sdB)).toEqual(Object.keys(sdA));
    for (const k of Object.keys(sdA)) {
      expect(sdB[k].dtype, k).toBe(sdA[k].dtype);
      expect(sdB[k].shape, k).toEqual(sdA[k].shape);
      expect(bytesOf(sdB[k]).equals(bytesOf(sdA[k])), k).toBe(true);
    }
    expect(sdB['1.1.num_batches_tracked'].data[0]).toBe(1);
    const file2 = tmp('b.safetensors');
    b.save(file2, { note: 'test' });
    expect(fs.readFileSync(file2).equals(fs.readFileSync(file))).toBe(true);
    const { metadata } = nn.readSafetensorsFile(file);
    expect(metadata).toEqual({ format: 'pt', note: 'test' });
  });

  it('loadStateDict names the key and both shapes on mismatch, and missing/unexpected keys', () => {
    const m = new nn.Sequential(new nn.Linear(3, 4, { seed: 1 }), new nn.LayerNorm(4));
    const sd = m.stateDict();
    const before = Buffer.from(bytesOf(m.stateDict()['0.bias']));
    expect(() => m.loadStateDict({ ...sd, '0.weight': new Tensor(new Float32Array(12), [3, 4]) })).toThrow(
      /Expected shape \[4, 3\] \(the module's\) for Sequential\.loadStateDict key "0\.weight" but received shape \[3, 4\]/,
    );
    const { ['1.bias']: _dropped, ...missing } = sd;
    expect(() => m.loadStateDict(missing)).toThrow(/missing key\(s\) "1\.bias"/);
    expect(() => m.loadStateDict({ ...sd, extra: sd['1.bias'] })).toThrow(/unexpected key\(s\) "extra"/);
    expect(m.loadStateDict(missing, { strict: false })).toEqual({ missingKeys: ['1.bias'], unexpectedKeys: [] });
    expect(bytesOf(m.stateDict()['0.bias']).equals(before)).toBe(true);
  });

  it('reads bytes written by the reference (Python) safetensors writer, and writes the same bytes', () => {
    // safetensors.numpy.save({w: f32[2,3], d: f64[2], i: i32[3], m: bool[2], n: i64 scalar, h: f16[2]}, metadata={"format": "pt"})
    const ref = Buffer.from(
      'cAEAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJwdCJ9LCJuIjp7ImR0eXBlIjoiSTY0Iiwic2hhcGUiOltdLCJkYXRhX29mZnNldHMiOlswLDhdfSwiZCI6eyJkdHlwZSI6IkY2NCIsInNoYXBlIjpbMl0sImRhdGFfb2Zmc2V0cyI6WzgsMjRdfSwidyI6eyJkdHlwZSI6IkYzMiIsInNoYXBlIjpbMiwzXSwiZGF0YV9vZmZzZXRzIjpbMjQsNDhdfSwiaSI6eyJkdHlwZSI6IkkzMiIsInNoYXBlIjpbM10sImRhdGFfb2Zmc2V0cyI6WzQ4LDYwXX0sImgiOnsiZHR5cGUiOiJGMTYiLCJzaGFwZSI6WzJdLCJkYXRhX29mZnNldHMiOls2MCw2NF19LCJtIjp7ImR0eXBlIjoiQk9PTCIsInNoYXBlIjpbMl0sImRhdGFfb2Zmc2V0cyI6WzY0LDY2XX19ICAgICAgIAwAAAAAAAAAVVVVVVVV1T8AAAAAAAAEwAAAwD8AABDAAABAQM3MzD3NzEw+mpmZvgcAAAD4////CQAAAAA4AL0BAA==',
      'base64',
    );
    const { tensors, metadata } = nn.decodeSafetensors(new Uint8Array(ref));
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors.get('w')).toEqual({ dtype: 'float32', shape: [2, 3], data: Float32Array.from([1.5, -2.25, 3.0, 0.1, 0.2, -0.3]) });
    expect(Array.from(tensors.get('d')!.data)).toEqual([1 / 3, -2.5]);
    expect(tensors.get('i')!.data).toEqual(Int32Array.from([7, -8, 9]));
    expect(tensors.get('m')).toEqual({ dtype: 'bool', shape: [2], data: Uint8Array.from([1, 0]) });
    expect(tensors.get('n')).toEqual({ dtype: 'int32', shape: [], data: Int32Array.from([12]) });
    expect(tensors.get('h')!.data).toEqual(Float32Array.from([0.5, -1.25]));
    // The same four selfsup-dtype tensors written by the reference writer (safetensors 0.8.0):
    const ref4 = Buffer.from(
      'AAEAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJwdCJ9LCJkIjp7ImR0eXBlIjoiRjY0Iiwic2hhcGUiOlsyXSwiZGF0YV9vZmZzZXRzIjpbMCwxNl19LCJ3Ijp7ImR0eXBlIjoiRjMyIiwic2hhcGUiOlsyLDNdLCJkYXRhX29mZnNldHMiOlsxNiw0MF19LCJpIjp7ImR0eXBlIjoiSTMyIiwic2hhcGUiOlszXSwiZGF0YV9vZmZzZXRzIjpbNDAsNTJdfSwibSI6eyJkdHlwZSI6IkJPT0wiLCJzaGFwZSI6WzJdLCJkYXRhX29mZnNldHMiOls1Miw1NF19fSAgVVVVVVVV1T8AAAAAAAAEwAAAwD8AABDAAABAQM3MzD3NzEw+mpmZvgcAAAD4////CQAAAAEA',
      'base64',
    );
    const mine = nn.encodeSafetensors({ m: tensors.get('m')!, w: tensors.get('w')!, i: tensors.get('i')!, d: tensors.get('d')! }, { format: 'pt' });
    expect(Buffer.from(mine).equals(ref4)).toBe(true);
  });

  it('rejects malformed files with a clear error', () => {
    const good = nn.encodeSafetensors({ a: { dtype: 'float32', shape: [2], data: Float32Array.from([1, 2]) } });
    expect(() => nn.decodeSafetensors(good.subarray(0, good.length - 1))).toThrow(/Expected 8 bytes \(the end of the last tensor\) for bytes byte buffer but received 7 bytes/);
    const bad = Uint8Array.from(good);
    new DataView(bad.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => nn.decodeSafetensors(bad)).toThrow(/header length/);
    const text = JSON.stringify({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } });
    const hdr = Buffer.alloc(8);
    hdr.writeBigUInt64LE(BigInt(text.length));
    expect(() => nn.decodeSafetensors(new Uint8Array(Buffer.concat([hdr, Buffer.from(text), Buffer.alloc(8)])))).toThrow(/a range of 12 bytes \(F32 of shape \[3\]\)/);
    expect(() => nn.encodeSafetensors({ a: { dtype: 'float32', shape: [3], data: Float32Array.from([1, 2]) } })).toThrow(/length 3/);
    expect(() => nn.Module.load(tmp('missing.safetensors'))).toThrow(/ENOENT/);
  });

  it('optimizers keep working after loadStateDict (parameters are updated in place)', () => {
    const m = new nn.Linear(3, 2, { seed: 1 });
    const opt = new optim.AdamW(m.parameters(), { lr: 0.1 });
    const file = tmp('lin.safetensors');
    new nn.Linear(3, 2, { seed: 2 }).save(file);
    m.loadFrom(file);
    F.mse(m.forward(randn([4, 3], { seed: 1 })), randn([4, 2], { seed: 2 })).backward();
    const w0 = Float32Array.from(m.weight.data);
    opt.step();
    expect(Array.from(m.weight.data)).not.toEqual(Array.from(w0));
  });
});
