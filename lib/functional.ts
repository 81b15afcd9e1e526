/**
 * `F`: every functional op in one object, built from per-family imports so that a new family is
 * one import plus one `...family` line (e.g. `...lossOps` for infoNCE / vicreg).
 */
import * as elementwise from './ops/elementwise';
import * as reduce from './ops/reduce';
import * as shape from './ops/shape';
import * as linalg from './ops/linalg';
import * as nnFunctional from './ops/nn-functional';
import * as indexing from './ops/indexing';
import * as loss from './ops/loss';
import * as infoNCEOps from './ops/info_nce';
import * as vicregOps from './ops/vicreg';
import * as attentionOps from './ops/attention';
import * as tokenOps from './ops/tokens';
import * as sinkhornOps from './ops/sinkhorn';

const elementwiseOps = {
  add: elementwise.add, sub: elementwise.sub, mul: elementwise.mul, div: elementwise.div, neg: elementwise.neg,
  pow: elementwise.pow, exp: elementwise.exp, log: elementwise.log, sqrt: elementwise.sqrt, rsqrt: elementwise.rsqrt,
  square: elementwise.square, abs: elementwise.abs, clamp: elementwise.clamp, relu: elementwise.relu, gelu: elementwise.gelu,
  silu: elementwise.silu, sigmoid: elementwise.sigmoid, tanh: elementwise.tanh, where: elementwise.where,
  maximum: elementwise.maximum, minimum: elementwise.minimum,
  gt: elementwise.gt, ge: elementwise.ge, lt: elementwise.lt, le: elementwise.le, eq: elementwise.eq,
};
const reduceOps = {
  sum: reduce.sum, mean: reduce.mean, max: reduce.max, min: reduce.min, amax: reduce.amax, amin: reduce.amin,
  argmax: reduce.argmax, argmin: reduce.argmin, var: reduce.variance, std: reduce.std, norm: reduce.norm, logsumexp: reduce.logsumexp,
};
const shapeOps = {
  reshape: shape.reshape, view: shape.view, transpose: shape.transpose, permute: shape.permute, squeeze: shape.squeeze,
  unsqueeze: shape.unsqueeze, flatten: shape.flatten, expand: shape.expand, cat: shape.cat, concat: shape.cat, stack: shape.stack,
  narrow: shape.narrow, slice: shape.slice, split: shape.split, chunk: shape.chunk, clone: shape.clone,
};
const linalgOps = { matmul: linalg.matmul, bmm: linalg.bmm, linear: linalg.linear };
const nnOps = {
  softmax: nnFunctional.softmax, logSoftmax: nnFunctional.logSoftmax, layerNorm: nnFunctional.layerNorm,
  batchNorm: nnFunctional.batchNorm, dropout: nnFunctional.dropout, cosineSimilarity: nnFunctional.cosineSimilarity,
  normalize: nnFunctional.normalize,
};
const indexingOps = { gather: indexing.gather, indexSelect: indexing.indexSelect, scatterAdd: indexing.scatterAdd, embedding: indexing.embedding };
const lossFns = { crossEntropy: loss.crossEntropy, mse: loss.mse, mseLoss: loss.mse, smoothL1: loss.smoothL1, smoothL1Loss: loss.smoothL1 };

export const F = {
  ...elementwiseOps,
  ...reduceOps,
  ...shapeOps,
  ...linalgOps,
  ...nnOps,
  ...indexingOps,
  ...lossFns,
  ...infoNCEOps,
  ...vicregOps,
  ...attentionOps,
  ...tokenOps,
  ...sinkhornOps,
};

export type Functional = typeof F;
