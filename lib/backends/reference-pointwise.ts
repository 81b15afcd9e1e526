/**
 * Float64 references for the pointwise family (GELU exact / tanh with an optional row-broadcast
 * bias, LayerNorm over the last dim, column sums): plain loops, the textbook formulas of
 * torch.nn.functional.gelu / layer_norm. Oracle in tests and the fallback backend.
 */
import type { FloatArray } from '../validate';

/**
 * erf to double precision (< 1 ulp): a port of fdlibm's s_erf.c (Sun, 1993; also glibc's and
 * musl's). Rational approximations on [0, 0.84375), [0.84375, 1.25), [1.25, 1/0.35), [1/0.35, 6);
 * +-1 beyond 6. The former Maclaurin series (A&S 7.1.6) took up to ~100 terms per value and was
 * half of the ViT training step's time through GELU (bench vit_step, profiled); this is ~10x faster.
 * The exp(-x^2) of the tail is split as exp(-z^2) exp((z-x)(z+x)) with z = fround(x) (24-bit
 * mantissa, so z*z is exact), fdlibm's trick with the low word cleared. Coefficients are inlined
 * as literals so V8 folds them (module-level consts are context loads inside hot loops).
 * Exported for the autograd ops, the tfjs adapter and the tests.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 0.84375) {
    if (ax < 3.725290298461914e-9) return x + 1.28379167095512586316e-1 * x; // |x| < 2^-28
    const z = x * x;
    const r = 1.28379167095512558561e-1 + z * (-3.25042107247001499370e-1 + z * (-2.84817495755985104766e-2 + z * (-5.77027029648944159157e-3 + z * -2.37630166566501626084e-5)));
    const s = 1 + z * (3.97917223959155352819e-1 + z * (6.50222499887672944485e-2 + z * (5.08130628187576562776e-3 + z * (1.32494738004321644526e-4 + z * -3.96022827877536812320e-6))));
    return x + x * (r / s);
  }
  if (x !== x) return NaN;
  if (ax < 1.25) {
    const s = ax - 1;
    const P = -2.36211856075265944077e-3 + s * (4.14856118683748331666e-1 + s * (-3.72207876035701323847e-1 + s * (3.18346619901161753674e-1 + s * (-1.10894694282396677476e-1 + s * (3.54783043256182359371e-2 + s * -2.16637559486879084300e-3)))));
    const Q = 1 + s * (1.06420880400844228286e-1 + s * (5.40397917702171048937e-1 + s * (7.18286544141962662868e-2 + s * (1.26171219808761642112e-1 + s * (1.36370839120290507362e-2 + s * 1.19844998467991074170e-2)))));
    return x >= 0 ? 8.45062911510467529297e-1 + P / Q : -8.45062911510467529297e-1 - P / Q;
  }
  if (ax >= 6) return x > 0 ? 1 : -1;
  const r = erfcLarge(ax);
  return x > 0 ? 1 - r : r - 1;
}

/**
 * erfc(ax) for 1.25 <= ax < 28 (fdlibm's two rational tails; the exp(-x^2) split as described
 * above). Shared by erf and erfc.
 */
function erfcLarge(ax: number): number {
  const s = 1 / (ax * ax);
  let R: number, S: number;
  if (ax < 2.857142857142857) {
    R = -9.86494403484714822705e-3 + s * (-6.93858572707181764372e-1 + s * (-1.05586262253232909814e1 + s * (-6.23753324503260060396e1 + s * (-1.62396669462573470355e2 + s * (-1.84605092906711035994e2 + s * (-8.12874355063065934246e1 + s * -9.81432934416914548592))))));
    S = 1 + s * (1.96512716674392571292e1 + s * (1.37657754143519042600e2 + s * (4.34565877475229228821e2 + s * (6.45387271733267880336e2 + s * (4.29008140027567833386e2 + s * (1.08635005541779435134e2 + s * (6.57024977031928170135 + s * -6.04244152148580987438e-2)))))));
  } else {
    R = -9.86494292470009928597e-3 + s * (-7.99283237680523006574e-1 + s * (-1.77579549177547519889e1 + s * (-1.60636384855821916062e2 + s * (-6.37566443368389627722e2 + s * (-1.02509513161107724954e3 + s * -4.83519191608651397019e2)))));
    S = 1 + s * (3.03380607434824582924e1 + s * (3.25792512996573918826e2 + s * (1.53672958608443695994e3 + s * (3.19985821950859553908e3 + s * (2.55305040643316442583e3 + s * (4.74528541206955367215e2 + s * -2.24409524465858183362e1))))));
  }
  const z = Math.fround(ax);
  return (Math.exp(-z * z - 0.5625) * Math.exp((z - ax) * (z + ax) + R / S)) / ax;
}

/**
 * erfc to double precision, relative accuracy on the upper tail (fdlibm's s_erf.c erfc): 1 - erf
 * below 0.84375 (no cancellation there, erfc > 0.23), 1 -+ (erx + P/Q) on [0.84375, 1.25), the
 * rational tails up to 28 (erfc(28) underflows to 0), 2 below -6.
 */
