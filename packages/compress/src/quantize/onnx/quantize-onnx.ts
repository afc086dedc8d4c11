import { MinnowError } from '@minnow/core';
import type { GraphProto, ModelProto, NodeProto } from '@minnow/onnx';
import type { LayerReport, TensorRange } from '../types.js';
import { ActivationQuantizer, isSixteenBit, type ActivationType } from './activations.js';
import { dynamicUnsupported, rewriteDynamic } from './dynamic.js';
import { foldBatchNorms } from './fold-batchnorm.js';
import { initializerBytes, weightLayout } from './layout.js';
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
 * Nodes it cannot quantize stay in float and are named in the report with the reason.
 */

export type QuantizeMode = 'weight-only' | 'dynamic' | 'static';

export interface QuantizeOnnxOptions extends SelectionOptions {
  readonly mode: QuantizeMode;
  /** Static: the calibrated range of every activation to quantize, by tensor name (see calibrateOnnx). */
  readonly activationRanges?: ReadonlyMap<string, TensorRange>;
  /** Static: the activations' type (default uint8, affine; 16-bit needs opset 21). */
  readonly activationType?: ActivationType;
  /** Static: 'qdq' (default: QuantizeLinear/DequantizeLinear around float ops) or 'qop' (QLinearConv, QLinearMatMul, MatMulInteger). */
  readonly format?: 'qdq' | 'qop';
  /** Nodes (by name) whose weights only are quantized, whatever the mode: for layers whose inputs do not take 8 bits well. */
  readonly weightOnly?: readonly string[];
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
  checkSelectionOptions(options);
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
    const result = rewriteQdq(node, layout, choice, ctx, false);
    return note ? { ...result, note } : result;
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
    return { ...rewriteQdq(node, layout, choice, ctx, true), note: `QDQ form: ${why}` };
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
  const activations = options.mode === 'static' ? new ActivationQuantizer(options.activationRanges!, names, options.activationType ?? 'uint8') : undefined;
  let opset = 0;
  let opsetWhy = '';
  const require = (version: number, why: string): void => {
    if (version > opset) [opset, opsetWhy] = [version, why];
  };
  const report: LayerReport[] = [];
  for (const scope of graphScopes(out)) {
    const rewritten: NodeProto[] = [];
    const ctx: RewriteContext = { names, weights, activations, scope, emit: (n) => rewritten.push(n) };
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
      const result = rewriteNode(node, selection.choice, selection.weightOps, ctx, options, require);
      if (typeof result === 'string') {
        report.push({ layer, op, precision: 'float', reason: result, bytesBefore, bytesAfter: bytesBefore });
        rewritten.push(node);
        return;
      }
      for (const i of node.input) if (i !== '') replaced.add(i);
      rewritten.push(...result.nodes);
      // Float constants of the original node that the new nodes still read (a bias kept in float ...).
      const stillRead = new Set(rewritten.slice(before).flatMap((n) => n.input).filter((i) => node.input.includes(i)));
      const keptBytes = initializerBytes({ ...node, input: [...stillRead] }, scope);
      const weightOp = result.weightBits > 0;
      report.push({
        layer, op,
        precision: weightOp ? selection.choice.precision : 'int8',
        ...(result.note ? { reason: result.note } : {}),
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
