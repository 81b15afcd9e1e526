/**
 * The reverse-mode engine (define-by-run, PyTorch semantics).
 *
 * A recorded op is a `Node`: its backward closure plus one `Edge` per forward argument that
 * requires grad. Non-leaf edges point at (producer node, output number) and keep only the shape
 * and dtype of the input, never its data, so activations are freed as soon as no saved tensor
 * holds them. Leaf edges point at the leaf tensor (parameters are alive anyway).
 *
 * `backward()` counts, for every node reachable from the roots, how many edges feed it, then runs
 * nodes in dependency order (a node runs once all its consumers have contributed), summing
 * gradients per output. Backward closures run under noGrad: no higher-order gradients.
 */
import { SelfsupError, selfsupError, shapeStr, typeError } from '../errors';
import { Tensor, arrayCtor, type DType, type Device, type TensorData } from '../tensor';
import { noGrad } from './grad-mode';
import { bumpVersion } from './version';
import { axpy, binary as nativeBinary, outArray } from '../ops/native-core';
import { castCuda, cloneRaw, toCuda } from '../ops/common';
import { keepBuffer, recycle } from '../storage';

export interface TensorMeta {
  shape: number[];
  dtype: DType;
  device?: Device;
}

/** Where the gradient of one forward argument goes. */
export interface Edge {
  /** The producer of a non-leaf input (with `outputNr`), or null for a leaf. */
  node: Node | null;
  outputNr: number;
  /** The leaf to accumulate into (when node is null). */
  leaf: Tensor | null;
  meta: TensorMeta;
}

export type GradResult = Tensor | null | undefined | ReadonlyArray<Tensor | null | undefined>;

export class Node {
  released = false;
  constructor(
    /** e.g. 'MulBackward' */
    readonly name: string,
    /** Indexed by forward argument position (null: not a tensor, or no grad needed). */
    readonly edges: ReadonlyArray<Edge | null>,
    readonly outputs: ReadonlyArray<TensorMeta>,
    private readonly run: (grads: Tensor[]) => GradResult,
    private readonly free: () => void,
    /** Its backward returns only tensors it allocated or its incoming gradients (library ops). */
    readonly freshGrads = false,
  ) {}

  /** Calls the user's backward; normalizes and checks the result against the inputs. */
  apply(grads: Tensor[]): Array<Tensor | null> {
    if (this.released) {
      throw new SelfsupError(
        'ERR_AUTOGRAD',
        `Expected retainGraph: true on the previous backward() for a second backward through ${this.name} ` +
          `but received a graph whose saved tensors were already freed (call backward(grad, { retainGraph: true }) the first time)`,
      );
    }
    const res = noGrad(() => this.run(grads));
    const list: ReadonlyArray<Tensor | null | undefined> = res instanceof Tensor || res === null || res === undefined ? [res] : res;
    if (!Array.isArray(list)) throw typeError('a Tensor, null, or an array of them', `${this.name} (backward result)`, res);
    const out: Array<Tensor | null> = [];
    for (let i = 0; i < this.edges.length; i++) {
      const e = this.edges[i];
      const g = list[i];
      if (!e || g === null || g === undefined) {
        out.push(null);
        continue;
      }
      if (!(g instanceof Tensor)) throw typeError('a Tensor or null', `${this.name} (gradient of input ${i})`, g);
      if (shapeStr(g.shape) !== shapeStr(e.meta.shape)) {
        throw selfsupError('ERR_AUTOGRAD', `a gradient of shape ${shapeStr(e.meta.shape)}`, `${this.name} (gradient of input ${i})`, shapeStr(g.shape));
      }
      out.push(g.dtype === e.meta.dtype ? g : castData(g, e.meta.dtype));
    }
    return out;
  }

  release(): void {
    this.released = true;
    this.free();
  }
}

// On 'cuda' (docs/cuda.md) the gradient buffers are device arrays: copies, casts, seeds and sums
// below go through the device ops; `data` stays the storage's identity for `owned`.
function castData(t: Tensor, dtype: DType): Tensor {
  if (t.device === 'cuda') return castCuda(t, dtype);
  const a = outArray(dtype, t.data.length); // set() below writes every element
  a.set(t.data);
  return new Tensor(a, t.shape);
}

