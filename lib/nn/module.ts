/**
 * `Module`: the container for parameters, buffers and submodules (PyTorch's nn.Module).
 *
 * Registration is by reflection over own properties, in declaration order, so a module is written
 * like a PyTorch one without `register_*` calls:
 *   - a Tensor marked with `Parameter(t)` is a parameter,
 *   - a Tensor stored with `this.registerBuffer('runningMean', t)` is a buffer (state that is saved
 *     but not optimized, e.g. BatchNorm running stats, fixed positional embeddings),
 *   - a `Module` is a child. Lists of modules use `ModuleList` (plain arrays are not walked, so a
 *     cache of modules never turns into parameters by accident).
 *
 * State-dict keys (and `namedParameters` names) are the dotted property path converted to
 * snake_case (`runningMean` -> `running_mean`, `clsToken` -> `cls_token`): the names PyTorch and
 * timm use for the same modules, so a state dict moves to and from PyTorch through safetensors
 * without renaming (docs/safetensors.md).
 */
import { SelfsupError, describe, expectedMessage, shapeStr, typeError } from '../errors';
import { Tensor, arrayCtor, checkDevice, replaceStorage, type Device, type TensorData } from '../tensor';
import { noGrad } from '../autograd/grad-mode';
import { type DeviceArray, type HostArray, type CudaDType, download, upload, uploadInto } from '../cuda';
import { readSafetensorsFile, writeSafetensorsFile, type RawTensor } from './safetensors';

/** A tensor's host values for a file: cuda tensors are copied back (bfloat16/float16 as float32). */
export function rawTensor(t: Tensor): RawTensor {
  const h = t.cpuCopy();
  const dtype = h.dtype === 'bfloat16' || h.dtype === 'float16' ? 'float32' : h.dtype;
  return { dtype, shape: h.shape, data: h.toArray() as RawTensor['data'] };
}

const PARAMETERS = new WeakSet<Tensor>();

/** `data` as a host array of a cuda dtype (itself when it already is one). */
function hostOf(dtype: string, data: ArrayLike<number>): HostArray {
  const Ctor = arrayCtor(dtype as 'float32');
  return (data instanceof Ctor ? data : Ctor.from(data)) as HostArray;
}

/** t's values in new storage on `device`, swapped into t itself (see replaceStorage). */
function moveTensor(t: Tensor, device: Device): void {
  if (t.device === device) return;
  const data = device === 'cuda' ? upload(t.data as HostArray, t.dtype as CudaDType) : download(t.data as unknown as DeviceArray);
  replaceStorage(t, data as unknown as TensorData, device);
}

/**
 * Marks a tensor as a trainable parameter (sets requiresGrad) and returns it. The tensor must be a
 * float leaf. `Parameter(t)` keeps `t`'s storage: it is PyTorch's `nn.Parameter(t)` without a copy.
 */
export function Parameter(t: Tensor, requiresGrad = true): Tensor {
  if (!(t instanceof Tensor)) throw typeError('a Tensor', 'Parameter(t)', t);
  if (t.dtype !== 'float32' && t.dtype !== 'float64') throw typeError('a float32 or float64 Tensor', 'Parameter(t)', t);
  const leaf = t.gradFn === null ? t : t.detach();
  leaf.requiresGrad = requiresGrad;
  PARAMETERS.add(leaf);
  return leaf;
}

/** True for tensors created by `Parameter()`. */
export function isParameter(t: unknown): t is Tensor {
  return t instanceof Tensor && PARAMETERS.has(t);
}

/** `runningMean` -> `running_mean`; digits and existing underscores are kept (`fc1`, `norm_1`). */
export function toSnakeCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

/** A state dict: snake_case dotted keys to tensors (sharing storage with the module's, detached). */
export type StateDict = Record<string, Tensor>;

