/**
 * Optimizer base: parameter groups with per-group options (PyTorch's `param_groups`), per-parameter
 * state, zeroGrad / step / stateDict / loadStateDict.
 *
 * Updates run in place on `param.data` with plain typed-array loops: an optimizer step is not part
 * of any autograd graph, and JS numbers are float64, so each element's update is computed in
 * float64 and rounded once when stored (PyTorch's CPU float32 kernels round after every op; the
 * difference is within float32 rounding of a single step).
 */
import { bumpVersion } from '../autograd/version';
import { SelfsupError, describe, expectedMessage, rangeError, typeError } from '../errors';
import type { Tensor } from '../tensor';
import { DeviceArray, download, uploadInto } from '../cuda';
import { checkOptions } from '../validate';

export type FloatArray = Float32Array | Float64Array;

/** What an optimizer needs from a parameter: its data and its gradient (a tensor of the same shape). */
export type Param = Tensor;

/** A parameter group: the parameters plus every option, filled from the optimizer's defaults. */
export type ParamGroup<O> = O & { params: Param[] };

/** `new SGD(model.parameters(), ...)` or groups with overrides: `[{ params, lr: 0.1 }, { params }]`. */
export type ParamsArg<O> = Iterable<Param> | Array<{ params: Iterable<Param> } & Partial<O>>;

/** Per-parameter state: step counters are numbers, buffers are typed arrays of the param's dtype. */
export type ParamState = Record<string, number | FloatArray>;

/** Serializable optimizer state (PyTorch layout: parameters are referred to by their index). */
export interface OptimizerStateDict<O> {
  state: Record<number, ParamState>;
  paramGroups: Array<Partial<O> & { params: number[] }>;
}

/**
 * The data array of a float tensor, or a TypeError naming the optimizer and the argument. A cuda
 * tensor's DeviceArray (typed as FloatArray) only with `device`: the optimizers with a CUDA step.
 */
export function floatData(t: unknown, name: string, device = false): FloatArray {
  const d = (t as { data?: unknown } | null)?.data;
  if (d instanceof DeviceArray) {
    if (!device) throw new SelfsupError('ERR_NO_DEVICE', expectedMessage("a Tensor on 'cpu'", name, `a cuda Tensor: ${name.split(' ')[0]} has no CUDA kernel yet; call .cpu() first (AdamW, Adam, SGD and LARS run on cuda)`));
    if (d.dtype !== 'float32') throw typeError('a float32 Tensor (the optimizers update float32 parameters on cuda)', name, `a ${d.dtype} cuda Tensor`);
    return d as unknown as FloatArray;
  }
  if (!(d instanceof Float32Array || d instanceof Float64Array)) {
    throw typeError('a float32 or float64 Tensor', name, t);
  }
  return d;
}

/** The gradient's data, or null when the parameter has no gradient (it is skipped, as in PyTorch). */
export function gradData(p: Param, name: string, device = false): FloatArray | null {
  const g = (p as { grad?: unknown }).grad;
  if (g === null || g === undefined) return null;
  floatData(p, name, device);
  const d = floatData(g, `${name}.grad`, device);
  if ((p.data instanceof DeviceArray) !== (d instanceof DeviceArray)) {
    throw new SelfsupError('ERR_DEVICE_MISMATCH', expectedMessage(`a gradient on the parameter's device`, `${name}.grad`, 'a gradient on another device'));
  }
  if (d.length !== p.data.length) {
    throw new SelfsupError('ERR_SHAPE_MISMATCH', expectedMessage(`a gradient with ${p.data.length} elements`, `${name}.grad`, `${d.length} elements`));
  }
  return d;
}

/** Validates a numeric option (finite, within bounds). */
export function num(where: string, value: unknown, min = -Infinity, max = Infinity, minExclusive = false): number {
  if (typeof value !== 'number') throw typeError('a number', where, value);
  if (!Number.isFinite(value)) throw rangeError('a finite number', where, value);
  if ((minExclusive ? value <= min : value < min) || value > max) {
    const lo = Number.isFinite(min) ? (minExclusive ? `> ${min}` : `>= ${min}`) : '';
    const hi = Number.isFinite(max) ? `<= ${max}` : '';
    throw rangeError(`a number ${[lo, hi].filter(Boolean).join(' and ')}`, where, value);
  }
  return value;
}

export function bool(where: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw typeError('a boolean', where, value);
  return value;
}

function isIterable(x: unknown): x is Iterable<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function';
}

function isGroupSpec(x: unknown): x is { params: Iterable<Param> } {
  return x !== null && typeof x === 'object' && !ArrayBuffer.isView((x as { data?: unknown }).data) && 'params' in (x as object);
}

/**
 * Base class. Subclasses give their defaults and a validator for one group's options, and
 * implement `updateGroup`, which applies one step to the parameters of a group that have grads.
 */
export abstract class Optimizer<O extends object> {
  /** Class name used in error messages ("SGD", "AdamW", "LARS"). */
  readonly name: string;
  readonly defaults: Readonly<O>;
  paramGroups: Array<ParamGroup<O>> = [];
  /** Per-parameter state, keyed by the parameter tensor itself. */
  state = new Map<Param, ParamState>();

