/**
 * The SimCLR / BYOL augmentation set on [3, H, W] float images in [0, 1] (Chen et al. 2020,
 * "A Simple Framework for Contrastive Learning", Appendix A; Grill et al. 2020, BYOL, Table 6):
 * random resized crop (scale [0.08, 1] by default, aspect [3/4, 4/3], bilinear), horizontal flip
 * (p 0.5), color jitter (p 0.8: brightness, contrast, saturation 0.8 s, hue 0.2 s with strength s),
 * grayscale (p 0.2), Gaussian blur (sigma [0.1, 2] at 224 px, scaled to the image) and solarize.
 *
 * Every random draw comes from a per-view seed, so a view is a pure function of (seed, image).
 */
import { randomWords } from '../random';
import { rangeError } from '../errors';
import { checkOptions } from '../validate';

export interface AugmentOptions {
  /** Random resized crop area range (default [0.08, 1], SimCLR). */
  cropScale?: [number, number];
  /** Color jitter strength s (default 0.5, SimCLR's CIFAR setting). */
  jitter?: number;
  /** Largest hue shift of the color jitter, in turns (default 0.2 s, torchvision's hue; 0.5: any hue). */
  hue?: number | null;
  /** Probability of applying the color jitter (default 0.8). */
  jitterProb?: number;
  grayProb?: number;
  blurProb?: number;
  solarizeProb?: number;
  flipProb?: number;
  /** Largest rotation in degrees, uniform in [-rotate, rotate] about the crop's center (default 0: none). */
  rotate?: number;
  /**
   * Probability that a view's background (texture, its frequency, angle, phase and color) and
   * lighting are redrawn before the other augmentations, keeping the object: Ryali et al. 2021,
   * "Characterizing and Improving the Robustness of Self-Supervised Learning through Background
   * Augmentations". Needs a data source that knows the object mask (synthetic); ignored otherwise.
   */
  background?: number;
}

export const SIMCLR_AUGMENT: Required<AugmentOptions> = {
  cropScale: [0.08, 1], jitter: 0.5, hue: null, jitterProb: 0.8, grayProb: 0.2, blurProb: 0.5, solarizeProb: 0, flipProb: 0.5, rotate: 0, background: 0,
};

/**
 * The two-view recipes' default on the synthetic data: the SimCLR set plus the background
 * augmentation (each view gets its own background and lighting). Without it the views of an
 * image are matched by their shared background instead of by the object.
 */
export const TWO_VIEW_AUGMENT: Required<AugmentOptions> = { ...SIMCLR_AUGMENT, background: 1 };

/**
 * The views of simclr, vicreg and barlowtwins on the synthetic data:
 * the above with any hue (the object's color is otherwise the easiest cue two views share) and
 * crops of area [0.9, 1] (the objects fill most of the image: a smaller crop cuts the shape out,
 * and a pair that shares no shape teaches nothing). Measured in docs/train.md.
 */
export const OBJECT_VIEW: Required<AugmentOptions> = { ...TWO_VIEW_AUGMENT, hue: 0.5, cropScale: [0.9, 1] };

/** `over` (train's augment overrides) checked: known keys, and the new ones' ranges named. */
export function checkAugment(over: unknown): AugmentOptions {
  const o = checkOptions<AugmentOptions>('train options.augment', over, Object.keys(SIMCLR_AUGMENT) as Array<keyof AugmentOptions>);
  const inRange = (k: 'background' | 'hue' | 'rotate', lo: number, hi: number) => {
    const v = o[k];
    if (v !== undefined && v !== null && !(typeof v === 'number' && v >= lo && v <= hi)) throw rangeError(`a number in [${lo}, ${hi}]`, `train options.augment.${k}`, v);
  };
  inRange('background', 0, 1);
  inRange('hue', 0, 0.5);
  inRange('rotate', 0, 180);
  return o;
}

/** BYOL's two asymmetric views (blur 1.0 / 0.1, solarize 0 / 0.2). */
export const BYOL_AUGMENT: [Required<AugmentOptions>, Required<AugmentOptions>] = [
  { ...SIMCLR_AUGMENT, blurProb: 1.0, solarizeProb: 0 },
  { ...SIMCLR_AUGMENT, blurProb: 0.1, solarizeProb: 0.2 },
];

