/**
 * Basic layers: Linear, Conv2d, Embedding, LayerNorm, BatchNorm1d, Dropout, activations, Softmax,
 * Identity, Sequential.
 * Property names follow PyTorch (weight, bias, runningMean -> running_mean in state dicts), so
 * state dicts load into the same PyTorch layers (docs/safetensors.md).
 */
import { SelfsupError, expectedMessage, rangeError, shapeStr, typeError } from '../errors';
import { checkOptions } from '../validate';
import { Tensor, type FloatDType } from '../tensor';
import { linear } from '../ops/linalg';
import { batchNorm, dropout, layerNorm } from '../ops/nn-functional';
import { gelu, relu, silu } from '../ops/elementwise';
import { conv2d, convPair } from '../ops/conv';
import { embedding } from '../ops/indexing';
import { softmax } from '../ops/nn-functional';
import { Module, Parameter } from './module';
import { kaimingUniform_, nextSeed, normal_, ones_, truncNormal_, uniform_, xavierUniform_ } from './init';

function positiveInt(v: unknown, name: string): number {
  if (typeof v !== 'number') throw typeError('a positive integer', name, v);
  if (!Number.isSafeInteger(v) || v < 1) throw rangeError('a positive integer', name, v);
  return v;
}

function checkDtype(v: unknown, name: string): FloatDType {
  if (v === undefined) return 'float32';
  if (v !== 'float32' && v !== 'float64') throw rangeError("'float32' | 'float64'", name, v);
  return v;
}

function checkSeed(v: unknown, name: string): number {
  if (v === undefined) return nextSeed();
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw rangeError('an integer in [0, 2^53 - 1]', name, v);
  return v;
}

/** A zero-filled float tensor (plain, not a parameter). */
export function emptyFloat(shape: number[], dtype: FloatDType): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(dtype === 'float64' ? new Float64Array(n) : new Float32Array(n), shape);
}

function checkInput(who: string, x: unknown): Tensor {
  if (!(x instanceof Tensor)) throw typeError('a Tensor', `${who}(x)`, x);
  return x;
}

/** Options shared by layers that create parameters. */
export interface LayerOptions {
  /** Parameter dtype (default float32). */
  dtype?: FloatDType;
  /** Philox seed of the initialization (default: the package's seed sequence). */
  seed?: number;
}

export type LinearInit = 'kaiming' | 'truncNormal' | 'xavier';

export interface LinearOptions extends LayerOptions {
  /** Learnable bias (default true). */
  bias?: boolean;
  /**
   * 'kaiming' (default): PyTorch's nn.Linear reset_parameters, weight kaiming_uniform(a = sqrt(5))
   * = U(+-1/sqrt(in)), bias U(+-1/sqrt(in)). 'truncNormal': timm / I-JEPA ViT init, weight
   * trunc_normal(std) with +-2 std cutoffs, bias 0. 'xavier': MAE's init, xavier_uniform, bias 0.
   */
  init?: LinearInit;
  /** std of the 'truncNormal' init (default 0.02). */
  std?: number;
}