export function erfc(x: number): number {
  if (x !== x) return NaN;
  const ax = Math.abs(x);
  if (ax < 0.84375) return 1 - erf(x);
  if (ax < 1.25) {
    const s = ax - 1;
    const P = -2.36211856075265944077e-3 + s * (4.14856118683748331666e-1 + s * (-3.72207876035701323847e-1 + s * (3.18346619901161753674e-1 + s * (-1.10894694282396677476e-1 + s * (3.54783043256182359371e-2 + s * -2.16637559486879084300e-3)))));
    const Q = 1 + s * (1.06420880400844228286e-1 + s * (5.40397917702171048937e-1 + s * (7.18286544141962662868e-2 + s * (1.26171219808761642112e-1 + s * (1.36370839120290507362e-2 + s * 1.19844998467991074170e-2)))));
    // 1 - erx is exact (erx has 30 significant bits)
    return x >= 0 ? 1.54937088489532470703e-1 - P / Q : 1 + (8.45062911510467529297e-1 + P / Q);
  }
  if (ax >= 28) return x > 0 ? 0 : 2;
  if (x < -6) return 2;
  const r = erfcLarge(ax);
  return x > 0 ? r : 2 - r;
}

/** Phi(x) = erfc(-x / sqrt 2) / 2: keeps relative accuracy on the lower tail, where 1 + erf cancels. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(x * -0.7071067811865476);
}

const K_TANH = 0.7978845608028654; // sqrt(2/pi)

/** gelu(v) and its derivative, float64. */
export function geluRef(v: number, tanhForm: boolean): number {
  if (tanhForm) return 0.5 * v * (1 + Math.tanh(K_TANH * (v + 0.044715 * v * v * v)));
  const p = normalCdf(v);
  return p === 0 ? -0 : v * p; // Phi underflows to 0 below -38.5, where -Infinity * 0 would be NaN
}
export function geluGradRef(v: number, tanhForm: boolean): number {
  if (tanhForm) {
    const t = Math.tanh(K_TANH * (v + 0.044715 * v * v * v));
    return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * K_TANH * (1 + 3 * 0.044715 * v * v);
  }
  // x phi(x) underflows to 0 beyond |x| = 40 (and +-Infinity * 0 would be NaN)
  return normalCdf(v) + (Math.abs(v) < 40 ? v * 0.3989422804014327 * Math.exp(-0.5 * v * v) : 0);
}

/** y = gelu(x + bias[col]) over [rows, cols]. */
export function refGelu(x: FloatArray, bias: FloatArray | null, y: FloatArray, rows: number, cols: number, tanhForm: boolean): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
    const i = r * cols + c;
    y[i] = geluRef(x[i] + (bias ? bias[c] : 0), tanhForm);
  }
}

/** dx = g gelu'(x + bias); dbias = sum over rows of dx (when given). */
export function refGeluBackward(g: FloatArray, x: FloatArray, bias: FloatArray | null, dx: FloatArray, dbias: FloatArray | null, rows: number, cols: number, tanhForm: boolean): void {
  const acc = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
    const i = r * cols + c;
    const d = g[i] * geluGradRef(x[i] + (bias ? bias[c] : 0), tanhForm);
    acc[c] += d;
    dx[i] = d;
  }
  if (dbias) dbias.set(acc);
}

/** LayerNorm over rows of n (biased variance, as PyTorch); mean / rstd per row. */
export function refLayerNorm(x: FloatArray, w: FloatArray | null, b: FloatArray | null, eps: number, y: FloatArray, mean: Float64Array, rstd: Float64Array, rows: number, n: number): void {
  for (let r = 0; r < rows; r++) {
    const off = r * n;
    let m = 0;
    for (let j = 0; j < n; j++) m += x[off + j];
    m /= n;
    let v = 0;
    for (let j = 0; j < n; j++) v += (x[off + j] - m) ** 2;
    const rs = 1 / Math.sqrt(v / n + eps);
    mean[r] = m;
    rstd[r] = rs;
    for (let j = 0; j < n; j++) y[off + j] = (x[off + j] - m) * rs * (w ? w[j] : 1) + (b ? b[j] : 0);
  }
}

/** dx = rstd (g w - mean(g w) - xhat mean(g w xhat)); dweight = sum g xhat; dbias = sum g. */
export function refLayerNormBackward(g: FloatArray, x: FloatArray, w: FloatArray | null, mean: Float64Array, rstd: Float64Array, dx: FloatArray, dw: FloatArray | null, db: FloatArray | null, rows: number, n: number): void {
  const aw = new Float64Array(n), ab = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    const off = r * n, m = mean[r], rs = rstd[r];
    let a = 0, c = 0;
    for (let j = 0; j < n; j++) { const gh = g[off + j] * (w ? w[j] : 1); a += gh; c += gh * (x[off + j] - m) * rs; }
    a /= n;
    c /= n;
    for (let j = 0; j < n; j++) {
      const xh = (x[off + j] - m) * rs, gv = g[off + j];
      aw[j] += gv * xh;
      ab[j] += gv;
      dx[off + j] = rs * (gv * (w ? w[j] : 1) - a - xh * c);
    }
  }
  if (dw) dw.set(aw);
  if (db) db.set(ab);
}

/** out[c] = sum_r x[r, c]. */
export function refSumRows(x: FloatArray, out: FloatArray, rows: number, cols: number): void {
  const acc = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) acc[c] += x[r * cols + c];
  out.set(acc);
}
