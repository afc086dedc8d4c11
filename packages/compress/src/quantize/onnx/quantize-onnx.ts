import { MinnowError } from '@minnow/core';
import type { GraphProto, ModelProto, NodeProto } from '@minnow/onnx';
import type { LayerReport, TensorRange } from '../types.js';
import type { WeightClipping, WeightRounding } from '../weight-rounding.js';
import { ActivationQuantizer, defaultActivationMargin, isSixteenBit, type ActivationType } from './activations.js';
import { correctBias } from './bias-correction.js';
import { dynamicUnsupported, rewriteDynamic } from './dynamic.js';
import { foldBatchNorms } from './fold-batchnorm.js';
import { initializerBytes, weightLayout } from './layout.js';
import { LayerStatistics } from './layer-statistics.js';
import { cloneModel, graphScopes, NameSource, subgraphs, type GraphScope } from './model-edit.js';
import { raiseOpset } from './opset.js';
import { dequantizeOpset, missingRange, rewriteActivationQdq, rewriteQdq } from './qdq.js';
import { qoperatorBiasFits, qoperatorUnsupported, rewriteQOperator } from './qoperator.js';
import type { RewriteContext, RewriteResult, WeightChoice } from './rewrite.js';
import { checkSelectionOptions, selectNode, type SelectionOptions } from './select.js';
import { WeightStore } from './weights.js';

/**
 * Post-training quantization of an ONNX model: BatchNormalization folded first, then each
 * selected Conv, MatMul and Gemm (in every graph, If/Loop bodies included) rewritten as
 * weight-only (DequantizeLinear of int8/int4 weights), dynamic (DynamicQuantizeLinear +
 * MatMulInteger/ConvInteger) or static (calibrated activations; QDQ pairs, or QOperator ops).
 * Nodes it cannot quantize stay in float and are named in the report with the reason. Weights are
 * min-max scaled and rounded to nearest unless asked otherwise: with layer statistics
 * (calibrateLayerInputs), MSE clipping, GPTQ rounding and bias correction (weight-rounding.ts).
 */

export type QuantizeMode = 'weight-only' | 'dynamic' | 'static';

export interface QuantizeOnnxOptions extends SelectionOptions {
  readonly mode: QuantizeMode;
  /** Static: the calibrated range of every activation to quantize, by tensor name (see calibrateOnnx). */
  readonly activationRanges?: ReadonlyMap<string, TensorRange>;
  /** Static: the activations' type (default uint8, affine; 16-bit needs opset 21). */
  readonly activationType?: ActivationType;
  /**
   * Static: each calibrated activation range is widened by this factor (>= 1, about zero) before
   * its scale is chosen, as headroom for values calibration did not see. Default 2 for 16-bit
   * activations (one of their 16 bits; clipping costs far more than the coarser step) and 1 for
   * 8-bit ones (whose step is the larger error).
   */
  readonly activationMargin?: number;
  /** Static: 'qdq' (default: QuantizeLinear/DequantizeLinear around float ops) or 'qop' (QLinearConv, QLinearMatMul, MatMulInteger). */
  readonly format?: 'qdq' | 'qop';
  /** Nodes (by name) whose weights only are quantized, whatever the mode: for layers whose inputs do not take 8 bits well. */
  readonly weightOnly?: readonly string[];
  /**
   * How weight scales are chosen: 'minmax' (default: the weight's absolute maximum) or 'mse' (the
   * clipped range with the least squared error; the error at the layer's output when
   * layerStatistics has the layer's input second moment, else the weights' own).
   */
  readonly weightMethod?: WeightClipping;
  /** How weight codes are chosen: 'nearest' (default) or 'gptq' (error feedback through the input Hessian; needs layerStatistics). */
  readonly weightRounding?: WeightRounding;
  /** GPTQ: diagonal damping as a fraction of the Hessian's mean diagonal (default 0.01), and whether columns with the largest inputs go first (default true). */
  readonly gptq?: { readonly damping?: number; readonly actOrder?: boolean };
  /** Subtract each layer's mean output shift (W_q - W) E[x] from its bias (Nagel et al. 2019; needs layerStatistics). */
  readonly biasCorrection?: boolean;
  /** What each weight layer's input looked like in calibration (calibrateLayerInputs): for weightMethod 'mse', 'gptq' and biasCorrection. */
  readonly layerStatistics?: LayerStatistics;
  /** Fold BatchNormalization into the Conv/Gemm before it (default true). */
  readonly foldBatchNorm?: boolean;
  /**
   * Keep nodes' metadata_props and doc strings (default false: exporters put stack traces there,
   * often more bytes than the quantized weights, and no runtime reads them).
   */
  readonly keepMetadata?: boolean;
}

