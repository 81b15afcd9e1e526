// The ONNX Runtime peer (--vs ort): the protobuf writer's varints, every in-memory model run by the
// installed onnxruntime-node (a devDependency) at awkward shapes against float64 references, the
// check that refuses a model computing something else, the skip paths (unsupported op, absent
// module, backward, float64), and the CLI wiring. Timings are never asserted.
import { describe, expect, it } from 'vitest';
import { encodeVarint, OnnxGraph } from '../bench/onnx';
import { ortAttention, ortInfoNCE, ortSgemm, ortSinkhorn, ortVICReg, type OrtCase } from '../bench/onnx-models';
import { OrtPeer, ORT_INSTALL_HINT } from '../bench/peers/ort';
import type { Workload } from '../bench/types';
import { refAttention } from '../lib/backends/reference-attention';
import { refSinkhorn } from '../lib/backends/reference-sinkhorn';
import { refVicregTerms } from '../lib/backends/reference-vicreg';
import { mulberry32, runCli } from './helpers';

const FAST = { warmup: 0, minRepeats: 1, minSeconds: 0, maxSeconds: 0, floorRepeats: 1 };

function normals(n: number, seed: number): Float32Array {
  const u = mulberry32(seed);
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u()));
}

/** A workload carrying only the ORT case (what OrtPeer.run reads). */
function workload(c: OrtCase): Workload {
  return { op: 't', name: 't', shape: {}, modes: ['fwd'], flops: () => 1, bytes: () => 1, setup: () => ({ run: () => undefined }), ort: () => c };
}

function peer(): OrtPeer {
  const { peer: p, message } = OrtPeer.start(2);
  if (!p) throw new Error(`onnxruntime-node (a devDependency) did not load: ${message}`);
  return p;
}

/** Runs every variant of the case; each must run and agree with the float64 reference. */
async function expectAllAgree(c: OrtCase, names: string[], tol = 1e-5): Promise<void> {
  const r = await peer().run(workload(c), 'fwd', 'float32', 0, tol, FAST);
  expect(r.variants.map((v) => v.name)).toEqual(names);
  for (const v of r.variants) {
    expect(v.error, v.name).toBeUndefined();
    expect(v.maxRelError!, v.name).toBeLessThanOrEqual(tol);
    expect(v.median!).toBeGreaterThan(0);
  }
  expect(names).toContain(r.best!.name);
}

