/** Optimizers, LR schedules and gradient clipping: `import { optim } from 'selfsup'`. */
export { Optimizer, type ParamGroup, type ParamsArg, type ParamState, type OptimizerStateDict, type Param } from './optimizer';
export { SGD, type SGDOptions } from './sgd';
export { Adam, AdamW, type AdamOptions, type AdamWOptions } from './adamw';
export { LARS, excludeBiasAndNorm, type LARSOptions, type LarsExclude } from './lars';
export {
  cosineWithWarmup, cosineWithWarmupValue, stepLR, multiStepLR,
  type CosineWithWarmupOptions, type StepLROptions, type MultiStepLROptions, type LRScheduler,
} from './scheduler';
export { clipGradNorm, type ClipGradNormOptions } from './clip';