function addInPlace(dst: TensorData, src: TensorData): void {
  if (axpy(dst, src, 1)) return; // native: one multithreaded pass
  for (let i = 0; i < dst.length; i++) dst[i] += src[i];
}

/** sum = a + c (same length) natively; false on the reference backend. */
function addArrays(sum: TensorData, a: TensorData, c: TensorData): boolean {
  const n = [a.length];
  return nativeBinary('add', sum, n, a, n, c, n);
}

function fresh(t: Tensor, dtype: DType): Tensor {
  if (t.device === 'cuda') return dtype === t.dtype ? cloneRaw(t) : castCuda(t, dtype);
  const a = outArray(dtype, t.data.length); // set() below writes every element
  a.set(t.data);
  return new Tensor(a, t.shape);
}

function onesLike(meta: TensorMeta): Tensor {
  return filled(meta, 1);
}

function zerosOf(meta: TensorMeta): Tensor {
  return filled(meta, 0);
}

function filled(meta: TensorMeta, v: number): Tensor {
  let n = 1;
  for (const d of meta.shape) n *= d;
  const a = new (arrayCtor(meta.dtype === 'bfloat16' || meta.dtype === 'float16' ? 'float32' : meta.dtype))(n);
  const t = new Tensor(v === 0 ? a : a.fill(v), meta.shape); // a new array is zeroed already
  return meta.device === 'cuda' ? toCuda(t, meta.dtype) : t;
}

function checkRootGrad(root: Tensor, g: Tensor | number | undefined, i: number, where: string): Tensor {
  const name = `${where}(grad${i ? `[${i}]` : ''})`;
  if (g === undefined) {
    if (root.numel() !== 1) {
      throw selfsupError('ERR_AUTOGRAD', `a grad tensor of shape ${shapeStr(root.shape)} (grad can be omitted only for a one-element tensor)`, name, 'undefined');
    }
    return onesLike({ shape: root.shape, dtype: root.dtype, device: root.device });
  }
  if (typeof g === 'number') {
    if (root.numel() !== 1) throw selfsupError('ERR_AUTOGRAD', `a grad tensor of shape ${shapeStr(root.shape)}`, name, `the number ${g}`);
    return filled({ shape: root.shape, dtype: root.dtype, device: root.device }, g);
  }
  if (!(g instanceof Tensor)) throw typeError('a Tensor', name, g);
  if (shapeStr(g.shape) !== shapeStr(root.shape)) throw selfsupError('ERR_SHAPE_MISMATCH', `a grad of shape ${shapeStr(root.shape)}`, name, shapeStr(g.shape));
  if (g.device !== root.device) throw selfsupError('ERR_DEVICE_MISMATCH', `a grad on '${root.device}' (the device of the tensor)`, name, `a Tensor on '${g.device}'`);
  return g.dtype === root.dtype ? g : castData(g, root.dtype);
}

/**
 * Gradient-ready hooks (the smallest hook data parallelism needs): `fn(grad)` runs during
 * backward() as soon as the leaf's gradient for this pass is complete (every edge into it has
 * run), before the pass accumulates it into `.grad` (null: no gradient reached it). DDP starts a
 * bucket's all-reduce from here while the rest of backward is still running. Not called by grad().
 */
type GradReadyHook = (grad: Tensor | null) => void;
const gradReadyHooks = new WeakMap<Tensor, GradReadyHook[]>();
let hookedLeaves = 0;

export function registerGradReadyHook(leaf: Tensor, fn: GradReadyHook): { remove(): void } {
  if (!(leaf instanceof Tensor)) throw typeError('a Tensor', 'registerGradReadyHook(leaf)', leaf);
  if (typeof fn !== 'function') throw typeError('a function', 'registerGradReadyHook(fn)', fn);
  const list = gradReadyHooks.get(leaf) ?? [];
  if (!list.length) hookedLeaves++;
  gradReadyHooks.set(leaf, [...list, fn]);
  return {
    remove(): void {
      const before = gradReadyHooks.get(leaf) ?? [];
      const l = before.filter((h) => h !== fn);
      if (l.length) gradReadyHooks.set(leaf, l);
      else if (before.length) {
        gradReadyHooks.delete(leaf);
        hookedLeaves--;
      }
    },
  };
}

