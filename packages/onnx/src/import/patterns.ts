import { MinnowError, fromArray, gelu, mul, scope, sigmoid, type Tensor } from '@minnow/core';
import { GELU } from '@minnow/nn';
import type { NodeProto } from '../ir/types.js';
import { normalizeAxis, type ChainValue, type ConstantTensor, type Converted, type ImportContext } from './context.js';
import type { GraphView } from './graph.js';
import { layerNormOver } from './normalization.js';
import { reshapeBy } from './reshape.js';
import { runNodes } from './subgraph.js';

/**
 * Where the chain forks (a value read by several nodes), the nodes up to the point where the
 * branches join again form a region with one way in and one way out. Three such regions are layers
 * nn has, written out by exporters: GELU (x * 0.5 * (1 + erf(x / sqrt 2)), or its tanh form), layer
 * norm (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, then the scale and shift), and a Reshape
 * whose shape is computed from x's own Shape. Any other region (a residual add, a concatenation of
 * branches) is refused.
 */

/** The nodes between a fork and the join, in topological order, with the one value that leaves them. */
export interface Region {
  readonly nodes: readonly NodeProto[];
  readonly input: string;
  readonly output: string;
}

/** Regions larger than this are not searched further: no recognised pattern is that long. */
const REGION_LIMIT = 24;

/**
 * The regions that start at the fork `x`, smallest first: grown from x's readers by adding the
 * earliest outside reader of a value that leaves, each yielded when exactly one value leaves and
 * every node reads only x, constants and the region's own values. Growth goes on past such a
 * point, because a pattern may hold an inner fork (layer norm's x - mean feeds both the variance
 * and the division) or end in a trailing scalar op (PyTorch's GELU multiplies by 0.5 last).
 */
export function* regionsFrom(view: GraphView, x: string): Generator<Region> {
  const region = new Set(view.readersOf(x));
  while (region.size <= REGION_LIMIT) {
    const nodes = [...region].sort((a, b) => view.order(a) - view.order(b));
    const produced = new Set(nodes.flatMap((n) => n.output).filter((o) => o !== ''));
    const open = nodes.some((n) => n.input.some((i) => i !== '' && i !== x && !view.isConstant(i) && !produced.has(i)));
    const exits = [...produced].filter((v) => v === view.outputName || view.readersOf(v).some((r) => !region.has(r)));
    if (!open && exits.length === 1) yield { nodes, input: x, output: exits[0] };
    const next = exits.flatMap((v) => view.readersOf(v)).filter((r) => !region.has(r)).sort((a, b) => view.order(a) - view.order(b))[0];
    if (next === undefined) return;
    region.add(next);
  }
}

/** The region as a layer nn has, or undefined when it is neither pattern. */
export function convertRegion(view: GraphView, region: Region, x: ChainValue, context: ImportContext): Converted | undefined {
  return layerNormRegion(region, x, context) ?? shapeReshapeRegion(view, region, x, context) ?? elementwiseRegion(view, region, x, context);
}

/**
 * Reshape(x, f(Shape(x))): PyTorch writes x.view(x.size(0), -1) with a dynamic batch as Shape,
 * Gather, Unsqueeze, Concat feeding the Reshape. The shape nodes read nothing of x but its shape,
 * so they are evaluated (on a zero tensor of that shape) at each batch size the reshape is
 * checked at, and the Reshape becomes Flatten layers like a constant one.
 */
