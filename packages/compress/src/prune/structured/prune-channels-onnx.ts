import { MinnowError, getBackend } from '@minnow/core';
import { OnnxSession, type ModelProto, type NodeProto, type ShapeInference } from '@minnow/onnx';
import { defaultOpset } from '../../quantize/onnx/opset.js';
import { NameSource, cloneModel } from '../../quantize/onnx/model-edit.js';
import { ChannelGroups } from './groups.js';
import { checkChannelOptions } from './importance.js';
import { applyEdits, initializerElements, layerReports } from './onnx-apply.js';
import { traceNode } from './onnx-rules.js';
import { OnnxTrace, topologicalOrder } from './onnx-trace.js';
import type { OnnxChannelPruneOptions, OnnxChannelPruneResult } from './types.js';

const OP = 'pruneChannelsOnnx';

async function inferShapes(model: ModelProto, inputShapes: OnnxChannelPruneOptions['inputShapes']): Promise<ShapeInference> {
  // Inference runs on the meta backend; the session itself (constant folding) on the default one.
  let session: OnnxSession;
  try {
    session = OnnxSession.create(model, { backend: getBackend().name });
  } catch (error) {
    if (error instanceof MinnowError) throw new MinnowError(error.code, `${OP}: tracing needs shapes, which need the model to load in minnow's OnnxSession: ${error.message}`);
    throw error;
  }
  try {
    return await session.inferShapes(inputShapes ?? {});
  } finally {
    session.dispose();
  }
}

/**
 * Structured pruning of an ONNX model: removes the least important output channels of Conv, Gemm
 * and MatMul (constant weights) physically, and cuts every constant that indexes those channels
 * downstream: the bias and BatchNormalization entries, the next layer's input channels or rows
 * (through Flatten and Reshape, the H*W block each channel fed), the constant operands of
 * elementwise ops. Channel groups are traced through the graph: a residual Add or Mul joins the
 * groups it combines (both sides lose the same channels); Concat along the channels lays its
 * inputs' groups side by side; depthwise Conv joins its input's group. A group any op cannot carry
 * (a reduction or Softmax over the channels, an unmappable Reshape, a graph output, a subgraph, an
 * unknown op) keeps every channel, and its report row says which node stopped it.
 *
 * Importance and counts are as pruneChannels's (nn). The source model is not changed. The result
 * is checked before it is returned: shape inference must run through it and give the graph
 * outputs their former shapes, or the call fails (INTERNAL) rather than hand back a broken model.
 */
export async function pruneChannelsOnnx(model: ModelProto, options: OnnxChannelPruneOptions): Promise<OnnxChannelPruneResult> {
  const norm = checkChannelOptions(OP, options?.sparsity, options?.norm);
  if (model?.graph === undefined) throw new MinnowError('INVALID_MODEL', `${OP}: the model has no graph`);
  const shapes = await inferShapes(model, options.inputShapes);
  const copy = cloneModel(model);
  const graph = copy.graph!;
  const groups = new ChannelGroups();
  const trace = new OnnxTrace(graph, shapes, groups, norm, defaultOpset(copy));
  const order = topologicalOrder(graph);
  for (const node of order) traceNode(trace, node);
  trace.finish();
  const opOf = new Map(graph.node.map((n) => [trace.label(n), n.opType ?? '']));
  const named = (list: readonly string[], layer: string): boolean => list.includes(layer) || list.includes(opOf.get(layer) ?? '');
  groups.decide(options.sparsity, (layer) => (
    (options.include && !named(options.include, layer)) || (options.exclude && named(options.exclude, layer)) ? `'${layer}' is not selected (include/exclude)` : undefined
  ));
  const inputsBefore = new Map<NodeProto, readonly string[]>(graph.node.map((n) => [n, [...n.input]]));
  const paramsBefore = initializerElements(model.graph);
  applyEdits(graph, trace, (g) => groups.keptOf(g), new NameSource(copy));
  if (groups.anyPruned) await checkShapes(copy, shapes, options.inputShapes);
  return {
    model: copy,
    layers: layerReports(order, trace, inputsBefore, graph),
    groups: groups.report(),
    params: { before: paramsBefore, after: initializerElements(graph) },
  };
}

/** Shape inference must go through the pruned model and give every graph output its former dims. */
async function checkShapes(pruned: ModelProto, original: ShapeInference, inputShapes: OnnxChannelPruneOptions['inputShapes']): Promise<void> {
  let inferred: ShapeInference;
  try {
    inferred = await inferShapes(pruned, inputShapes);
  } catch (error) {
    throw new MinnowError('INTERNAL', `${OP}: the pruned model does not load (${error instanceof Error ? error.message : String(error)}); please report this with the model`);
  }
  const fresh = inferred.problems.filter((p) => !original.problems.includes(p));
  const changed = pruned.graph!.output.filter((o) => {
    const [a, b] = [original.values.get(o.name ?? '')?.dims, inferred.values.get(o.name ?? '')?.dims];
    return JSON.stringify(a) !== JSON.stringify(b);
  });
  if (fresh.length > 0 || changed.length > 0) {
    const what = [...fresh, ...changed.map((o) => `output '${o.name ?? ''}' changed shape`)].join('; ');
    throw new MinnowError('INTERNAL', `${OP}: the pruned model does not check out (${what}); please report this with the model`);
  }
}
