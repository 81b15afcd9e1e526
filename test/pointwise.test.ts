/**
 * The pointwise family's raw kernels (native/ops/pointwise via lib/kernels/pointwise) against the
 * float64 references: fused-bias GELU (both forms) and its bias gradient, LayerNorm forward /
 * backward, sumRows, matmul's folded bias; awkward shapes (113 x 59), fresh random inputs; and the
 * addon's own argument checks. The autograd paths (gelu, layerNorm, linear) are op-table rows.
 */
import { describe, expect, it } from 'vitest';
import { tryNative } from '../lib/backends/native';
import { refGelu, refGeluBackward, refLayerNorm, refLayerNormBackward, refSumRows } from '../lib/backends/reference-pointwise';
import { gelu, geluBackward, layerNorm, layerNormBackward, matmul, sumRows } from '../lib/kernels';
import { mulberry32 } from './ops/helpers';

const R = 113, C = 59;
// float32 exact GELU and its derivative, relative: the exhaustive worst cases of the native float32
// vectors (native/cpu/math_f32_simd.h) are 3.14e-7 and 2.61e-7
const GELU_BOUND = 3.2e-7, GELU_GRAD_BOUND = 2.7e-7;
function rand(n: number, seed: number, scale = 3): Float64Array {
  const r = mulberry32(seed);
  return Float64Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}
const f32 = (a: Float64Array) => Float32Array.from(a);
/** Normwise error: max |a - ref| / max(1, max |ref|). */
function err(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  let e = 0, m = 1;
  for (let i = 0; i < ref.length; i++) { e = Math.max(e, Math.abs(a[i] - ref[i])); m = Math.max(m, Math.abs(ref[i])); }
  return e / m;
}