interface RunOptions {
  retainGraph?: boolean;
  /** torch.autograd.grad mode: record grads of these tensors instead of accumulating into .grad. */
  capture?: Tensor[];
}

/** Runs the reverse pass; returns the captured grads (capture mode) or []. */
function run(roots: Tensor[], grads: Array<Tensor | number | undefined>, opts: RunOptions, where: string): Array<Tensor | null> {
  const retain = opts.retainGraph ?? false;
  if (typeof retain !== 'boolean') throw typeError('a boolean', `${where}(options.retainGraph)`, retain);
  const capture = opts.capture;
  const leafCapture = new Map<Tensor, Tensor | null>();
  const nodeCapture = new Map<Node, Map<number, Tensor[]>>(); // node -> outputNr -> capture slots
  const captured: Array<Tensor | null> = capture ? capture.map(() => null) : [];
  if (capture) {
    capture.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw typeError('a Tensor', `${where}(inputs[${i}])`, t);
      if (!t.requiresGrad) throw selfsupError('ERR_AUTOGRAD', 'a tensor that requires grad', `${where}(inputs[${i}])`, 'a tensor with requiresGrad false');
      if (t.gradFn === null) leafCapture.set(t, null);
      else {
        let m = nodeCapture.get(t.gradFn);
        if (!m) nodeCapture.set(t.gradFn, (m = new Map()));
        m.set(t.outputNr, []);
      }
    });
  }
  // Gradients are borrowed until they must be written: a backward may return the same tensor for
  // two inputs (Add) or pass its incoming gradient through, so a buffer is only added into in
  // place once this pass allocated it (`owned`); otherwise the sum goes to a fresh buffer.
  const owned = new Set<TensorData>();
  // An owned buffer that no longer feeds anything goes back to the storage pool (lib/storage.ts):
  // the next allocation of its size reuses it instead of a new ArrayBuffer. Not in capture mode
  // (the caller gets gradients back) nor with gradient-ready hooks (they may keep what they saw).
  const recycling = !capture && hookedLeaves === 0;
  const drop = (g: Tensor): void => {
    if (recycling && owned.delete(g.data)) recycle(g.data);
  };
  const sumInto = (prev: Tensor, g: Tensor): Tensor => {
    if (owned.has(prev.data)) {
      addInPlace(prev.data, g.data);
      if (g.data !== prev.data) drop(g);
      return prev;
    }
    if (owned.has(g.data)) {
      addInPlace(g.data, prev.data); // a + b in either buffer: the same bits
      return new Tensor(g.data, prev.shape);
    }
    // Both paths below write every element of sum: no zero-fill needed.
    const a = prev.data, c = g.data, sum = outArray(prev.dtype, a.length, prev.device);
    if (!addArrays(sum, a, c)) for (let i = 0; i < sum.length; i++) sum[i] = a[i] + c[i];
    owned.add(sum);
    return new Tensor(sum, prev.shape);
  };
  const leafGrads = new Map<Tensor, Tensor>();
  const accumulateLeaf = (leaf: Tensor, g: Tensor): void => {
    if (capture) {
      if (!leafCapture.has(leaf)) return;
      const prev = leafCapture.get(leaf);
      if (prev) leafCapture.set(leaf, sumInto(prev, g));
      else leafCapture.set(leaf, g.dtype === leaf.dtype ? g : fresh(g, leaf.dtype));
      return;
    }
    const prev = leafGrads.get(leaf);
    if (prev) leafGrads.set(leaf, sumInto(prev, g));
    else leafGrads.set(leaf, g.dtype === leaf.dtype ? g : fresh(g, leaf.dtype));
  };

  // Gradient buffers per node output, and dependency counts over the reachable graph.
  const buffers = new Map<Node, Array<Tensor | undefined>>();
  const deps = new Map<Node, number>();
  const addToBuffer = (node: Node, nr: number, g: Tensor): void => {
    let b = buffers.get(node);
    if (!b) buffers.set(node, (b = new Array<Tensor | undefined>(node.outputs.length)));
    const prev = b[nr];
    b[nr] = prev ? sumInto(prev, g) : g;
  };

  const starts: Node[] = [];
  roots.forEach((root, i) => {
    const name = roots.length > 1 ? `${where}(outputs[${i}])` : `${where}(this)`;
    if (!(root instanceof Tensor)) throw typeError('a Tensor', name, root);
    if (!root.requiresGrad) {
      throw selfsupError(
        'ERR_AUTOGRAD',
        'a tensor that requires grad (computed from a leaf with requiresGrad: true while grad mode is enabled)',
        name,
        'a tensor with requiresGrad false and no gradFn',
      );
    }
    const g = checkRootGrad(root, grads[i], roots.length > 1 ? i : 0, where);
    if (root.gradFn === null) accumulateLeaf(root, g);
    else {
      addToBuffer(root.gradFn, root.outputNr, g);
      starts.push(root.gradFn);
    }
  });

  // Dependency counting by iterative DFS (graphs can be deep: no recursion).
  // Roots that share a node (two outputs of one op) start it once: each visit counts its edges.
  const seen = new Set<Node>(starts);
  const stack: Node[] = [...seen];
  // Edges still to run into each hooked leaf (gradient-ready hooks; none registered: no cost).
  const hooks = capture || hookedLeaves === 0 ? null : gradReadyHooks;
  const leafPending = new Map<Tensor, number>();
  const leafDone = (leaf: Tensor): void => {
    const left = (leafPending.get(leaf) ?? 1) - 1;
    leafPending.set(leaf, left);
    if (left === 0) for (const h of hooks!.get(leaf) ?? []) h(leafGrads.get(leaf) ?? null);
  };
  while (stack.length) {
    const n = stack.pop() as Node;
    for (const e of n.edges) {
      if (e && e.leaf && hooks?.has(e.leaf)) leafPending.set(e.leaf, (leafPending.get(e.leaf) ?? 0) + 1);
      if (!e || !e.node) continue;
      deps.set(e.node, (deps.get(e.node) ?? 0) + 1);
      if (!seen.has(e.node)) {
        seen.add(e.node);
        stack.push(e.node);
      }
    }
  }
  const ready: Node[] = [];
  for (const s of new Set(starts)) if (!deps.get(s)) ready.push(s);

  while (ready.length) {
    const node = ready.pop() as Node;
    const buf = buffers.get(node) ?? [];
    buffers.delete(node);
    const gradsIn = node.outputs.map((meta, k) => buf[k] ?? zerosOf(meta));
    // Handed to a backward, a buffer may come back as several inputs' gradient: no longer ours.
    const mine = node.freshGrads ? gradsIn.filter((g) => owned.has(g.data)).map((g) => g.data) : [];
    for (const g of gradsIn) owned.delete(g.data);
    const slots = nodeCapture.get(node);
    if (slots) for (const [nr, list] of slots) list.push(gradsIn[nr]);
    const results = node.apply(gradsIn);
    if (!retain) node.release();
    if (node.freshGrads) {
      // A library op's result returned once is ours to keep as a .grad or to add into in place
      // when its backward allocated it for this pass, or when it is an incoming gradient that was
      // ours (a reshape's backward passes its gradient on).
      results.forEach((g, i) => {
        if (!g || (gradsIn.some((x) => x.data === g.data) && !mine.includes(g.data))) return;
        for (let j = 0; j < results.length; j++) if (j !== i && results[j]?.data === g.data) return;
        owned.add(g.data);
      });
      // It keeps nothing of its incoming gradients: one of ours is dead once no result shares its
      // memory.
      if (recycling) for (const d of mine) if (!results.some((r) => r && r.data.buffer === d.buffer)) recycle(d);
    }
    node.edges.forEach((e, i) => {
      if (!e) return;
      const g = results[i];
      if (e.node) {
        if (g) addToBuffer(e.node, e.outputNr, g);
        const left = (deps.get(e.node) ?? 1) - 1;
        deps.set(e.node, left);
        if (left === 0) ready.push(e.node);
      } else if (e.leaf) {
        if (g) accumulateLeaf(e.leaf, g);
        if (leafPending.has(e.leaf)) leafDone(e.leaf);
      }
    });
  }
  // A hooked root that is itself a leaf has no edge into it: its gradient is ready now.
  if (hooks) for (const r of roots) if (r.gradFn === null && hooks.has(r) && !leafPending.has(r)) for (const h of hooks.get(r)!) h(leafGrads.get(r) ?? null);

  if (capture) {
    capture.forEach((t, i) => {
      // A borrowed gradient is copied so the caller owns what it gets.
      const own = (g: Tensor | null | undefined): Tensor | null => (g ? (owned.has(g.data) ? g : fresh(g, g.dtype)) : null);
      if (t.gradFn === null) captured[i] = own(leafCapture.get(t));
      else captured[i] = own(nodeCapture.get(t.gradFn)?.get(t.outputNr)?.[0]);
    });
    return captured;
  }
  // Accumulate into .grad only after the whole pass succeeded (a failing backward leaves .grad as it was).
  // An existing .grad is accumulated into in place (PyTorch); a new one is the pass's own buffer,
  // or a copy of a borrowed one (it may be another leaf's gradient or the caller's grad argument).
  const given = new Set<TensorData>();
  for (const [leaf, g] of leafGrads) {
    if (leaf.grad && shapeStr(leaf.grad.shape) === shapeStr(leaf.shape) && leaf.grad.dtype === leaf.dtype) {
      addInPlace(leaf.grad.data, g.data);
      bumpVersion(leaf.grad.data);
      if (!given.has(g.data)) drop(g);
    }
    else if (owned.has(g.data) && !given.has(g.data)) {
      leaf.grad = g;
      given.add(g.data);
    } else leaf.grad = fresh(g, leaf.dtype);
    keepBuffer(leaf.grad!.data.buffer); // a .grad outlives any tidy() the backward runs in
  }
  return [];
}

