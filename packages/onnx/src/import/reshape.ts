import { Flatten } from '@minnow/nn';
import type { NodeProto } from '../ir/types.js';
import { normalizeAxis, product, type ChainValue, type Converted, type ImportContext, type Layer, type NodeConverter } from './context.js';
import { expectFirstInput, shapeText } from './dense.js';

/**
 * Flatten, Reshape and Squeeze as nn's Flatten. nn has no general reshape layer, but a reshape
 * that only merges runs of neighbouring dims (unit dims included) is one Flatten(start, end) per
 * run: [N,C,H,W] -> [N,C*H*W] is Flatten(1, 3), [N,C,1,1] -> [N,C] is Flatten(1, 3) too. Anything
 * else (splitting a dim, adding one, reordering) is refused.
 *
 * The batch dim: the chain is traced at one batch size, so each op's target shape is worked out as
 * a function of the batch, and where the model's batch is symbolic the op must keep dim 0 as the
 * batch at two sizes (a Reshape to [1, -1] only works at batch 1 and is refused).
 */

/** The op's output shape for an input of shape `shape` (whose dim 0 is the batch). */
type TargetShape = (shape: readonly number[]) => number[];

function mergingReshape(node: NodeProto, x: ChainValue, context: ImportContext, target: TargetShape): Converted {
  expectFirstInput(node, x, context);
  context.checkUnusedOutputs(node, 1);
  const out = target(x.shape);
  if (context.batch.symbolic !== null && x.shape.length > 0) {
    const other = [x.shape[0] + 1, ...x.shape.slice(1)];
    const outOther = target(other);
    const keepsBatch = out[0] === x.shape[0] && outOther[0] === other[0] && outOther.length === out.length && outOther.slice(1).every((d, i) => d === out[i + 1]);
    if (!keepsBatch) {
      throw context.unsupported(node, `its output ${shapeText(out)} does not keep the symbolic batch dim '${context.batch.symbolic}' (at batch ${other[0]} it would be ${shapeText(outOther)})`);
    }
  }
  const groups = mergeGroups(x.shape, out);
  if (groups === null) throw context.unsupported(node, `${shapeText(x.shape)} -> ${shapeText(out)} does not only merge neighbouring dims, and nn has no general reshape layer`);
  const layers: Layer[] = [];
  // Later runs first, so the dims of earlier runs keep their positions.
  for (const group of [...groups].reverse()) if (group.length > 1) layers.push(new Flatten(group[0], group[group.length - 1]));
  return { layers, output: { name: node.output[0], shape: out } };
}

/**
 * Splits `input` into runs of neighbouring dims whose products are `output`'s dims, or null when
 * it cannot. Leading unit dims join the first run, trailing ones the last.
 */
export function mergeGroups(input: readonly number[], output: readonly number[]): number[][] | null {
  if (product(input) !== product(output)) return null;
  const groups: number[][] = [];
  let i = 0;
  for (const dim of output) {
    const group: number[] = [];
    let size = 1;
    do {
      if (i >= input.length) return null;
      size *= input[i];
      group.push(i++);
    } while (size < dim);
    if (size !== dim) return null;
    groups.push(group);
  }
  if (groups.length === 0) return null;
  // Trailing unit dims join the last run.
  while (i < input.length) {
    if (input[i] !== 1) return null;
    groups[groups.length - 1].push(i++);
  }
  return groups;
}

/** Flatten(axis): [prod(dims before axis), prod(dims from axis)]. */
export const convertFlatten: NodeConverter = (node, x, context) => {
  const attrs = context.attributes(node);
  const rank = x.shape.length;
  const raw = attrs.int('axis', 1);
  const axis = raw === rank ? rank : normalizeAxis(raw, rank, (why) => context.invalid(node, why));
  return mergingReshape(node, x, context, (shape) => [product(shape.slice(0, axis)), product(shape.slice(axis))]);
};

/**
 * Reshape to a constant shape (an input from opset 5): 0 copies the input's dim (unless
 * allowzero=1, opset 14), -1 takes what is left.
 */
export const convertReshape: NodeConverter = (node, x, context) => {
  const spec = context.constantInput(node, 1, 'shape').numbers();
  return reshapeBy(node, x, context, () => spec);
};

/**
 * A Reshape of x whose shape input is `specFor(x's shape)`: a constant, or (patterns.ts) a shape
 * computed from x's own Shape, which the import evaluates at each batch size it checks.
 */
export function reshapeBy(node: NodeProto, x: ChainValue, context: ImportContext, specFor: (shape: readonly number[]) => readonly number[]): Converted {
  const allowZero = context.opset >= 14 && context.attributes(node).int('allowzero', 0) === 1;
  const target: TargetShape = (shape) => {
    const spec = specFor(shape);
    const dims = spec.map((d, i) => (d === 0 && !allowZero ? shape[i] : d));
    const misfit = (): Error => context.invalid(node, `shape ${shapeText(spec)} does not fit input ${shapeText(shape)}`);
    if (dims.some((d) => d === undefined || d < -1)) throw misfit();
    const inferred = dims.indexOf(-1);
    if (inferred >= 0) {
      if (dims.indexOf(-1, inferred + 1) >= 0) throw context.invalid(node, `shape ${shapeText(spec)} has more than one -1`);
      const known = product(dims.filter((_, i) => i !== inferred));
      if (known === 0 || product(shape) % known !== 0) throw misfit();
      dims[inferred] = product(shape) / known;
    }
    if (product(dims) !== product(shape)) throw misfit();
    return dims;
  };
  return mergingReshape(node, x, context, target);
}

/** Squeeze of the given unit axes (an attribute before opset 13, an input from 13), or of every unit axis when none are given. */
export const convertSqueeze: NodeConverter = (node, x, context) => {
  const given = context.opset < 13 ? (context.attributes(node).has('axes') ? context.attributes(node).ints('axes') : undefined) : context.optionalConstant(node, 1, 'axes')?.numbers();
  const rank = x.shape.length;
  const axes = given?.map((a) => normalizeAxis(a, rank, (why) => context.invalid(node, why)));
  const target: TargetShape = (shape) => {
    if (axes === undefined) return shape.filter((d) => d !== 1);
    for (const a of axes) if (shape[a] !== 1) throw context.invalid(node, `axis ${a} of ${shapeText(shape)} is not 1`);
    return shape.filter((_, i) => !axes.includes(i));
  };
  return mergingReshape(node, x, context, target);
};
