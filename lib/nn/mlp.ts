/**
 * MLP: the SSL projector / predictor head, a Linear-Norm-Activation stack built as a `Sequential`
 * so its state-dict keys are those of the reference PyTorch code (`0.weight`, `1.running_mean`,
 * ...; VICReg's `Projector` is an nn.Sequential of the same layers).
 *
 * `sizes` includes the input width: [2048, 8192, 8192, 8192] is VICReg's projector on a ResNet-50
 * (its "8192-8192-8192" flag with the 2048-d embedding prepended).
 *
 * Presets (`projector` option), from each paper's reference code:
 *   'vicreg'  VICReg / Barlow Twins (facebookresearch/vicreg `Projector`):
 *             [Linear(bias) BN ReLU] x (L-1), Linear(no bias). Also the default.
 *   'byol'    BYOL (Grill et al. 2020, Sec. 3.3): Linear(bias) BN ReLU, Linear(bias).
 *   'simclr'  SimCLR v2 (google-research/simclr `ProjectionHead`): [Linear(no bias) BN ReLU]
 *             x (L-1), Linear(no bias) BN. (SimCLR's output BN has no beta; ours keeps an
 *             affine bias initialized to 0: set `lastNorm: 'noAffine'` to drop both.)
 *   'mocov3'  MoCo v3 (facebookresearch/moco-v3 `_build_mlp`): [Linear(no bias) BN ReLU]
 *             x (L-1), Linear(no bias) BN(affine=False).
 * Individual options override the preset.
 */
import { rangeError, typeError } from '../errors';
import { checkOptions } from '../validate';
import type { FloatDType } from '../tensor';
import type { Module } from './module';
import { BatchNorm1d, GELU, LayerNorm, Linear, ReLU, Sequential, type LinearInit } from './layers';
import { deriveSeed, nextSeed } from './init';

export type ProjectorPreset = 'vicreg' | 'byol' | 'simclr' | 'mocov3';

export interface MLPOptions {
  projector?: ProjectorPreset;
  /** Normalization after each hidden Linear (default 'batch'). */
  norm?: 'batch' | 'layer' | 'none';
  activation?: 'relu' | 'gelu';
  /** Bias on the hidden Linears. */
  hiddenBias?: boolean;
  /** Bias on the last Linear. */
  lastBias?: boolean;
  /** BatchNorm after the last Linear: false, true (affine), or 'noAffine'. */
  lastNorm?: boolean | 'noAffine';
  init?: LinearInit;
  dtype?: FloatDType;
  seed?: number;
}

const PRESETS: Record<ProjectorPreset, Required<Pick<MLPOptions, 'hiddenBias' | 'lastBias' | 'lastNorm'>>> = {
  vicreg: { hiddenBias: true, lastBias: false, lastNorm: false },
  byol: { hiddenBias: true, lastBias: true, lastNorm: false },
  simclr: { hiddenBias: false, lastBias: false, lastNorm: true },
  mocov3: { hiddenBias: false, lastBias: false, lastNorm: 'noAffine' },
};

export class MLP extends Sequential {
  readonly sizes: number[];

  constructor(sizes: number[], options: MLPOptions = {}) {
    if (!Array.isArray(sizes) || sizes.length < 2) throw typeError('an array of at least 2 layer widths [in, ..., out]', 'MLP(sizes)', sizes);
    sizes.forEach((s, i) => {
      if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 1) throw rangeError('a positive integer', `MLP(sizes)[${i}]`, s);
    });
    checkOptions<MLPOptions>('MLP(options)', options, ['projector', 'norm', 'activation', 'hiddenBias', 'lastBias', 'lastNorm', 'init', 'dtype', 'seed']);
    const presetName = options.projector ?? 'vicreg';
    if (!(presetName in PRESETS)) throw rangeError("'vicreg' | 'byol' | 'simclr' | 'mocov3'", 'MLP options.projector', presetName);
    const o = { ...PRESETS[presetName], norm: 'batch' as const, activation: 'relu' as const, ...options };
    if (!['batch', 'layer', 'none'].includes(o.norm)) throw rangeError("'batch' | 'layer' | 'none'", 'MLP options.norm', o.norm);
    if (o.activation !== 'relu' && o.activation !== 'gelu') throw rangeError("'relu' | 'gelu'", 'MLP options.activation', o.activation);
    const seed = options.seed ?? nextSeed();
    const layers: Module[] = [];
    const L = sizes.length - 1;
    for (let i = 0; i < L; i++) {
      const last = i === L - 1;
      const lin = { init: o.init, dtype: o.dtype, seed: deriveSeed(seed, i) };
      layers.push(new Linear(sizes[i], sizes[i + 1], { ...lin, bias: last ? o.lastBias : o.hiddenBias }));
      if (!last) {
        if (o.norm === 'batch') layers.push(new BatchNorm1d(sizes[i + 1], { dtype: o.dtype }));
        else if (o.norm === 'layer') layers.push(new LayerNorm(sizes[i + 1], { dtype: o.dtype }));
        layers.push(o.activation === 'relu' ? new ReLU() : new GELU());
      } else if (o.lastNorm) {
        layers.push(new BatchNorm1d(sizes[i + 1], { dtype: o.dtype, affine: o.lastNorm !== 'noAffine' }));
      }
    }
    super(...layers);
    this.sizes = sizes.slice();
  }

  protected override extraRepr(): string {
    return `sizes=[${this.sizes.join(', ')}]`;
  }
}