/** y = x W^T + b, W [out, in] (PyTorch layout). */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  weight: Tensor;
  bias: Tensor | null;

  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    super();
    this.inFeatures = positiveInt(inFeatures, 'Linear(inFeatures)');
    this.outFeatures = positiveInt(outFeatures, 'Linear(outFeatures)');
    checkOptions<LinearOptions>('Linear(options)', options, ['dtype', 'seed', 'bias', 'init', 'std']);
    const dtype = checkDtype(options.dtype, 'Linear options.dtype');
    const seed = checkSeed(options.seed, 'Linear options.seed');
    const init = options.init ?? 'kaiming';
    if (init !== 'kaiming' && init !== 'truncNormal' && init !== 'xavier') throw rangeError("'kaiming' | 'truncNormal' | 'xavier'", 'Linear options.init', init);
    const useBias = options.bias ?? true;
    if (typeof useBias !== 'boolean') throw typeError('a boolean', 'Linear options.bias', useBias);
    const w = emptyFloat([outFeatures, inFeatures], dtype);
    const b = useBias ? emptyFloat([outFeatures], dtype) : null;
    if (init === 'kaiming') {
      kaimingUniform_(w, { a: Math.sqrt(5), seed, stream: 0 });
      const bound = 1 / Math.sqrt(inFeatures);
      if (b) uniform_(b, -bound, bound, { seed, stream: 1 });
    } else if (init === 'truncNormal') {
      truncNormal_(w, { std: options.std ?? 0.02, seed, stream: 0 });
    } else {
      xavierUniform_(w, { seed, stream: 0 });
    }
    this.weight = Parameter(w);
    this.bias = b ? Parameter(b) : null;
  }

  forward(x: Tensor): Tensor {
    return linear(checkInput('Linear.forward', x), this.weight, this.bias);
  }

  protected override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

export interface Conv2dModuleOptions extends LayerOptions {
  /** One number or [sh, sw] (default 1). */
  stride?: number | [number, number];
  /** Zero padding, one number or [ph, pw] (default 0). */
  padding?: number | [number, number];
  /** Learnable bias (default true). */
  bias?: boolean;
}

/**
 * 2-D convolution over NCHW input (F.conv2d: im2col + GEMM). weight [out, in, kh, kw], bias [out];
 * initialized as PyTorch's nn.Conv2d: kaiming_uniform(a = sqrt(5)), i.e. U(+-1/sqrt(fan_in)) with
 * fan_in = in kh kw, and bias U(+-1/sqrt(fan_in)). The ViT patch embedding is
 * `new nn.Conv2d(3, dim, patch, { stride: patch })`.
 */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: number | [number, number];
  readonly padding: number | [number, number];
  weight: Tensor;
  bias: Tensor | null;

  constructor(inChannels: number, outChannels: number, kernelSize: number | [number, number], options: Conv2dModuleOptions = {}) {
    super();
    this.inChannels = positiveInt(inChannels, 'Conv2d(inChannels)');
    this.outChannels = positiveInt(outChannels, 'Conv2d(outChannels)');
    const ks = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    if (!Array.isArray(ks) || ks.length !== 2) throw typeError('a positive integer or a pair [kh, kw]', 'Conv2d(kernelSize)', kernelSize);
    this.kernelSize = [positiveInt(ks[0], 'Conv2d(kernelSize)'), positiveInt(ks[1], 'Conv2d(kernelSize)')];
    checkOptions<Conv2dModuleOptions>('Conv2d(options)', options, ['dtype', 'seed', 'stride', 'padding', 'bias']);
    const dtype = checkDtype(options.dtype, 'Conv2d options.dtype');
    const seed = checkSeed(options.seed, 'Conv2d options.seed');
    const useBias = options.bias ?? true;
    if (typeof useBias !== 'boolean') throw typeError('a boolean', 'Conv2d options.bias', useBias);
    convPair(options.stride, 'Conv2d', 'options.stride', 1, 1);
    convPair(options.padding, 'Conv2d', 'options.padding', 0, 0);
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    const w = emptyFloat([this.outChannels, this.inChannels, ...this.kernelSize], dtype);
    kaimingUniform_(w, { a: Math.sqrt(5), seed, stream: 0 });
    this.weight = Parameter(w);
    if (useBias) {
      const bound = 1 / Math.sqrt(this.inChannels * this.kernelSize[0] * this.kernelSize[1]);
      this.bias = Parameter(uniform_(emptyFloat([this.outChannels], dtype), -bound, bound, { seed, stream: 1 }));
    } else this.bias = null;
  }

  forward(x: Tensor): Tensor {
    return conv2d(checkInput('Conv2d.forward', x), this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }

  protected override extraRepr(): string {
    return `${this.inChannels}, ${this.outChannels}, kernelSize=${shapeStr(this.kernelSize)}, stride=${JSON.stringify(this.stride)}, padding=${JSON.stringify(this.padding)}, bias=${this.bias !== null}`;
  }
}

