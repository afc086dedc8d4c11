// A TensorFlow.js Layers model (model.json and its weights) as an ONNX model with the same inputs and
// outputs: walk the Keras graph from the outputs back, convert each layer call once, in order.
import { MinnowError } from '@minnow/core';
import { DataType, GraphBuilder, tensorValueInfo, type ModelProto, type ValueInfoProto } from '@minnow/onnx';
import { ConversionContext, LayerConfigReader, type Dim, type ResizeSemantics, type Value } from './context.js';
import { LAYER_CONVERTERS, SUPPORTED_LAYERS } from './layers/index.js';
import { invalid, parseModelJson, type KerasLayer, type KerasTopology, type TensorRef } from './model-json.js';
import { readTfjsWeights } from './weights.js';

/** ONNX versions of the models the converter writes: opset 17 (Resize, Softmax on one axis, BatchNormalization-15). */
const OPSET = 17;
const IR_VERSION = 8;

export interface TfjsToOnnxOptions {
  /**
   * How UpSampling2D's bilinear mode places samples: 'tfjs' (default) as TF.js runs the model,
   * 'keras' as Keras in Python (TF 2, half-pixel centres) does.
   */
  resizeSemantics?: ResizeSemantics;
}

/** One call of a layer: the layer and which of its inbound nodes. */
interface Call {
  readonly layer: KerasLayer;
  readonly node: number;
}

const key = (layer: string, node: number): string => `${layer}\u0000${node}`;

function callOf(ref: TensorRef, layers: ReadonlyMap<string, KerasLayer>, where: string): Call {
  const layer = layers.get(ref.layer);
  if (layer === undefined) throw invalid(`${where} names layer '${ref.layer}', which the model does not have`);
  if (ref.tensor !== 0) throw invalid(`${where} reads output ${ref.tensor} of layer '${ref.layer}', which has one output`);
  if (layer.className !== 'InputLayer' && ref.node >= layer.inboundNodes.length) {
    throw invalid(`${where} reads call ${ref.node} of layer '${ref.layer}', which is called ${layer.inboundNodes.length} time(s)`);
  }
  return { layer, node: ref.node };
}

/**
 * The layer calls the outputs depend on, each after the calls it reads (depth-first from the
 * outputs, iterative so a deep model cannot overflow the stack). A cycle is INVALID_MODEL.
 */
