/**
 * User-definable differentiable functions, forward and backward side by side.
 *
 *   const mulAdd = defineFunction({
 *     name: 'mulAdd',
 *     forward(ctx, a: Tensor, b: Tensor, c: number) {
 *       ctx.save(a, b);            // exactly what backward needs
 *       ctx.c = c;                 // non-tensor state goes on ctx
 *       return a.mul(b).add(c);    // runs under noGrad: nothing inside is recorded
 *     },
 *     backward(ctx, g) {
 *       const [a, b] = ctx.saved;
 *       return [g.mul(b), g.mul(a)]; // one entry per forward argument; null / omitted = no grad
 *     },
 *   });
 *   mulAdd(x, y, 2);
 *
 * Rules (PyTorch's torch.autograd.Function):
 * - forward receives the arguments as given (tensors and anything else) and returns a Tensor, an
 *   array of Tensors, or a record of Tensors (fused ops returning { loss, invariance, ... }).
 * - backward receives one gradient per output, in order (records: Object.keys order). Gradients of
 *   outputs that did not take part in the loss are zeros (PyTorch's materialize_grads).
 * - backward returns one entry per forward argument (a Tensor of that argument's shape, or null);
 *   trailing entries may be omitted; entries for non-tensor or non-differentiable arguments (int32
 *   indices, bool masks) are ignored. `ctx.needsInputGrad[i]` says which ones are wanted.
 * - int32/bool outputs never require grad (indices, masks).
 * - No double backward: backward runs under noGrad.
 */
import { SelfsupError, typeError } from '../errors';
import { Tensor, isFloatingDType } from '../tensor';
import { Node, type Edge, type GradResult, type TensorMeta } from './engine';
import { isGradEnabled, noGrad } from './grad-mode';
import { versionOf } from './version';

/**
 * A Tensor, an array of Tensors, or a record whose values are Tensors (checked at run time; typed
 * as `object` so that interfaces such as `{ loss: Tensor; invariance: Tensor }` qualify).
 */
export type FunctionOutput = Tensor | Tensor[] | object;

/** Per-call state shared by forward and backward. Extra fields hold non-tensor state. */
export class FunctionCtx {
  /** needsInputGrad[i]: forward argument i is a tensor whose gradient is wanted. */
  needsInputGrad: boolean[] = [];
  private savedTensors: Tensor[] | null = [];
  private freed = false;
  // Free-form non-tensor state (shapes, dims, options, raw typed arrays such as a log-sum-exp buffer).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [key: string]: any;

  constructor(readonly name: string) {}

  /** Saves tensors for backward (read them back with `ctx.saved`, same order). */
  save(...tensors: Array<Tensor | null>): void {
    this.savedTensors = tensors as Tensor[];
    this.savedVersions = tensors.map((t) => (t ? versionOf(t.data) : 0));
  }
  private savedVersions: number[] = [];
  get saved(): Tensor[] {
    if (this.freed || this.savedTensors === null) {
      throw new SelfsupError(
        'ERR_AUTOGRAD',
        `Expected the saved tensors of ${this.name} for backward but received freed buffers ` +
          `(the graph was already back-propagated; pass { retainGraph: true } to the first backward())`,
      );
    }
    // A saved tensor written in place since forward would give a wrong gradient: refuse.
    this.savedTensors.forEach((t, i) => {
      if (!t) return;
      const v = versionOf(t.data);
      if (v !== this.savedVersions[i]) {
        throw new SelfsupError(
          'ERR_AUTOGRAD',
          `Expected saved tensor ${i} of ${this.name}Backward (shape [${t.shape.join(', ')}]) at version ${this.savedVersions[i]} ` +
            `but received version ${v}: it was modified by an in-place operation after the forward ` +
            `(clone() it before modifying it, or modify it after backward())`,
        );
      }
    });
    return this.savedTensors;
  }
  /** Called by the engine after backward (unless retainGraph): drops saved tensors and extra state. */
  release(): void {
    this.freed = true;
    this.savedTensors = null;
    // Cleared, not deleted: `delete` moves the object to V8's slower dictionary mode.
    for (const k of Object.keys(this)) {
      if (k !== 'name' && k !== 'needsInputGrad' && k !== 'freed' && k !== 'savedTensors' && k !== 'savedVersions') this[k] = undefined;
    }
  }
}

export interface FunctionDefinition<A extends unknown[], O extends FunctionOutput> {
  /** Op name for errors and printing: the node prints as `${name}Backward`. */
  name: string;
  forward(ctx: FunctionCtx, ...args: A): O;
  backward(ctx: FunctionCtx, ...grads: Tensor[]): GradResult;
}

export type DefinedFunction<A extends unknown[], O extends FunctionOutput> = ((...args: A) => O) & {
  readonly fnName: string;
  readonly definition: FunctionDefinition<A, O>;
};

function flattenOutputs(out: unknown, name: string): { list: Tensor[]; keys: string[] | null } {
  if (out instanceof Tensor) return { list: [out], keys: null };
  if (Array.isArray(out)) {
    out.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw typeError('a Tensor', `${name}.forward (output ${i})`, t);
    });
    return { list: out as Tensor[], keys: null };
  }
  if (out !== null && typeof out === 'object') {
    const keys = Object.keys(out);
    const list = keys.map((k) => {
      const t = (out as Record<string, unknown>)[k];
      if (!(t instanceof Tensor)) throw typeError('a Tensor', `${name}.forward (output '${k}')`, t);
      return t;
    });
    return { list, keys };
  }
  throw typeError('a Tensor, an array of Tensors or a record of Tensors', `${name}.forward (result)`, out);
}