export interface QuantizeOnnxResult {
  readonly model: ModelProto;
  readonly report: LayerReport[];
}

function checkOptions(options: QuantizeOnnxOptions): void {
  if (!['weight-only', 'dynamic', 'static'].includes(options.mode)) {
    throw new MinnowError('INVALID_ARGUMENT', `quantize: mode '${String(options.mode)}' is not weight-only, dynamic or static`);
  }
  if (options.mode === 'static' && options.activationRanges === undefined) {
    throw new MinnowError('INVALID_ARGUMENT', 'quantize: static quantization needs activationRanges (calibrate the model on sample inputs first)');
  }
  if (options.format !== undefined && options.format !== 'qdq' && options.format !== 'qop') throw new MinnowError('INVALID_ARGUMENT', `quantize: format '${String(options.format)}' is not qdq or qop`);
  if (options.activationType !== undefined && !['uint8', 'int8', 'uint16', 'int16'].includes(options.activationType)) {
    throw new MinnowError('INVALID_ARGUMENT', `quantize: activation type '${String(options.activationType)}' is not uint8, int8, uint16 or int16`);
  }
  if (options.affineWeights && (options.mode === 'dynamic' || options.format === 'qop')) {
    throw new MinnowError('INVALID_ARGUMENT', `quantize: affineWeights is for the QDQ and weight-only forms; ${options.mode === 'dynamic' ? "mode 'dynamic'" : "format 'qop'"} writes integer ops (ConvInteger, QLinearConv ...) that take symmetric weights`);
  }
  const margin = options.activationMargin;
  if (margin !== undefined && !(margin >= 1 && Number.isFinite(margin))) throw new MinnowError('INVALID_ARGUMENT', `quantize: activationMargin must be a finite number >= 1, got ${margin}`);
  if (options.weightMethod !== undefined && options.weightMethod !== 'minmax' && options.weightMethod !== 'mse') {
    throw new MinnowError('INVALID_ARGUMENT', `quantize: weightMethod '${String(options.weightMethod)}' is not minmax or mse`);
  }
  if (options.weightRounding !== undefined && options.weightRounding !== 'nearest' && options.weightRounding !== 'gptq') {
    throw new MinnowError('INVALID_ARGUMENT', `quantize: weightRounding '${String(options.weightRounding)}' is not nearest or gptq`);
  }
  if (options.layerStatistics !== undefined && !(options.layerStatistics instanceof LayerStatistics)) {
    throw new MinnowError('INVALID_ARGUMENT', 'quantize: layerStatistics must come from calibrateLayerInputs');
  }
  for (const [asked, what] of [[options.weightRounding === 'gptq', "weightRounding 'gptq'"], [options.biasCorrection === true, 'biasCorrection']] as const) {
    if (asked && options.layerStatistics === undefined) throw new MinnowError('INVALID_ARGUMENT', `quantize: ${what} needs layerStatistics (run calibrateLayerInputs on sample inputs first)`);
  }
  const damping = options.gptq?.damping;
  if (damping !== undefined && !(damping >= 0 && Number.isFinite(damping))) throw new MinnowError('INVALID_ARGUMENT', `quantize: gptq.damping must be a finite number >= 0, got ${damping}`);
  checkSelectionOptions(options);
}

/** `result` with `note` put before the notes it already has (how its weight was rounded ...), none dropped. */
function withNote(result: RewriteResult, note: string | undefined): RewriteResult {
  if (note === undefined) return result;
  return { ...result, note: result.note ? `${note}; ${result.note}` : note };
}

