/**
 * The op table: every public functional op, once. It drives
 * - `F` (lib/functional.ts): every key, aliases included;
 * - the Tensor methods (lib/tensor-methods.ts): rows with `method: true` become `x.name(...rest)`
 *   calling `fn(x, ...rest)`, the method variant of PyTorch's OpInfo;
 * - the tests: test/ops/table.test.ts checks that every key here and every Tensor method has a
 *   row in the op test table (test/ops/rows), and that the package entry exports every key.
 *
 * Adding an op: write it in its family file (lib/ops/<family>.ts), add one row here, one test row
 * in test/ops/rows/<family>.ts, and one name in lib/index.ts's export list (docs/architecture.md).
 */
import * as ew from './elementwise';
import * as red from './reduce';
import * as sh from './shape';
import * as la from './linalg';
import * as nnf from './nn-functional';
import * as ix from './indexing';
import * as loss from './loss';
import * as sorting from './sorting';
import { einsum } from './einsum';
import { conv2d } from './conv';
import { infoNCE } from './info_nce';
import { vicreg, varianceLoss, covarianceLoss, barlowTwins } from './vicreg';
import { attention } from './attention';
import { gatherTokens, scatterTokens, stochasticPositions } from './tokens';
import { sinkhorn, swavLoss, msnLoss } from './sinkhorn';
import { koleo } from './koleo';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFn = (...args: any[]) => unknown;

export interface OpTableRow<Fn extends AnyFn = AnyFn> {
  fn: Fn;
  /** true: also a Tensor method, `x.name(...rest)` = `fn(x, ...rest)`. */
  method?: true;
  /** This key is another name for that row (PyTorch's aliases: concat = cat). */
  aliasOf?: string;
}

function row<Fn extends AnyFn>(fn: Fn): { fn: Fn; method: undefined };
function row<Fn extends AnyFn>(fn: Fn, method: true): { fn: Fn; method: true };
function row<Fn extends AnyFn>(fn: Fn, method?: true): OpTableRow<Fn> {
  return { fn, method };
}
function alias<Fn extends AnyFn>(fn: Fn, of: string): { fn: Fn; method: undefined; aliasOf: string } {
  return { fn, method: undefined, aliasOf: of };
}
const M = true as const;

export const OP_TABLE = {
  // elementwise (NumPy broadcasting; lib/ops/elementwise.ts)
  add: row(ew.add, M), sub: row(ew.sub, M), mul: row(ew.mul, M), div: row(ew.div, M), neg: row(ew.neg, M),
  pow: row(ew.pow, M), exp: row(ew.exp, M), log: row(ew.log, M), sqrt: row(ew.sqrt, M), rsqrt: row(ew.rsqrt, M),
  square: row(ew.square, M), abs: row(ew.abs, M), clamp: row(ew.clamp, M), relu: row(ew.relu, M),
  gelu: row(ew.gelu), // method variant: x.gelu(approximate) (lib/tensor-methods.ts)
  silu: row(ew.silu, M), sigmoid: row(ew.sigmoid, M), tanh: row(ew.tanh, M),
  where: row(ew.where), // method variant: x.where(condition, other)
  maximum: row(ew.maximum, M), minimum: row(ew.minimum, M),
  gt: row(ew.gt, M), ge: row(ew.ge, M), lt: row(ew.lt, M), le: row(ew.le, M), eq: row(ew.eq, M),
  isnan: row(ew.isnan, M), allclose: row(ew.allclose, M),
  // reductions (lib/ops/reduce.ts)
  sum: row(red.sum, M), mean: row(red.mean, M),
  max: row(red.max), min: row(red.min), // method variants keep the overloads
  amax: row(red.amax, M), amin: row(red.amin, M), argmax: row(red.argmax, M), argmin: row(red.argmin, M),
  var: row(red.variance, M), std: row(red.std, M), norm: row(red.norm, M), logsumexp: row(red.logsumexp, M),
  cumsum: row(red.cumsum, M),
  // sorting and selection (lib/ops/sorting.ts)
  sort: row(sorting.sort, M), topk: row(sorting.topk, M),
  // shape (lib/ops/shape.ts)
  reshape: row(sh.reshape), view: row(sh.view), // method variants take varargs: x.reshape(2, 3)
  transpose: row(sh.transpose, M),
  permute: row(sh.permute), // method variant takes varargs
  squeeze: row(sh.squeeze, M), unsqueeze: row(sh.unsqueeze, M), flatten: row(sh.flatten, M),
  expand: row(sh.expand), // method variant takes varargs
  cat: row(sh.cat), concat: alias(sh.cat, 'cat'), stack: row(sh.stack),
  narrow: row(sh.narrow, M), slice: row(sh.slice, M), split: row(sh.split, M), chunk: row(sh.chunk, M), clone: row(sh.clone, M),
  repeat: row(sh.repeat), // method variant takes varargs: x.repeat(2, 1)
  flip: row(sh.flip, M), tril: row(sh.tril, M), triu: row(sh.triu, M),
  einsum: row(einsum), // lib/ops/einsum.ts
  // linear algebra (lib/ops/linalg.ts)
  matmul: row(la.matmul, M), bmm: row(la.bmm, M), linear: row(la.linear),
  // nn functional (lib/ops/nn-functional.ts)
  softmax: row(nnf.softmax, M), logSoftmax: row(nnf.logSoftmax, M), layerNorm: row(nnf.layerNorm),
  batchNorm: row(nnf.batchNorm), dropout: row(nnf.dropout), cosineSimilarity: row(nnf.cosineSimilarity),
  normalize: row(nnf.normalize), conv2d: row(conv2d), // lib/ops/conv.ts
  // indexing (lib/ops/indexing.ts)
  gather: row(ix.gather, M), indexSelect: row(ix.indexSelect, M), scatterAdd: row(ix.scatterAdd, M), embedding: row(ix.embedding),
  // losses (lib/ops/loss.ts)
  crossEntropy: row(loss.crossEntropy), mse: row(loss.mse), mseLoss: alias(loss.mse, 'mse'),
  smoothL1: row(loss.smoothL1), smoothL1Loss: alias(loss.smoothL1, 'smoothL1'),
  // the fused self-supervised families (native kernels; lib/ops/<family>.ts)
  infoNCE: row(infoNCE),
  vicreg: row(vicreg), varianceLoss: row(varianceLoss), covarianceLoss: row(covarianceLoss), barlowTwins: row(barlowTwins),
  attention: row(attention),
  gatherTokens: row(gatherTokens), scatterTokens: row(scatterTokens), stochasticPositions: row(stochasticPositions),
  sinkhorn: row(sinkhorn), swavLoss: row(swavLoss), msnLoss: row(msnLoss),
  koleo: row(koleo),
};

type Table = typeof OP_TABLE;

/** `F`'s type: each key's function, overloads included. */
export type Functional = { [K in keyof Table]: Table[K]['fn'] };

/** The keys whose row is also a plain Tensor method. */
export type MethodKeys = { [K in keyof Table]: Table[K]['method'] extends true ? K : never }[keyof Table];