  /** `defaults` are the optimizer's own; `options` (the caller's) may only override their keys. */
  protected constructor(name: string, params: ParamsArg<O>, defaults: O, options: unknown = {}) {
    this.name = name;
    // A misspelt option (lrr) would otherwise become a default of its own and be ignored.
    const o = checkOptions<O>(`${name}(options)`, options, Object.keys(defaults) as (keyof O & string)[]);
    this.defaults = Object.freeze({ ...defaults, ...o });
    if (!isIterable(params)) throw typeError('an iterable of Tensors or of { params } groups', `${name} params`, params);
    const list = [...(params as Iterable<unknown>)];
    if (list.length === 0) throw rangeError('a non-empty list of parameters', `${name} params`, 'an empty list', true);
    if (list.every(isGroupSpec)) {
      for (const g of list as Array<{ params: Iterable<Param> } & Partial<O>>) this.addParamGroup(g);
    } else {
      this.addParamGroup({ params: list as Param[] } as unknown as { params: Iterable<Param> } & Partial<O>);
    }
  }

  /** Checks one group's options (called on construction, addParamGroup and loadStateDict). */
  protected abstract validateGroup(group: ParamGroup<O>, where: string): void;

  /** One step for the parameters of `group` that have a gradient (`grads[i]` belongs to `params[i]`). */
  protected abstract updateGroup(group: ParamGroup<O>, params: Param[], grads: FloatArray[], groupIndex: number): void;

  /** Adds a group; unspecified options come from the defaults (PyTorch's add_param_group). */
  addParamGroup(spec: { params: Iterable<Param> } & Partial<O>): void {
    const where = `${this.name} paramGroups[${this.paramGroups.length}]`;
    if (spec === null || typeof spec !== 'object') throw typeError('a { params, ...options } group', where, spec);
    if (!isIterable(spec.params)) throw typeError('an iterable of Tensors', `${where}.params`, spec.params);
    const params = [...spec.params];
    if (params.length === 0) throw rangeError('a non-empty list of parameters', `${where}.params`, 'an empty list', true);
    const seen = new Set<Param>();
    for (const g of this.paramGroups) for (const p of g.params) seen.add(p);
    params.forEach((p, i) => {
      floatData(p, `${where}.params[${i}]`, true); // a cuda parameter is refused at step() by optimizers without a CUDA step
      if (seen.has(p)) {
        throw new SelfsupError('ERR_INVALID_ARGUMENT', expectedMessage('each parameter in exactly one group', `${where}.params[${i}]`, 'a parameter that is already optimized'));
      }
      seen.add(p);
    });
    for (const key of Object.keys(spec)) {
      if (key !== 'params' && !(key in (this.defaults as object))) {
        throw rangeError(`one of the ${this.name} options (${Object.keys(this.defaults).join(', ')})`, `${where}.${key}`, key, true);
      }
    }
    const group = { ...this.defaults, ...spec, params } as ParamGroup<O>;
    this.validateGroup(group, where);
    this.paramGroups.push(group);
  }

