/**
 * The package entry: the names exported here are the public surface (a contract).
 */
import './tensor-methods'; // attaches the op methods to Tensor.prototype
export { Tensor, type DType, type FloatDType, type Device, type TensorData, type TensorOptions, type Dims } from './tensor';
export {
  tensor, zeros, ones, full, zerosLike, onesLike, arange, eye, linspace, randn, rand, randint, randperm, manualSeed, DEFAULT_SEED,
  type RandomOptions, type RandintOptions,
} from './factories';
export { tidy, keep } from './scope';
export { noGrad, enableGrad, isGradEnabled, setGradEnabled } from './autograd/grad-mode';
export { backward, grad, Node, type GradResult } from './autograd/engine';
export { defineFunction, Function, FunctionCtx, type FunctionDefinition, type DefinedFunction, type FunctionOutput } from './autograd/function';
export { gradcheck, type GradcheckOptions } from './autograd/gradcheck';
export { F, type Functional } from './functional';
export {
  add, sub, mul, div, neg, pow, exp, log, sqrt, rsqrt, square, abs, clamp, relu, gelu, silu, sigmoid, tanh, where, maximum, minimum,
  gt, ge, lt, le, eq, isnan, allclose, resultType, promoteTypes,
} from './ops/elementwise';
export { sum, mean, max, min, amax, amin, argmax, argmin, variance as var, variance, std, norm, logsumexp, cumsum, type VarOptions } from './ops/reduce';
export { sort, topk } from './ops/sorting';
export { einsum } from './ops/einsum';
export {
  reshape, view, transpose, permute, squeeze, unsqueeze, flatten, expand, cat, cat as concat, stack, narrow, slice, split, chunk, clone,
  repeat, flip, tril, triu,
} from './ops/shape';
export { matmul, bmm, linear } from './ops/linalg';
export {
  softmax, logSoftmax, layerNorm, batchNorm, dropout, cosineSimilarity, normalize,
  type LayerNormOptions, type BatchNormOptions, type DropoutOptions,
} from './ops/nn-functional';
export { conv2d, type Conv2dOptions } from './ops/conv';
export { gather, indexSelect, scatterAdd, embedding } from './ops/indexing';
export { crossEntropy, mse, mse as mseLoss, smoothL1, smoothL1 as smoothL1Loss, type Reduction, type CrossEntropyOptions } from './ops/loss';
export { infoNCE } from './ops/info_nce';
export { vicreg, varianceLoss, covarianceLoss, barlowTwins } from './ops/vicreg';
export { attention } from './ops/attention';
export { gatherTokens, scatterTokens, stochasticPositions } from './ops/tokens';
export { sinkhorn, swavLoss, msnLoss } from './ops/sinkhorn';
export { koleo } from './ops/koleo';
export { SelfsupError, type SelfsupErrorCode } from './errors';
export { cuda, DeviceArray, type CudaDType, type CudaMemoryStats } from './cuda';
export * as kernels from './kernels/index';
export * as nn from './nn/index';
export * as optim from './optim/index';
export { masks, type RandomMasks, type MultiBlockMasks } from './masks';
export { info, probeMachine, setNumThreads, getNumThreads, type Info, type MachineProbe } from './info';
export {
  train, type TrainOptions, type TrainResult, type StepInfo, type ProbeResult, type EvalKind,
} from './train/train';
export { RECIPES as recipes } from './train/registry';
export { writeReport, renderReport, readRunLog, type RunLog } from './train/report';
export type { Recipe, RecipeModel, RecipeContext } from './train/recipe';
export { SyntheticDataset, type SyntheticOptions, type Factor } from './data/synthetic';
export type { DataSource, LabelledSet } from './data/source';
export type { BatchSpec } from './data/views';
export { knnAccuracy } from './eval/knn';
export { linearProbeAccuracy } from './eval/linear';
export { rankMe } from './eval/rankme';