/** The rewrite context's rounding, when anything but min-max round-to-nearest is asked for (or statistics are given). */
function roundingOf(options: QuantizeOnnxOptions): RewriteContext['rounding'] {
  const clipping = options.weightMethod ?? 'minmax';
  const rounding = options.weightRounding ?? 'nearest';
  if (clipping === 'minmax' && rounding === 'nearest' && options.layerStatistics === undefined) return undefined;
  return { options: { clipping, rounding, damping: options.gptq?.damping, actOrder: options.gptq?.actOrder }, statistics: options.layerStatistics };
}

const nodeLabel = (node: NodeProto, scope: GraphScope, index: number): string => node.name || `${scope.path}:${node.opType ?? '?'}#${index}`;

/** Rewrites one node as the mode asks; a string says why it stays float. */
function rewriteNode(node: NodeProto, choice: WeightChoice, weightOp: boolean, ctx: RewriteContext, options: QuantizeOnnxOptions, require: (opset: number, why: string) => void): RewriteResult | string {
  if (ctx.activations && isSixteenBit(ctx.activations.type)) require(21, '16-bit activations');
  const staticMode = options.mode === 'static' && !(node.name && options.weightOnly?.includes(node.name));
  if (!weightOp) {
    if (options.mode !== 'static') return `${node.opType} has no weights: only static quantization takes its activations`;
    const inputs = node.input.map((n, i) => (n !== '' && ctx.activations!.has(n) ? i : -1)).filter((i) => i >= 0);
    if (inputs.length === 0) return 'no calibrated range for any of its inputs';
    require(10, 'QuantizeLinear');
    return rewriteActivationQdq(node, inputs, ctx);
  }
  const found = weightLayout(node, ctx.scope);
  if ('reason' in found) return found.reason;
  const layout = found.layout;
  const weightOnly = (note?: string): RewriteResult => {
    require(dequantizeOpset(choice), choice.precision === 'int4' ? 'int4 weights' : choice.blockSize ? 'blocked weights' : 'per-channel weights');
    return withNote(rewriteQdq(node, layout, choice, ctx, false), note);
  };
  if (options.mode === 'weight-only' || (options.mode === 'static' && !staticMode)) return weightOnly();
  if (options.mode === 'dynamic') {
    const why = dynamicUnsupported(node, layout, choice, ctx);
    if (why === undefined) {
      require(11, 'DynamicQuantizeLinear');
      return rewriteDynamic(node, layout, choice, ctx);
    }
    return choice.precision === 'int4' || choice.blockSize !== undefined ? weightOnly(`weight-only: ${why}`) : why;
  }
  // A node calibration never reached (an If branch the samples did not take) still gets its weights quantized.
  const missing = missingRange(node, layout.activations, ctx);
  if (missing !== undefined) return weightOnly(`weight-only: ${missing}`);
  if (options.format === 'qop') {
    const why = qoperatorUnsupported(node, layout, choice, ctx) ?? (qoperatorBiasFits(node, layout, choice, ctx) ? undefined : 'its bias does not fit int32');
    if (why === undefined) {
      require(10, 'QLinear ops');
      return rewriteQOperator(node, layout, choice, ctx);
    }
    require(Math.max(13, dequantizeOpset(choice)), 'QDQ with per-channel weights');
    return withNote(rewriteQdq(node, layout, choice, ctx, true), `QDQ form: ${why}`);
  }
  require(Math.max(choice.perChannel ? 13 : 10, dequantizeOpset(choice)), choice.precision === 'int4' ? 'int4 weights' : 'per-channel weights');
  return rewriteQdq(node, layout, choice, ctx, true);
}

/** Names read anywhere in the model (node inputs, graph outputs), subgraphs included. */
function namesRead(model: ModelProto): Set<string> {
  const read = new Set<string>();
  for (const { graph } of graphScopes(model)) {
    for (const node of graph.node) for (const i of node.input) read.add(i);
    for (const o of graph.output) read.add(o.name ?? '');
  }
  return read;
}

function dropUnread(model: ModelProto, candidates: ReadonlySet<string>): void {
  const read = namesRead(model);
  const scopes = graphScopes(model);
  const initializers = new Set(scopes.flatMap(({ graph }) => graph.initializer.map((t) => t.name ?? '')));
  const gone = (name: string | undefined): boolean => name !== undefined && candidates.has(name) && initializers.has(name) && !read.has(name);
  for (const { graph } of scopes) {
    graph.initializer = graph.initializer.filter((t) => !gone(t.name));
    graph.input = graph.input.filter((v) => !gone(v.name));
    graph.valueInfo = graph.valueInfo.filter((v) => !gone(v.name));
  }
}

