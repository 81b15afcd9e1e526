/** Optimizers, LR schedules and gradient clipping: `import { optim } from 'selfsup'`. */
export { Optimizer, type ParamGroup, type ParamsArg, type ParamState, type OptimizerStateDict, type Param } from './optimizer';
export { SGD, type SGDOptions } from './sgd';
export { AdamW, type AdamWOptions } from './adamw';
export { LARS, excludeBiasAndNorm, type LARSOptions, type LarsExclude } from './lars';
export { cosineWithWarmup, cosineWithWarmupValue, type CosineWithWarmupOptions, type LRScheduler } from './scheduler';
export { clipGradNorm, type ClipGradNormOptions } from './clip';