export interface EmbeddingModuleOptions extends LayerOptions {
  /** This row starts at zero and gets no gradient (PyTorch's padding_idx); negative counts from the end. */
  paddingIdx?: number | null;
}

/** A lookup table [numEmbeddings, embeddingDim], initialized N(0, 1) like PyTorch's nn.Embedding. */
export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly paddingIdx: number | null;
  weight: Tensor;

  constructor(numEmbeddings: number, embeddingDim: number, options: EmbeddingModuleOptions = {}) {
    super();
    this.numEmbeddings = positiveInt(numEmbeddings, 'Embedding(numEmbeddings)');
    this.embeddingDim = positiveInt(embeddingDim, 'Embedding(embeddingDim)');
    checkOptions<EmbeddingModuleOptions>('Embedding(options)', options, ['dtype', 'seed', 'paddingIdx']);
    const dtype = checkDtype(options.dtype, 'Embedding options.dtype');
    const seed = checkSeed(options.seed, 'Embedding options.seed');
    let pad = options.paddingIdx ?? null;
    if (pad !== null) {
      if (typeof pad !== 'number' || !Number.isInteger(pad) || pad < -numEmbeddings || pad >= numEmbeddings) {
        throw rangeError(`an integer in [${-numEmbeddings}, ${numEmbeddings - 1}] or null`, 'Embedding options.paddingIdx', pad);
      }
      if (pad < 0) pad += numEmbeddings;
    }
    this.paddingIdx = pad;
    const w = normal_(emptyFloat([numEmbeddings, embeddingDim], dtype), 0, 1, { seed, stream: 0 });
    if (pad !== null) w.data.fill(0, pad * embeddingDim, (pad + 1) * embeddingDim);
    this.weight = Parameter(w);
  }

  /** input: int32 indices of any shape -> [...input.shape, embeddingDim]. */
  forward(input: Tensor): Tensor {
    return embedding(checkInput('Embedding.forward', input), this.weight, { paddingIdx: this.paddingIdx });
  }

  protected override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}${this.paddingIdx === null ? '' : `, paddingIdx=${this.paddingIdx}`}`;
  }
}

export interface LayerNormModuleOptions {
  eps?: number;
  /** Learnable weight (ones) and bias (zeros) of the normalized shape (default true). */
  elementwiseAffine?: boolean;
  /** With elementwiseAffine, also a bias (default true; PyTorch >= 2.1's `bias` flag). */
  bias?: boolean;
  dtype?: FloatDType;
}

/** Layer normalization over the trailing `normalizedShape` dims (eps 1e-5 as PyTorch; ViTs use 1e-6). */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number;
  weight: Tensor | null;
  bias: Tensor | null;

  constructor(normalizedShape: number | number[], options: LayerNormModuleOptions = {}) {
    super();
    const ns = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
    if (!Array.isArray(ns) || ns.length === 0) throw typeError('a positive integer or a non-empty array of them', 'LayerNorm(normalizedShape)', normalizedShape);
    ns.forEach((d, i) => positiveInt(d, `LayerNorm(normalizedShape)[${i}]`));
    this.normalizedShape = ns.slice();
    checkOptions<LayerNormModuleOptions>('LayerNorm(options)', options, ['eps', 'elementwiseAffine', 'bias', 'dtype']);
    this.eps = options.eps ?? 1e-5;
    if (typeof this.eps !== 'number' || !(this.eps >= 0)) throw rangeError('a number >= 0', 'LayerNorm options.eps', this.eps);
    const dtype = checkDtype(options.dtype, 'LayerNorm options.dtype');
    const affine = options.elementwiseAffine ?? true;
    this.weight = affine ? Parameter(ones_(emptyFloat(ns, dtype))) : null;
    this.bias = affine && (options.bias ?? true) ? Parameter(emptyFloat(ns, dtype)) : null;
  }

  forward(x: Tensor): Tensor {
    return layerNorm(checkInput('LayerNorm.forward', x), this.normalizedShape, { weight: this.weight, bias: this.bias, eps: this.eps });
  }

  protected override extraRepr(): string {
    return `${shapeStr(this.normalizedShape)}, eps=${this.eps}, elementwiseAffine=${this.weight !== null}`;
  }
}

export interface BatchNormModuleOptions {
  eps?: number;
  /** Running-stat update factor (default 0.1); null: cumulative moving average (1 / numBatchesTracked). */
  momentum?: number | null;
  /** Learnable weight (ones) and bias (zeros) (default true). */
  affine?: boolean;
  /** Keep running stats for eval mode (default true); false uses batch stats in eval too. */
  trackRunningStats?: boolean;
  dtype?: FloatDType;
}

/**
 * Batch normalization over [N, C] or [N, C, L] (PyTorch's BatchNorm1d). Training: normalizes with
 * the batch mean and biased variance and updates running_mean / running_var (unbiased variance)
 * in place; eval: normalizes with the running stats. Buffers running_mean, running_var and
 * num_batches_tracked are in the state dict with PyTorch's names (num_batches_tracked is int32
 * here, int64 in PyTorch; the safetensors reader narrows PyTorch's I64 on load).
 */
export class BatchNorm1d extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  momentum: number | null;
  weight: Tensor | null;
  bias: Tensor | null;
  declare runningMean: Tensor | null;
  declare runningVar: Tensor | null;
  declare numBatchesTracked: Tensor | null;

  constructor(numFeatures: number, options: BatchNormModuleOptions = {}) {
    super();
    this.numFeatures = positiveInt(numFeatures, 'BatchNorm1d(numFeatures)');
    checkOptions<BatchNormModuleOptions>('BatchNorm1d(options)', options, ['eps', 'momentum', 'affine', 'trackRunningStats', 'dtype']);
    this.eps = options.eps ?? 1e-5;
    if (typeof this.eps !== 'number' || !(this.eps >= 0)) throw rangeError('a number >= 0', 'BatchNorm1d options.eps', this.eps);
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    if (this.momentum !== null && (typeof this.momentum !== 'number' || !(this.momentum >= 0 && this.momentum <= 1))) {
      throw rangeError('a number in [0, 1] or null', 'BatchNorm1d options.momentum', this.momentum);
    }
    const dtype = checkDtype(options.dtype, 'BatchNorm1d options.dtype');
    const affine = options.affine ?? true;
    this.weight = affine ? Parameter(ones_(emptyFloat([numFeatures], dtype))) : null;
    this.bias = affine ? Parameter(emptyFloat([numFeatures], dtype)) : null;
    if (options.trackRunningStats ?? true) {
      this.registerBuffer('runningMean', emptyFloat([numFeatures], dtype));
      this.registerBuffer('runningVar', ones_(emptyFloat([numFeatures], dtype)));
      this.registerBuffer('numBatchesTracked', new Tensor(new Int32Array(1), []));
    } else {
      this.registerBuffer('runningMean', null);
      this.registerBuffer('runningVar', null);
      this.registerBuffer('numBatchesTracked', null);
    }
  }

  forward(x: Tensor): Tensor {
    checkInput('BatchNorm1d.forward', x);
    if (x.ndim !== 2 && x.ndim !== 3) {
      throw new SelfsupError('ERR_SHAPE_MISMATCH', expectedMessage(`an input [N, ${this.numFeatures}] or [N, ${this.numFeatures}, L]`, 'BatchNorm1d.forward(x)', shapeStr(x.shape)));
    }
    if (x.shape[1] !== this.numFeatures) {
      throw new SelfsupError('ERR_SHAPE_MISMATCH', expectedMessage(`${this.numFeatures} channels in dim 1`, 'BatchNorm1d.forward(x)', shapeStr(x.shape)));
    }
    const tracking = this.runningMean !== null && this.runningVar !== null;
    if (!tracking) return batchNorm(x, null, null, { weight: this.weight, bias: this.bias, training: true, eps: this.eps });
    let momentum = this.momentum ?? 0;
    if (this.training) {
      const nbt = this.numBatchesTracked!;
      nbt.data[0] += 1;
      if (this.momentum === null) momentum = 1 / nbt.data[0];
    }
    // In training F.batchNorm updates the running stats in place (outside autograd).
    return batchNorm(x, this.runningMean, this.runningVar, { weight: this.weight, bias: this.bias, training: this.training, momentum, eps: this.eps });
  }

  protected override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.weight !== null}, trackRunningStats=${this.runningMean !== null}`;
  }
}