describe('ONNX protobuf writer', () => {
  it('encodes varints as protobuf does (7-bit groups, low first; negative int64 in 10 bytes)', () => {
    expect([...encodeVarint(0)]).toEqual([0]);
    expect([...encodeVarint(127)]).toEqual([127]);
    expect([...encodeVarint(300)]).toEqual([0xac, 0x02]);
    expect([...encodeVarint(2 ** 35)]).toEqual([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    expect([...encodeVarint(-1)]).toEqual([...Array(9).fill(0xff), 0x01]);
  });
});

describe('ORT peer models against float64 references (awkward shapes)', () => {
  it('sgemm: MatMul', async () => {
    const m = 33, n = 17, k = 9;
    const a = normals(m * k, 1), b = normals(k * n, 2);
    const ref = new Float32Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
      ref[i * n + j] = s;
    }
    await expectAllAgree(ortSgemm(a, b, m, n, k, ref), ['MatMul']);
  });

  it('attention: the composition, MultiHeadAttention and opset-23 Attention all compute softmax(q kᵀ/√d) v', async () => {
    const B = 2, H = 3, N = 37, d = 16;
    const q = normals(B * H * N * d, 3), k = normals(B * H * N * d, 4), v = normals(B * H * N * d, 5);
    const ref = refAttention(q, k, v, { B, H, Hk: H, Nq: N, Nk: N, d, scale: 1 / Math.sqrt(d), causal: false, dropout: 0, seed: 0 }).out;
    await expectAllAgree(ortAttention({ B, H, N, d }, q, k, v, Float32Array.from(ref)), ['composition', 'MultiHeadAttention', 'Attention-23']);
  });

  it('InfoNCE: normalize, masked logits, SoftmaxCrossEntropyLoss (mean of both directions)', async () => {
    const n = 13, D = 7, tau = 0.1, R = 2 * n;
    const z1 = normals(n * D, 6), z2 = normals(n * D, 7);
    const z = Array.from({ length: R }, (_, r) => {
      const row = Array.from((r < n ? z1 : z2).subarray((r % n) * D, (r % n) * D + D));
      const norm = Math.hypot(...row);
      return row.map((x) => x / norm);
    });
    const losses = Float32Array.from({ length: R }, (_, r) => {
      const s = z.map((w, c) => (c === r ? -Infinity : w.reduce((acc, x, i) => acc + x * z[r][i], 0) / tau));
      const mx = Math.max(...s);
      return mx + Math.log(s.reduce((acc, x) => acc + Math.exp(x - mx), 0)) - s[(r + n) % R];
    });
    await expectAllAgree(ortInfoNCE(z1, z2, n, D, tau, losses), ['composition']);
  });

  it('VICReg: the three terms with the D x D covariance', async () => {
    const n = 11, D = 9;
    const x = normals(n * D, 8), y = normals(n * D, 9);
    await expectAllAgree(ortVICReg(x, y, n, D, refVicregTerms(x, y, n, D, 1e-4)), ['composition', 'composition (row sums)']);
  });

  it.each([false, true])('Sinkhorn (logDomain %s): every form gives the log-domain reference', async (logDomain) => {
    const B = 19, K = 23, epsilon = 0.05, iterations = 3;
    const u = mulberry32(10);
    const scores = Float32Array.from({ length: B * K }, () => u() * 2 - 1);
    const ref = refSinkhorn(scores, { B, K, probs: false, epsilon, iterations, tolerance: 0, col: new Float64Array(K).fill(1 / K), row: null, wantError: false }).out;
    await expectAllAgree(ortSinkhorn(scores, B, K, { epsilon, iterations, logDomain }, Float32Array.from(ref)), logDomain ? ['log-domain ReduceLogSumExp', 'log-domain max-shifted'] : ['exp (SwAV)'], 1e-4);
  });
});

describe('ORT peer checks and skips', () => {
  const m = 5, n = 4, k = 3;
  const a = normals(m * k, 11), b = normals(k * n, 12);
  const product = (): Float32Array => {
    const c = new Float32Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) c[i * n + j] += a[i * k + p] * b[p * n + j];
    return c;
  };

  it('a model whose output differs from selfsup\'s is reported, not timed', async () => {
    const wrong = product().map((x, i) => (i === 7 ? x + 0.5 : x));
    const r = await peer().run(workload(ortSgemm(a, b, m, n, k, wrong)), 'fwd', 'float32', 0, 2e-3, FAST);
    expect(r.best).toBeUndefined();
    expect(r.variants[0].median).toBeUndefined();
    expect(r.variants[0].error).toMatch(/output differs from selfsup's \(max rel err .* > 0.002\)/);
  });

  it('a variant the installed ORT cannot load is skipped with the reason; the others still run', async () => {
    const g = new OnnxGraph();
    g.node('NoSuchOp', [g.input('A', 'float32', [m, k])], {}, { out: 'C', domain: 'com.microsoft' });
    g.output('C', 'float32', [m, n]);
    const good = ortSgemm(a, b, m, n, k, product());
    const c: OrtCase = { variants: [{ name: 'bogus', model: g.model({ '': 21, 'com.microsoft': 1 }, 10), feeds: good.variants[0].feeds, error: () => 0 }, ...good.variants] };
    const r = await peer().run(workload(c), 'fwd', 'float32', 0, 1e-5, FAST);
    expect(r.variants[0].error).toMatch(/^not supported by this onnxruntime-node \(.*NoSuchOp/);
    expect(r.best?.name).toBe('MatMul');
  });

  it('forward float32 only; absent module gives the install hint', async () => {
    const w = workload(ortSgemm(a, b, m, n, k, product()));
    await expect(peer().run(w, 'fwd+bwd', 'float32', 0, 1e-5, FAST)).rejects.toThrow(/^no backward/);
    await expect(peer().run(w, 'fwd', 'float64', 0, 1e-5, FAST)).rejects.toThrow(/^no float64 run/);
    expect(OrtPeer.start(2, 'onnxruntime-node-not-installed')).toEqual({ message: ORT_INSTALL_HINT });
  });
});

describe('selfsup bench --vs ort', () => {
  it('puts ORT\'s median, the ratio, the variant and its check beside selfsup; no backward row', async () => {
    const r = await runCli('bench', ['infonce', '--quick', '--vs', 'ort', '--json', '--repeat', '1']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out);
    expect(rep.header.ort).toMatch(/^onnxruntime-node \d+\.\d+\.\d+, cpu execution provider, \d+ intra-op threads/);
    const fwd = rep.rows.find((x: { mode: string }) => x.mode === 'fwd').peers.find((p: { label: string }) => p.label === 'ort');
    expect(fwd).toMatchObject({ label: 'ort', variant: 'composition', median: expect.any(Number), speedup: expect.any(Number) });
    expect(fwd.maxRelError).toBeLessThan(1e-4);
    const bwd = rep.rows.find((x: { mode: string }) => x.mode === 'fwd+bwd').peers.find((p: { label: string }) => p.label === 'ort');
    expect(bwd.error).toMatch(/^no backward/);
  });
});
