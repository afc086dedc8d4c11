import { MinnowError } from '@minnow/core';
import type { NodeProto } from '@minnow/onnx';
import type { LayerPrecision } from '../types.js';
import { ACTIVATION_OPS, UNQUANTIZED_WEIGHT_OPS, WEIGHT_OPS } from './layout.js';
import type { WeightChoice } from './rewrite.js';

/**
 * Which nodes are quantized and how: by op type (`ops`), by node name (`nodes`, `exclude`,
 * `precision` for mixed precision), with the weight granularity the run asks for.
 */

export type WeightGranularityOption = 'per-channel' | 'per-tensor' | number;

export interface SelectionOptions {
  /** Op types to quantize (default Conv, MatMul, Gemm; static QDQ also takes Add, Mul, pooling ...). */
  readonly ops?: readonly string[];
  /** Only these nodes (by name), when given. */
  readonly nodes?: readonly string[];
  /** Node names or op types left in float. */
  readonly exclude?: readonly string[];
  /** Per-node precision by node name ('float', 'int8', 'int4'): mixed precision. */
  readonly precision?: Readonly<Record<string, LayerPrecision>>;
  /** Weight precision for every other selected node (default int8). */
  readonly weights?: 'int8' | 'int4';
  /** 'per-channel' (int8 default), 'per-tensor', or a block size (int4 default 32) along the reduction axis. */
  readonly granularity?: WeightGranularityOption;
  /**
   * Affine weights: each scale (channel or block) gets its own zero point and the grid spans the
   * slice's own [min, max] instead of [-absmax, absmax] (default false: symmetric, zero point 0).
   * A slice whose values lean to one side gets up to twice the resolution, for one zero point
   * byte per scale; QDQ and weight-only forms only (the integer ops of 'dynamic' and 'qop' take
   * symmetric weights).
   */
  readonly affineWeights?: boolean;
}

export const DEFAULT_OPS: readonly string[] = ['Conv', 'MatMul', 'Gemm'];
export const DEFAULT_INT4_BLOCK = 32;

/** What happens to a node: quantized under `choice`, or a report row saying why it stays float, or nothing to say. */
export type Selection =
  | { readonly kind: 'quantize'; readonly choice: WeightChoice; readonly weightOps: boolean }
  | { readonly kind: 'float'; readonly reason: string }
  | { readonly kind: 'ignore' };

export function checkSelectionOptions(options: SelectionOptions): void {
  const g = options.granularity;
  if (typeof g === 'number' && (!Number.isInteger(g) || g < 16 || (g & (g - 1)) !== 0)) {
    throw new MinnowError('INVALID_ARGUMENT', `quantize: block size ${g} must be a power of two, 16 or more (onnxruntime's blocked DequantizeLinear takes those; 32, 64 and 128 are usual)`);
  }
  if (typeof g === 'string' && g !== 'per-channel' && g !== 'per-tensor') throw new MinnowError('INVALID_ARGUMENT', `quantize: granularity '${g}' is not 'per-channel', 'per-tensor' or a block size`);
  if (options.weights !== undefined && options.weights !== 'int8' && options.weights !== 'int4') {
    throw new MinnowError('INVALID_ARGUMENT', `quantize: weights '${String(options.weights)}' is not int8 or int4`);
  }
  for (const [name, p] of Object.entries(options.precision ?? {})) {
    if (p !== 'float' && p !== 'int8' && p !== 'int4') throw new MinnowError('INVALID_ARGUMENT', `quantize: precision '${String(p)}' for node '${name}' is not float, int8 or int4`);
  }
  if (options.affineWeights !== undefined && typeof options.affineWeights !== 'boolean') throw new MinnowError('INVALID_ARGUMENT', `quantize: affineWeights must be true or false, got ${JSON.stringify(options.affineWeights)}`);
  for (const op of options.ops ?? []) {
    if (typeof op !== 'string' || op === '') throw new MinnowError('INVALID_ARGUMENT', `quantize: ops must be op type names, got ${JSON.stringify(op)}`);
  }
}

export function weightChoice(precision: 'int8' | 'int4', granularity: WeightGranularityOption | undefined, affine = false): WeightChoice {
  if (typeof granularity === 'number') return { precision, perChannel: false, blockSize: granularity, affine };
  if (granularity === undefined && precision === 'int4') return { precision, perChannel: false, blockSize: DEFAULT_INT4_BLOCK, affine };
  return { precision, perChannel: granularity !== 'per-tensor', blockSize: undefined, affine };
}

/** What to do with `node`. */
export function selectNode(node: NodeProto, options: SelectionOptions): Selection {
  const op = node.opType ?? '';
  const domain = node.domain ?? '';
  const ops = new Set(options.ops ?? DEFAULT_OPS);
  const wanted = ops.has(op) && (domain === '' || domain === 'ai.onnx');
  const override = node.name ? options.precision?.[node.name] : undefined;
  if (!wanted && !UNQUANTIZED_WEIGHT_OPS.has(op) && override === undefined) return { kind: 'ignore' };
  if (options.nodes !== undefined && !options.nodes.includes(node.name ?? '')) return wanted ? { kind: 'float', reason: 'not in the nodes selected' } : { kind: 'ignore' };
  if (options.exclude?.some((e) => e === op || (node.name !== undefined && e === node.name))) return { kind: 'float', reason: 'excluded' };
  if (override === 'float') return { kind: 'float', reason: 'precision set to float' };
  if (!WEIGHT_OPS.has(op) && !ACTIVATION_OPS.has(op)) return { kind: 'float', reason: `minnow does not quantize ${op}${domain ? ` (domain ${domain})` : ''}` };
  if (!wanted && override === undefined) return { kind: 'ignore' };
  const precision = override ?? options.weights ?? 'int8';
  return { kind: 'quantize', choice: weightChoice(precision, options.granularity, options.affineWeights ?? false), weightOps: WEIGHT_OPS.has(op) };
}
