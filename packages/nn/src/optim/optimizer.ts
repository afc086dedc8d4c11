import { MinnowError, Tensor, clone, formatShape, isFloatDType, keep, noGrad, scope } from '@minnow/core';

/**
 * The base of minnow's optimisers, shaped after torch.optim.Optimizer: parameter groups with their
 * own hyperparameters, per-parameter state (buffers held as tensors the optimiser owns, plus a step
 * count), zeroGrad(), stateDict()/loadStateDict() and dispose().
 */

/** Hyperparameters every optimiser has; `lr` is what schedules set, per group. */
export interface BaseHyperparameters {
  lr: number;
  weightDecay: number;
}

/**
 * One parameter group: its parameters and its own hyperparameters, which are mutable (a schedule
 * sets `lr`; users may change any of them between steps; step() validates them).
 */
export type ParamGroup<H extends BaseHyperparameters> = H & {
  readonly params: readonly Tensor[];
  /** The lr schedules count from; set by the first schedule attached to this optimiser (PyTorch's `initial_lr`). */
  initialLr?: number;
};

/** A parameter group as given to an optimiser: parameters plus any hyperparameters overriding the optimiser's defaults. */
export type ParamGroupInput<H extends BaseHyperparameters> = Partial<H> & { readonly params: Iterable<Tensor> };

/** What an optimiser takes: parameters (leaf tensors) or parameter groups. */
export type ParamsInput<H extends BaseHyperparameters> = Iterable<Tensor> | Iterable<ParamGroupInput<H>>;

/** One parameter's state: how many updates it has had and the buffers (momentum, moments) the optimiser keeps for it. */
export interface ParamState {
  step: number;
  readonly buffers: Record<string, Tensor>;
}

/**
 * A checkpoint of an optimiser. `state[i]` belongs to the i-th parameter counting through the groups
 * in order (null when it has no state yet); `paramGroups[g].params` lists those indices. The
 * tensors are copies the caller owns (dispose them, or create the dict inside scope()).
 */
export interface OptimizerStateDict<H extends BaseHyperparameters> {
  readonly state: readonly (ParamStateDict | null)[];
  readonly paramGroups: readonly (H & { readonly params: readonly number[]; readonly initialLr?: number })[];
}

export interface ParamStateDict {
  readonly step: number;
  readonly buffers: Readonly<Record<string, Tensor>>;
}

export abstract class Optimizer<H extends BaseHyperparameters> {
  readonly paramGroups: ParamGroup<H>[] = [];
  readonly defaults: Readonly<H>;
  private readonly perParam = new Map<Tensor, ParamState>();
  private disposedFlag = false;

  protected constructor(
    /** The optimiser's name, used in error messages. */
    readonly name: string,
    params: ParamsInput<H>,
    defaults: H,
  ) {
    this.validate(defaults, 'defaults');
    this.defaults = Object.freeze({ ...defaults });
    if (params === null || typeof params !== 'object' || !(Symbol.iterator in params) || params instanceof Tensor) {
      throw new MinnowError('INVALID_ARGUMENT', `${name}: params must be an iterable of Tensors or of parameter groups, got ${params instanceof Tensor ? 'a single Tensor (wrap it in an array)' : params === null ? 'null' : typeof params}`);
    }
    const items: unknown[] = [...(params as Iterable<unknown>)];
    if (items.length === 0) throw new MinnowError('INVALID_ARGUMENT', `${name}: got an empty parameter list`);
    if (items.every((item) => item instanceof Tensor)) {
      this.addParamGroup({ params: items as Tensor[] } as unknown as ParamGroupInput<H>);
    } else if (items.every((item) => typeof item === 'object' && item !== null && !(item instanceof Tensor) && 'params' in item)) {
      for (const group of items as ParamGroupInput<H>[]) this.addParamGroup(group);
    } else {
      throw new MinnowError('INVALID_ARGUMENT', `${name}: params must be all Tensors or all parameter groups ({ params, ...options }), not a mix or anything else`);
    }
  }

