import { MinnowError, formatShape, keep, reshape, scope, type Tensor } from '@minnow/core';
import { Linear, Module, mse, type AnyModule, type Seed } from '@minnow/nn';

/**
 * Hint (intermediate-feature) distillation after FitNets (Romero et al. 2015): the output of a
 * student layer, mapped by a learned regressor, is pulled towards the output of a teacher layer
 * with a mean squared error. Layers are named by their dotted paths in `namedModules()` ('2',
 * 'encoder.1', ...). Features of any shape [N, ...] are flattened to [N, D] for the regressor.
 */

export interface HintOptions {
  /** Dotted path of the teacher layer whose output is the hint ('' is not allowed: use the logits). */
  readonly teacherLayer: string;
  /** Dotted path of the student layer (the "guided" layer) whose output is regressed onto the hint. */
  readonly studentLayer: string;
  /** Weight of the hint loss in the total objective (default 1). */
  readonly weight?: number;
  /**
   * Maps the student feature [N, Ds] to the teacher's [N, Dt]. Default: a new Linear(Ds, Dt),
   * seeded by distill's `seed`, trained with the student and disposed at the end. A regressor you
   * pass is yours: put its parameters in the optimiser (distill checks) and dispose it yourself.
   */
  readonly regressor?: Module<[Tensor], Tensor>;
}

/** The module at `path` in `model`'s tree. */
export function findLayer(op: string, model: AnyModule, path: string): AnyModule {
  if (typeof path !== 'string' || path === '') {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: a hint layer must be a non-empty dotted path, got ${JSON.stringify(path)}`);
  }
  const found = model.namedModules().find(([name]) => name === path);
  if (!found) {
    const names = model.namedModules().map(([name]) => name).filter(Boolean);
    throw new MinnowError('INVALID_ARGUMENT', `${op}: no layer "${path}" (the model has ${names.length ? names.map((n) => `"${n}"`).join(', ') : 'no sub-layers'})`);
  }
  return found[1];
}

/**
 * Runs `forward()` while recording the output of `layer` (any module in the tree being run), and
 * returns both. While the forward runs the feature is exempt from scopes (containers such as
 * Sequential free their intermediate activations); what is returned belongs to the caller's scope
 * and keeps its place on the autograd tape, so a loss on the feature trains the layers below. The
 * layer must run exactly once per forward.
 */
export function forwardCapturing<T>(op: string, layer: AnyModule, forward: () => T): { output: T; feature: Tensor } {
  const captured: Tensor[] = [];
  const own = Object.prototype.hasOwnProperty.call(layer, 'forward');
  const original = layer.forward;
  // An own property shadows the class's forward for this instance only, for the length of the call.
  (layer as { forward: AnyModule['forward'] }).forward = function capture(this: AnyModule, ...inputs: unknown[]): unknown {
    const out = original.apply(layer, inputs);
    if (!(out instanceof Object) || !('shape' in out)) throw new MinnowError('INVALID_ARGUMENT', `${op}: the hint layer returned something other than a Tensor`);
    captured.push(keep(out as Tensor));
    return out;
  };
  let output: T;
  try {
    output = forward();
  } catch (error) {
    for (const t of captured) t.dispose();
    throw error;
  } finally {
    if (own) (layer as { forward: AnyModule['forward'] }).forward = original;
    else delete (layer as { forward?: unknown }).forward;
  }
  if (captured.length !== 1) {
    for (const t of captured) t.dispose();
    throw new MinnowError('INVALID_ARGUMENT', `${op}: the hint layer ran ${captured.length} times in one forward; it must run exactly once`);
  }
  // Hand the caller views made here, which belong to the caller's scope like any op result (the
  // tape links each view to the captured tensor, so disposing that one loses no gradient).
  const [kept] = captured;
  const feature = reshape(kept, kept.shape);
  if ((output as unknown) === kept) output = reshape(kept, kept.shape) as T;
  kept.dispose();
  return { output, feature };
}

/** A feature [N, ...] as [N, D]. */
export function flattenFeature(feature: Tensor): Tensor {
  if (feature.rank < 1) throw new MinnowError('INVALID_SHAPE', `hints: a feature needs a batch axis, got ${formatShape(feature.shape)}`);
  const n = feature.shape[0];
  return reshape(feature, [n, n === 0 ? 0 : feature.size / n]);
}

/** The default regressor: Linear(studentWidth, teacherWidth), as FitNets' fully connected case. */
export function hintRegressor(studentWidth: number, teacherWidth: number, options: { seed: Seed; backend?: string; dtype?: 'float32' | 'float64' }): Linear {
  return new Linear(studentWidth, teacherWidth, options);
}

/**
 * The hint loss: mse(regressor(student feature), teacher feature), features flattened to [N, D].
 * The teacher feature is detached, so only the student and the regressor learn from it.
 */
export function hintLoss(studentFeature: Tensor, teacherFeature: Tensor, regressor: Module<[Tensor], Tensor>): Tensor {
  return scope(() => {
    const guided = regressor.forward(flattenFeature(studentFeature));
    const hint = flattenFeature(teacherFeature.detach());
    if (guided.shape.length !== 2 || guided.shape[0] !== hint.shape[0] || guided.shape[1] !== hint.shape[1]) {
      throw new MinnowError('SHAPE_MISMATCH', `hintLoss: the regressor maps the student feature to ${formatShape(guided.shape)} but the teacher feature is ${formatShape(hint.shape)}`);
    }
    return mse(guided, hint);
  });
}
