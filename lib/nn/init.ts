/**
 * Parameter initializers (PyTorch's torch.nn.init, timm's trunc_normal_), all seeded through the
 * Philox generator (lib/random.ts): the value at (seed, stream, offset) is fixed, so a model built
 * with the same seeds has the same weights in every process, on every platform.
 *
 * Seeding of modules: every module constructor takes `seed` (default: `nextSeed()`, the package's
 * deterministic sequence restarted by `manualSeed`). A module draws its own tensors from
 * (seed, stream 0), (seed, stream 1), ... and gives child i the seed `deriveSeed(seed, i)`.
 */
import { rangeError, typeError } from '../errors';
import { randomWords, normalFloat32, uniformFloat32 } from '../random';
import { Tensor } from '../tensor';
import { manualSeed, nextSeed } from '../factories';

/**
 * Default seeds come from the package-wide sequence (factories' `nextSeed`, restarted by
 * `manualSeed`, torch.manual_seed's analogue), so one call seeds tensors and modules alike.
 */
export { manualSeed, nextSeed };

/** Stream reserved for seed derivation, so derived seeds never reuse a tensor's random stream. */
const DERIVE_STREAM = 0xfffffff0;

/**
 * A well-mixed 53-bit seed for child `index` of `seed`: Philox itself is the hash (two output
 * words of a reserved stream), so the derivation can be reproduced in C++ with the same generator.
 */
export function deriveSeed(seed: number, index: number): number {
  const w = randomWords(seed, DERIVE_STREAM, index * 2, 2);
  return w[0] + (w[1] & 0x1fffff) * 4294967296;
}

/** Where random values come from: seed and stream (one stream per tensor). */
export interface RandomSource {
  seed?: number;
  stream?: number;
}

function floatData(t: unknown, who: string): Float32Array | Float64Array {
  if (!(t instanceof Tensor) || !(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
    throw typeError('a float32 or float64 Tensor', who, t);
  }
  return t.data;
}

function source(o: RandomSource | undefined, who: string): { seed: number; stream: number } {
  const seed = o?.seed ?? nextSeed();
  const stream = o?.stream ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw rangeError('an integer in [0, 2^53 - 1]', `${who} seed`, seed);
  if (!Number.isInteger(stream) || stream < 0 || stream >= DERIVE_STREAM) throw rangeError(`an integer in [0, ${DERIVE_STREAM})`, `${who} stream`, stream);
  return { seed, stream };
}

/** Fills with U(low, high). */
export function uniform_(t: Tensor, low = 0, high = 1, src?: RandomSource): Tensor {
  const d = floatData(t, 'uniform_(tensor)');
  if (!(high >= low)) throw rangeError(`a number >= low (${low})`, 'uniform_(high)', high);
  const { seed, stream } = source(src, 'uniform_');
  const u = uniformFloat32(seed, stream, 0, d.length);
  for (let i = 0; i < d.length; i++) d[i] = low + (high - low) * u[i];
  return t;
}

/** Fills with N(mean, std^2). */
export function normal_(t: Tensor, mean = 0, std = 1, src?: RandomSource): Tensor {
  const d = floatData(t, 'normal_(tensor)');
  if (!(std >= 0)) throw rangeError('a number >= 0', 'normal_(std)', std);
  const { seed, stream } = source(src, 'normal_');
  const z = normalFloat32(seed, stream, 0, d.length);
  for (let i = 0; i < d.length; i++) d[i] = mean + std * z[i];
  return t;
}

export interface TruncNormalOptions extends RandomSource {
  mean?: number;
  std?: number;
  /** Absolute lower cutoff (default mean - 2 std). */
  a?: number;
  /** Absolute upper cutoff (default mean + 2 std). */
  b?: number;
}

/**
 * Truncated normal, timm's `trunc_normal_` (used by ViT / MAE / I-JEPA / DINO for Linear weights
 * and tokens with std 0.02). Sampled by rejection: N(0, 1) draws outside the cutoffs are redrawn
 * from later offsets of the same stream (4.6% of draws at +-2 std), so the result is a
 * deterministic function of (seed, stream) and exactly follows the truncated distribution.
 *
 * Cutoffs: timm's a=-2, b=2 are absolute values, which with std=0.02 is 100 std and truncates
 * nothing. Here the defaults are mean +- 2 std (the intended "+-2 std", as in JAX's
 * truncated_normal); pass `{ a: -2, b: 2 }` to reproduce timm's call literally.
 */
export function truncNormal_(t: Tensor, options: TruncNormalOptions = {}): Tensor {
  const d = floatData(t, 'truncNormal_(tensor)');
  const mean = options.mean ?? 0;
  const std = options.std ?? 0.02;
  if (typeof mean !== 'number' || !Number.isFinite(mean)) throw typeError('a finite number', 'truncNormal_ options.mean', mean);
  if (typeof std !== 'number' || !(std > 0) || !Number.isFinite(std)) throw rangeError('a finite number > 0', 'truncNormal_ options.std', std);
  const a = options.a ?? mean - 2 * std;
  const b = options.b ?? mean + 2 * std;
  if (!(b > a)) throw rangeError(`a number > a (${a})`, 'truncNormal_ options.b', b);
  const lo = (a - mean) / std, hi = (b - mean) / std;
  // Rejection only works when the window holds a reasonable mass of N(0, 1).
  if (hi < -5 || lo > 5) throw rangeError('cutoffs within 5 std of the mean', 'truncNormal_ options.a/b', `[${a}, ${b}]`, true);
  const { seed, stream } = source(options, 'truncNormal_');
  let offset = 0;
  let pending: number[] = Array.from({ length: d.length }, (_, i) => i);
  while (pending.length) {
    const z = normalFloat32(seed, stream, offset, pending.length);
    offset += pending.length;
    const next: number[] = [];
    pending.forEach((idx, j) => {
      if (z[j] >= lo && z[j] <= hi) d[idx] = mean + std * z[j];
      else next.push(idx);
    });
    pending = next;
  }
  return t;
}

/** fan_in, fan_out of a weight [out, in, ...receptive] (PyTorch's _calculate_fan_in_and_fan_out). */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw rangeError('a tensor with at least 2 dims', 'fans(shape)', `[${shape.join(', ')}]`, true);
  const receptive = shape.slice(2).reduce((p, s) => p * s, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

/**
 * kaiming_uniform_ with leaky-relu slope a: U(-bound, bound), bound = gain * sqrt(3 / fan_in),
 * gain = sqrt(2 / (1 + a^2)). PyTorch's nn.Linear uses a = sqrt(5), i.e. bound = 1/sqrt(fan_in).
 */
export function kaimingUniform_(t: Tensor, options: RandomSource & { a?: number; mode?: 'fanIn' | 'fanOut' } = {}): Tensor {
  const { fanIn, fanOut } = fans(t.shape);
  const fan = options.mode === 'fanOut' ? fanOut : fanIn;
  const a = options.a ?? 0;
  const bound = Math.sqrt(2 / (1 + a * a)) * Math.sqrt(3 / fan);
  return uniform_(t, -bound, bound, options);
}

/** xavier_uniform_ (Glorot): U(+-gain * sqrt(6 / (fan_in + fan_out))); MAE initializes Linear layers this way. */
export function xavierUniform_(t: Tensor, options: RandomSource & { gain?: number } = {}): Tensor {
  const { fanIn, fanOut } = fans(t.shape);
  const bound = (options.gain ?? 1) * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -bound, bound, options);
}

export function constant_(t: Tensor, value: number): Tensor {
  floatData(t, 'constant_(tensor)').fill(value);
  return t;
}
export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}
export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}