function stripMetadata(graph: GraphProto): void {
  for (const node of graph.node) {
    node.metadataProps = [];
    delete node.docString;
    for (const sub of subgraphs(node)) stripMetadata(sub.graph);
  }
  for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) v.metadataProps = [];
}

export function quantizeOnnx(model: ModelProto, options: QuantizeOnnxOptions): QuantizeOnnxResult {
  checkOptions(options);
  const out = cloneModel(model);
  const names = new NameSource(out);
  const original = new Set(graphScopes(out).flatMap(({ graph }) => graph.initializer.map((t) => t.name ?? '')));
  const replaced = new Set<string>();
  if (options.foldBatchNorm ?? true) for (const name of foldBatchNorms(out, names).replaced) replaced.add(name);
  const weights = new WeightStore(names);
  const activationType = options.activationType ?? 'uint8';
  const activations = options.mode === 'static' ? new ActivationQuantizer(options.activationRanges!, names, activationType, options.activationMargin ?? defaultActivationMargin(activationType)) : undefined;
  let opset = 0;
  let opsetWhy = '';
  const require = (version: number, why: string): void => {
    if (version > opset) [opset, opsetWhy] = [version, why];
  };
  const report: LayerReport[] = [];
  const rounding = roundingOf(options);
  for (const scope of graphScopes(out)) {
    const rewritten: NodeProto[] = [];
    const ctx: RewriteContext = { names, weights, activations, scope, rounding, emit: (n) => rewritten.push(n) };
    scope.graph.node.forEach((node, index) => {
      const layer = nodeLabel(node, scope, index);
      const op = node.opType ?? '';
      const selection = selectNode(node, options);
      const bytesBefore = initializerBytes(node, scope);
      if (selection.kind !== 'quantize') {
        if (selection.kind === 'float') report.push({ layer, op, precision: 'float', reason: selection.reason, bytesBefore, bytesAfter: bytesBefore });
        rewritten.push(node);
        return;
      }
      const before = rewritten.length;
      const correction = options.biasCorrection && selection.weightOps ? correctBias(node, selection.choice, ctx) : undefined;
      const result = rewriteNode(node, selection.choice, selection.weightOps, ctx, options, require);
      if (typeof result === 'string') {
        if (typeof correction === 'object') correction.undo();
        report.push({ layer, op, precision: 'float', reason: result, bytesBefore, bytesAfter: bytesBefore });
        rewritten.push(node);
        return;
      }
      for (const i of node.input) if (i !== '') replaced.add(i);
      if (typeof correction === 'object' && correction.replaced !== undefined) replaced.add(correction.replaced);
      const note = [result.note, typeof correction === 'string' ? correction : undefined].filter((n) => n !== undefined).join('; ');
      rewritten.push(...result.nodes);
      // Float constants of the original node that the new nodes still read (a bias kept in float ...).
      const stillRead = new Set(rewritten.slice(before).flatMap((n) => n.input).filter((i) => node.input.includes(i)));
      const keptBytes = initializerBytes({ ...node, input: [...stillRead] }, scope);
      const weightOp = result.weightBits > 0;
      report.push({
        layer, op,
        precision: weightOp ? selection.choice.precision : 'int8',
        ...(note ? { reason: note } : {}),
        ...(weightOp ? { weightBits: result.weightBits, weightScale: result.weightScale } : {}),
        ...(result.activationScale !== undefined ? { activationScale: result.activationScale } : {}),
        bytesBefore,
        bytesAfter: result.bytesAfter + keptBytes,
      });
    });
    scope.graph.node = rewritten;
  }
  if (opset > 0) raiseOpset(out, opset, opsetWhy);
  // Drop the float weights no node reads any more, and any initialiser made here that went unused.
  for (const { graph } of graphScopes(out)) for (const t of graph.initializer) if (!original.has(t.name ?? '')) replaced.add(t.name ?? '');
  dropUnread(out, replaced);
  if (!options.keepMetadata) stripMetadata(out.graph!);
  return { model: out, report };
}
