// Self-attention over a packed qkv projection (lib/ops/attention.ts packedSelfAttention, the
// attention binding's layout options): the same bits as splitting qkv into q, k, v [B, H, N, d],
// F.attention and merging the heads, forward and backward; layouts outside the arrays are errors.
import { describe, expect, it } from 'vitest';
import { F, nn, randn, type Node, type Tensor } from '../lib';
import { splitHeads } from '../lib/ops/shape';
import { packedSelfAttention } from '../lib/ops/attention';
import { tryNative } from '../lib/backends/native';

const addon = process.env.SELFSUP_BACKEND === 'reference' ? null : tryNative();

function graphNames(t: Tensor): string[] {
  const names: string[] = [];
  const stack: Node[] = t.gradFn ? [t.gradFn] : [];
  while (stack.length) {
    const n = stack.pop()!;
    names.push(n.name);
    for (const e of n.edges) if (e?.node) stack.push(e.node);
  }
  return names;
}

describe.skipIf(!addon)('packed self-attention', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`matches split + attention + merge bit for bit (${dtype}, awkward shapes)`, () => {
      for (const [B, N, H, d] of [[3, 17, 2, 8], [2, 65, 6, 64], [1, 5, 3, 7], [2, 1, 1, 3]]) {
        const D = H * d;
        const qkv = randn([B, N, 3 * D], { seed: B * 100 + N, dtype, requiresGrad: true });
        const g = randn([B, N, D], { seed: 7, dtype });
        const out = packedSelfAttention(qkv, H, 0.3)!;
        expect(out.shape).toEqual([B, N, D]);
        out.backward(g);
        const gPacked = Array.from(qkv.grad!.data);
        qkv.grad = null;
        const [q, k, v] = splitHeads(qkv, 3, H);
        const ref = F.attention(q, k, v, { scale: 0.3 }).transpose(1, 2).reshape([B, N, D]);
        ref.backward(g);
        expect(Array.from(out.data)).toEqual(Array.from(ref.data));
        expect(gPacked).toEqual(Array.from(qkv.grad!.data));
      }
    });
  }

  it('the ViT block takes the packed path without a mask and gives the masked path the same values', () => {
    const attn = new nn.MultiheadSelfAttention(48, 4, { seed: 3 });
    const x = randn([2, 9, 48], { seed: 4 });
    const none = attn.forward(x);
    expect(graphNames(none)).toContain('PackedAttentionBackward');
    // An all-true bool mask goes through split + attention + merge: the same numbers.
    const all = attn.forward(x, { mask: randn([2, 9], { seed: 5 }).gt(-1e9) });
    expect(Array.from(none.data)).toEqual(Array.from(all.data));
  });

  it('layouts reaching outside the arrays are errors naming the argument, never a crash', () => {
    const a = addon!;
    const q = new Float32Array(2 * 3 * 4), out = new Float32Array(2 * 4), lse = new Float32Array(2);
    const base = { B: 1, H: 2, Hk: 2, Nq: 1, Nk: 1, d: 4, scale: 1, causal: false, dropout: 0, seed: 0, maskArray: null, maskStrides: [0, 0, 0, 0] as const };
    // Packed [1, 1, 3, 2, 4]: q at 0, k at 8, v at 16; rows of 24.
    const ok = { ...base, qLayout: [0, 24, 4, 24], kLayout: [8, 24, 4, 24], vLayout: [16, 24, 4, 24], oLayout: [0, 8, 4, 8] } as const;
    expect(() => a.attention(q, q, q, out, lse, null, ok)).not.toThrow();
    expect(() => a.attention(q, q, q, out, lse, null, { ...ok, vLayout: [17, 24, 4, 24] })).toThrow(/for v but received length 24/);
    expect(() => a.attention(q, q, q, out, lse, null, { ...ok, oLayout: [0, 8, 8, 8] })).toThrow(/for out but received length 8/);
    expect(() => a.attention(q, q, q, out, lse, null, { ...ok, kLayout: [8, 24, 4, 3] })).toThrow(/row stride >= d = 4 for kLayout/);
    expect(() => a.attention(q, q, q, out, lse, null, { ...ok, qLayout: [0, 24, -4, 24] })).toThrow(/qLayout/);
    const dq = new Float32Array(24);
    expect(() => a.attentionBackward(q, q, q, out, lse, out, null, null, dq, dq, new Float32Array(20), ok)).toThrow(/for dv but received length 20/);
  });
});
