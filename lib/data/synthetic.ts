/**
 * A procedural, PUG-like image dataset (Bordes et al. 2023, "PUG: Photorealistic and Semantically
 * Controllable Synthetic Data"): every image is rendered from a handful of factors of variation
 * that the caller knows exactly, so a representation can be asked which factors it keeps.
 *
 * Factors: object shape (the class), object color, size, rotation, position, background texture,
 * lighting (direction and strength of a linear light gradient over the whole scene). Images are
 * rendered in TypeScript straight into Float32Arrays [3, H, W] in [0, 1], antialiased with the
 * shape's signed distance.
 *
 * Deterministic by seed: image i of a split is a pure function of (seed, split, i) through Philox,
 * so the data is generated on the fly and a resumed run sees the same batches.
 *
 * Held-out combinations (PUG's compositional split): the (shape, background texture) pairs with
 * (shape + texture) % 4 === 0 never appear in 'train' or 'bank'; 'test' draws only those pairs,
 * so the object accuracy on 'test' measures recognition of a shape on a background never seen
 * with it. (Holding out (shape, color) pairs instead makes color an anti-feature that even a
 * supervised ViT learns first, see docs/train.md.)
 */
import { randomWords } from '../random';
import { rangeError, typeError } from '../errors';
import { checkOptions } from '../validate';

export const SHAPES = ['circle', 'triangle', 'square', 'cross', 'star', 'ring'] as const;
export const COLORS = ['red', 'yellow', 'green', 'cyan', 'blue', 'magenta'] as const;
export const TEXTURES = ['flat', 'stripes', 'checker', 'noise'] as const;

/** The factors an accuracy is reported for; each is an integer label per image. */
export const FACTORS = ['object', 'color', 'size', 'rotation', 'position', 'background', 'lighting'] as const;
export type Factor = (typeof FACTORS)[number];
/** Classes per factor (object: `classes`; the continuous factors are binned). */
export const FACTOR_CLASSES: Record<Exclude<Factor, 'object'>, number> = {
  color: COLORS.length, size: 3, rotation: 4, position: 4, background: TEXTURES.length, lighting: 4,
};

/**
 * Object radius as a fraction of the half-width, and background value (HSV V) range. At 32 px a
 * small object (the first version's 0.35-0.62) on a background as bright as the object leaves
 * too few pixels of outline: a supervised CNN reached 0.44 held-out top-1 in 300 steps. Larger
 * objects on darker backgrounds keep every factor but make the shape readable (docs/train.md).
 */
const SCALE: [number, number] = [0.55, 0.85];
const BG_VALUE: [number, number] = [0.1, 0.4];

export type Split = 'train' | 'bank' | 'test';
const SPLIT_STREAM: Record<Split, number> = { train: 11, bank: 12, test: 13 };
const WORDS_PER_IMAGE = 20;

export interface SyntheticOptions {
  /** Image side in pixels (default 32). */
  size?: number;
  /** Number of shapes = object classes, 2..6 (default 5: chance 0.2). */
  classes?: number;
  /** Data seed (default 0). */
  seed?: number;
  /** Hold out the (shape, texture) pairs with (shape + texture) % 4 === 0 (default true). */
  heldOut?: boolean;
  /** Images in the labelled 'bank' split used by kNN and the linear probe (default 2000). */
  bankSize?: number;
  /** Images in the 'test' split (default 1000). */
  testSize?: number;
}

export interface SyntheticBatch {
  /** [n, 3, H, W] in [0, 1]. */
  images: Float32Array;
  n: number;
  /** One int32 label array [n] per factor. */
  labels: Record<Factor, Int32Array>;
}

/** Scene parameters of one image (exposed for tests and for the docs). */
export interface Scene {
  shape: number; color: number; rgb: [number, number, number];
  scale: number; rotation: number; cx: number; cy: number;
  texture: number; bg: [number, number, number]; texFreq: number; texAngle: number; texPhase: number;
  lightAngle: number; lightStrength: number; ambient: number;
}

export class SyntheticDataset {
  readonly size: number;
  readonly classes: number;
  readonly seed: number;
  readonly heldOut: boolean;
  readonly bankSize: number;
  readonly testSize: number;
  readonly channels = 3;
  /** Per shape, the background textures it may take in 'train'/'bank' and in 'test'. */
  private readonly inTextures: number[][];
  private readonly outTextures: number[][];