  /** Adds a group (e.g. layers unfrozen for fine-tuning); options it omits come from the defaults. */
  addParamGroup(group: ParamGroupInput<H>): void {
    this.assertAlive('addParamGroup');
    if (typeof group !== 'object' || group === null || !('params' in group)) {
      throw new MinnowError('INVALID_ARGUMENT', `${this.name}: a parameter group must be an object with a params iterable`);
    }
    const index = this.paramGroups.length;
    const given: unknown = group.params;
    if (!(given instanceof Tensor) && (given === null || typeof given !== 'object' || !(Symbol.iterator in given))) {
      throw new MinnowError('INVALID_ARGUMENT', `${this.name}: params of parameter group ${index} must be a Tensor or an iterable of Tensors`);
    }
    const params: unknown[] = given instanceof Tensor ? [given] : [...(given as Iterable<unknown>)];
    if (params.length === 0) throw new MinnowError('INVALID_ARGUMENT', `${this.name}: parameter group ${index} has no parameters`);
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    params.forEach((p, i) => {
      const where = `${this.name}: parameter ${i} of group ${index}`;
      if (!(p instanceof Tensor)) throw new MinnowError('INVALID_ARGUMENT', `${where} is not a Tensor`);
      if (p.isDisposed) throw new MinnowError('DISPOSED', `${where} (tensor #${p.id}) was disposed`);
      if (!p.isLeaf) throw new MinnowError('INVALID_ARGUMENT', `${where} (tensor #${p.id}) is an op result, not a leaf; optimisers update leaves (detach() it and requireGrad())`);
      if (!isFloatDType(p.dtype)) throw new MinnowError('UNSUPPORTED_DTYPE', `${where} (tensor #${p.id}) is ${p.dtype}; only float32 and float64 parameters can be optimised`);
      if (seen.has(p)) throw new MinnowError('INVALID_ARGUMENT', `${where} (tensor #${p.id}) appears more than once across the parameter groups`);
      seen.add(p);
    });
    const options: Partial<H> = { ...group };
    delete (options as { params?: unknown }).params;
    const built = { ...this.defaults, ...options, params: Object.freeze(params as Tensor[]) } as ParamGroup<H>;
    this.validate(built, `group ${index}`);
    this.paramGroups.push(built);
  }

  /** The learning rate of every group: INVALID_ARGUMENT when groups differ (read paramGroups[i].lr then). */
  get lr(): number {
    const lr = this.paramGroups[0].lr;
    if (this.paramGroups.some((g) => g.lr !== lr)) {
      throw new MinnowError('INVALID_ARGUMENT', `${this.name}.lr: the groups have different learning rates (${this.paramGroups.map((g) => g.lr).join(', ')}); read paramGroups[i].lr`);
    }
    return lr;
  }

  /** Sets the learning rate of every group. */
  set lr(value: number) {
    checkNonNegative(this.name, 'lr', value);
    for (const g of this.paramGroups) g.lr = value;
  }

  /** The state of each parameter that has been updated: live tensors the optimiser owns (do not dispose them). */
  get state(): ReadonlyMap<Tensor, Readonly<ParamState>> {
    return this.perParam;
  }