function shapeReshapeRegion(view: GraphView, region: Region, x: ChainValue, context: ImportContext): Converted | undefined {
  const reshape = region.nodes.find((n) => n.output[0] === region.output);
  if (reshape === undefined || reshape.opType !== 'Reshape' || reshape.input[0] !== region.input) return undefined;
  const shapeNodes = region.nodes.filter((n) => n !== reshape);
  const readsX = shapeNodes.filter((n) => n.input.includes(region.input));
  if (readsX.length === 0 || readsX.some((n) => n.opType !== 'Shape') || shapeNodes.some((n) => (n.domain ?? '') !== '')) return undefined;
  const constants = new Set(shapeNodes.flatMap((n) => n.input).map((i) => context.constant(i)).filter((c): c is ConstantTensor => c !== undefined));
  const specFor = (shape: readonly number[]): number[] => {
    const zeros = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const values = runNodes(view.model, shapeNodes, [...constants], [{ name: region.input, shape, data: zeros }], [reshape.input[1]], context.where.backend);
    return values.get(reshape.input[1])?.numbers() ?? [];
  };
  const converted = reshapeBy(reshape, x, context, specFor);
  return { ...converted, consumed: region.nodes };
}

const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sqrt', 'Neg', 'Reciprocal', 'Erf', 'Tanh', 'Sigmoid', 'Exp', 'Log']);

/** Elementwise nodes whose constants are single numbers: together a function of each element of x alone. */
function isScalarFunction(nodes: readonly NodeProto[], rank: number, context: ImportContext): boolean {
  return nodes.every((n) => (n.domain ?? '') === '' && ELEMENTWISE.has(n.opType ?? '') && n.input.every((i) => {
    const c = context.constant(i);
    return c === undefined || (c.size === 1 && c.dims.length <= rank);
  }));
}

/** Probe points for telling functions of one variable apart: -6 to 6 in steps of 0.05. */
const PROBE = Float32Array.from({ length: 241 }, (_, i) => -6 + i * 0.05);
const PROBE_TOLERANCE = 1e-5;

/**
 * A region that is a function of each element of x alone (elementwise ops, scalar constants) is
 * GELU when it agrees with core's gelu at every probe point. Exporters spell the formula in
 * different orders (x * 0.5 first, or the product then * 0.5), so the function is compared, not
 * the node sequence. SiLU is recognised for the message only: nn has no layer for it.
 */
function elementwiseRegion(view: GraphView, region: Region, x: ChainValue, context: ImportContext): Converted | undefined {
  if (!isScalarFunction(region.nodes, x.shape.length, context)) return undefined;
  const shape = [...x.shape.map(() => 1).slice(1), PROBE.length];
  const constants = new Set(region.nodes.flatMap((n) => n.input).map((i) => context.constant(i)).filter((c): c is ConstantTensor => c !== undefined));
  let computed: Float64Array;
  try {
    const values = runNodes(view.model, region.nodes, [...constants], [{ name: region.input, shape, data: PROBE }], [region.output], context.where.backend);
    computed = values.get(region.output)?.floats() ?? new Float64Array();
  } catch (error) {
    // A region minnow's executor cannot evaluate is no pattern; the caller reports the branch.
    if (error instanceof MinnowError) return undefined;
    throw error;
  }
  if (computed.length !== PROBE.length) return undefined;
  for (const approximate of ['none', 'tanh'] as const) {
    if (agrees(computed, (t) => gelu(t, approximate))) {
      return { layers: [new GELU(approximate)], output: { name: region.output, shape: x.shape }, consumed: region.nodes };
    }
  }
  if (agrees(computed, (t) => mul(t, sigmoid(t)))) {
    throw context.unsupported(region.nodes[region.nodes.length - 1], `the nodes from '${region.input}' compute SiLU (x * sigmoid(x)), which nn has no layer for`);
  }
  return undefined;
}

function agrees(computed: Float64Array, reference: (t: Tensor) => Tensor): boolean {
  const expected = scope(() => Float32Array.from(reference(fromArray(PROBE, [PROBE.length])).dataSync() as Float32Array));
  return expected.every((e, i) => Math.abs(computed[i] - e) <= PROBE_TOLERANCE * Math.max(1, Math.abs(e)));
}