  constructor(options: SyntheticOptions = {}) {
    const o = checkOptions<SyntheticOptions>('SyntheticDataset(options)', options, ['size', 'classes', 'seed', 'heldOut', 'bankSize', 'testSize']);
    this.size = int('SyntheticDataset options.size', o.size ?? 32, 8, 512);
    this.classes = int('SyntheticDataset options.classes', o.classes ?? 5, 2, SHAPES.length);
    this.seed = int('SyntheticDataset options.seed', o.seed ?? 0, 0, Number.MAX_SAFE_INTEGER);
    this.bankSize = int('SyntheticDataset options.bankSize', o.bankSize ?? 2000, 1, 1e7);
    this.testSize = int('SyntheticDataset options.testSize', o.testSize ?? 1000, 1, 1e7);
    if (o.heldOut !== undefined && typeof o.heldOut !== 'boolean') throw typeError('a boolean', 'SyntheticDataset options.heldOut', o.heldOut);
    this.heldOut = o.heldOut ?? true;
    this.inTextures = [];
    this.outTextures = [];
    for (let s = 0; s < this.classes; s++) {
      const all = TEXTURES.map((_, t) => t);
      this.inTextures.push(this.heldOut ? all.filter((t) => (s + t) % 4 !== 0) : all);
      this.outTextures.push(this.heldOut ? all.filter((t) => (s + t) % 4 === 0) : all);
    }
  }

  /** Number of images in a finite split ('train' is unbounded: any index is an image). */
  length(split: Split): number {
    return split === 'bank' ? this.bankSize : split === 'test' ? this.testSize : Number.MAX_SAFE_INTEGER;
  }

  /** The scene of image `index` of `split` (a pure function of seed, split and index). */
  scene(split: Split, index: number): Scene {
    const w = randomWords(this.seed, SPLIT_STREAM[split], index * WORDS_PER_IMAGE, WORDS_PER_IMAGE);
    const u = (i: number) => w[i] / 4294967296;
    const shape = Math.floor(u(0) * this.classes);
    const color = Math.floor(u(1) * COLORS.length);
    const textures = split === 'test' ? this.outTextures[shape] : this.inTextures[shape];
    const rgb = hsv(color / COLORS.length + (u(2) - 0.5) * 0.06, 0.65 + 0.35 * u(3), 0.7 + 0.3 * u(4));
    const scale = SCALE[0] + (SCALE[1] - SCALE[0]) * u(5);
    const room = 0.95 - scale;
    return {
      shape, color, rgb, scale,
      rotation: 2 * Math.PI * u(6),
      cx: (2 * u(7) - 1) * room,
      cy: (2 * u(8) - 1) * room,
      ...background(textures, (i) => u(9 + i)),
    };
  }

  /**
   * The same object (shape, color, size, rotation, position) on a new background: texture (one of
   * those the split allows with this shape, so no held-out pair is ever rendered in 'train'), its
   * frequency, angle, phase and color, and new lighting, all drawn from `rand`. The background
   * augmentation of Ryali et al. 2021 ("Characterizing and Improving the Robustness of
   * Self-Supervised Learning through Background Augmentations"): two views that share only the
   * object cannot be matched by the background.
   */
  redrawBackground(split: Split, s: Scene, rand: () => number): Scene {
    const textures = split === 'test' ? this.outTextures[s.shape] : this.inTextures[s.shape];
    return { ...s, ...background(textures, rand) };
  }

  /** Images [start, start + n) of `split`; image i gets a background redrawn by `rand[i]` unless it is null. */
  batchNewBackgrounds(split: Split, start: number, rand: Array<(() => number) | null>): Float32Array {
    const px = this.size * this.size;
    const images = new Float32Array(rand.length * 3 * px);
    rand.forEach((r, i) => {
      const sc = this.scene(split, start + i);
      render(r ? this.redrawBackground(split, sc, r) : sc, this.size, images.subarray(i * 3 * px, (i + 1) * 3 * px));
    });
    return images;
  }

  /** The integer label of every factor for a scene. */
  labels(s: Scene): Record<Factor, number> {
    return {
      object: s.shape,
      color: s.color,
      size: Math.min(2, Math.floor(((s.scale - SCALE[0]) / (SCALE[1] - SCALE[0])) * 3)),
      rotation: Math.floor((s.rotation / (2 * Math.PI)) * 4) % 4,
      position: (s.cx >= 0 ? 1 : 0) + (s.cy >= 0 ? 2 : 0),
      background: s.texture,
      lighting: Math.floor((s.lightAngle / (2 * Math.PI)) * 4) % 4,
    };
  }

  /** Renders images [start, start + n) of `split`. */
  batch(split: Split, start: number, n: number): SyntheticBatch {
    const S = this.size, px = S * S;
    const images = new Float32Array(n * 3 * px);
    const labels = Object.fromEntries(FACTORS.map((f) => [f, new Int32Array(n)])) as Record<Factor, Int32Array>;
    for (let i = 0; i < n; i++) {
      const sc = this.scene(split, start + i);
      render(sc, S, images.subarray(i * 3 * px, (i + 1) * 3 * px));
      const l = this.labels(sc);
      for (const f of FACTORS) labels[f][i] = l[f];
    }
    return { images, n, labels };
  }
}

