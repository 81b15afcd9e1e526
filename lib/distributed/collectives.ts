/**
 * Collectives on Tensors, with autograd (torch.distributed.nn semantics).
 *
 * Every rank computes the same loss from the collective's result, so the gradient that reaches
 * one rank's input is the sum of what every rank's loss sends back to it:
 *   allGather      y = [x_0; ...; x_{W-1}]   dL/dx_r = sum over ranks of dL/dy block r  = reduce-scatter (sum)
 *   allReduce sum  y = sum_r x_r             dL/dx_r = sum over ranks of dL/dy          = all-reduce (sum)
 *   allReduce avg  y = sum_r x_r / W         dL/dx_r = sum over ranks of dL/dy / W      = all-reduce (avg)
 *   reduceScatter  y_r = block r of sum x    dL/dx_r = all ranks' dL/dy, concatenated   = all-gather
 *   broadcast(src) y = x_src                 dL/dx_src = sum over ranks of dL/dy        = reduce to src (others: 0)
 * Each rank's parameter gradient is therefore W times its share of the global gradient, and DDP's
 * averaging (divide by W) gives exactly the single-process gradient. The 1/worldSize pitfall: a
 * collective whose backward passes the local gradient through unchanged (an all-reduce treated as
 * the identity, or an all-gather that only slices out its own rows) drops the other ranks'
 * contributions, and after DDP's averaging the gradient is 1/W of the right one (lightly's
 * BarlowTwins and SIGReg losses had this bug).
 *
 * Without autograd (a tensor that does not require grad, or under noGrad) allReduce and broadcast
 * work in place on the tensor's storage and return it (torch.distributed); with autograd they
 * return a new tensor. The `Async` forms never record autograd and resolve when the collective
 * is done; they run on the communication thread while JavaScript continues.
 */
import { defineOp, type FunctionCtx } from '../autograd/function';
import { isGradEnabled } from '../autograd/grad-mode';
import { bumpVersion } from '../autograd/version';
import { selfsupError, shapeStr, typeError } from '../errors';
import { checkTensor } from '../ops/common';
import { Tensor, arrayCtor, type DType } from '../tensor';
import { checkOptions } from '../validate';
import {
  allGatherArray, allGatherArrayAsync, allReduceArray, allReduceArrayAsync, broadcastArray, broadcastArrayAsync,
  reduceArray, reduceScatterArray, reduceScatterArrayAsync, requireWorld, type ReduceOp,
} from './process-group';

type DistData = Float32Array | Float64Array | Int32Array;
const DTYPES: readonly DType[] = ['float32', 'float64', 'int32'];

function arg(fn: string, t: unknown): Tensor {
  return checkTensor(fn, 'tensor', t, DTYPES);
}

function opOf(fn: string, options: unknown): ReduceOp {
  const o = checkOptions<{ op?: ReduceOp }>(`${fn}(options)`, options ?? {}, ['op']);
  const op = o.op ?? 'sum';
  if (!['sum', 'avg', 'max', 'min'].includes(op)) throw typeError("'sum', 'avg', 'max' or 'min'", `${fn}(options.op)`, op);
  return op;
}

function copyOf(t: Tensor): DistData {
  return (t.data as DistData).slice();
}

function tracked(t: Tensor): boolean {
  return t.requiresGrad && isGradEnabled();
}

function noAsyncGrad(fn: string, t: Tensor): void {
  if (tracked(t)) {
    throw selfsupError('ERR_AUTOGRAD', `a tensor without autograd for ${fn} (the async forms record no backward; use the sync form, or noGrad)`,
      `${fn}(tensor)`, 'a tensor that requires grad');
  }
}

/**
 * An op whose forward and backward each run one in-place collective on a copy of their input:
 * `forward(y, arg)` on the forward's copy, `backward(d, arg)` on the gradient's.
 */
