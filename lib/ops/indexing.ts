/**
 * Indexing along a dim with int32 indices: gather, indexSelect, scatterAdd, embedding.
 * Index values are checked once up front (a bad index is a RangeError naming the position),
 * so the loops below can trust them. Index tensors are never differentiable.
 */
import { defineOp as defineFunction } from '../autograd/function';
import { indexStr, rangeError, selfsupError, shapeStr } from '../errors';
import { Tensor } from '../tensor';
import { checkCudaFloat32, checkFloat, checkSameDtype, checkTensor, contiguousStrides, emptyLike, forEachRow, newArray, normDim, opts, sizeOf, splitAt } from './common';
import { add, eq, ge, lt, where } from './elementwise';
import { amax, argmax } from './reduce';
import { gatherTokens } from './tokens';

function checkIndexValues(op: string, arg: string, index: Tensor, bound: number): void {
  if (index.device === 'cuda') return checkIndexValuesDevice(op, arg, index, bound);
  const d = index.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v < 0 || v >= bound) {
      throw rangeError(`indices in [0, ${bound})`, `${op}(${arg})`, `${v} at position ${index.ndim <= 1 ? i : indexStr(i, index.shape)}`, true);
    }
  }
}

/**
 * checkIndexValues of a cuda index: the out-of-range count from float32 device comparisons (exact
 * below 2^24; the gather kernel checks the int32 values again), read back: one synchronization,
 * and on failure the first bad position and its value for the same message.
 */
function checkIndexValuesDevice(op: string, arg: string, index: Tensor, bound: number): void {
  if (index.numel() === 0) return;
  const f = index.to('float32').reshape([-1]);
  const bad = add(lt(f, 0).to('float32'), ge(f, bound).to('float32'));
  if (amax(bad).item() === 0) return;
  const i = argmax(bad).item();
  throw rangeError(`indices in [0, ${bound})`, `${op}(${arg})`, `${f.narrow(0, i, 1).item()} at position ${index.ndim <= 1 ? i : indexStr(i, index.shape)}`, true);
}

/** Index and indexed tensor on one device (ERR_DEVICE_MISMATCH naming the index otherwise). */
function sameDevice(op: string, arg: string, index: Tensor, x: Tensor, xArg: string): void {
  if (index.device !== x.device) throw selfsupError('ERR_DEVICE_MISMATCH', `a Tensor on '${x.device}' (the device of ${xArg})`, `${op}(${arg})`, `a Tensor on '${index.device}'`);
}

/**
 * Rows of x2 [V, R] picked by a cuda index [K]: the tokens gather kernel (its scatter-add backward
 * sums repeated rows in index order, as the CPU loops).
 */
function gatherRowsDevice(x2: Tensor, index: Tensor): Tensor {
  return gatherTokens(x2, index.reshape([1, -1])).reshape([index.numel(), x2.shape[1]]);
}

/**
 * Visits every position p of `index` with the matching offset of a tensor of `shape` in all dims
 * but `dim`: fn(indexOffset, baseOffset, n, baseStride) per row of the index.
 */
function alongIndex(index: Tensor, shape: readonly number[], dim: number, fn: (io: number, bo: number, n: number, bs: number) => void): void {
  const st = contiguousStrides(shape).map((s, d) => (d === dim ? 0 : s));
  forEachRow(index.shape, [contiguousStrides(index.shape), st], (o, n, s) => fn(o[0], o[1], n, s[1]));
}

// ---- gather ---------------------------------------------------------------------------------

const GatherFn = defineFunction({
  name: 'Gather',
  forward(ctx, x: Tensor, dim: number, index: Tensor) {
    const out = newArray(x.dtype, index.numel());
    const xd = x.data, id = index.data, ds = contiguousStrides(x.shape)[dim];
    alongIndex(index, x.shape, dim, (io, bo, n, bs) => {
      for (let i = 0; i < n; i++) out[io + i] = xd[bo + i * bs + id[io + i] * ds];
    });
    ctx.save(index);
    Object.assign(ctx, { inShape: x.shape, dim });
    return new Tensor(out, index.shape);
  },
  backward(ctx, g) {
    const [index] = ctx.saved;
    const shape: number[] = ctx.inShape, dim: number = ctx.dim;
    const gx = newArray(g.dtype, sizeOf(shape));
    const gd = g.data, id = index.data, ds = contiguousStrides(shape)[dim];
    alongIndex(index, shape, dim, (io, bo, n, bs) => {
      for (let i = 0; i < n; i++) gx[bo + i * bs + id[io + i] * ds] += gd[io + i];
    });
    return [new Tensor(gx, shape)];
  },
});