function callOrder(topology: KerasTopology, layers: ReadonlyMap<string, KerasLayer>): Call[] {
  const order: Call[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  for (const output of topology.outputs) {
    const stack: { call: Call; expanded: boolean }[] = [{ call: callOf(output, layers, 'output_layers'), expanded: false }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const k = key(top.call.layer.name, top.call.node);
      if (top.expanded) {
        stack.pop();
        if (state.get(k) !== 'done') {
          state.set(k, 'done');
          order.push(top.call);
        }
        continue;
      }
      if (state.get(k) === 'done') {
        stack.pop();
        continue;
      }
      if (state.get(k) === 'visiting') throw invalid(`layer '${top.call.layer.name}' depends on its own output`);
      state.set(k, 'visiting');
      top.expanded = true;
      if (top.call.layer.className === 'InputLayer') continue;
      const where = `layer '${top.call.layer.name}' (${top.call.layer.className})`;
      for (const ref of top.call.layer.inboundNodes[top.call.node]) {
        const next = callOf(ref, layers, where);
        const seen = state.get(key(next.layer.name, next.node));
        if (seen === 'visiting') throw invalid(`${where} is part of a cycle through layer '${next.layer.name}'`);
        if (seen !== 'done') stack.push({ call: next, expanded: false });
      }
    }
  }
  return order;
}

/** The declared batch input shape of an InputLayer: a list of sizes, null where unknown. */
function inputShape(layer: KerasLayer): Dim[] {
  const shape = layer.config.batch_input_shape ?? layer.config.batch_shape;
  const ok = Array.isArray(shape) && shape.length > 0 && Array.from(shape).every((d) => d === null || (typeof d === 'number' && Number.isSafeInteger(d) && d > 0));
  if (!ok) throw invalid(`input layer '${layer.name}': batch_input_shape ${JSON.stringify(shape)} is not a list of sizes (or nulls)`);
  const dtype = layer.config.dtype ?? 'float32';
  if (dtype !== 'float32') throw new MinnowError('UNSUPPORTED_DTYPE', `tfjs: input layer '${layer.name}' is ${JSON.stringify(dtype)}; float32 inputs are supported`);
  return Array.from(shape as Dim[]);
}

function convertCall(ctx: ConversionContext, call: Call, values: ReadonlyMap<string, Value>): Value {
  const { layer } = call;
  const converter = LAYER_CONVERTERS[layer.className];
  if (converter === undefined) {
    throw new MinnowError('UNSUPPORTED_OP', `tfjs: layer '${layer.name}' is a ${layer.className}, which minnow does not convert (it converts ${SUPPORTED_LAYERS.join(', ')})`);
  }
  const inputs = layer.inboundNodes[call.node].map((ref) => values.get(key(ref.layer, ref.node))!);
  return converter({ ctx, layer, config: new LayerConfigReader(layer), inputs });
}

/** Gives each output its Keras name (by renaming the value where a node of ours makes it, else through an Identity); returns their value infos. */
function addOutputs(builder: GraphBuilder, ctx: ConversionContext, topology: KerasTopology, names: readonly string[], values: ReadonlyMap<string, Value>): ValueInfoProto[] {
  const outputs: ValueInfoProto[] = [];
  const renamed = new Map<string, string>();
  for (const [i, ref] of topology.outputs.entries()) {
    const value = ctx.channelsLast(values.get(key(ref.layer, ref.node))!);
    const name = names[i];
    const current = renamed.get(value.name) ?? value.name;
    if (!renamed.has(value.name) && builder.produces(value.name)) {
      builder.rename(value.name, name);
      renamed.set(value.name, name);
    } else {
      builder.nodes.push({ input: [current], output: [name], name: builder.name(`${name}/Identity`), opType: 'Identity', attribute: [], metadataProps: [] });
    }
    outputs.push(floatValueInfo(name, value.shape));
  }
  return outputs;
}

/** A float tensor's value info: `batch` names dim 0 of every input and output, other unknown dims get their own names. */
function floatValueInfo(name: string, shape: readonly Dim[]): ValueInfoProto {
  return tensorValueInfo(name, DataType.FLOAT, shape.map((d, i) => d ?? (i === 0 ? 'batch' : `${name}_dim${i}`)));
}

/**
 * Converts a TensorFlow.js Layers model to ONNX (opset 17, IR 8). `modelJson` is model.json (parsed
 * or as text); `weightData` is every weight shard it lists, concatenated in manifest order.
 *
 * The ONNX model takes and returns tensors in TensorFlow's channels-last layout, as the TF.js model
 * does; inside, convolutions, pooling, BatchNormalization and resizing run channels-first (NCHW),
 * with a Transpose where the layout changes. Weights are float32 (quantised weights are restored as
 * TF.js restores them). A layer class minnow does not convert is UNSUPPORTED_OP naming it.
 */
export function tfjsLayersToOnnx(modelJson: unknown, weightData: Uint8Array, options: TfjsToOnnxOptions = {}): ModelProto {
  const { topology, manifest, generatedBy } = parseModelJson(modelJson);
  const weights = readTfjsWeights(manifest, weightData);
  const builder = new GraphBuilder();
  const ctx = new ConversionContext(builder, weights, options.resizeSemantics ?? 'tfjs');
  const layers = new Map<string, KerasLayer>();
  for (const layer of topology.layers) {
    if (layers.has(layer.name)) throw invalid(`two layers are named '${layer.name}'`);
    layers.set(layer.name, layer);
  }
  const values = new Map<string, Value>();
  const inputs: ValueInfoProto[] = [];
  for (const ref of topology.inputs) {
    const layer = layers.get(ref.layer);
    if (layer?.className !== 'InputLayer') throw invalid(`input_layers names '${ref.layer}', which is not an InputLayer of the model`);
    const shape = inputShape(layer);
    const name = builder.claim(layer.name) ? layer.name : builder.name(layer.name);
    inputs.push(floatValueInfo(name, shape));
    values.set(key(layer.name, ref.node), { name, shape, channelsFirst: false });
  }
  // Claimed before any node is named, so the outputs keep their Keras names.
  const outputNames = topology.outputs.map((ref) => {
    const wanted = ref.node === 0 ? ref.layer : `${ref.layer}_${ref.node}`;
    return builder.claim(wanted) ? wanted : builder.name(wanted);
  });
  for (const call of callOrder(topology, layers)) {
    const k = key(call.layer.name, call.node);
    if (call.layer.className === 'InputLayer') {
      if (!values.has(k)) throw invalid(`input layer '${call.layer.name}' is used but not listed in input_layers`);
      continue;
    }
    values.set(k, convertCall(ctx, call, values));
  }
  const outputs = addOutputs(builder, ctx, topology, outputNames, values);
  const docString = `Converted by minnow from the TensorFlow.js Layers model '${topology.name}' (generated by ${generatedBy}); inputs and outputs keep TensorFlow's channels-last layout.`;
  return builder.build({ graphName: topology.name, docString, opset: OPSET, irVersion: IR_VERSION, inputs, outputs, producer: { name: 'minnow' } });
}
