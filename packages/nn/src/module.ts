import { MinnowError, formatShape, isFloatDType, keep, noGrad, type Tensor } from '@minnow/core';

/**
 * The base of every layer: a tree of modules, each holding named parameters (trained) and buffers
 * (state that is saved but not trained, like BatchNorm's running statistics).
 *
 * Ownership: a module owns the tensors registered with it. They are exempt from every scope()
 * (so a model built inside a scope survives it) and freed by `dispose()`.
 *
 * Identity: optimisers update parameters in place with `param.assign(next)` under noGrad, so the
 * Tensor objects a module holds stay the same across training steps. Only `to(backend)` replaces
 * them (a tensor cannot change backend), which is why layers read their parameters by name
 * (`this.ownParameter('weight')`) rather than caching them in fields, and why optimisers must be
 * created after a model is moved.
 *
 * Names: children and tensors share one namespace per module; dotted paths ('layers.0.weight')
 * come from nesting, so a name may not contain a dot. Order is registration order, a module's own
 * tensors before its children's (as PyTorch's named_parameters), which makes state dicts stable.
 */
export abstract class Module<In extends unknown[] = [Tensor], Out = Tensor> {
  private trainingFlag = true;
  private readonly ownParameters = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly ownChildren = new Map<string, AnyModule>();

  abstract forward(...inputs: In): Out;

  /** True in training mode (the default): dropout drops, batch norm uses and updates batch statistics. */
  get training(): boolean {
    return this.trainingFlag;
  }

  /**
   * Registers `tensor` as a trainable parameter (marking it requireGrad) and takes ownership of it.
   * Only float32/float64 tensors can be parameters. Returns the tensor.
   */
  protected registerParameter(name: string, tensor: Tensor): Tensor {
    this.checkNewName('registerParameter', name);
    if (!isFloatDType(tensor.dtype)) {
      throw new MinnowError('UNSUPPORTED_DTYPE', `registerParameter: "${name}" is ${tensor.dtype}; parameters must be float32 or float64`);
    }
    if (!tensor.isLeaf) {
      throw new MinnowError('INVALID_ARGUMENT', `registerParameter: "${name}" is the result of a recorded op; register a leaf (detach() it, or create it under noGrad)`);
    }
    this.ownParameters.set(name, keep(tensor.requireGrad()));
    return tensor;
  }

  /** Registers `tensor` as a buffer: saved in state dicts and moved by `to()`, but not trained. Returns the tensor. */
  protected registerBuffer(name: string, tensor: Tensor): Tensor {
    this.checkNewName('registerBuffer', name);
    if (tensor.requiresGrad) {
      throw new MinnowError('INVALID_ARGUMENT', `registerBuffer: "${name}" requires grad; buffers are not trained (register it as a parameter, or detach() it)`);
    }
    this.ownBuffers.set(name, keep(tensor));
    return tensor;
  }

  /** Registers a child module, whose tensors appear under `name.`. Returns the child. */
  protected registerModule<M extends AnyModule>(name: string, child: M): M {
    this.checkNewName('registerModule', name);
    if (!(child instanceof Module)) throw new MinnowError('INVALID_ARGUMENT', `registerModule: "${name}" is not a Module`);
    if (child === (this as AnyModule) || child.namedModules().some(([, m]) => m === (this as AnyModule))) {
      throw new MinnowError('INVALID_ARGUMENT', `registerModule: "${name}" would make the module tree a cycle`);
    }
    this.ownChildren.set(name, child);
    return child;
  }

  /** This module's own parameter `name` (INTERNAL when a layer asks for one it never registered). */
  protected ownParameter(name: string): Tensor {
    const t = this.ownParameters.get(name);
    if (!t) throw new MinnowError('INTERNAL', `${this.constructor.name}: no parameter "${name}" was registered`);
    return t;
  }

  /** This module's own parameter `name`, or null when it has none (an optional bias). */
  protected optionalParameter(name: string): Tensor | null {
    return this.ownParameters.get(name) ?? null;
  }