function copyCollective<A>(name: string, forward: (y: DistData, arg: A) => void, backward: (d: DistData, arg: A) => void) {
  return defineOp({
    name,
    forward(ctx: FunctionCtx, x: Tensor, arg: A): Tensor {
      const y = copyOf(x);
      forward(y, arg);
      ctx.arg = arg;
      return new Tensor(y, x.shape);
    },
    backward(ctx: FunctionCtx, g: Tensor) {
      const d = copyOf(g);
      backward(d, ctx.arg as A);
      return [new Tensor(d, g.shape), null];
    },
  });
}

// ---- allReduce --------------------------------------------------------------------------------

// sum -> sum, avg -> avg (see the module comment)
const AllReduceFn = copyCollective<ReduceOp>('allReduce', (y, op) => allReduceArray(y, op), (d, op) => allReduceArray(d, op));

/** Reduces `tensor` over all ranks: op 'sum' (default), 'avg', 'max' or 'min'. */
export function allReduce(tensor: Tensor, options?: { op?: ReduceOp }): Tensor {
  const fn = 'allReduce';
  const t = arg(fn, tensor);
  const op = opOf(fn, options);
  if (tracked(t)) {
    if (op === 'max' || op === 'min') {
      throw selfsupError('ERR_AUTOGRAD', "op 'sum' or 'avg' on a tensor that requires grad (max and min have no backward here)", `${fn}(options.op)`, `'${op}'`);
    }
    return AllReduceFn(t, op);
  }
  allReduceArray(t.data as DistData, op);
  bumpVersion(t.data);
  return t;
}

export async function allReduceAsync(tensor: Tensor, options?: { op?: ReduceOp }): Promise<Tensor> {
  const fn = 'allReduceAsync';
  const t = arg(fn, tensor);
  const op = opOf(fn, options);
  noAsyncGrad(fn, t);
  await allReduceArrayAsync(t.data as DistData, op);
  bumpVersion(t.data);
  return t;
}

// ---- allGather ----------------------------------------------------------------------------------

function gatheredShape(fn: string, t: Tensor, W: number): number[] {
  if (t.ndim === 0) throw selfsupError('ERR_SHAPE_MISMATCH', 'a tensor with at least one dimension (gathered along dim 0)', `${fn}(tensor)`, shapeStr(t.shape));
  return [t.shape[0] * W, ...t.shape.slice(1)];
}

const AllGatherFn = defineOp({
  name: 'allGather',
  forward(_ctx: FunctionCtx, x: Tensor): Tensor {
    const W = requireWorld('allGather').worldSize;
    const y = new (arrayCtor(x.dtype) as Float32ArrayConstructor)(x.data.length * W) as DistData;
    allGatherArray(x.data as DistData, y);
    return new Tensor(y, gatheredShape('allGather', x, W));
  },
  backward(_ctx: FunctionCtx, g: Tensor) {
    const W = requireWorld('allGather').worldSize;
    const d = new (arrayCtor(g.dtype) as Float32ArrayConstructor)(g.data.length / W) as DistData;
    reduceScatterArray(g.data as DistData, d, 'sum');
    return [new Tensor(d, [g.shape[0] / W, ...g.shape.slice(1)])];
  },
});

/** Every rank's tensor, concatenated along dim 0 in rank order (same shape on every rank). */
export function allGather(tensor: Tensor): Tensor {
  const t = arg('allGather', tensor);
  gatheredShape('allGather', t, requireWorld('allGather').worldSize);
  return AllGatherFn(t);
}

export async function allGatherAsync(tensor: Tensor): Promise<Tensor> {
  const fn = 'allGatherAsync';
  const t = arg(fn, tensor);
  noAsyncGrad(fn, t);
  const W = requireWorld(fn).worldSize;
  const shape = gatheredShape(fn, t, W);
  const y = new (arrayCtor(t.dtype) as Float32ArrayConstructor)(t.data.length * W) as DistData;
  await allGatherArrayAsync(t.data as DistData, y);
  return new Tensor(y, shape);
}