function checkIndexShape(op: string, index: Tensor, ref: Tensor, refArg: string, dim: number, alsoDim: boolean): void {
  const ok = index.ndim === ref.ndim && index.shape.every((s, d) => (d === dim && !alsoDim) || s <= ref.shape[d]);
  if (!ok) {
    throw selfsupError('ERR_SHAPE_MISMATCH', `an index of ${ref.ndim} dims no larger than ${shapeStr(ref.shape)} (${refArg})${alsoDim ? '' : ` outside dim ${dim}`}`, `${op}(index)`, shapeStr(index.shape));
  }
}

/** out[..., i, ...] = x[..., index[..., i, ...], ...] along dim (torch.gather). */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  checkFloat('gather', 'x', x);
  checkTensor('gather', 'index', index, ['int32']);
  const d = normDim('gather', 'dim', dim, x.ndim);
  checkIndexShape('gather', index, x, 'x', d, false);
  checkIndexValues('gather', 'index', index, x.ndim === 0 ? 1 : x.shape[d]);
  return GatherFn(x, d, index);
}

// ---- scatterAdd -----------------------------------------------------------------------------

const ScatterAddFn = defineFunction({
  name: 'ScatterAdd',
  forward(ctx, x: Tensor, dim: number, index: Tensor, src: Tensor) {
    const out = new Tensor(x.data.slice(), x.shape);
    const od = out.data, id = index.data, sd = src.data, ds = contiguousStrides(x.shape)[dim];
    const sst = contiguousStrides(src.shape);
    forEachRow(index.shape, [contiguousStrides(index.shape), contiguousStrides(x.shape).map((s, k) => (k === dim ? 0 : s)), sst], (o, n, s) => {
      const io = o[0], bo = o[1], bs = s[1], so = o[2], ss = s[2];
      for (let i = 0; i < n; i++) od[bo + i * bs + id[io + i] * ds] += sd[so + i * ss];
    });
    ctx.save(index);
    Object.assign(ctx, { shape: x.shape, srcShape: src.shape, dim });
    return out;
  },
  backward(ctx, g) {
    const [index] = ctx.saved;
    const shape: number[] = ctx.shape, srcShape: number[] = ctx.srcShape, dim: number = ctx.dim;
    let gsrc: Tensor | null = null;
    if (ctx.needsInputGrad[3]) {
      const gs = newArray(g.dtype, sizeOf(srcShape));
      const gd = g.data, id = index.data, ds = contiguousStrides(shape)[dim];
      forEachRow(index.shape, [contiguousStrides(index.shape), contiguousStrides(shape).map((s, k) => (k === dim ? 0 : s)), contiguousStrides(srcShape)], (o, n, s) => {
        const io = o[0], bo = o[1], bs = s[1], so = o[2], ss = s[2];
        for (let i = 0; i < n; i++) gs[so + i * ss] = gd[bo + i * bs + id[io + i] * ds];
      });
      gsrc = new Tensor(gs, srcShape);
    }
    return [g, null, null, gsrc];
  },
});

/** out = x; out[..., index[p], ...] += src[p] along dim for every position p of index (torch.scatter_add). */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  checkFloat('scatterAdd', 'x', x);
  checkTensor('scatterAdd', 'index', index, ['int32']);
  checkFloat('scatterAdd', 'src', src);
  checkSameDtype('scatterAdd', 'src', src, x, 'x');
  const d = normDim('scatterAdd', 'dim', dim, x.ndim);
  checkIndexShape('scatterAdd', index, x, 'x', d, false);
  checkIndexShape('scatterAdd', index, src, 'src', d, true);
  checkIndexValues('scatterAdd', 'index', index, x.ndim === 0 ? 1 : x.shape[d]);
  return ScatterAddFn(x, d, index, src);
}

// ---- indexSelect / embedding ----------------------------------------------------------------