/** `t.backward()` and `backward([loss1, loss2], [g1, g2])`: accumulates into leaves' `.grad`. */
export function backward(
  tensors: Tensor | Tensor[],
  grads?: Tensor | number | Array<Tensor | number | undefined>,
  options: { retainGraph?: boolean } = {},
): void {
  const roots = Array.isArray(tensors) ? tensors : [tensors];
  const gs = grads === undefined ? roots.map(() => undefined) : Array.isArray(grads) ? grads : [grads];
  if (gs.length !== roots.length) throw selfsupError('ERR_AUTOGRAD', `${roots.length} gradients (one per tensor)`, 'backward(grads)', String(gs.length));
  run(roots, gs, { retainGraph: options.retainGraph }, 'backward');
}

/**
 * torch.autograd.grad: the gradients of `outputs` with respect to `inputs`, returned instead of
 * accumulated into `.grad` (null for an input the outputs do not depend on).
 */
export function grad(
  outputs: Tensor | Tensor[],
  inputs: Tensor | Tensor[],
  gradOutputs?: Tensor | number | Array<Tensor | number | undefined>,
  options: { retainGraph?: boolean } = {},
): Array<Tensor | null> {
  const roots = Array.isArray(outputs) ? outputs : [outputs];
  const ins = Array.isArray(inputs) ? inputs : [inputs];
  const gs = gradOutputs === undefined ? roots.map(() => undefined) : Array.isArray(gradOutputs) ? gradOutputs : [gradOutputs];
  if (gs.length !== roots.length) throw selfsupError('ERR_AUTOGRAD', `${roots.length} gradients (one per output)`, 'grad(gradOutputs)', String(gs.length));
  return run(roots, gs, { retainGraph: options.retainGraph, capture: ins }, 'grad');
}
