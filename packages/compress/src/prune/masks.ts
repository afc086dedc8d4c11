import { MinnowError, Tensor, formatShape, fromArray, keep, noGrad, scope, shapesEqual, where } from '@minnow/core';
import { Conv2d, Linear, Module, type AnyModule, type BaseHyperparameters, type Optimizer } from '@minnow/nn';

/**
 * Pruning masks held for a Module: which parameters are pruned, which of their weights are kept
 * (1) or pruned (0), and the operations that hold a mask in force: zeroing the weights, their
 * gradients and the optimiser state that could revive them. Masks are host bytes (computed once
 * per pruning step); each is uploaded once per backend as a bool tensor the object owns (dispose()
 * frees them). Masking selects (where(mask, w, 0)) rather than multiplies, so a pruned weight is
 * +0 exactly, never -0 or NaN. Parameters are looked up by name on every use, so a model moved with
 * `to()` keeps its masks.
 */

/** A module class whose `weight` is pruned (Linear, Conv2d by default). */
export type ModuleClass = abstract new (...args: never[]) => AnyModule;

export const DEFAULT_PRUNED_TYPES: readonly ModuleClass[] = Object.freeze([Linear, Conv2d]);

/** Which parameters are pruned. */
export interface LayerSelection {
  /** Modules whose `weight` is pruned (default Linear and Conv2d; biases and normalisation layers are not pruned). */
  readonly types?: readonly ModuleClass[];
  /**
   * Only these, by dotted name: a parameter ('fc.0.weight', pruned whatever its layer type) or a
   * module (the weights of the chosen types in its subtree; the root is ''). Unknown names are errors.
   */
  readonly include?: readonly string[];
  /** Parameters or modules (with their subtrees) left unpruned, by dotted name. Unknown names are errors. */
  readonly exclude?: readonly string[];
}

/** One pruned tensor in a report. */
export interface LayerSparsity {
  readonly name: string;
  readonly shape: readonly number[];
  readonly params: number;
  /** Weights the mask prunes. */
  readonly pruned: number;
  /** Weights whose value is zero now (at least `pruned` once the mask is applied). */
  readonly zeros: number;
  /** zeros / params. */
  readonly sparsity: number;
}

export interface SparsityTotals {
  readonly params: number;
  readonly zeros: number;
  readonly sparsity: number;
}

export interface SparsityReport {
  readonly layers: readonly LayerSparsity[];
  /** Over the pruned tensors. */
  readonly pruned: SparsityTotals;
  /** Over every parameter of the model (biases and unpruned layers included). */
  readonly model: SparsityTotals;
}

const underName = (name: string, root: string): boolean => root === '' || name === root || name.startsWith(`${root}.`);

/** [name, parameter] of every parameter `selection` prunes, in the model's parameter order. */
export function prunableParameters(op: string, model: AnyModule, selection: LayerSelection = {}): [string, Tensor][] {
  if (!(model instanceof Module)) throw new MinnowError('INVALID_ARGUMENT', `${op}: model must be a Module`);
  const types = selection.types ?? DEFAULT_PRUNED_TYPES;
  if (!Array.isArray(types) || types.some((t) => typeof t !== 'function')) throw new MinnowError('INVALID_ARGUMENT', `${op}: types must be an array of module classes`);
  const params = model.namedParameters();
  const modules = new Map(model.namedModules());
  const byName = new Map(params);
  const typed = new Set<string>();
  for (const [path, m] of modules) {
    if (!types.some((t) => m instanceof t)) continue;
    const name = path ? `${path}.weight` : 'weight';
    if (byName.has(name)) typed.add(name);
  }
  const known = (name: string, what: string): void => {
    if (typeof name !== 'string' || (!byName.has(name) && !modules.has(name))) {
      throw new MinnowError('INVALID_ARGUMENT', `${op}: ${what} names ${JSON.stringify(name)}, which is neither a parameter nor a module of the model`);
    }
  };
  let chosen: Set<string>;
  if (selection.include !== undefined) {
    chosen = new Set();
    for (const name of selection.include) {
      known(name, 'include');
      if (byName.has(name)) chosen.add(name);
      else for (const t of typed) if (underName(t, name)) chosen.add(t);
    }
  } else {
    chosen = typed;
  }
  for (const name of selection.exclude ?? []) {
    known(name, 'exclude');
    for (const c of [...chosen]) if (underName(c, name)) chosen.delete(c);
  }
  return params.filter(([name]) => chosen.has(name));
}

export class PruningMasks {
  private readonly masks: ReadonlyMap<string, Uint8Array>;
  private readonly uploaded = new Map<string, Tensor>();

  /**
   * Masks for `model`'s parameters by dotted name (1 = kept, 0 = pruned), each the size of its
   * parameter. The arrays are taken over: do not change them afterwards.
   */
  constructor(readonly model: AnyModule, masks: ReadonlyMap<string, Uint8Array>) {
    if (!(model instanceof Module)) throw new MinnowError('INVALID_ARGUMENT', 'PruningMasks: model must be a Module');
    const params = new Map(model.namedParameters());
    for (const [name, mask] of masks) {
      const p = params.get(name);
      if (!p) throw new MinnowError('INVALID_ARGUMENT', `PruningMasks: the model has no parameter '${name}'`);
      if (!(mask instanceof Uint8Array)) throw new MinnowError('INVALID_ARGUMENT', `PruningMasks: the mask of '${name}' must be a Uint8Array`);
      if (mask.length !== p.size) throw new MinnowError('SHAPE_MISMATCH', `PruningMasks: the mask of '${name}' has ${mask.length} entries, the parameter ${formatShape(p.shape)} has ${p.size}`);
    }
    this.masks = new Map(masks);
  }