describe('pointwise kernels', () => {
  for (const approximate of ['none', 'tanh'] as const) {
    it(`gelu(x + bias) and its gradients match the float64 reference (${approximate})`, () => {
      const x = rand(R * C, 1), b = rand(C, 2, 1), g = rand(R * C, 3, 1);
      const y64 = new Float64Array(R * C), dx64 = new Float64Array(R * C), db64 = new Float64Array(C);
      const tanh = approximate === 'tanh';
      // float64 kernels: double accuracy; float32: inputs rounded first, so the reference sees the same values.
      const cases = [
        { conv: (a: Float64Array) => a, tol: [1e-14, 1e-14, 1e-12] },
        { conv: f32, tol: [4e-7, 4e-7, 2e-6] },
      ];
      for (const { conv, tol } of cases) {
        const xc = conv(x), bc = conv(b), gc = conv(g);
        refGelu(Float64Array.from(xc), Float64Array.from(bc), y64, R, C, tanh);
        refGeluBackward(Float64Array.from(gc), Float64Array.from(xc), Float64Array.from(bc), dx64, db64, R, C, tanh);
        expect(err(gelu(xc, [R, C], { bias: bc, approximate }), y64)).toBeLessThan(tol[0]);
        const r = geluBackward(gc, xc, [R, C], { bias: bc, biasGrad: true, approximate });
        expect(err(r.dx, dx64)).toBeLessThan(tol[1]);
        expect(err(r.dbias!, db64)).toBeLessThan(tol[2]);
      }
      const b32 = f32(b), x32 = f32(x);
      // in place (out = x) gives the same
      const xi = x32.slice();
      gelu(xi, [R, C], { bias: b32, approximate, out: xi });
      expect(err(xi, y64)).toBeLessThan(4e-7);
    });
  }

  it('float32 gelu: the erf approximation is within ~1e-7 absolute over [-12, 12]', () => {
    const n = 100001, x = Float32Array.from({ length: n }, (_, i) => -12 + (24 * i) / (n - 1));
    const y = gelu(x, [n]), y64 = new Float64Array(n);
    refGelu(Float64Array.from(x), null, y64, 1, n, false);
    let worst = 0;
    // y = x cdf(x): |y - y64| / max(1, |x|) bounds the error of cdf = (1 + erf) / 2 plus y's rounding.
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(y[i] - y64[i]) / Math.max(1, Math.abs(x[i])));
    expect(worst).toBeLessThan(1.5e-7);
    expect(Number.isNaN(gelu(Float32Array.of(NaN), [1])[0])).toBe(true);
  });

  it('exact gelu keeps relative accuracy on the lower tail, and +-Infinity give -0 / +Infinity', () => {
    // x Phi(x) and Phi(x) + x phi(x) from mpmath (30 digits)
    const pts: [number, number, number][] = [
      [-37, -2.1184613523340934e-298, -7.8382986694185162e-297],
      [-20, -5.5072482372124674e-88, -1.1014360483133464e-86],
      [-10, -7.6198530241605261e-23, -7.6184000964648141e-22],
      [-6, -5.9195258702261888e-9, -3.5468709453902015e-8],
      [-3, -0.0040496940948902836, -0.011945647204183927],
      [-1, -0.15865525393145705, -0.083315470587686298],
      [0.5, 0.34573123063700655, 0.86749512465616284],
    ];
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    // the float64 reference (the oracle of the other tests) and the float64 kernel
    for (const [x, y, d] of pts) {
      const yr = new Float64Array(1), dr = new Float64Array(1);
      refGelu(Float64Array.of(x), null, yr, 1, 1, false);
      refGeluBackward(Float64Array.of(1), Float64Array.of(x), null, dr, null, 1, 1, false);
      expect(rel(yr[0], y), `reference gelu(${x})`).toBeLessThan(1e-13);
      expect(rel(dr[0], d), `reference gelu'(${x})`).toBeLessThan(1e-13);
      expect(rel(gelu(Float64Array.of(x), [1])[0], y), `float64 gelu(${x})`).toBeLessThan(1e-13);
      expect(rel(geluBackward(Float64Array.of(1), Float64Array.of(x), [1]).dx[0], d), `float64 gelu'(${x})`).toBeLessThan(1e-13);
    }
    // float32 over [-14, 10]: relative to the float64 reference (the tail included; below -14 the
    // result is under float32's smallest normal and then rounds to -0), within the exhaustive
    // worst cases of the float32 vectors, 3.14e-7 and 2.61e-7 (docs/tensor-core.md)
    const n = 48001, x = Float32Array.from({ length: n }, (_, i) => -14 + (24 * i) / (n - 1));
    const y64 = new Float64Array(n), d64 = new Float64Array(n);
    refGelu(Float64Array.from(x), null, y64, 1, n, false);
    refGeluBackward(new Float64Array(n).fill(1), Float64Array.from(x), null, d64, null, 1, n, false);
    const y = gelu(x, [n]), d = geluBackward(new Float32Array(n).fill(1), x, [n]).dx;
    let worstY = 0, worstD = 0;
    for (let i = 0; i < n; i++) {
      if (Math.abs(y64[i]) > 1.2e-38) worstY = Math.max(worstY, rel(y[i], y64[i]));
      if (Math.abs(d64[i]) > 1.2e-38) worstD = Math.max(worstD, Math.abs(d[i] - d64[i]) / Math.max(Math.abs(d64[i]), 1e-7));
    }
    expect(worstY).toBeLessThan(GELU_BOUND);
    expect(worstD).toBeLessThan(GELU_GRAD_BOUND);
    // the reported inputs: exact values are -0 or tiny negatives, never positive
    const big = Float32Array.of(-Infinity, -1e30, -100, -10, -6, Infinity, 1e30);
    for (const dtype of ['float32', 'float64'] as const) {
      const xs = dtype === 'float32' ? big : Float64Array.from(big);
      const ys = gelu(xs, [1, 7]), ds = geluBackward(dtype === 'float32' ? new Float32Array(7).fill(1) : new Float64Array(7).fill(1), xs as Float32Array, [1, 7]).dx;
      expect(Array.from(ys.slice(0, 3)).map((v) => v === 0), dtype).toEqual([true, true, true]);
      expect(Math.abs(ys[3] - -7.6198530241605261e-23) / 7.62e-23, dtype).toBeLessThan(2e-7);
      expect(Math.abs(ys[4] - -5.9195258702261888e-9) / 5.92e-9, dtype).toBeLessThan(2e-7);
      expect([ys[5], ys[6]], dtype).toEqual([Infinity, xs[6]]);
      expect(Array.from(ds).map((v) => (v === 0 ? 0 : v)), dtype).toEqual([0, 0, 0, ds[3], ds[4], 1, 1]);
      expect(Math.abs(ds[3] - -7.6184000964648141e-22) / 7.62e-22, dtype).toBeLessThan(2e-7);
    }
  });

  it('float32 exact gelu and its gradient next to the switch points of the float32 lanes', () => {
    // |x| = 4 (the vector fast path's bound), |x| = 1/2 (the scalar code's series / tail switch),
    // the gradient's zero at -0.7517915 (its factored form), the normal/denormal boundary of phi
    // near -13.2 and the last nonzero tail near -14.3, 0 itself.
    const f = new Float32Array(1), bits = new Int32Array(f.buffer), xs: number[] = [];
    for (const p of [4, -4, 0.5, -0.5, -0.7517915, -13.22, -14.3, 1e-30, -1e-30, 3, -3, 20, -20]) {
      f[0] = p;
      const b = bits[0];
      for (let d = -200; d <= 200; d++) { bits[0] = b + d; xs.push(f[0]); }
    }
    const n = xs.length, x = Float32Array.from(xs);
    const y64 = new Float64Array(n), d64 = new Float64Array(n);
    refGelu(Float64Array.from(x), null, y64, 1, n, false);
    refGeluBackward(new Float64Array(n).fill(1), Float64Array.from(x), null, d64, null, 1, n, false);
    const y = gelu(x, [n]), d = geluBackward(new Float32Array(n).fill(1), x, [n]).dx;
    let worstY = 0, worstD = 0, atY = 0, atD = 0;
    for (let i = 0; i < n; i++) {
      const ey = Math.abs(y64[i]) > 1.2e-38 ? Math.abs(y[i] - y64[i]) / Math.abs(y64[i]) : Math.abs(y[i] - y64[i]) / 2 ** -149 * 1e-7;
      const ed = Math.abs(d[i] - d64[i]) / Math.max(Math.abs(d64[i]), 1e-7);
      if (ey > worstY) { worstY = ey; atY = x[i]; }
      if (ed > worstD) { worstD = ed; atD = x[i]; }
    }
    // the same bounds as over [-14, 10] above (denormal results: within 2 of the smallest step)
    expect(worstY, `gelu worst at ${atY}`).toBeLessThan(GELU_BOUND);
    expect(worstD, `gelu' worst at ${atD}`).toBeLessThan(GELU_GRAD_BOUND);
  });

  for (const dtype of ['float32', 'float64'] as const) {
    it(`layerNorm forward / backward match the float64 reference (${dtype}, rows with a large mean)`, () => {
      const x = rand(R * C, 4).map((v, i) => v + (i % 7 === 0 ? 50 : 0)), w = rand(C, 5, 1), b = rand(C, 6, 1), g = rand(R * C, 7, 1);
      const cast = (a: Float64Array) => (dtype === 'float32' ? f32(a) : a);
      const X = cast(x), W = cast(w), B = cast(b), G = cast(g);
      const Xr = Float64Array.from(X), Wr = Float64Array.from(W), Br = Float64Array.from(B), Gr = Float64Array.from(G);
      const y64 = new Float64Array(R * C), m64 = new Float64Array(R), s64 = new Float64Array(R);
      refLayerNorm(Xr, Wr, Br, 1e-5, y64, m64, s64, R, C);
      const tol = dtype === 'float32' ? 3e-7 : 1e-13;
      const f = layerNorm(X, [R, C], { weight: W, bias: B, eps: 1e-5 });
      expect(err(f.out, y64)).toBeLessThan(tol);
      expect(err(f.mean, m64)).toBeLessThan(tol);
      const dx64 = new Float64Array(R * C), dw64 = new Float64Array(C), db64 = new Float64Array(C);
      refLayerNormBackward(Gr, Xr, Wr, m64, s64, dx64, dw64, db64, R, C);
      const r = layerNormBackward(G, X, [R, C], f.mean, f.rstd, { weight: W });
      expect(err(r.dx, dx64)).toBeLessThan(tol * 4);
      expect(err(r.dweight!, dw64)).toBeLessThan(tol * 4);
      expect(err(r.dbias!, db64)).toBeLessThan(tol * 4);
      // no affine parameters
      refLayerNorm(Xr, null, null, 1e-5, y64, m64, s64, R, C);
      expect(err(layerNorm(X, [R, C]).out, y64)).toBeLessThan(tol);
    });
  }

  it('sumRows and matmul with a folded bias match the reference (float32 and float64)', () => {
    for (const cast of [f32, (a: Float64Array) => a]) {
      const x = cast(rand(R * C, 8)), out64 = new Float64Array(C);
      refSumRows(x, out64, R, C);
      expect(err(sumRows(x, [R, C]), out64)).toBeLessThan(1e-5);
      const a = cast(rand(R * 7, 9)), w = cast(rand(C * 7, 10)), bias = cast(rand(C, 11));
      const plain = matmul(a, [R, 7], w, [C, 7], { transB: true });
      const withBias = matmul(a, [R, 7], w, [C, 7], { transB: true, bias });
      for (let i = 0; i < plain.length; i++) plain[i] += bias[i % C];
      expect(err(withBias, plain)).toBeLessThan(1e-5);
    }
    expect(() => matmul(new Float32Array(4), [2, 2], new Float32Array(4), [2, 2], { bias: new Float32Array(3) })).toThrow(RangeError);
    expect(() => matmul(new Float32Array(4), [2, 2], new Float32Array(4), [2, 2], { bias: new Float64Array(2) })).toThrow(TypeError);
  });

  it('validates at the TS edge', () => {
    expect(() => gelu(new Float32Array(6), [2, 3], { bias: new Float32Array(2) })).toThrow(RangeError);
    expect(() => gelu(new Float32Array(6), [2, 3], { approximate: 'exact' as never })).toThrow(RangeError);
    expect(() => geluBackward(new Float32Array(6), new Float32Array(6), [2, 3], { biasGrad: true })).toThrow(TypeError);
    expect(() => layerNorm(new Float32Array(6), [2, 3], { eps: -1 })).toThrow(RangeError);
    expect(() => layerNormBackward(new Float32Array(6), new Float32Array(6), [2, 3], new Float64Array(1), new Float64Array(2))).toThrow(RangeError);
  });

  it.skipIf(!tryNative()?.geluForward)('the addon rejects bad arguments with JS errors (no crash)', () => {
    const nat = tryNative()!;
    const call = (name: string, ...a: unknown[]) => () => (nat[name] as (...x: unknown[]) => unknown)(...a);
    const x = new Float32Array(6), m = new Float64Array(2);
    const rc = (rows: number, cols: number, more: Record<string, unknown> = {}) => ({ rows, cols, ...more });
    expect(call('geluForward', x, null, new Float32Array(6), rc(2, 3, { mode: 0 }))).not.toThrow();
    expect(call('geluForward', x, null, new Float32Array(6), rc(2, 4, { mode: 0 }))).toThrow(RangeError);
    expect(call('geluForward', x, null, new Float32Array(6), rc(2, 3, { mode: 2 }))).toThrow(RangeError);
    expect(call('geluForward', x, new Float32Array(2), new Float32Array(6), rc(2, 3, { mode: 0 }))).toThrow(RangeError);
    expect(call('geluForward', x, null, new Float64Array(6), rc(2, 3, { mode: 0 }))).toThrow(TypeError);
    expect(call('geluForward', x, null, new Float32Array(6), { rows: 2, mode: 0 })).toThrow(/Expected an integer for cols but received undefined/);
    expect(call('geluBackward', x, x, null, new Float32Array(6), new Float32Array(3), rc(2, 3, { mode: 0 }))).toThrow(TypeError);
    expect(call('geluBackward', x, new Float32Array(5), null, new Float32Array(6), null, rc(2, 3, { mode: 0 }))).toThrow(RangeError);
    expect(call('layerNormForward', x, null, null, new Float32Array(6), m, m, rc(2, 3, { eps: 1e-5 }))).not.toThrow();
    expect(call('layerNormForward', x, null, null, new Float32Array(6), m, m, rc(2, 3, { eps: -1 }))).toThrow(RangeError);
    expect(call('layerNormForward', x, null, null, new Float32Array(6), m, m, rc(2, 3, { eps: NaN }))).toThrow(RangeError);
    expect(call('layerNormForward', x, null, null, new Float32Array(6), new Float64Array(1), m, rc(2, 3, { eps: 1e-5 }))).toThrow(RangeError);
    expect(call('layerNormForward', x, null, null, new Float32Array(6), m, m, rc(6, 0, { eps: 1e-5 }))).toThrow(RangeError);
    expect(call('layerNormBackward', x, x, new Float32Array(2), m, m, new Float32Array(6), null, null, rc(2, 3))).toThrow(RangeError);
    expect(call('layerNormBackward', x, x, null, new Float32Array(2), m, new Float32Array(6), null, null, rc(2, 3))).toThrow(TypeError);
    expect(call('sumRows', x, new Float32Array(2), rc(2, 3))).toThrow(RangeError);
    expect(call('sumRows', x, new Float32Array(3), rc(-1, 3))).toThrow(RangeError);
    expect(call('matmul', x, x, new Float32Array(4), new Float32Array(3), { batch: 1, m: 2, n: 2, k: 3, transA: false, transB: true, strideA: 0, strideB: 0 })).toThrow(RangeError);
    expect(call('matmul', x, x, new Float32Array(4), new Float32Array(2), { batch: 1, m: 2, n: 2, k: 3, transA: false, transB: true, strideA: 0, strideB: 0 })).not.toThrow();
  });
});