const IndexSelectFn = defineFunction({
  name: 'IndexSelect',
  forward(ctx, x: Tensor, dim: number, index: Tensor) {
    const { outer, size, inner } = splitAt(x.shape, dim);
    const k = index.numel(), id = index.data, xd = x.data;
    const shape = x.shape.slice();
    shape[dim] = k;
    const out = newArray(x.dtype, outer * k * inner);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < k; j++) {
        const src = (o * size + id[j]) * inner;
        out.set(xd.subarray(src, src + inner), (o * k + j) * inner);
      }
    }
    ctx.save(index);
    Object.assign(ctx, { inShape: x.shape, dim });
    return new Tensor(out, shape);
  },
  backward(ctx, g) {
    const [index] = ctx.saved;
    const shape: number[] = ctx.inShape;
    const { outer, size, inner } = splitAt(shape, ctx.dim);
    const k = index.numel(), id = index.data, gd = g.data;
    const gx = newArray(g.dtype, sizeOf(shape));
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < k; j++) {
        const dst = (o * size + id[j]) * inner, src = (o * k + j) * inner;
        for (let i = 0; i < inner; i++) gx[dst + i] += gd[src + i];
      }
    }
    return [new Tensor(gx, shape)];
  },
});

/** Selects entries of `index` (1-D int32) along dim (torch.index_select). */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  checkFloat('indexSelect', 'x', x);
  checkTensor('indexSelect', 'index', index, ['int32']);
  if (index.ndim > 1) throw selfsupError('ERR_SHAPE_MISMATCH', 'a 1-D index', 'indexSelect(index)', shapeStr(index.shape));
  if (x.ndim === 0) throw rangeError('a tensor with at least 1 dim', 'indexSelect(x)', x);
  const d = normDim('indexSelect', 'dim', dim, x.ndim);
  sameDevice('indexSelect', 'index', index, x, 'x');
  checkIndexValues('indexSelect', 'index', index, x.shape[d]);
  if (x.device === 'cuda') {
    // dim moved to the front, the rest flattened into rows: a row gather, then the layout back.
    checkCudaFloat32('indexSelect', 'x', x);
    const order = [d, ...x.shape.map((_, i) => i).filter((i) => i !== d)];
    const xp = x.permute(order), rest = xp.shape.slice(1);
    const rows = gatherRowsDevice(xp.reshape([x.shape[d], sizeOf(rest)]), index).reshape([index.numel(), ...rest]);
    return rows.permute(order.map((_, i) => order.indexOf(i)));
  }
  return IndexSelectFn(x, d, index.reshape([-1]));
}

/** Rows of `weight` [V, D] for int32 indices of any shape -> [...input.shape, D] (F.embedding). */
export function embedding(input: Tensor, weight: Tensor, options?: { paddingIdx?: number | null }): Tensor {
  checkTensor('embedding', 'input', input, ['int32']);
  checkFloat('embedding', 'weight', weight);
  if (weight.ndim !== 2) throw selfsupError('ERR_SHAPE_MISMATCH', 'a 2-D weight [numEmbeddings, dim]', 'embedding(weight)', shapeStr(weight.shape));
  const o = opts<{ paddingIdx: number | null }>('embedding', options, ['paddingIdx']);
  sameDevice('embedding', 'input', input, weight, 'weight');
  checkIndexValues('embedding', 'input', input, weight.shape[0]);
  let pad = o.paddingIdx ?? null;
  if (pad !== null) pad = normDim('embedding', 'options.paddingIdx', pad, weight.shape[0]);
  if (weight.device === 'cuda') {
    checkCudaFloat32('embedding', 'weight', weight);
    const rows = gatherRowsDevice(weight, input).reshape([...input.shape, weight.shape[1]]);
    if (pad === null) return rows;
    // Padding rows keep their values but get no gradient: the detached copy is selected there.
    return where(eq(input.to('float32'), pad).unsqueeze(-1), rows.detach(), rows);
  }
  const rows = EmbeddingFn(weight, input.reshape([-1]), pad);
  return rows.reshape([...input.shape, weight.shape[1]]);
}

const EmbeddingFn = defineFunction({
  name: 'Embedding',
  forward(ctx, w: Tensor, index: Tensor, pad: number | null) {
    const D = w.shape[1], k = index.numel(), id = index.data, wd = w.data;
    const out = emptyLike(w, [k, D]);
    for (let j = 0; j < k; j++) out.data.set(wd.subarray(id[j] * D, (id[j] + 1) * D), j * D);
    ctx.save(index);
    Object.assign(ctx, { wShape: w.shape, pad });
    return out;
  },
  backward(ctx, g) {
    const [index] = ctx.saved;
    const [V, D] = ctx.wShape as number[];
    const gw = newArray(g.dtype, V * D), gd = g.data, id = index.data;
    for (let j = 0; j < id.length; j++) {
      if (id[j] === ctx.pad) continue; // padding rows get no gradient (F.embedding padding_idx)
      const dst = id[j] * D;
      for (let i = 0; i < D; i++) gw[dst + i] += gd[j * D + i];
    }
    return [new Tensor(gw, [V, D])];
  },
});