/** Applies a definition to arguments: runs forward untracked, then records one node. */
export function applyFunction<A extends unknown[], O extends FunctionOutput>(def: FunctionDefinition<A, O>, args: A, freshGrads = false): O {
  const ctx = new FunctionCtx(def.name);
  const recording = isGradEnabled();
  const edges: Array<Edge | null> = args.map((a) => {
    if (!recording || !(a instanceof Tensor) || !a.requiresGrad) return null;
    const meta: TensorMeta = { shape: a.shape.slice(), dtype: a.dtype, device: a.device };
    return a.gradFn ? { node: a.gradFn, outputNr: a.outputNr, leaf: null, meta } : { node: null, outputNr: 0, leaf: a, meta };
  });
  ctx.needsInputGrad = edges.map((e) => e !== null);
  const out = noGrad(() => def.forward(ctx, ...args));
  const { list, keys } = flattenOutputs(out, def.name);
  // Nothing recorded: ctx is unreachable once we return, so there is nothing to release.
  if (!edges.some((e) => e !== null)) return out;
  // Outputs that are (or alias) an input object get a fresh wrapper: the input keeps its own gradFn.
  const argSet = new Set<unknown>(args);
  const wrapped = list.map((t) => (argSet.has(t) || t.gradFn !== null || t.requiresGrad ? new Tensor(t.data, t.shape) : t));
  const node = new Node(
    `${def.name}Backward`,
    edges,
    wrapped.map((t) => ({ shape: t.shape.slice(), dtype: t.dtype, device: t.device })),
    (grads) => def.backward(ctx, ...grads),
    () => ctx.release(),
    freshGrads,
  );
  wrapped.forEach((t, i) => {
    if (!isFloatingDType(t.dtype)) return;
    t.gradFn = node;
    t.outputNr = i;
    (t as unknown as { _requiresGrad: boolean })._requiresGrad = true;
  });
  if (out instanceof Tensor) return wrapped[0] as O;
  if (keys === null) return wrapped as O;
  const rec: { [key: string]: Tensor } = {};
  keys.forEach((k, i) => (rec[k] = wrapped[i]));
  return rec as O;
}

/** Defines a differentiable op; returns a plain callable with the forward's argument types. */
export function defineFunction<A extends unknown[], O extends FunctionOutput>(def: FunctionDefinition<A, O>): DefinedFunction<A, O> {
  if (def === null || typeof def !== 'object') throw typeError('a definition object', 'defineFunction(def)', def);
  if (typeof def.name !== 'string' || !def.name) throw typeError('a non-empty string', 'defineFunction(def.name)', def.name);
  if (typeof def.forward !== 'function') throw typeError('a function', 'defineFunction(def.forward)', def.forward);
  if (typeof def.backward !== 'function') throw typeError('a function', 'defineFunction(def.backward)', def.backward);
  const fn = (...args: A): O => applyFunction(def, args);
  Object.defineProperty(fn, 'name', { value: def.name });
  return Object.assign(fn, { fnName: def.name, definition: def });
}

/**
 * defineFunction for the library's own ops, whose backward always returns tensors it allocated
 * (or its incoming gradient): the engine may then keep such a gradient as a leaf's .grad without
 * a defensive copy, and add into it in place. User functions (defineFunction) may return tensors
 * they keep elsewhere, so theirs are copied.
 */
export function defineOp<A extends unknown[], O extends FunctionOutput>(def: FunctionDefinition<A, O>): DefinedFunction<A, O> {
  const f = defineFunction(def);
  const fn = (...args: A): O => applyFunction(def, args, true);
  Object.defineProperty(fn, 'name', { value: def.name });
  return Object.assign(fn, { fnName: f.fnName, definition: def });
}

/**
 * Class form, like torch.autograd.Function:
 *
 *   class Cube extends Function {
 *     static forward(ctx: FunctionCtx, x: Tensor) { ctx.save(x); return x.pow(3); }
 *     static backward(ctx: FunctionCtx, g: Tensor) { const [x] = ctx.saved; return [g.mul(x.square()).mul(3)]; }
 *   }
 *   Cube.apply(x);
 */
export abstract class Function {
  static forward(_ctx: FunctionCtx, ..._args: unknown[]): FunctionOutput {
    throw new SelfsupError('ERR_UNSUPPORTED', `Expected a static forward() for ${this.name} but received none`);
  }
  static backward(_ctx: FunctionCtx, ..._grads: Tensor[]): GradResult {
    throw new SelfsupError('ERR_UNSUPPORTED', `Expected a static backward() for ${this.name} but received none`);
  }
  static apply<T extends FunctionOutput = Tensor>(...args: unknown[]): T {
    const cls = this as unknown as { name: string; forward: FunctionDefinition<unknown[], FunctionOutput>['forward']; backward: FunctionDefinition<unknown[], FunctionOutput>['backward'] };
    return applyFunction({ name: cls.name, forward: cls.forward.bind(cls), backward: cls.backward.bind(cls) }, args) as T;
  }
}