/**
 * Layer norm written out: mean = ReduceMean(x), d = x - mean, var = ReduceMean(d^2) (Pow by 2, or
 * d * d), y = d / Sqrt(var + eps) (or d * Reciprocal(...)), both means over the same trailing axes
 * with keepdims. The region must be exactly these nodes; a Mul and an Add of constants that
 * follow (the scale and shift) are folded into the LayerNorm.
 */
function layerNormRegion(region: Region, x: ChainValue, context: ImportContext): Converted | undefined {
  const nodes = region.nodes;
  const byInput = (op: string, input: string, at?: number): NodeProto | undefined =>
    nodes.find((n) => n.opType === op && (at === undefined ? n.input.includes(input) : n.input[at] === input));
  const mean = byInput('ReduceMean', region.input, 0);
  if (mean === undefined) return undefined;
  const centered = nodes.find((n) => n.opType === 'Sub' && n.input[0] === region.input && n.input[1] === mean.output[0]);
  if (centered === undefined) return undefined;
  const d = centered.output[0];
  const square = nodes.find((n) => (n.opType === 'Pow' && n.input[0] === d && context.constant(n.input[1])?.numbers()[0] === 2 && context.constant(n.input[1])?.size === 1)
    || (n.opType === 'Mul' && n.input[0] === d && n.input[1] === d));
  if (square === undefined) return undefined;
  const variance = byInput('ReduceMean', square.output[0], 0);
  const plusEps = variance && byInput('Add', variance.output[0]);
  const epsName = plusEps?.input.find((i) => i !== variance?.output[0]);
  const eps = epsName === undefined ? undefined : context.constant(epsName);
  if (!plusEps || eps === undefined || eps.size !== 1) return undefined;
  const root = byInput('Sqrt', plusEps.output[0], 0);
  if (root === undefined) return undefined;
  const divide = nodes.find((n) => n.opType === 'Div' && n.input[0] === d && n.input[1] === root.output[0]);
  const reciprocal = divide ? undefined : byInput('Reciprocal', root.output[0], 0);
  const times = reciprocal && nodes.find((n) => n.opType === 'Mul' && n.input.includes(d) && n.input.includes(reciprocal.output[0]));
  const last = divide ?? times;
  const matched = [mean, centered, square, variance, plusEps, root, last, reciprocal].filter((n): n is NodeProto => n !== undefined);
  if (last === undefined || last.output[0] !== region.output || matched.length !== nodes.length) return undefined;
  const axes = [reduceAxes(mean, x, context), reduceAxes(variance as NodeProto, x, context)];
  const rank = x.shape.length;
  const first = rank - axes[0].length;
  const trailing = (list: number[]): boolean => list.length > 0 && [...list].sort((a, b) => a - b).every((a, i) => a === first + i);
  if (!trailing(axes[0]) || !trailing(axes[1]) || axes[1].length !== axes[0].length) return undefined;

  // The scale and shift that follow, when they are constants.
  const consumed: NodeProto[] = [...nodes];
  let output = region.output;
  const affine: { scale?: string; bias?: string } = {};
  for (const [op, key] of [['Mul', 'scale'], ['Add', 'bias']] as const) {
    const next = context.soleReader(output);
    const other = next?.input.find((i) => i !== output);
    if (next === undefined || next.opType !== op || other === undefined || context.constant(other) === undefined) continue;
    affine[key] = other;
    consumed.push(next);
    output = next.output[0];
  }
  return layerNormOver(mean, x, first, eps.numbers()[0], affine, output, context, consumed);
}

/** A ReduceMean's axes (an attribute before opset 18, an input from 18), normalised; keepdims must be 1. */
function reduceAxes(node: NodeProto, x: ChainValue, context: ImportContext): number[] {
  const attrs = context.attributes(node);
  if (attrs.int('keepdims', 1) !== 1) return [];
  const axes = context.opset < 18 ? attrs.ints('axes', []) : context.optionalConstant(node, 1, 'axes')?.numbers() ?? [];
  return axes.map((a) => normalizeAxis(a, x.shape.length, (why) => context.invalid(node, why)));
}