  /** Clears gradients. PyTorch's default (setToNone = true) drops them; false zeroes them in place. */
  zeroGrad(setToNone = true): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        const grad = p.grad;
        if (!grad) continue;
        if (setToNone) p.grad = null;
        else grad.fill_(0); // on any device
      }
    }
  }

  /**
   * Applies one update to every parameter with a gradient. `closure` (re-evaluates the loss, as in
   * PyTorch) is called first when given and its value is returned.
   */
  step(closure?: () => number): number | undefined {
    let loss: number | undefined;
    if (closure !== undefined) {
      if (typeof closure !== 'function') throw typeError('a function', `${this.name}.step closure`, closure);
      loss = closure();
    }
    this.paramGroups.forEach((group, gi) => {
      this.validateGroup(group, `${this.name} paramGroups[${gi}]`);
      const params: Param[] = [];
      const grads: FloatArray[] = [];
      group.params.forEach((p, i) => {
        const g = gradData(p, `${this.name} paramGroups[${gi}].params[${i}]`, this.cudaStep);
        if (g) {
          params.push(p);
          grads.push(g);
        }
      });
      if (params.length) {
        this.updateGroup(group, params, grads, gi);
        // The step wrote the parameters in place: a graph that saved them can no longer backprop.
        for (const p of params) bumpVersion(p.data);
      }
    });
    return loss;
  }

  /** True for the optimizers whose update runs on cuda parameters (docs/cuda.md). */
  protected readonly cudaStep: boolean = false;

  /** State for `p`, created empty on first use. */
  protected stateOf(p: Param): ParamState {
    let s = this.state.get(p);
    if (!s) {
      s = {};
      this.state.set(p, s);
    }
    return s;
  }

  /** A zero buffer like `p`'s data (same dtype), the way PyTorch's `zeros_like(p)` is. */
  protected zerosLike(p: Param): FloatArray {
    if (p.data instanceof DeviceArray) {
      const d = new DeviceArray(p.data.dtype, p.data.length);
      uploadInto(d, new Float32Array(p.data.length));
      return d as unknown as FloatArray;
    }
    return p.data instanceof Float64Array ? new Float64Array(p.data.length) : new Float32Array(p.data.length);
  }

  /**
   * A deep copy of the state with parameters referred to by index (in group order; state held on
   * 'cuda' is copied to host arrays), and the group
   * options (function-valued options such as LARS's `exclude` are kept by reference: they are code,
   * not state, and are never restored from a dict).
   */
  stateDict(): OptimizerStateDict<O> {
    const index = new Map<Param, number>();
    const paramGroups: OptimizerStateDict<O>['paramGroups'] = this.paramGroups.map((g) => {
      const { params, ...opts } = g;
      return { ...(opts as unknown as Partial<O>), params: params.map((p) => {
        if (!index.has(p)) index.set(p, index.size);
        return index.get(p)!;
      }) };
    });
    const state: Record<number, ParamState> = {};
    for (const [p, s] of this.state) {
      const i = index.get(p);
      if (i === undefined) continue;
      const copy: ParamState = {};
      // Device buffers come back as host copies (PyTorch's state_dict after .cpu()).
      for (const [k, v] of Object.entries(s)) copy[k] = typeof v === 'number' ? v : v instanceof DeviceArray ? (download(v) as Float32Array) : v.slice();
      state[i] = copy;
    }
    return { state, paramGroups };
  }

  /**
   * Restores options and state saved by `stateDict()` from an optimizer over the same parameters
   * (same group sizes, same shapes). Buffers are copied into this optimizer's own arrays, on the
   * device of their parameter (uploaded for a cuda parameter).
   */
  loadStateDict(sd: OptimizerStateDict<O>): void {
    const where = `${this.name}.loadStateDict`;
    if (sd === null || typeof sd !== 'object' || !Array.isArray(sd.paramGroups) || sd.state === null || typeof sd.state !== 'object') {
      throw typeError('a { state, paramGroups } object', `${where} stateDict`, sd);
    }
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new SelfsupError('ERR_SHAPE_MISMATCH', expectedMessage(`${this.paramGroups.length} parameter groups`, `${where} stateDict.paramGroups`, `${sd.paramGroups.length}`));
    }
    const byIndex = new Map<number, Param>();
    sd.paramGroups.forEach((sg, gi) => {
      const g = this.paramGroups[gi];
      if (!sg || !Array.isArray(sg.params) || sg.params.length !== g.params.length) {
        throw new SelfsupError('ERR_SHAPE_MISMATCH', expectedMessage(`${g.params.length} parameters`, `${where} stateDict.paramGroups[${gi}].params`, describe(sg?.params)));
      }
      sg.params.forEach((idx, i) => byIndex.set(idx, g.params[i]));
    });
    const newState = new Map<Param, ParamState>();
    for (const [key, s] of Object.entries(sd.state)) {
      const p = byIndex.get(Number(key));
      if (!p) throw rangeError('a parameter index listed in paramGroups', `${where} stateDict.state key`, key, true);
      const copy: ParamState = {};
      for (const [k, v] of Object.entries(s)) {
        if (typeof v === 'number') copy[k] = v;
        else if (v instanceof Float32Array || v instanceof Float64Array) {
          if (v.length !== p.data.length) {
            throw new SelfsupError('ERR_SHAPE_MISMATCH', expectedMessage(`a buffer of ${p.data.length} elements (shape [${p.shape.join(', ')}])`, `${where} stateDict.state[${key}].${k}`, `${v.length} elements`));
          }
          const buf = this.zerosLike(p);
          // On a cuda parameter the state is uploaded (float32 on the device).
          if (buf instanceof DeviceArray) uploadInto(buf, v instanceof Float32Array ? v : Float32Array.from(v));
          else buf.set(v);
          copy[k] = buf;
        } else throw typeError('a number or a Float32Array/Float64Array', `${where} stateDict.state[${key}].${k}`, v);
      }
      newState.set(p, copy);
    }
    // Options: copy plain values only (functions stay as configured in code), then validate.
    const restored = this.paramGroups.map((g, gi) => {
      const { params: _ignored, ...opts } = sd.paramGroups[gi];
      const next = { ...g } as ParamGroup<O>;
      for (const [k, v] of Object.entries(opts)) {
        if (typeof v === 'function' || !(k in (this.defaults as object))) continue;
        (next as Record<string, unknown>)[k] = Array.isArray(v) ? v.slice() : v;
      }
      this.validateGroup(next, `${where} stateDict.paramGroups[${gi}]`);
      return next;
    });
    // Written into the existing group objects, not replacing them: a scheduler (or any caller)
    // holding a group keeps driving this optimizer after a load, as with PyTorch's
    // load_state_dict + LRScheduler. Everything was validated above, so the load is all or nothing.
    restored.forEach((next, gi) => Object.assign(this.paramGroups[gi], next));
    this.state = newState;
  }
}