  /**
   * Updates every parameter that has a `.grad`, in place (`assign`), without recording on the tape;
   * every temporary is freed. Parameters without a gradient are skipped and keep their state.
   */
  step(): void {
    this.assertAlive('step');
    this.paramGroups.forEach((g, i) => this.validate(g, `group ${i}`));
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        const grad = p.isDisposed ? null : p.grad;
        if (!grad) continue;
        let state = this.perParam.get(p);
        if (!state) {
          state = { step: 0, buffers: {} };
          this.perParam.set(p, state);
        }
        const s = state;
        s.step++;
        noGrad(() => scope(() => this.update(p, grad, group, s)));
      }
    }
  }

  /** Clears (disposes and nulls) the `.grad` of every parameter, as PyTorch's zero_grad(set_to_none=True). */
  zeroGrad(): void {
    for (const group of this.paramGroups) for (const p of group.params) if (!p.isDisposed) p.zeroGrad();
  }

  /** A checkpoint: hyperparameters per group and copies of every parameter's state (the caller owns the tensors). */
  stateDict(): OptimizerStateDict<H> {
    this.assertAlive('stateDict');
    const state: (ParamStateDict | null)[] = [];
    const paramGroups = this.paramGroups.map((group) => {
      const indices: number[] = [];
      for (const p of group.params) {
        indices.push(state.length);
        const s = this.perParam.get(p);
        state.push(s ? { step: s.step, buffers: copyBuffers(s.buffers, false) } : null);
      }
      const { params: _params, ...hyper } = group;
      return { ...copyHyper(hyper as unknown as H), params: indices } as H & { params: number[] };
    });
    return { state, paramGroups };
  }

  /**
   * Restores a checkpoint taken with stateDict() from an optimiser over parameters of the same
   * shapes in the same groups: hyperparameters (lr included) and state. The dict's tensors are
   * copied, so the caller still owns them. They must be on each parameter's backend and of its dtype.
   */
  loadStateDict(dict: OptimizerStateDict<H>): void {
    this.assertAlive('loadStateDict');
    if (dict.paramGroups.length !== this.paramGroups.length) {
      throw new MinnowError('INVALID_ARGUMENT', `${this.name}.loadStateDict: the dict has ${dict.paramGroups.length} parameter group(s), this optimiser ${this.paramGroups.length}`);
    }
    const incoming = new Map<Tensor, ParamStateDict>();
    dict.paramGroups.forEach((saved, gi) => {
      const group = this.paramGroups[gi];
      if (saved.params.length !== group.params.length) {
        throw new MinnowError('INVALID_ARGUMENT', `${this.name}.loadStateDict: group ${gi} has ${saved.params.length} parameter(s) in the dict, ${group.params.length} here`);
      }
      const { params: _params, ...hyper } = saved;
      this.validate({ ...group, ...hyper } as ParamGroup<H>, `group ${gi} of the dict`);
      saved.params.forEach((index, pi) => {
        const entry = dict.state[index];
        if (entry === undefined) throw new MinnowError('OUT_OF_RANGE', `${this.name}.loadStateDict: group ${gi} names state ${index}, which the dict lacks`);
        if (entry === null) return;
        const p = group.params[pi];
        for (const [name, t] of Object.entries(entry.buffers)) {
          const where = `${this.name}.loadStateDict: buffer "${name}" of parameter ${pi} in group ${gi}`;
          if (!(t instanceof Tensor)) throw new MinnowError('INVALID_ARGUMENT', `${where} is not a Tensor`);
          if (t.isDisposed) throw new MinnowError('DISPOSED', `${where} was disposed`);
          if (t.shape.length !== p.shape.length || t.shape.some((d, k) => d !== p.shape[k])) {
            throw new MinnowError('SHAPE_MISMATCH', `${where} has shape ${formatShape(t.shape)}, the parameter ${formatShape(p.shape)}`);
          }
          if (t.dtype !== p.dtype) throw new MinnowError('DTYPE_MISMATCH', `${where} is ${t.dtype}, the parameter ${p.dtype}`);
          if (t.backend !== p.backend) {
            throw new MinnowError('BACKEND_MISMATCH', `${where} lives on "${t.backend.name}", the parameter on "${p.backend.name}"; move it with await t.to("${p.backend.name}")`);
          }
        }
        if (!Number.isInteger(entry.step) || entry.step < 0) {
          throw new MinnowError('INVALID_ARGUMENT', `${this.name}.loadStateDict: step of parameter ${pi} in group ${gi} must be a non-negative integer, got ${entry.step}`);
        }
        incoming.set(p, entry);
      });
    });
    this.clearState();
    for (const [p, entry] of incoming) this.perParam.set(p, { step: entry.step, buffers: copyBuffers(entry.buffers, true) });
    dict.paramGroups.forEach((saved, gi) => {
      const { params: _params, ...hyper } = saved;
      Object.assign(this.paramGroups[gi], copyHyper(hyper as unknown as H));
    });
  }

  /** Frees every state tensor; the optimiser cannot step afterwards. Parameters and their grads are untouched. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.clearState();
    this.disposedFlag = true;
  }

  get isDisposed(): boolean {
    return this.disposedFlag;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * Computes one parameter's update, called inside noGrad and scope (so temporaries are freed) with
   * its state's step already incremented. Implementations write the parameter with `p.assign(...)`,
   * existing buffers with `buffer.assign(...)`, and create new buffers with `this.newBuffer(...)`.
   */
  protected abstract update(p: Tensor, grad: Tensor, group: ParamGroup<H>, state: ParamState): void;

  /** Throws INVALID_ARGUMENT naming `where` when a hyperparameter is out of range. */
  protected abstract validate(hyper: H, where: string): void;

  /** Makes `t` a state buffer that survives the step's scope (and any scope the caller is in). */
  protected newBuffer(t: Tensor): Tensor {
    return keep(t);
  }

  private clearState(): void {
    for (const s of this.perParam.values()) for (const t of Object.values(s.buffers)) t.dispose();
    this.perParam.clear();
  }

  private assertAlive(what: string): void {
    if (this.disposedFlag) throw new MinnowError('DISPOSED', `${this.name}.${what}: the optimiser was disposed`);
  }
}

/** Copies of `buffers`; `owned` ones (the optimiser's) are exempt from scopes, the caller's are not. */
function copyBuffers(buffers: Readonly<Record<string, Tensor>>, owned: boolean): Record<string, Tensor> {
  return noGrad(() => Object.fromEntries(Object.entries(buffers).map(([name, t]) => [name, owned ? keep(clone(t)) : clone(t)])));
}

/** Hyperparameters are numbers, booleans and number tuples (betas): arrays are copied so a checkpoint never aliases live settings. */
function copyHyper<H>(hyper: H): H {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(hyper as Record<string, unknown>)) out[k] = Array.isArray(v) ? [...v] : v;
  return out as H;
}

export function checkNonNegative(optimiser: string, name: string, value: unknown, where = ''): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new MinnowError('INVALID_ARGUMENT', `${optimiser}${where ? ` (${where})` : ''}: ${name} must be a finite number >= 0, got ${String(value)}`);
  }
}