  protected ownBuffer(name: string): Tensor {
    const t = this.ownBuffers.get(name);
    if (!t) throw new MinnowError('INTERNAL', `${this.constructor.name}: no buffer "${name}" was registered`);
    return t;
  }

  /** [path, module] for this module ('') and every descendant, depth first, in registration order. */
  namedModules(): [string, AnyModule][] {
    const out: [string, AnyModule][] = [['', this as AnyModule]];
    for (const [name, child] of this.ownChildren) {
      for (const [path, m] of child.namedModules()) out.push([path ? `${name}.${path}` : name, m]);
    }
    return out;
  }

  /** The direct children, [name, module], in registration order. */
  namedChildren(): [string, AnyModule][] {
    return [...this.ownChildren];
  }

  /**
   * [dotted name, parameter] for every parameter in the tree. A tensor registered in several places
   * (tied weights) is listed once, under its first name, so optimisers update it once.
   */
  namedParameters(): [string, Tensor][] {
    return this.collect('parameters', true);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** [dotted name, buffer] for every buffer in the tree. */
  namedBuffers(): [string, Tensor][] {
    return this.collect('buffers', true);
  }

  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }

  /** The number of trainable scalars (tied parameters counted once). */
  parameterCount(): number {
    return this.parameters().reduce((n, t) => n + t.size, 0);
  }

  /** Sets training mode on this module and every descendant. Returns this. */
  train(flag = true): this {
    for (const [, m] of this.namedModules()) (m as Module<unknown[], unknown>).trainingFlag = flag;
    return this;
  }

  /** Evaluation mode: dropout is the identity, batch norm uses its running statistics. Returns this. */
  eval(): this {
    return this.train(false);
  }

  /** Disposes every parameter's accumulated `.grad`. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /**
   * Every parameter and buffer by dotted name (parameters first, then buffers, each in registration
   * order; tied tensors under each of their names). The map holds the module's own tensors: do not
   * dispose them, and note that training changes their values in place. `{ clone: true }` returns
   * a snapshot instead: new tensors (views that keep today's values) the caller owns and disposes.
   */
  stateDict(options: { clone?: boolean } = {}): Map<string, Tensor> {
    const entries = [...this.collect('parameters', false), ...this.collect('buffers', false)];
    if (!options.clone) return new Map(entries);
    // detach() views suffice as snapshots: ops never mutate storage and assign() gives the
    // parameter a new buffer, so a view keeps the values it saw, at no copy.
    return new Map(entries.map(([name, t]) => [name, t.detach()]));
  }

