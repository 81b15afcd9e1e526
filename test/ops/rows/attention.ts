/** Op-table rows of F.attention (fused attention): float64 reference, awkward shapes, masks, errors. */
import { attention } from '../../../lib/ops/attention';
import { SelfsupError } from '../../../lib/errors';
import { tensor } from '../../../lib/factories';
import { refAttention } from '../../../lib/backends/reference-attention';
import type { OpRow } from '../op-db';
import type { Gen, RefTensor, TSpec } from '../helpers';

interface RefOpts { scale?: number; causal?: boolean; mask?: RefTensor; dropout?: number; seed?: number; returnLse?: boolean }

/** Broadcast strides of a mask to [B, H, Nq, Nk], written independently of the kernel's planner. */
function maskStrides(m: RefTensor, B: number, H: number, Nq: number, Nk: number): [number, number, number, number] {
  if (m.data instanceof Uint8Array && m.shape.length === 2) return [Nk, 0, 0, 1];
  const full = [1, 1, 1, 1];
  m.shape.forEach((s, i) => (full[4 - m.shape.length + i] = s));
  const st: [number, number, number, number] = [0, 0, 0, 0];
  let s = 1;
  for (let i = 3; i >= 0; i--) {
    st[i] = full[i] === 1 ? 0 : s;
    s *= full[i];
  }
  void B; void H; void Nq;
  return st;
}

function ref(q: RefTensor, k: RefTensor, v: RefTensor, o: RefOpts = {}) {
  const [B, H, Nq, d] = q.shape;
  const [, Hk, Nk] = k.shape;
  const r = refAttention(q.data, k.data, v.data, {
    B, H, Hk, Nq, Nk, d,
    scale: o.scale ?? 1 / Math.sqrt(d),
    causal: o.causal ?? false,
    mask: o.mask ? { data: o.mask.data as Uint8Array | Float64Array, strides: maskStrides(o.mask, B, H, Nq, Nk) } : null,
    dropout: o.dropout ?? 0,
    seed: o.seed ?? 0,
  });
  const out = { shape: q.shape.slice(), data: r.out };
  return o.returnLse ? { out, lse: { shape: [B, H, Nq], data: r.lse } } : out;
}

function boolSpec(shape: number[], values: number[]): TSpec {
  return { __spec: true, shape, kind: 'bool', values: Uint8Array.from(values), grad: false };
}

const samples = (g: Gen) => [
  { label: 'gqa-hk1', args: [g.t([1, 2, 3, 4]), g.t([1, 1, 5, 4]), g.t([1, 1, 5, 4])] },
  { label: 'awkward-113x203-d59', args: [g.t([1, 2, 113, 59]), g.t([1, 2, 203, 59]), g.t([1, 2, 203, 59])], gradcheck: false },
  { label: 'awkward-causal-gqa', args: [g.t([2, 4, 70, 19]), g.t([2, 2, 131, 19]), g.t([2, 2, 131, 19]), { causal: true }], gradcheck: false },
  { label: 'n1', args: [g.t([2, 1, 1, 3]), g.t([2, 1, 1, 3]), g.t([2, 1, 1, 3])] },
  { label: 'd1', args: [g.t([1, 1, 6, 1]), g.t([1, 1, 7, 1]), g.t([1, 1, 7, 1])] },
  { label: 'causal-nq<nk', args: [g.t([1, 2, 3, 3]), g.t([1, 2, 5, 3]), g.t([1, 2, 5, 3]), { causal: true }] },
  // Bottom-right causal with Nq > Nk: the first Nq - Nk rows see no key (zeros, zero grads).
  { label: 'causal-nq>nk', args: [g.t([1, 1, 6, 3]), g.t([1, 1, 4, 3]), g.t([1, 1, 4, 3]), { causal: true }] },
  // Key padding [B, Nk]: batch 1 masks every key (zeros, not NaN).
  { label: 'key-padding', args: [g.t([2, 1, 3, 4]), g.t([2, 1, 5, 4]), g.t([2, 1, 5, 4]), { mask: boolSpec([2, 5], [1, 0, 1, 1, 0, 0, 0, 0, 0, 0]) }] },
  { label: 'bool-4d', args: [g.t([1, 2, 3, 2]), g.t([1, 2, 4, 2]), g.t([1, 2, 4, 2]), { mask: boolSpec([1, 1, 3, 4], [1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1]) }] },
  { label: 'additive+scale', args: [g.t([1, 2, 3, 4]), g.t([1, 2, 5, 4]), g.t([1, 2, 5, 4]), { mask: g.t([2, 1, 5], { grad: false }), scale: 0.7 }] },
  { label: 'additive-2d', args: [g.t([1, 1, 3, 4]), g.t([1, 1, 5, 4]), g.t([1, 1, 5, 4]), { mask: g.t([3, 5], { grad: false }), causal: true }] },
  { label: 'dropout', args: [g.t([1, 2, 4, 3]), g.t([1, 2, 5, 3]), g.t([1, 2, 5, 3]), { dropout: 0.3, seed: 11 }] },
  { label: 'return-lse', args: [g.t([1, 2, 3, 4]), g.t([1, 1, 5, 4]), g.t([1, 1, 5, 4]), { returnLse: true, causal: true }] },
  // 2 key tiles per kv head, 8 kv heads: shapes where the backward runs key tiles in groups. Too
  // many inputs for the table's finite differences (160 max); the grouped backward is checked
  // against the float64 reference backward in test/attention.test.ts ('grouped key tiles ...').
  { label: 'grouped-key-tiles', args: [g.t([2, 4, 3, 4]), g.t([2, 4, 65, 4]), g.t([2, 4, 65, 4]), { causal: true }], gradcheck: false },
  { label: 'vit-like', args: [g.t([2, 3, 50, 16]), g.t([2, 3, 50, 16]), g.t([2, 3, 50, 16])], gradcheck: false },
];