// ---- reduceScatter --------------------------------------------------------------------------------

function scatteredShape(fn: string, t: Tensor, W: number): number[] {
  if (t.ndim === 0 || t.shape[0] % W !== 0) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `a first dimension divisible by the world size ${W}`, `${fn}(tensor)`, shapeStr(t.shape));
  }
  return [t.shape[0] / W, ...t.shape.slice(1)];
}

const ReduceScatterFn = defineOp({
  name: 'reduceScatter',
  forward(ctx: FunctionCtx, x: Tensor, op: ReduceOp): Tensor {
    const shape = scatteredShape('reduceScatter', x, requireWorld('reduceScatter').worldSize);
    const y = new (arrayCtor(x.dtype) as Float32ArrayConstructor)(shape.reduce((a, b) => a * b, 1)) as DistData;
    reduceScatterArray(x.data as DistData, y, op);
    ctx.op = op;
    return new Tensor(y, shape);
  },
  backward(ctx: FunctionCtx, g: Tensor) {
    const W = requireWorld('reduceScatter').worldSize;
    const d = new (arrayCtor(g.dtype) as Float32ArrayConstructor)(g.data.length * W) as DistData;
    allGatherArray(g.data as DistData, d);
    if (ctx.op === 'avg') for (let i = 0; i < d.length; i++) d[i] /= W;
    return [new Tensor(d, [g.shape[0] * W, ...g.shape.slice(1)]), null];
  },
});

/**
 * Reduces `tensor` [W * m, ...] over ranks and keeps this rank's block [m, ...] (rows
 * rank * m ... rank * m + m - 1). op 'sum' (default) or 'avg' ('max' / 'min' without autograd).
 */
export function reduceScatter(tensor: Tensor, options?: { op?: ReduceOp }): Tensor {
  const fn = 'reduceScatter';
  const t = arg(fn, tensor);
  const op = opOf(fn, options);
  scatteredShape(fn, t, requireWorld(fn).worldSize);
  if (tracked(t) && (op === 'max' || op === 'min')) {
    throw selfsupError('ERR_AUTOGRAD', "op 'sum' or 'avg' on a tensor that requires grad", `${fn}(options.op)`, `'${op}'`);
  }
  return ReduceScatterFn(t, op);
}

export async function reduceScatterAsync(tensor: Tensor, options?: { op?: ReduceOp }): Promise<Tensor> {
  const fn = 'reduceScatterAsync';
  const t = arg(fn, tensor);
  const op = opOf(fn, options);
  noAsyncGrad(fn, t);
  const shape = scatteredShape(fn, t, requireWorld(fn).worldSize);
  const y = new (arrayCtor(t.dtype) as Float32ArrayConstructor)(shape.reduce((a, b) => a * b, 1)) as DistData;
  await reduceScatterArrayAsync(t.data as DistData, y, op);
  return new Tensor(y, shape);
}

// ---- broadcast ----------------------------------------------------------------------------------

const BroadcastFn = copyCollective<number>('broadcast', (y, src) => broadcastArray(y, src), (d, src) => {
  reduceArray(d, src);
  if (requireWorld('broadcast').rank !== src) d.fill(0); // only src's value reached the loss
});

/** Rank `src`'s tensor on every rank (default src 0). */
export function broadcast(tensor: Tensor, src = 0): Tensor {
  const t = arg('broadcast', tensor);
  if (tracked(t)) {
    requireWorld('broadcast');
    return BroadcastFn(t, src);
  }
  broadcastArray(t.data as DistData, src);
  bumpVersion(t.data);
  return t;
}

export async function broadcastAsync(tensor: Tensor, src = 0): Promise<Tensor> {
  const fn = 'broadcastAsync';
  const t = arg(fn, tensor);
  noAsyncGrad(fn, t);
  await broadcastArrayAsync(t.data as DistData, src);
  bumpVersion(t.data);
  return t;
}