  /**
   * Copies values into this module's parameters and buffers (by `assign`, under noGrad: the tensor
   * objects stay the same). Every entry must match its target's shape and dtype and live on the
   * same backend (move it first with `await t.to(name)`). With `strict` (the default), keys missing
   * from `entries` and keys this module does not have are an error; otherwise they are skipped and
   * reported. Everything is checked before anything is written, so a failed load changes nothing.
   */
  loadStateDict(
    entries: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
    options: { strict?: boolean } = {},
  ): { missingKeys: string[]; unexpectedKeys: string[] } {
    const strict = options.strict ?? true;
    const given = new Map<string, Tensor>(entries instanceof Map ? entries : Object.entries(entries));
    const targets = this.stateDict();
    const missingKeys = [...targets.keys()].filter((k) => !given.has(k));
    const unexpectedKeys = [...given.keys()].filter((k) => !targets.has(k));
    if (strict && (missingKeys.length > 0 || unexpectedKeys.length > 0)) {
      const parts = [
        missingKeys.length > 0 ? `missing keys ${missingKeys.join(', ')}` : '',
        unexpectedKeys.length > 0 ? `unexpected keys ${unexpectedKeys.join(', ')}` : '',
      ].filter(Boolean);
      throw new MinnowError('INVALID_ARGUMENT', `loadStateDict: ${parts.join('; ')} (pass { strict: false } to load the keys that match)`);
    }
    const pairs: [Tensor, Tensor][] = [];
    for (const [key, target] of targets) {
      const value = given.get(key);
      if (!value) continue;
      checkLoadable(key, target, value);
      pairs.push([target, value]);
    }
    noGrad(() => {
      for (const [target, value] of pairs) target.assign(value);
    });
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Moves every parameter and buffer to `backend`: each is replaced by a copy there and the old one
   * disposed (with its `.grad`). Parameters still require grad afterwards. Tensors and optimisers
   * that referred to the old parameters are stale: create optimisers after moving. If a copy fails,
   * nothing is replaced. Returns this.
   */
  async to(backend: string): Promise<this> {
    const moved = new Map<Tensor, Tensor>();
    try {
      for (const [, m] of this.namedModules()) {
        const module = m as Module<unknown[], unknown>;
        for (const [table, trainable] of [[module.ownParameters, true], [module.ownBuffers, false]] as const) {
          for (const t of table.values()) {
            if (moved.has(t) || t.backend.name === backend) continue;
            const copy = keep(await t.to(backend));
            moved.set(t, trainable ? copy.requireGrad() : copy);
          }
        }
      }
    } catch (error) {
      for (const copy of moved.values()) copy.dispose();
      throw error;
    }
    for (const [, m] of this.namedModules()) {
      const module = m as Module<unknown[], unknown>;
      for (const table of [module.ownParameters, module.ownBuffers]) {
        for (const [name, t] of table) {
          const copy = moved.get(t);
          if (copy) table.set(name, copy);
        }
      }
    }
    for (const old of moved.keys()) old.dispose();
    return this;
  }

  /** Disposes every parameter and buffer in the tree (and their gradients). The module is unusable after. */
  dispose(): void {
    for (const [, t] of [...this.collect('parameters', false), ...this.collect('buffers', false)]) t.dispose();
  }

  private collect(kind: 'parameters' | 'buffers', dedupe: boolean): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [path, m] of this.namedModules()) {
      const module = m as Module<unknown[], unknown>;
      const table = kind === 'parameters' ? module.ownParameters : module.ownBuffers;
      for (const [name, t] of table) {
        if (dedupe && seen.has(t)) continue;
        seen.add(t);
        out.push([path ? `${path}.${name}` : name, t]);
      }
    }
    return out;
  }

  private checkNewName(op: string, name: string): void {
    if (typeof name !== 'string' || name === '' || name.includes('.')) {
      throw new MinnowError('INVALID_ARGUMENT', `${op}: name ${JSON.stringify(name)} must be a non-empty string without dots`);
    }
    if (this.ownParameters.has(name) || this.ownBuffers.has(name) || this.ownChildren.has(name)) {
      throw new MinnowError('INVALID_ARGUMENT', `${op}: ${this.constructor.name} already has a parameter, buffer or child named "${name}"`);
    }
  }
}

/** Any module, whatever its forward signature: what containers and tree walks hold. */
export type AnyModule = Module<unknown[], unknown>;

function checkLoadable(key: string, target: Tensor, value: Tensor): void {
  if (value.isDisposed) throw new MinnowError('DISPOSED', `loadStateDict: the value for "${key}" was disposed`);
  if (value.shape.length !== target.shape.length || value.shape.some((d, i) => d !== target.shape[i])) {
    throw new MinnowError('SHAPE_MISMATCH', `loadStateDict: "${key}" has shape ${formatShape(value.shape)} but the module expects ${formatShape(target.shape)}`);
  }
  if (value.dtype !== target.dtype) {
    throw new MinnowError('DTYPE_MISMATCH', `loadStateDict: "${key}" is ${value.dtype} but the module holds ${target.dtype} (cast it first)`);
  }
  if (value.backend !== target.backend) {
    throw new MinnowError('BACKEND_MISMATCH', `loadStateDict: "${key}" lives on "${value.backend.name}" but the module on "${target.backend.name}"; move it with await value.to("${target.backend.name}")`);
  }
}
