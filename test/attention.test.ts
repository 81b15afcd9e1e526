/**
 * Fused attention beyond the op table: raw kernels (sync + async) against the float64 reference
 * on awkward shapes (forward, backward, dlse), the fused-float32-vs-naive-float32 error bound,
 * all-masked rows, dropout equal to F.dropout's mask, native argument checks, nn usage.
 */
import { describe, expect, it } from 'vitest';
import {
  attention as attentionKernel, attentionAsync, attentionBackward, attentionBackwardAsync,
} from '../lib/kernels/attention';
import { refAttention, refAttentionBackward, type RefAttentionArgs } from '../lib/backends/reference-attention';
import { tryNative, useReference } from '../lib/backends/native';
import { attention } from '../lib/ops/attention';
import { matmul } from '../lib/ops/linalg';
import { dropout, softmax } from '../lib/ops/nn-functional';
import { Tensor } from '../lib/index';
import { SelfsupError } from '../lib/errors';
import { mulberry32 } from './helpers';

/** Seeded non-zero values in ±[0.1, 1.5], float32-representable (mulberry32). */
function rnd(seed: number, n: number): Float64Array {
  const next = mulberry32(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround((next() < 0.5 ? -1 : 1) * (0.1 + 1.4 * next()));
  return out;
}

/** max |a - b| / max |b| over finite entries; -inf must match exactly. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    if (b[i] === -Infinity) {
      if (a[i] !== -Infinity) return Infinity;
      continue;
    }
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-300);
}

interface Case {
  name: string;
  dims: [number, number, number, number, number, number]; // B, H, Hk, Nq, Nk, d
  causal?: boolean;
  mask?: 'keypad' | 'bool4' | 'additive';
  dropout?: number;
}

const cases: Case[] = [
  { name: 'awkward 113x203 d59', dims: [1, 2, 2, 113, 203, 59] },
  { name: 'causal Nq<Nk gqa', dims: [2, 4, 2, 70, 131, 19], causal: true },
  { name: 'causal Nq>Nk (empty rows)', dims: [1, 2, 1, 150, 66, 8], causal: true },
  { name: 'N=1', dims: [3, 2, 1, 1, 1, 5] },
  { name: 'key padding + causal', dims: [2, 2, 2, 65, 65, 32], mask: 'keypad', causal: true },
  { name: 'bool [B,H,Nq,Nk]', dims: [1, 3, 3, 33, 47, 7], mask: 'bool4' },
  { name: 'additive [H,Nq,Nk] + dropout', dims: [2, 2, 1, 40, 29, 12], mask: 'additive', dropout: 0.25 },
  { name: 'd=1 long keys', dims: [1, 1, 1, 9, 300, 1] },
  // Enough key tiles that the backward groups 4 per task (last group partial), with causal cuts
  // inside groups and Nq < Nk; and a padded-key variant.
  { name: 'grouped key tiles, GQA + causal', dims: [2, 4, 2, 150, 581, 24], causal: true },
  { name: 'grouped key tiles + key padding', dims: [2, 2, 2, 77, 600, 33], mask: 'keypad' },
  // Short sequences that are one query tile and one key tile per head (the ViT's 65 tokens; up
  // to 1.5x the nominal tile), with GQA, causal and a key-padding mask.
  { name: 'one tile per head: 65 tokens d64, GQA', dims: [3, 4, 2, 65, 65, 64] },
  { name: 'one tile per head: 96 x 90 causal d40', dims: [2, 2, 1, 96, 90, 40], causal: true },
  { name: 'one tile per head: 65 tokens + key padding', dims: [2, 3, 3, 65, 65, 64], mask: 'keypad' },
];

function setup(c: Case) {
  const [B, H, Hk, Nq, Nk, d] = c.dims;
  const q = rnd(1, B * H * Nq * d), k = rnd(2, B * Hk * Nk * d), v = rnd(3, B * Hk * Nk * d);
  const g = rnd(4, B * H * Nq * d), gl = rnd(5, B * H * Nq);
  let mask: Uint8Array | Float64Array | undefined;
  let maskShape: number[] | undefined;
  let strides: [number, number, number, number] = [0, 0, 0, 0];
  if (c.mask === 'keypad') {
    mask = new Uint8Array(B * Nk).map((_, i) => (i % 7 === 3 || i >= Nk * (B - 1) + 5 ? 0 : 1));
    // Batch 1 keeps only its first 5 keys; with causal, its early rows still see some key.
    maskShape = [B, Nk];
    strides = [Nk, 0, 0, 1];
  } else if (c.mask === 'bool4') {
    mask = Uint8Array.from(rnd(6, B * H * Nq * Nk), (x) => (x > -0.3 ? 1 : 0));
    for (let j = 0; j < Nk; j++) mask[(0 * H + 1) * Nq * Nk + 4 * Nk + j] = 0; // one fully masked row
    maskShape = [B, H, Nq, Nk];
    strides = [H * Nq * Nk, Nq * Nk, Nk, 1];
  } else if (c.mask === 'additive') {
    mask = rnd(7, H * Nq * Nk).map((x) => x * 2);
    maskShape = [H, Nq, Nk];
    strides = [0, Nq * Nk, Nk, 1];
  }
  const args: RefAttentionArgs = {
    B, H, Hk, Nq, Nk, d, scale: 1 / Math.sqrt(d), causal: !!c.causal, dropout: c.dropout ?? 0, seed: 1234,
    mask: mask ? { data: mask, strides } : null,
  };
  const shapes = { q: [B, H, Nq, d], k: [B, Hk, Nk, d] };
  const opts = { causal: !!c.causal, mask, maskShape, dropout: c.dropout, seed: 1234 };
  return { q, k, v, g, gl, args, shapes, opts, mask };
}

describe('attention kernels vs float64 reference', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const { q, k, v, g, gl, args, shapes, opts, mask } = setup(c);
      const ref = refAttention(q, k, v, args);
      const gref = refAttentionBackward(q, k, v, g, gl, args);
      // float64: the fused kernel is exact to rounding.
      const r = attentionKernel(q, shapes.q, k, shapes.k, v, shapes.k, opts);
      expect(relErr(r.out, ref.out)).toBeLessThan(1e-12);
      expect(relErr(r.lse, ref.lse)).toBeLessThan(1e-12);
      const gb = attentionBackward(q, shapes.q, k, shapes.k, v, shapes.k, r.out, r.lse, g, { ...opts, dlse: gl });
      expect(relErr(gb.dq, gref.dq)).toBeLessThan(1e-11);
      expect(relErr(gb.dk, gref.dk)).toBeLessThan(1e-11);
      expect(relErr(gb.dv, gref.dv)).toBeLessThan(1e-11);
      // float32: close to the float64 reference (the 2x-naive bound is tested below through F).
      const f = (x: Float64Array) => new Float32Array(x);
      const m32 = mask instanceof Float64Array ? f(mask) : mask;
      const o32 = { ...opts, mask: m32 };
      const r32 = attentionKernel(f(q), shapes.q, f(k), shapes.k, f(v), shapes.k, o32);
      expect(relErr(r32.out, ref.out)).toBeLessThan(2e-6);
      const g32 = attentionBackward(f(q), shapes.q, f(k), shapes.k, f(v), shapes.k, r32.out, r32.lse, f(g), { ...o32, dlse: f(gl) });
      expect(relErr(g32.dq, gref.dq)).toBeLessThan(5e-6);
      expect(relErr(g32.dk, gref.dk)).toBeLessThan(5e-6);
      expect(relErr(g32.dv, gref.dv)).toBeLessThan(5e-6);
      // The backward overwrites every element of dq, dk and dv: output buffers full of NaN give
      // the same bits (rows that see no key included).
      const nan = (n: number) => new Float32Array(n).fill(NaN);
      const gn = attentionBackward(f(q), shapes.q, f(k), shapes.k, f(v), shapes.k, r32.out, r32.lse, f(g), {
        ...o32, dlse: f(gl), dq: nan(q.length), dk: nan(k.length), dv: nan(v.length),
      });
      for (const key of ['dq', 'dk', 'dv'] as const) expect(Array.from(gn[key])).toEqual(Array.from(g32[key]));
      // Async forms give the same numbers as the sync ones.
      const ra = await attentionAsync(f(q), shapes.q, f(k), shapes.k, f(v), shapes.k, o32);
      expect(Array.from(ra.out)).toEqual(Array.from(r32.out));
      const ga = await attentionBackwardAsync(f(q), shapes.q, f(k), shapes.k, f(v), shapes.k, r32.out, r32.lse, f(g), { ...o32, dlse: f(gl) });
      expect(Array.from(ga.dk)).toEqual(Array.from(g32.dk));
      for (const x of [r.out, gb.dq, gb.dk, gb.dv, r32.out, g32.dq]) expect(x.every((y) => Number.isFinite(y))).toBe(true);
    });
  }
});

/** The textbook float32 composition through F (matmul, softmax, matmul), with autograd. */
function naive(q: Tensor, k: Tensor, v: Tensor, scale: number): Tensor {
  return softmax(matmul(q, k.transpose(-2, -1)).mul(scale), -1).matmul(v);
}

describe('fused float32 error <= 2x the naive float32 composition', () => {
  const shapes: Array<[number, number, number, number, number]> = [[2, 3, 113, 203, 59], [1, 2, 197, 197, 64], [1, 1, 300, 77, 16], [2, 4, 150, 581, 24]];
  for (const [B, H, Nq, Nk, d] of shapes) {
    it(`[${B}, ${H}, ${Nq}, ${d}] x ${Nk} keys`, () => {
      const q = rnd(11, B * H * Nq * d), k = rnd(12, B * H * Nk * d), v = rnd(13, B * H * Nk * d), g = rnd(14, B * H * Nq * d);
      const args: RefAttentionArgs = { B, H, Hk: H, Nq, Nk, d, scale: 1 / Math.sqrt(d), causal: false, dropout: 0, seed: 0 };
      const ref = refAttention(q, k, v, args);
      const gref = refAttentionBackward(q, k, v, g, null, args);
      const mk = (x: Float64Array, s: number[]) => new Tensor(new Float32Array(x), s, { requiresGrad: true });
      const run = (fn: (q: Tensor, k: Tensor, v: Tensor) => Tensor) => {
        const tq = mk(q, [B, H, Nq, d]), tk = mk(k, [B, H, Nk, d]), tv = mk(v, [B, H, Nk, d]);
        const out = fn(tq, tk, tv);
        out.backward(new Tensor(new Float32Array(g), out.shape));
        return [relErr(out.data, ref.out), relErr(tq.grad!.data, gref.dq), relErr(tk.grad!.data, gref.dk), relErr(tv.grad!.data, gref.dv)];
      };
      const fused = run((a, b, c) => attention(a, b, c));
      const textbook = run((a, b, c) => naive(a, b, c, 1 / Math.sqrt(d)));
      if (process.env.ATTN_VERBOSE) console.log(JSON.stringify({ fused, textbook }));
      fused.forEach((e, i) => expect(e, `output ${i}: fused ${e} vs naive ${textbook[i]}`).toBeLessThanOrEqual(2 * textbook[i] + 1e-9));
    });
  }
});

describe('F.attention semantics', () => {
  it('rows with every key masked give zeros and zero gradients, not NaN', () => {
    const [B, H, N, d] = [2, 2, 5, 3];
    const q = new Tensor(new Float32Array(rnd(1, B * H * N * d)), [B, H, N, d], { requiresGrad: true });
    const k = new Tensor(new Float32Array(rnd(2, B * H * N * d)), [B, H, N, d], { requiresGrad: true });
    const v = new Tensor(new Float32Array(rnd(3, B * H * N * d)), [B, H, N, d], { requiresGrad: true });
    const mask = new Tensor(Uint8Array.from([1, 1, 0, 1, 0, 0, 0, 0, 0, 0]), [B, N], { dtype: 'bool' });
    const { out, lse } = attention(q, k, v, { mask, returnLse: true });
    out.sum().backward();
    const o = out.data;
    for (let i = B * H * N * d / 2; i < o.length; i++) expect(o[i]).toBe(0);
    for (let i = 0; i < o.length; i++) expect(Number.isFinite(o[i])).toBe(true);
    for (let i = B * H * N / 2; i < lse.data.length; i++) expect(lse.data[i]).toBe(-Infinity);
    for (const t of [q, k, v]) {
      const gr = t.grad!.data;
      expect(gr.every((x) => Number.isFinite(x))).toBe(true);
      for (let i = gr.length / 2; i < gr.length; i++) expect(gr[i]).toBe(0);
    }
  });

  it('dropout drops exactly what F.dropout drops with the same seed', () => {
    const [B, H, Nq, Nk, d] = [1, 2, 7, 9, 5];
    const q = new Tensor(new Float64Array(rnd(1, B * H * Nq * d)), [B, H, Nq, d]);
    const k = new Tensor(new Float64Array(rnd(2, B * H * Nk * d)), [B, H, Nk, d]);
    const v = new Tensor(new Float64Array(rnd(3, B * H * Nk * d)), [B, H, Nk, d]);
    const fused = attention(q, k, v, { dropout: 0.4, seed: 99 });
    const p = softmax(matmul(q, k.transpose(-2, -1)).mul(1 / Math.sqrt(d)), -1);
    const comp = matmul(dropout(p, 0.4, { seed: 99 }), v);
    expect(relErr(fused.data, comp.data)).toBeLessThan(1e-13);
  });

  it('causal is bottom-right aligned (FlashAttention 2)', () => {
    // Nq = 2, Nk = 4: query 0 sees keys 0..2, query 1 sees keys 0..3.
    const q = new Tensor(new Float64Array(rnd(1, 2 * 3)), [1, 1, 2, 3]);
    const k = new Tensor(new Float64Array(rnd(2, 4 * 3)), [1, 1, 4, 3]);
    const v = new Tensor(new Float64Array(rnd(3, 4 * 3)), [1, 1, 4, 3]);
    const add = new Tensor(Float64Array.from([0, 0, 0, -Infinity, 0, 0, 0, 0]), [2, 4]);
    const a = attention(q, k, v, { causal: true });
    const b = attention(q, k, v, { mask: add });
    expect(relErr(a.data, b.data)).toBeLessThan(1e-15);
  });

  it('the mask is not differentiable (clear error)', () => {
    const x = new Tensor(new Float32Array(8).fill(0.5), [1, 1, 2, 4]);
    const m = new Tensor(new Float32Array(4), [2, 2], { requiresGrad: true });
    expect(() => attention(x, new Tensor(new Float32Array(8).fill(0.5), [1, 1, 2, 4]), new Tensor(new Float32Array(8).fill(0.5), [1, 1, 2, 4]), { mask: m }))
      .toThrow(/for attention\(options\.mask\)/);
  });
});

describe('the ends of the supported range (d up to 512, N up to 16k)', () => {
  it('d = 512 matches the float64 reference, forward and backward', () => {
    const [B, H, Nq, Nk, d] = [1, 2, 37, 70, 512];
    const q = rnd(21, B * H * Nq * d).map((x) => x / 8), k = rnd(22, B * H * Nk * d).map((x) => x / 8);
    const v = rnd(23, B * H * Nk * d), g = rnd(24, B * H * Nq * d);
    const args: RefAttentionArgs = { B, H, Hk: H, Nq, Nk, d, scale: 1 / Math.sqrt(d), causal: false, dropout: 0, seed: 0 };
    const ref = refAttention(q, k, v, args), gref = refAttentionBackward(q, k, v, g, null, args);
    const sq = [B, H, Nq, d], sk = [B, H, Nk, d];
    const f = (x: Float64Array) => new Float32Array(x);
    const r = attentionKernel(f(q), sq, f(k), sk, f(v), sk);
    expect(relErr(r.out, ref.out)).toBeLessThan(2e-6);
    const gb = attentionBackward(f(q), sq, f(k), sk, f(v), sk, r.out, r.lse, f(g));
    expect(relErr(gb.dq, gref.dq)).toBeLessThan(5e-6);
    expect(relErr(gb.dk, gref.dk)).toBeLessThan(5e-6);
    expect(relErr(gb.dv, gref.dv)).toBeLessThan(5e-6);
  });

  // The reference backend would hold the 16384 x 16384 scores (2 GiB in float64): kernels only.
  it.skipIf(useReference())('N = 16384 (causal): sampled rows match float64, gradients satisfy the softmax identities', () => {
    const [N, d] = [16384, 8];
    const q = rnd(31, N * d), k = rnd(32, N * d), v = rnd(33, N * d), g = rnd(34, N * d);
    const s = [1, 1, N, d];
    const f = (x: Float64Array) => new Float32Array(x);
    const r = attentionKernel(f(q), s, f(k), s, f(v), s, { causal: true });
    const scale = 1 / Math.sqrt(d);
    // Row i sees keys 0..i: recompute a few rows in float64 (first, last, tile edges).
    let num = 0, den = 0;
    for (const i of [0, 1, 63, 64, 4095, 9000, N - 2, N - 1]) {
      const lg = new Float64Array(i + 1);
      let mx = -Infinity;
      for (let j = 0; j <= i; j++) {
        let a = 0;
        for (let c = 0; c < d; c++) a += q[i * d + c] * k[j * d + c];
        lg[j] = a * scale;
        mx = Math.max(mx, lg[j]);
      }
      let l = 0;
      const o = new Float64Array(d);
      for (let j = 0; j <= i; j++) {
        const e = Math.exp(lg[j] - mx);
        l += e;
        for (let c = 0; c < d; c++) o[c] += e * v[j * d + c];
      }
      for (let c = 0; c < d; c++) {
        num = Math.max(num, Math.abs(r.out[i * d + c] - o[c] / l));
        den = Math.max(den, Math.abs(o[c] / l));
      }
      expect(Math.abs(r.lse[i] - (mx + Math.log(l)))).toBeLessThan(1e-5 * Math.max(1, Math.abs(mx + Math.log(l))));
    }
    expect(num / den).toBeLessThan(2e-6);
    // Rows of P sum to 1, so sum_j dV_j = sum_i dO_i; rows of dS sum to 0, so sum_j dK_j = 0.
    const gb = attentionBackward(f(q), s, f(k), s, f(v), s, r.out, r.lse, f(g), { causal: true });
    for (let c = 0; c < d; c++) {
      let sv = 0, av = 0, so = 0, sk = 0, ak = 0;
      for (let j = 0; j < N; j++) {
        sv += gb.dv[j * d + c];
        av += Math.abs(gb.dv[j * d + c]);
        so += Math.fround(g[j * d + c]);
        sk += gb.dk[j * d + c];
        ak += Math.abs(gb.dk[j * d + c]);
      }
      // Measured ~1e-7 and ~3e-8 of the absolute sums; one dropped key tile moves sum dV by
      // ~1e-3 of it.
      expect(Math.abs(sv - so)).toBeLessThan(1e-5 * av);
      expect(Math.abs(sk)).toBeLessThan(1e-6 * ak);
    }
    for (const x of [gb.dq, gb.dk, gb.dv]) expect(x.every((y) => Number.isFinite(y))).toBe(true);
  });
});

describe('raw kernel argument checks', () => {
  const q = new Float32Array(2 * 3 * 4), k = new Float32Array(2 * 5 * 4);
  it('names the argument', () => {
    expect(() => attentionKernel(q, [1, 2, 3, 4], k, [1, 2, 5, 3], k, [1, 2, 5, 3])).toThrow(SelfsupError);
    expect(() => attentionKernel(q, [1, 2, 3, 4], k, [1, 2, 5, 3], k, [1, 2, 5, 3])).toThrow(/for kShape/);
    expect(() => attentionKernel(q, [1, 2, 3, 4], k, [1, 2, 5, 4], k, [1, 2, 5, 4], { dropout: 1 })).toThrow(RangeError);
    expect(() => attentionKernel(q, [1, 2, 3, 4], k, [1, 2, 5, 4], k, [1, 2, 5, 4], { scale: NaN })).toThrow(/for options\.scale but received NaN/);
    expect(() => attentionKernel(q, [1, 2, 3, 4], k, [1, 2, 5, 4], k, [1, 2, 5, 4], { mask: new Uint8Array(4), maskShape: [1, 4] })).toThrow(/for options\.maskShape/);
    expect(() => attentionKernel(q, [1, 2, 3, 4], new Float64Array(40), [1, 2, 5, 4], k, [1, 2, 5, 4])).toThrow(TypeError);
    expect(() => attentionKernel(q, [1, 2, 3, 4], k, [1, 2, 5, 4], k, [1, 2, 5, 4], { out: q })).toThrow(/for options\.out/);
  });

  it.skipIf(useReference() || !tryNative())('the native binding checks again and never crashes', () => {
    const nat = tryNative()!;
    const fwd = nat.attention as (...a: unknown[]) => void;
    const out = new Float32Array(24), lse = new Float32Array(6);
    const opt = (over: Record<string, unknown> = {}) => ({
      B: 1, H: 2, Hk: 2, Nq: 3, Nk: 5, d: 4, scale: 0.5, causal: false, maskArray: null, maskStrides: [0, 0, 0, 0], dropout: 0, seed: 0, ...over,
    });
    expect(() => fwd(q, k, k, out, lse, null, opt())).not.toThrow();
    expect(() => fwd(q, k.subarray(1), k, out, lse, null, opt())).toThrow(/for k but received length 39/);
    expect(() => fwd(q, k, k, out, lse, null, opt({ Hk: 3 }))).toThrow(/for Hk/);
    expect(() => fwd(q, k, k, out, lse, null, opt({ dropout: 1 }))).toThrow(/for dropout/);
    expect(() => fwd(q, k, k, out, lse, null, opt({ scale: NaN }))).toThrow(/for scale/);
    expect(() => fwd(q, k, k, out, lse, null, opt({ seed: undefined }))).toThrow(/Expected an integer for seed but received undefined/);
    expect(() => fwd(q, k, k, out, lse, null, 7)).toThrow(/Expected an options object for options but received 7/);
    // A mask whose strides reach past its end.
    expect(() => fwd(q, k, k, out, lse, null, opt({ maskArray: new Uint8Array(4), maskStrides: [0, 0, 0, 1] }))).toThrow(/for mask/);
    expect(() => fwd(q, k, k, out, lse, null, opt({ maskArray: new Uint8Array(4), maskStrides: [0, 0, 1] }))).toThrow(/for maskStrides/);
    expect(() => fwd(q, k, k, out, lse, null, opt({ maskArray: new Int32Array(5), maskStrides: [0, 0, 0, 1] }))).toThrow(TypeError);
  });
});

describe('attention with huge logits (float32)', () => {
  it('a dominant key past 1e9 wins instead of the row reading as fully masked', () => {
    // softmax([0, big]) = [0, 1]: out = v[1], lse = big (the float64 kernel and the naive
    // composition agree; the fused float32 forward returned 0 and -Infinity past ~1.5e9)
    for (const big of [1e8, 1.5e9, 1e10, 3e12, 1e20]) {
      for (const scale of [1, 0.125]) {
        const r = attentionKernel(Float32Array.of(1), [1, 1, 1, 1], Float32Array.of(0, big), [1, 1, 2, 1], Float32Array.of(10, 20), [1, 1, 2, 1], { scale });
        expect(Math.abs(r.out[0] - 20), `big ${big} scale ${scale}`).toBeLessThan(20 * 2.4e-7);
        expect(Math.abs(r.lse[0] - Math.fround(big * scale)) / (big * scale), `lse, big ${big} scale ${scale}`).toBeLessThan(2e-7);
      }
    }
    // the backward (given lseLo, as F.attention passes it): P = [0, 1], so dV = [0, dO]
    for (const big of [1e8, 1e10]) {
      const shapes = [[1, 1, 1, 1], [1, 1, 2, 1]];
      const lseLo = new Float32Array(1);
      const q = Float32Array.of(1), k = Float32Array.of(0, big), v = Float32Array.of(10, 20);
      const r = attentionKernel(q, shapes[0], k, shapes[1], v, shapes[1], { scale: 1, lseLo });
      const g = attentionBackward(q, shapes[0], k, shapes[1], v, shapes[1], r.out, r.lse, Float32Array.of(1), { scale: 1, lseLo });
      // (lse + lseLo carries ~48 bits: 1e-5 absolute at 1e10)
      expect(g.dv[0], `dv, big ${big}`).toBe(0);
      expect(Math.abs(g.dv[1] - 1), `dv, big ${big}`).toBeLessThan(1e-4);
      expect([...g.dq, ...g.dk].every((x) => Number.isFinite(x) && Math.abs(x) < 1e-6), `dq, dk, big ${big}`).toBe(true);
    }
    // several keys, a second tile, a mask: near-ties at 1e10 share the weight; a row whose max
    // comes in a later tile rescales the earlier ones
    const Nk = 300;
    const kk = new Float32Array(Nk), v = Float32Array.from({ length: Nk }, (_, j) => j);
    for (let j = 0; j < Nk; j++) kk[j] = j === 250 || j === 251 ? 1e10 : j === 7 ? 5e9 : -j;
    const r = attentionKernel(Float32Array.of(1), [1, 1, 1, 1], kk, [1, 1, Nk, 1], v, [1, 1, Nk, 1], { scale: 1 });
    expect(r.out[0]).toBeCloseTo(250.5, 4);
    expect(r.lse[0]).toBeCloseTo(Math.fround(1e10), -3);
    const mask = new Uint8Array(Nk).fill(1);
    mask[250] = 0; mask[251] = 0;
    const m = attentionKernel(Float32Array.of(1), [1, 1, 1, 1], kk, [1, 1, Nk, 1], v, [1, 1, Nk, 1], { scale: 1, mask, maskShape: [Nk] });
    expect(m.out[0]).toBeCloseTo(7, 5);
  });
});