  /** The names of the masked parameters, in the order given. */
  get names(): string[] {
    return [...this.masks.keys()];
  }

  /** The mask of parameter `name` (1 = kept), or undefined when it is not masked. Do not write into it. */
  mask(name: string): Uint8Array | undefined {
    return this.masks.get(name);
  }

  /** Weights pruned per masked parameter (mask entries that are 0). */
  prunedCount(name: string): number {
    const mask = this.masks.get(name);
    if (!mask) throw new MinnowError('INVALID_ARGUMENT', `PruningMasks: no mask for '${name}'`);
    let zeros = 0;
    for (let i = 0; i < mask.length; i++) zeros += mask[i] ^ 1;
    return zeros;
  }

  /**
   * Masks that prune what either prunes (the AND of the kept sets; a parameter masked by one only
   * keeps that mask): so iterative pruning only ever removes more. Both must be for the same model.
   */
  combine(other: PruningMasks): PruningMasks {
    if (!(other instanceof PruningMasks) || other.model !== this.model) throw new MinnowError('INVALID_ARGUMENT', 'PruningMasks.combine: the masks must be for the same model');
    const out = new Map(this.masks);
    for (const [name, mask] of other.masks) {
      const mine = out.get(name);
      out.set(name, mine ? mine.map((v, i) => v & mask[i]) : mask);
    }
    return new PruningMasks(this.model, out);
  }

  /** Zeroes the pruned weights (in place by assign, under noGrad). */
  apply(): void {
    this.each((p, m) => p.assign(where(m, p, 0)));
  }

  /** Zeroes the pruned weights' gradients (call between backward and the optimiser step). */
  maskGradients(): void {
    this.each((p, m) => {
      const grad = p.grad;
      if (grad) grad.assign(where(m, grad, 0));
    });
  }

  /**
   * Zeroes the optimiser's state at pruned positions (SGD's momentum buffer, Adam's moments, any
   * buffer shaped like its parameter), so a pruned weight gets no update from history.
   */
  maskOptimizerState(optimizer: Optimizer<BaseHyperparameters>): void {
    const state = optimizer.state;
    this.each((p, m) => {
      const s = state.get(p);
      if (!s) return;
      for (const buffer of Object.values(s.buffers)) if (shapesEqual(buffer.shape, p.shape) && buffer.backend === p.backend) buffer.assign(where(m, buffer, 0));
    });
  }

  /** Per-tensor and total counts, reading the current weights. */
  report(): SparsityReport {
    const params = new Map(this.model.namedParameters());
    const layers: LayerSparsity[] = [];
    for (const name of this.masks.keys()) {
      const p = this.parameter(params, name);
      const zeros = countZeros(p);
      layers.push({ name, shape: [...p.shape], params: p.size, pruned: this.prunedCount(name), zeros, sparsity: p.size ? zeros / p.size : 0 });
    }
    const totals = (rows: readonly { params: number; zeros: number }[]): SparsityTotals => {
      const n = rows.reduce((a, r) => a + r.params, 0);
      const z = rows.reduce((a, r) => a + r.zeros, 0);
      return { params: n, zeros: z, sparsity: n ? z / n : 0 };
    };
    const masked = new Set(this.masks.keys());
    const others = [...params].filter(([name]) => !masked.has(name)).map(([, p]) => ({ params: p.size, zeros: countZeros(p) }));
    return { layers, pruned: totals(layers), model: totals([...layers, ...others]) };
  }

  /** Frees the uploaded mask tensors (the host masks stay usable; they are uploaded again when needed). */
  dispose(): void {
    for (const t of this.uploaded.values()) t.dispose();
    this.uploaded.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Runs `fn(parameter, mask tensor)` for every masked parameter, under noGrad, one scope each. */
  private each(fn: (p: Tensor, mask: Tensor) => void): void {
    const params = new Map(this.model.namedParameters());
    noGrad(() => {
      for (const name of this.masks.keys()) {
        const p = this.parameter(params, name);
        const m = this.uploadedMask(name, p);
        scope(() => fn(p, m));
      }
    });
  }

  private parameter(params: ReadonlyMap<string, Tensor>, name: string): Tensor {
    const p = params.get(name);
    if (!p) throw new MinnowError('INVALID_ARGUMENT', `PruningMasks: the model no longer has a parameter '${name}'`);
    if (p.isDisposed) throw new MinnowError('DISPOSED', `PruningMasks: parameter '${name}' was disposed`);
    return p;
  }

  /** The mask as a bool tensor of the parameter's shape on its backend, uploaded once. */
  private uploadedMask(name: string, p: Tensor): Tensor {
    const known = this.uploaded.get(name);
    if (known && !known.isDisposed && known.backend === p.backend && shapesEqual(known.shape, p.shape)) return known;
    known?.dispose();
    const t = keep(fromArray(this.masks.get(name)!, p.shape, { dtype: 'bool', backend: p.backend.name }));
    this.uploaded.set(name, t);
    return t;
  }
}

function countZeros(p: Tensor): number {
  const values = p.dataSync();
  let zeros = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
  return zeros;
}