const z = (shape: number[], dtype: 'float32' | 'float64' = 'float32') => tensor(new (dtype === 'float32' ? Float32Array : Float64Array)(shape.reduce((a, b) => a * b, 1)).fill(0.5), shape);

export const rows: OpRow[] = [
  {
    name: 'attention',
    fn: (q, k, v, o) => attention(q, k, v, o),
    ref,
    samples,
    tol: { float32: [2e-5, 2e-4] },
    errors: [
      { label: 'd mismatch', args: () => [z([1, 1, 2, 4]), z([1, 1, 3, 5]), z([1, 1, 3, 5])], error: SelfsupError, message: 'for attention(k) but received [1, 1, 3, 5]', code: 'ERR_SHAPE_MISMATCH' },
      { label: 'Hk does not divide H', args: () => [z([1, 3, 2, 4]), z([1, 2, 3, 4]), z([1, 2, 3, 4])], error: SelfsupError, message: 'divides H = 3 for attention(k)', code: 'ERR_SHAPE_MISMATCH' },
      { label: 'v shape', args: () => [z([1, 1, 2, 4]), z([1, 1, 3, 4]), z([1, 1, 2, 4])], error: SelfsupError, message: 'for attention(v)', code: 'ERR_SHAPE_MISMATCH' },
      { label: 'mask shape', args: () => [z([1, 1, 2, 4]), z([1, 1, 3, 4]), z([1, 1, 3, 4]), { mask: tensor(new Uint8Array(4), [1, 4], { dtype: 'bool' }) }], error: SelfsupError, message: 'for attention(options.mask) but received [1, 4]', code: 'ERR_SHAPE_MISMATCH' },
      { label: 'mask 4d shape', args: () => [z([1, 1, 2, 4]), z([1, 1, 3, 4]), z([1, 1, 3, 4]), { mask: z([1, 1, 2, 2]) }], error: SelfsupError, message: 'for attention(options.mask)', code: 'ERR_SHAPE_MISMATCH' },
      { label: 'dropout 1', args: () => [z([1, 1, 2, 4]), z([1, 1, 3, 4]), z([1, 1, 3, 4]), { dropout: 1 }], error: RangeError, message: 'for attention(options.dropout) but received 1' },
      { label: 'dropout < 0', args: () => [z([1, 1, 2, 4]), z([1, 1, 3, 4]), z([1, 1, 3, 4]), { dropout: -0.1 }], error: RangeError, message: 'for attention(options.dropout)' },
      { label: 'scale NaN', args: () => [z([1, 1, 2, 4]), z([1, 1, 3, 4]), z([1, 1, 3, 4]), { scale: NaN }], error: RangeError, message: 'for attention(options.scale) but received NaN' },
      { label: 'rank', args: () => [z([2, 4]), z([1, 1, 3, 4]), z([1, 1, 3, 4])], error: SelfsupError, message: 'for attention(q)', code: 'ERR_SHAPE_MISMATCH' },
      { label: 'dtype', args: () => [z([1, 1, 2, 4]), z([1, 1, 3, 4], 'float64'), z([1, 1, 3, 4])], error: SelfsupError, message: 'for attention(k)', code: 'ERR_DTYPE_MISMATCH' },
      { label: 'type', args: () => [[1, 2], z([1, 1, 3, 4]), z([1, 1, 3, 4])], error: TypeError, message: 'for attention(q)' },
    ],
  },
];