export interface DropoutModuleOptions {
  /** Seed of the first mask; each forward call advances to a fresh mask (default: the package sequence). */
  seed?: number;
}

/**
 * Zeroes each element with probability p in training and scales the rest by 1/(1-p); identity in
 * eval. Masks come from Philox: call k of a module built with seed s uses seed s + k, so a seeded
 * run is reproducible; without a seed each call takes the next seed of the package sequence.
 */
export class Dropout extends Module {
  readonly p: number;
  private readonly seed: number | undefined;
  private calls = 0;

  constructor(p = 0.5, options: DropoutModuleOptions = {}) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw rangeError('a probability in [0, 1]', 'Dropout(p)', p);
    this.p = p;
    checkOptions<DropoutModuleOptions>('Dropout(options)', options, ['seed']);
    this.seed = options.seed === undefined ? undefined : checkSeed(options.seed, 'Dropout options.seed');
  }

  forward(x: Tensor): Tensor {
    checkInput('Dropout.forward', x);
    if (!this.training || this.p === 0) return x;
    const seed = this.seed === undefined ? undefined : this.seed + this.calls++;
    return dropout(x, this.p, { training: true, seed });
  }

  protected override extraRepr(): string {
    return `p=${this.p}`;
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(checkInput('ReLU.forward', x));
  }
}