/** What loadStateDict accepts per key: a Tensor, or a raw { shape, data } (e.g. straight from a file). */
export type StateDictInput = Record<string, Tensor | RawTensor> | Map<string, Tensor | RawTensor>;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export abstract class Module {
  /** Training mode (dropout active, BatchNorm uses batch stats). Set with train()/eval(). */
  training = true;
  /** Names (property names) of the tensors registered as buffers; non-persistent ones are not saved. */
  private readonly _buffers = new Map<string, { persistent: boolean }>();

  /** The computation. Subclasses narrow the signature. */
  abstract forward(...args: never[]): unknown;

  /** Class name used in messages ("Linear", "BatchNorm1d"). */
  get moduleName(): string {
    return this.constructor.name;
  }

  /**
   * Stores `t` as the buffer `name` (a property of this module) and returns it. Buffers are in
   * stateDict() (unless persistent is false) but not in parameters().
   */
  registerBuffer(name: string, t: Tensor | null, persistent = true): Tensor | null {
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw typeError('an identifier', `${this.moduleName}.registerBuffer(name)`, name);
    if (t !== null && !(t instanceof Tensor)) throw typeError('a Tensor or null', `${this.moduleName}.registerBuffer(${name})`, t);
    if (t !== null && PARAMETERS.has(t)) {
      throw new SelfsupError('ERR_INVALID_ARGUMENT', expectedMessage('a plain tensor (not a Parameter)', `${this.moduleName}.registerBuffer(${name})`, 'a Parameter'));
    }
    this._buffers.set(name, { persistent });
    (this as unknown as Record<string, unknown>)[name] = t;
    return t;
  }

  // ---- traversal ---------------------------------------------------------------------------
  /** Own entries in declaration order: [propertyName, value, kind]. */
  private ownEntries(): Array<[string, Tensor | Module, 'param' | 'buffer' | 'module']> {
    const out: Array<[string, Tensor | Module, 'param' | 'buffer' | 'module']> = [];
    for (const [k, v] of Object.entries(this)) {
      if (k === '_buffers') continue;
      if (v instanceof Module) out.push([k, v, 'module']);
      else if (v instanceof Tensor) {
        if (PARAMETERS.has(v)) out.push([k, v, 'param']);
        else if (this._buffers.has(k)) out.push([k, v, 'buffer']);
      }
    }
    return out;
  }

  /** Direct children with their (snake_case) names. */
  *namedChildren(): IterableIterator<[string, Module]> {
    for (const [k, v, kind] of this.ownEntries()) if (kind === 'module') yield [toSnakeCase(k), v as Module];
  }
  *children(): IterableIterator<Module> {
    for (const [, m] of this.namedChildren()) yield m;
  }
  /** This module and every descendant, depth first ('' names this module), each module once. */
  *namedModules(prefix = '', seen = new Set<Module>()): IterableIterator<[string, Module]> {
    if (seen.has(this)) return;
    seen.add(this);
    yield [prefix, this];
    for (const [name, child] of this.namedChildren()) yield* child.namedModules(prefix ? `${prefix}.${name}` : name, seen);
  }
  *modules(): IterableIterator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }

  /** Parameters with dotted snake_case names; a parameter shared by two modules is listed once. */
  namedParameters(): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    const seen = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [k, v, kind] of m.ownEntries()) {
        if (kind !== 'param' || seen.has(v as Tensor)) continue;
        seen.add(v as Tensor);
        out.push([prefix ? `${prefix}.${toSnakeCase(k)}` : toSnakeCase(k), v as Tensor]);
      }
    }
    return out;
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }
  /** Buffers with dotted snake_case names (persistent and not). */
  namedBuffers(): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [k, v, kind] of m.ownEntries()) if (kind === 'buffer') out.push([prefix ? `${prefix}.${toSnakeCase(k)}` : toSnakeCase(k), v as Tensor]);
    }
    return out;
  }
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, b]) => b);
  }
  /** Total number of parameter elements (handy for printing model sizes). */
  numParameters(): number {
    return this.parameters().reduce((s, p) => s + p.numel(), 0);
  }

  // ---- modes and grads ---------------------------------------------------------------------
  /** Sets training mode on this module and every descendant; returns this. */
  train(mode = true): this {
    if (typeof mode !== 'boolean') throw typeError('a boolean', `${this.moduleName}.train(mode)`, mode);
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }
  /** Clears parameter gradients (setToNone, PyTorch's default, drops them; false zeroes in place). */
  zeroGrad(setToNone = true): void {
    for (const p of this.parameters()) {
      if (!p.grad) continue;
      if (setToNone) p.grad = null;
      else p.grad.fill_(0); // on any device
    }
  }
  /** Sets requiresGrad on every parameter (freezing a backbone for a linear probe, say). */
  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  // ---- devices -----------------------------------------------------------------------------
  /**
   * Moves every parameter and buffer, and the parameters' gradients, to `device` (PyTorch's
   * `module.to(device)`): each tensor keeps its identity (a Parameter stays that Parameter, so an
   * optimizer built over `parameters()` before the move follows it) and gets new storage on the
   * device. float64 tensors have no cuda storage: ERR_UNSUPPORTED naming the key, before anything
   * moves. Returns this.
   */
  to(device: Device | 'cuda:0'): this {
    const dev = checkDevice(`${this.moduleName}.to(device)`, device);
    const moves: Array<[Tensor, string]> = [];
    const seen = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [k, v, kind] of m.ownEntries()) {
        if (kind === 'module' || seen.has(v as Tensor)) continue;
        seen.add(v as Tensor);
        const t = v as Tensor, key = prefix ? `${prefix}.${toSnakeCase(k)}` : toSnakeCase(k);
        if (dev === 'cuda' && t.dtype === 'float64') {
          throw new SelfsupError('ERR_UNSUPPORTED', expectedMessage("float32 parameters and buffers (float64 has no cuda storage)", `${this.moduleName}.to('cuda') key "${key}"`, 'a float64 Tensor') + "; convert the module's tensors to float32 first");
        }
        moves.push([t, key]);
      }
    }
    noGrad(() => {
      for (const [t] of moves) {
        moveTensor(t, dev);
        if (t.grad) moveTensor(t.grad, dev);
      }
    });
    return this;
  }
  /** `to('cpu')`. */
  cpu(): this {
    return this.to('cpu');
  }
  /** `to('cuda')`. */
  cuda(): this {
    return this.to('cuda');
  }

  // ---- state dicts -------------------------------------------------------------------------
  /**
   * Parameters and persistent buffers under their dotted snake_case keys, in declaration order.
   * Tensors are detached and share storage with the module (like PyTorch): clone to snapshot.
   * A cuda module's entries are cpu copies (PyTorch's `state_dict()` after `.cpu()`).
   */
  stateDict(): StateDict {
    const sd: StateDict = {};
    for (const [prefix, m] of this.namedModules()) {
      for (const [k, v, kind] of m.ownEntries()) {
        if (kind === 'module') continue;
        if (kind === 'buffer' && !m._buffers.get(k)!.persistent) continue;
        const t = v as Tensor;
        sd[prefix ? `${prefix}.${toSnakeCase(k)}` : toSnakeCase(k)] = t.device === 'cuda' ? t.cpuCopy() : t.detach();
      }
    }
    return sd;
  }

  /** Every key loadStateDict would fill, mapped to the live tensor. */
  private stateTargets(): Map<string, Tensor> {
    const targets = new Map<string, Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [k, v, kind] of m.ownEntries()) {
        if (kind === 'module') continue;
        if (kind === 'buffer' && !m._buffers.get(k)!.persistent) continue;
        targets.set(prefix ? `${prefix}.${toSnakeCase(k)}` : toSnakeCase(k), v as Tensor);
      }
    }
    return targets;
  }

  /**
   * Copies values into the module's tensors in place (optimizers keep their references). Every
   * shape must match (an error names the key and both shapes). Float values convert between
   * float32 and float64; integer buffers take integer values. With strict (the default) a missing
   * or unexpected key throws naming it; otherwise they are returned.
   */
  loadStateDict(sd: StateDictInput, options: { strict?: boolean } = {}): LoadResult {
    const who = `${this.moduleName}.loadStateDict`;
    if (sd === null || typeof sd !== 'object') throw typeError('a state dict (object or Map of tensors)', `${who}(stateDict)`, sd);
    const strict = options.strict ?? true;
    if (typeof strict !== 'boolean') throw typeError('a boolean', `${who} options.strict`, strict);
    const entries = sd instanceof Map ? [...sd.entries()] : Object.entries(sd);
    const targets = this.stateTargets();
    const unexpectedKeys: string[] = [];
    const loaded = new Set<string>();
    const plan: Array<[Tensor, ArrayLike<number>]> = [];
    for (const [key, value] of entries) {
      const target = targets.get(key);
      if (!target) {
        unexpectedKeys.push(key);
        continue;
      }
      const v = value as { shape?: unknown; data?: unknown };
      if (v === null || typeof v !== 'object' || !Array.isArray(v.shape) || !ArrayBuffer.isView(v.data)) {
        throw typeError('a Tensor or { shape, data }', `${who} key "${key}"`, value);
      }
      const shape = v.shape as number[];
      if (shapeStr(shape) !== shapeStr(target.shape)) {
        throw new SelfsupError(
          'ERR_SHAPE_MISMATCH',
          expectedMessage(`shape ${shapeStr(target.shape)} (the module's)`, `${who} key "${key}"`, `shape ${shapeStr(shape)}`),
        );
      }
      const data = v.data as Float32Array | Float64Array | Int32Array | Uint8Array;
      const srcFloat = data instanceof Float32Array || data instanceof Float64Array;
      const dstFloat = target.dtype === 'float32' || target.dtype === 'float64';
      if (srcFloat !== dstFloat) {
        throw new SelfsupError('ERR_DTYPE_MISMATCH', expectedMessage(`a ${target.dtype} value`, `${who} key "${key}"`, describe(value)));
      }
      plan.push([target, data]);
      loaded.add(key);
    }
    const missingKeys = [...targets.keys()].filter((k) => !loaded.has(k));
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      const parts: string[] = [];
      if (missingKeys.length) parts.push(`missing key(s) ${missingKeys.map((k) => `"${k}"`).join(', ')}`);
      if (unexpectedKeys.length) parts.push(`unexpected key(s) ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}`);
      throw new SelfsupError(
        'ERR_INVALID_ARGUMENT',
        expectedMessage(`exactly the keys of the ${this.moduleName} state dict`, `${who}(stateDict)`, parts.join(' and ')) +
          ' (pass { strict: false } to load a subset)',
      );
    }
    // Nothing is written until every key has been checked: a failed load leaves the module intact.
    noGrad(() => {
      for (const [target, data] of plan) {
        // A cuda target is uploaded into (in its dtype: a float64 value converts to float32).
        if (target.device === 'cuda') uploadInto(target.data as unknown as DeviceArray, hostOf(target.dtype, data));
        else target.data.set(data);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  // ---- files -------------------------------------------------------------------------------
  /**
   * Writes the state dict to a safetensors file (docs/safetensors.md); PyTorch reads it with
   * `safetensors.torch.load_file(path)`. Metadata values must be strings.
   */
  save(path: string, metadata: Record<string, string> = {}): void {
    const tensors = new Map<string, RawTensor>();
    for (const [k, t] of Object.entries(this.stateDict())) tensors.set(k, rawTensor(t));
    writeSafetensorsFile(path, tensors, { format: 'pt', ...metadata });
  }

  /** Loads a safetensors file into this module (loadStateDict semantics); returns this. */
  loadFrom(path: string, options: { strict?: boolean } = {}): this {
    this.loadStateDict(Module.load(path), options);
    return this;
  }

  /** Reads a safetensors file as a state dict of fresh tensors (any file, ours or PyTorch's). */
  static load(path: string): StateDict {
    const { tensors } = readSafetensorsFile(path);
    const sd: StateDict = {};
    for (const [k, t] of tensors) sd[k] = new Tensor(t.data, t.shape);
    return sd;
  }

  // ---- printing ----------------------------------------------------------------------------
  /** One-line summary of this module's own settings (e.g. `in=64, out=128, bias=true`). */
  protected extraRepr(): string {
    return '';
  }
  toString(): string {
    const kids = [...this.namedChildren()];
    const extra = this.extraRepr();
    if (!kids.length) return `${this.moduleName}(${extra})`;
    // PyTorch's layout: settings on their own line, then one line per child.
    const lines = extra ? [extra] : [];
    for (const [n, m] of kids) lines.push(`(${n}): ${m.toString()}`);
    return `${this.moduleName}(\n${lines.map((l) => '  ' + l.split('\n').join('\n  ')).join('\n')}\n)`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

/** A list of child modules, indexed like an array; children are named '0', '1', ... */
export class ModuleList<M extends Module = Module> extends Module {
  private readonly items: M[] = [];
  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.append(m);
  }
  append(m: M): this {
    if (!(m instanceof Module)) throw typeError('a Module', `ModuleList.append(module) [${this.items.length}]`, m);
    (this as unknown as Record<string, unknown>)[String(this.items.length)] = m;
    this.items.push(m);
    return this;
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items.at(i);
    if (!m) throw new RangeError(expectedMessage(`an index in [-${this.items.length}, ${this.items.length})`, 'ModuleList.at(i)', String(i)));
    return m;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
  forward(): never {
    throw new SelfsupError('ERR_UNSUPPORTED', 'Expected iteration over its modules for ModuleList but received a forward() call (ModuleList has no forward)');
  }
}