/** The background and lighting fields of a scene from 10 uniforms `u(0..9)`. */
function background(textures: number[], u: (i: number) => number): Pick<Scene, 'texture' | 'bg' | 'texFreq' | 'texAngle' | 'texPhase' | 'lightAngle' | 'lightStrength' | 'ambient'> {
  const texture = textures[Math.floor(u(0) * textures.length)];
  const bg = hsv(u(1), 0.3 * u(2), BG_VALUE[0] + (BG_VALUE[1] - BG_VALUE[0]) * u(3));
  return {
    texture, bg,
    texFreq: 3 + 5 * u(4),
    texAngle: Math.PI * u(5),
    texPhase: 2 * Math.PI * u(6),
    lightAngle: 2 * Math.PI * u(7),
    lightStrength: 0.03 + 0.12 * u(8),
    ambient: 0.9 + 0.2 * u(9),
  };
}

function int(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number') throw typeError('an integer', name, v);
  if (!Number.isInteger(v) || v < lo || v > hi) throw rangeError(`an integer in [${lo}, ${hi}]`, name, v);
  return v;
}

function hsv(h: number, s: number, v: number): [number, number, number] {
  h = ((h % 1) + 1) % 1;
  const f = (n: number) => {
    const k = (n + h * 6) % 6;
    return v - v * s * Math.max(0, Math.min(k, 4 - k, 1));
  };
  return [f(5), f(3), f(1)];
}

/** Signed distance (negative inside) of shape `k` at (x, y) in the object's unit frame. */
function sdf(k: number, x: number, y: number): number {
  switch (k) {
    case 0: return Math.hypot(x, y) - 0.9;
    case 1: // equilateral triangle, apex (0, 1), base y = -0.5: the larger of the edge distances
      return Math.max(0.866 * Math.abs(x) + 0.5 * y - 0.5, -y - 0.5);
    case 2: return Math.max(Math.abs(x), Math.abs(y)) - 0.72;
    case 3: {
      const ax = Math.abs(x), ay = Math.abs(y);
      return Math.min(Math.max(ax - 0.95, ay - 0.3), Math.max(ax - 0.3, ay - 0.95));
    }
    case 4: { // five-pointed star by its polar radius
      const a = Math.atan2(y, x) + Math.PI / 2, sector = (2 * Math.PI) / 5;
      const t = Math.abs(((((a % sector) + sector) % sector) / sector) * 2 - 1); // 1 at a tip, 0 between
      return Math.hypot(x, y) - (0.42 + 0.58 * t * t);
    }
    default: return Math.abs(Math.hypot(x, y) - 0.68) - 0.25;
  }
}

function texture(s: Scene, u: number, v: number): number {
  const c = Math.cos(s.texAngle), sn = Math.sin(s.texAngle);
  const a = (u * c + v * sn) * s.texFreq, b = (-u * sn + v * c) * s.texFreq;
  switch (s.texture) {
    case 0: return 1;
    case 1: return 1 + 0.1 * Math.sin(Math.PI * a + s.texPhase);
    case 2: return (Math.floor(a + 8) + Math.floor(b + 8)) % 2 === 0 ? 1.1 : 0.9;
    default: // smooth value noise: a sum of three incommensurate sinusoid pairs
      return 1 + 0.05 * (Math.sin(2.1 * a + s.texPhase) * Math.cos(1.7 * b) + Math.sin(3.3 * b - s.texPhase) * Math.cos(2.9 * a) + Math.sin(5.1 * a + 4.7 * b));
  }
}

/** Renders one scene into out [3, S, S]. */
export function render(s: Scene, S: number, out: Float32Array): void {
  const cr = Math.cos(-s.rotation), sr = Math.sin(-s.rotation);
  const lx = Math.cos(s.lightAngle), ly = Math.sin(s.lightAngle);
  const pix = 2 / S / s.scale; // one pixel in the object's frame, for antialiasing
  const px = S * S;
  for (let yi = 0; yi < S; yi++) {
    const v = ((yi + 0.5) / S) * 2 - 1;
    for (let xi = 0; xi < S; xi++) {
      const u = ((xi + 0.5) / S) * 2 - 1;
      const dx = (u - s.cx) / s.scale, dy = (v - s.cy) / s.scale;
      const ox = cr * dx - sr * dy, oy = sr * dx + cr * dy;
      const cov = Math.min(1, Math.max(0, 0.5 - sdf(s.shape, ox, -oy) / pix));
      const t = texture(s, u, v);
      const light = s.ambient + s.lightStrength * (u * lx + v * ly);
      const o = yi * S + xi;
      for (let ch = 0; ch < 3; ch++) {
        const val = ((1 - cov) * s.bg[ch] * t + cov * s.rgb[ch]) * light;
        out[ch * px + o] = val < 0 ? 0 : val > 1 ? 1 : val;
      }
    }
  }
}