/** GELU; 'none' is the exact erf form (PyTorch's default and ViT's), 'tanh' the approximation. */
export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
    if (approximate !== 'none' && approximate !== 'tanh') throw rangeError("'none' | 'tanh'", 'GELU(approximate)', approximate);
  }
  forward(x: Tensor): Tensor {
    return gelu(checkInput('GELU.forward', x), { approximate: this.approximate });
  }
  protected override extraRepr(): string {
    return `approximate='${this.approximate}'`;
  }
}

/** x * sigmoid(x) (SiLU / Swish). */
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return silu(checkInput('SiLU.forward', x));
  }
}

/** Softmax over `dim` (required, as PyTorch's implicit-dim form is deprecated). */
export class Softmax extends Module {
  constructor(readonly dim: number) {
    super();
    if (typeof dim !== 'number' || !Number.isInteger(dim)) throw typeError('an integer', 'Softmax(dim)', dim);
  }
  forward(x: Tensor): Tensor {
    return softmax(checkInput('Softmax.forward', x), this.dim);
  }
  protected override extraRepr(): string {
    return `dim=${this.dim}`;
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Modules applied in order; children are named '0', '1', ... (PyTorch's nn.Sequential keys). */
export class Sequential extends Module {
  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => {
      if (!(m instanceof Module)) throw typeError('a Module', `Sequential(modules[${i}])`, m);
      (this as unknown as Record<string, unknown>)[String(i)] = m;
    });
  }
  get length(): number {
    return [...this.children()].length;
  }
  at(i: number): Module {
    const kids = [...this.children()];
    const m = kids.at(i);
    if (!m) throw rangeError(`an index in [-${kids.length}, ${kids.length})`, 'Sequential.at(i)', i);
    return m;
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.children()) y = (m as unknown as { forward(t: Tensor): Tensor }).forward(y);
    return y;
  }
}