/** A small deterministic generator (xorshift128+ style) seeded from four Philox words. */
export class Rng {
  private s: Uint32Array;
  constructor(seed: number, stream: number, offset: number) {
    this.s = randomWords(seed, stream, offset * 4, 4);
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
  }
  /** Uniform in [0, 1). */
  next(): number {
    // xoshiro128** (Blackman and Vigna)
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 11);
    return r / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * One augmented view of src [3, H, W] written into out [3, T, T] (T = `outSize`, default H).
 */
export function augment(src: Float32Array, H: number, W: number, out: Float32Array, T: number, rng: Rng, o: Required<AugmentOptions>): void {
  // Random resized crop (torchvision's RandomResizedCrop: 10 tries, then the center crop).
  const area = H * W;
  let cw = W, ch = H, x0 = 0, y0 = 0;
  for (let tries = 0; tries < 10; tries++) {
    const a = area * rng.uniform(o.cropScale[0], o.cropScale[1]);
    const ratio = Math.exp(rng.uniform(Math.log(3 / 4), Math.log(4 / 3)));
    const w = Math.sqrt(a * ratio), h = Math.sqrt(a / ratio);
    if (w <= W && h <= H) {
      cw = w; ch = h;
      x0 = rng.uniform(0, W - w); y0 = rng.uniform(0, H - h);
      break;
    }
  }
  const flip = rng.next() < o.flipProb;
  // Rotation about the crop's center (drawn only when enabled, so the other draws do not move).
  const angle = o.rotate > 0 ? (rng.uniform(-o.rotate, o.rotate) * Math.PI) / 180 : 0;
  const cos = Math.cos(angle), sin = Math.sin(angle), mx = x0 + cw / 2, my = y0 + ch / 2;
  const P = T * T;
  for (let yi = 0; yi < T; yi++) {
    const dy = y0 + ((yi + 0.5) * ch) / T - my;
    for (let xi = 0; xi < T; xi++) {
      const xo = flip ? T - 1 - xi : xi;
      const dx = x0 + ((xo + 0.5) * cw) / T - mx;
      // Samples outside the image repeat its edge.
      const sx = Math.min(W - 1, Math.max(0, mx + cos * dx - sin * dy - 0.5));
      const sy = Math.min(H - 1, Math.max(0, my + sin * dx + cos * dy - 0.5));
      const xA = Math.floor(sx), xB = Math.min(W - 1, xA + 1), fx = sx - xA;
      const yA = Math.floor(sy), yB = Math.min(H - 1, yA + 1), fy = sy - yA;
      for (let c = 0; c < 3; c++) {
        const b = c * H * W;
        const top = src[b + yA * W + xA] * (1 - fx) + src[b + yA * W + xB] * fx;
        const bot = src[b + yB * W + xA] * (1 - fx) + src[b + yB * W + xB] * fx;
        out[c * P + yi * T + xi] = top * (1 - fy) + bot * fy;
      }
    }
  }
  if (rng.next() < o.jitterProb) colorJitter(out, P, rng, o.jitter, o.hue ?? 0.2 * o.jitter);
  if (rng.next() < o.grayProb) grayscale(out, P);
  if (rng.next() < o.blurProb) blur(out, T, rng.uniform(0.1, 2.0) * (T / 224));
  if (rng.next() < o.solarizeProb) for (let i = 0; i < out.length; i++) if (out[i] >= 0.5) out[i] = 1 - out[i];
}

/** torchvision ColorJitter(0.8 s, 0.8 s, 0.8 s, hue) with the four ops in a random order. */
function colorJitter(x: Float32Array, P: number, rng: Rng, s: number, maxHue: number): void {
  const bright = rng.uniform(1 - 0.8 * s, 1 + 0.8 * s);
  const contrast = rng.uniform(1 - 0.8 * s, 1 + 0.8 * s);
  const sat = rng.uniform(1 - 0.8 * s, 1 + 0.8 * s);
  const hue = rng.uniform(-maxHue, maxHue);
  const order = [0, 1, 2, 3];
  for (let i = 3; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  for (const op of order) {
    if (op === 0) for (let i = 0; i < 3 * P; i++) x[i] = clamp01(x[i] * bright);
    else if (op === 1) {
      let m = 0;
      for (let i = 0; i < P; i++) m += luma(x, P, i);
      m /= P;
      for (let i = 0; i < 3 * P; i++) x[i] = clamp01(m + (x[i] - m) * contrast);
    } else if (op === 2) {
      for (let i = 0; i < P; i++) {
        const g = luma(x, P, i);
        for (let c = 0; c < 3; c++) x[c * P + i] = clamp01(g + (x[c * P + i] - g) * sat);
      }
    } else shiftHue(x, P, hue);
  }
}

function luma(x: Float32Array, P: number, i: number): number {
  return 0.299 * x[i] + 0.587 * x[P + i] + 0.114 * x[2 * P + i];
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

function grayscale(x: Float32Array, P: number): void {
  for (let i = 0; i < P; i++) {
    const g = luma(x, P, i);
    x[i] = g; x[P + i] = g; x[2 * P + i] = g;
  }
}

/** Hue rotation through HSV, as torchvision's adjust_hue. */
function shiftHue(x: Float32Array, P: number, dh: number): void {
  for (let i = 0; i < P; i++) {
    const r = x[i], g = x[P + i], b = x[2 * P + i];
    const mx = Math.max(r, g, b), mn = Math.min(r, g, b), d = mx - mn;
    if (d === 0) continue;
    let h = mx === r ? (g - b) / d : mx === g ? 2 + (b - r) / d : 4 + (r - g) / d;
    h = (((h / 6 + dh) % 1) + 1) % 1;
    const s = d / mx, v = mx;
    const f = (n: number) => {
      const k = (n + h * 6) % 6;
      return v - v * s * Math.max(0, Math.min(k, 4 - k, 1));
    };
    x[i] = f(5); x[P + i] = f(3); x[2 * P + i] = f(1);
  }
}

/** Separable Gaussian blur with reflect-free clamped edges. */
function blur(x: Float32Array, T: number, sigma: number): void {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float64Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += k[i + r] = Math.exp((-i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  const tmp = new Float32Array(T * T);
  for (let c = 0; c < 3; c++) {
    const img = x.subarray(c * T * T, (c + 1) * T * T);
    for (let y = 0; y < T; y++) for (let xx = 0; xx < T; xx++) {
      let acc = 0;
      for (let i = -r; i <= r; i++) acc += k[i + r] * img[y * T + Math.min(T - 1, Math.max(0, xx + i))];
      tmp[y * T + xx] = acc;
    }
    for (let y = 0; y < T; y++) for (let xx = 0; xx < T; xx++) {
      let acc = 0;
      for (let i = -r; i <= r; i++) acc += k[i + r] * tmp[Math.min(T - 1, Math.max(0, y + i)) * T + xx];
      img[y * T + xx] = acc;
    }
  }
}

/** In place: (x - 0.5) / 0.25, roughly zero mean and unit variance for images in [0, 1]. */
export function normalizeImages(x: Float32Array): Float32Array {
  for (let i = 0; i < x.length; i++) x[i] = (x[i] - 0.5) * 4;
  return x;
}
