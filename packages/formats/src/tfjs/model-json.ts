// The parts of a TensorFlow.js Layers model.json the converter reads, checked and normalised: the
// Keras topology (Sequential or functional, Keras 2 or Keras 3 node format) as a list of layers
// with their inbound tensors, and the weights manifest.
import { MinnowError } from '@minnow/core';

/** One weight in model.json's weightsManifest. */
export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  /** Present when the converter quantised the weight: stored as `dtype`, restored as `q * scale + min` (float16: decoded). */
  quantization?: { dtype: string; scale?: number; min?: number };
}

export interface TfjsWeightsGroup {
  paths: string[];
  weights: TfjsWeightSpec[];
}

/** A TensorFlow.js Layers model.json (format 'layers-model'), as JSON.parse returns it. */
export interface TfjsModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  modelTopology: unknown;
  weightsManifest: TfjsWeightsGroup[];
}

/** An output tensor of a layer: its `tensor`-th output the `node`-th time it was called. */
export interface TensorRef {
  readonly layer: string;
  readonly node: number;
  readonly tensor: number;
}

export type LayerConfig = Readonly<Record<string, unknown>>;

export interface KerasLayer {
  readonly className: string;
  readonly name: string;
  readonly config: LayerConfig;
  /** The inputs of each call of the layer (InputLayer: none). */
  readonly inboundNodes: readonly (readonly TensorRef[])[];
}

export interface KerasTopology {
  readonly name: string;
  readonly layers: readonly KerasLayer[];
  readonly inputs: readonly TensorRef[];
  readonly outputs: readonly TensorRef[];
}

export function invalid(message: string): MinnowError {
  return new MinnowError('INVALID_MODEL', `tfjs: ${message}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** `[name, node, tensor, ...]`, the Keras 2 form of a tensor reference (and of input_layers entries). */
function refFromList(value: unknown, where: string): TensorRef {
  if (!Array.isArray(value) || typeof value[0] !== 'string' || !isIndex(value[1]) || !isIndex(value[2])) {
    throw invalid(`${where}: ${JSON.stringify(value)} is not a [layer, node, tensor] reference`);
  }
  return { layer: value[0], node: value[1], tensor: value[2] };
}

/** Keras 3 writes a call's inputs as `{args, kwargs}` with `__keras_tensor__` objects holding a keras_history reference. */
function refsFromKeras3(value: unknown, where: string, out: TensorRef[]): void {
  if (Array.isArray(value)) {
    for (const item of value) refsFromKeras3(item, where, out);
  } else if (isObject(value)) {
    if (value.class_name === '__keras_tensor__' && isObject(value.config)) out.push(refFromList(value.config.keras_history, where));
    else for (const item of Object.values(value)) refsFromKeras3(item, where, out);
  }
}

function parseInboundNodes(value: unknown, where: string): TensorRef[][] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(`${where}: inbound_nodes is not a list`);
  // Array.from, not map: a hole in a caller's array must be seen (as undefined), not skipped.
  return Array.from(value, (node: unknown, i) => {
    const at = `${where}: inbound node ${i}`;
    if (isObject(node)) {
      const refs: TensorRef[] = [];
      refsFromKeras3(node.args, at, refs);
      return refs;
    }
    if (!Array.isArray(node)) throw invalid(`${at} is neither a list nor {args, kwargs}`);
    return Array.from(node, (ref) => refFromList(ref, at));
  });
}

function parseLayer(value: unknown, index: number, inbound: 'functional' | 'none'): KerasLayer {
  if (!isObject(value) || typeof value.class_name !== 'string' || !isObject(value.config)) {
    throw invalid(`layer ${index} is not {class_name, config}`);
  }
  const name = typeof value.name === 'string' ? value.name : value.config.name;
  if (typeof name !== 'string' || name === '') throw invalid(`layer ${index} (${value.class_name}) has no name`);
  const where = `layer '${name}' (${value.class_name})`;
  const inboundNodes = inbound === 'functional' ? parseInboundNodes(value.inbound_nodes, where) : [];
  return { className: value.class_name, name, config: value.config, inboundNodes };
}

/** input_layers / output_layers: a list of references, or (Keras 3, one tensor) the reference itself. */
function parseEnds(value: unknown, what: string): TensorRef[] {
  if (!Array.isArray(value) || value.length === 0) throw invalid(`${what} is missing or empty`);
  if (typeof value[0] === 'string') return [refFromList(value, what)];
  return Array.from(value, (ref) => refFromList(ref, what));
}

/** The input shape a Sequential model's first layer declares: batch_input_shape (Keras 2, tfjs) or batch_shape (Keras 3). */
function declaredInputShape(config: LayerConfig): unknown {
  if (config.batch_input_shape !== undefined) return config.batch_input_shape;
  if (config.batch_shape !== undefined) return config.batch_shape;
  if (Array.isArray(config.input_shape)) return [config.batch_size ?? null, ...config.input_shape];
  return undefined;
}

function sequentialTopology(name: string, layersValue: unknown): KerasTopology {
  if (!Array.isArray(layersValue) || layersValue.length === 0) throw invalid('the Sequential model has no layers');
  const parsed = Array.from(layersValue, (l, i) => parseLayer(l, i, 'none'));
  const layers: KerasLayer[] = [];
  let previous: string;
  if (parsed[0].className === 'InputLayer') {
    layers.push(parsed.shift()!);
    previous = layers[0].name;
  } else {
    const shape = declaredInputShape(parsed[0].config);
    if (shape === undefined) throw invalid(`the Sequential model's first layer '${parsed[0].name}' declares no input shape (batch_input_shape)`);
    // Keras names the implicit input of a Sequential model after its first layer.
    previous = `${parsed[0].name}_input`;
    layers.push({ className: 'InputLayer', name: previous, config: { batch_input_shape: shape, dtype: parsed[0].config.dtype ?? 'float32' }, inboundNodes: [] });
  }
  const input = { layer: previous, node: 0, tensor: 0 };
  for (const layer of parsed) {
    layers.push({ ...layer, inboundNodes: [[{ layer: previous, node: 0, tensor: 0 }]] });
    previous = layer.name;
  }
  return { name, layers, inputs: [input], outputs: [{ layer: previous, node: 0, tensor: 0 }] };
}

/** The Keras topology of model.json's modelTopology (either `{model_config: ...}` or the model config itself). */
export function parseTopology(modelTopology: unknown): KerasTopology {
  if (!isObject(modelTopology)) throw invalid('modelTopology is missing or not an object');
  const model = isObject(modelTopology.model_config) ? modelTopology.model_config : modelTopology;
  const className = model.class_name;
  const config = model.config;
  if (className === 'Sequential') {
    // Old Keras wrote a Sequential config as the bare list of layers.
    if (Array.isArray(config)) return sequentialTopology('sequential', config);
    if (!isObject(config)) throw invalid('the Sequential model has no config');
    return sequentialTopology(typeof config.name === 'string' ? config.name : 'sequential', config.layers);
  }
  if (className === 'Model' || className === 'Functional') {
    if (!isObject(config) || !Array.isArray(config.layers)) throw invalid(`the ${className} model has no layers`);
    const layers = Array.from(config.layers, (l, i) => parseLayer(l, i, 'functional'));
    return {
      name: typeof config.name === 'string' ? config.name : 'model',
      layers,
      inputs: parseEnds(config.input_layers, 'input_layers'),
      outputs: parseEnds(config.output_layers, 'output_layers'),
    };
  }
  throw new MinnowError('UNSUPPORTED_OP', `tfjs: model class ${JSON.stringify(className)} is not supported (Sequential, Model and Functional are)`);
}

function parseWeightSpec(value: unknown, where: string): TfjsWeightSpec {
  if (!isObject(value) || typeof value.name !== 'string' || !Array.isArray(value.shape) || typeof value.dtype !== 'string') {
    throw new MinnowError('CORRUPT_FILE', `tfjs: ${where} is not {name, shape, dtype}`);
  }
  if (!Array.from(value.shape).every(isIndex)) throw new MinnowError('CORRUPT_FILE', `tfjs: weight '${value.name}': shape ${JSON.stringify(value.shape)} is not a list of non-negative integers`);
  const spec: TfjsWeightSpec = { name: value.name, shape: Array.from(value.shape as number[]), dtype: value.dtype };
  if (value.quantization !== undefined) {
    const q = value.quantization;
    if (!isObject(q) || typeof q.dtype !== 'string') throw new MinnowError('CORRUPT_FILE', `tfjs: weight '${value.name}': quantization has no dtype`);
    spec.quantization = { dtype: q.dtype, scale: q.scale as number | undefined, min: q.min as number | undefined };
  }
  return spec;
}

/** The weights manifest, checked for form: groups of shard paths and weight specs, in the order their bytes are stored. */
export function parseWeightsManifest(value: unknown): TfjsWeightsGroup[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new MinnowError('CORRUPT_FILE', 'tfjs: weightsManifest is not a list');
  return Array.from(value, (group: unknown, g) => {
    if (!isObject(group) || !Array.isArray(group.weights)) throw new MinnowError('CORRUPT_FILE', `tfjs: weightsManifest[${g}] has no weights list`);
    const paths: unknown[] = Array.isArray(group.paths) ? Array.from(group.paths) : [];
    if (!paths.every((p): p is string => typeof p === 'string')) throw new MinnowError('CORRUPT_FILE', `tfjs: weightsManifest[${g}].paths is not a list of strings`);
    return { paths, weights: Array.from(group.weights, (w, i) => parseWeightSpec(w, `weightsManifest[${g}].weights[${i}]`)) };
  });
}

/** model.json as an object (or its text), checked to be a Layers model. */
export function parseModelJson(modelJson: unknown): { topology: KerasTopology; manifest: TfjsWeightsGroup[]; generatedBy: string } {
  let json = modelJson;
  if (typeof json === 'string') {
    try {
      json = JSON.parse(json);
    } catch (error) {
      throw new MinnowError('CORRUPT_FILE', `tfjs: model.json is not valid JSON: ${(error as Error).message}`);
    }
  }
  if (!isObject(json)) throw new MinnowError('CORRUPT_FILE', 'tfjs: model.json is not a JSON object');
  if (json.format !== undefined && json.format !== 'layers-model') {
    throw new MinnowError('UNSUPPORTED_OP', `tfjs: model.json format '${String(json.format)}' is not supported (only 'layers-model'; graph models come from the TF.js converter's graph mode)`);
  }
  return {
    topology: parseTopology(json.modelTopology),
    manifest: parseWeightsManifest(json.weightsManifest),
    generatedBy: typeof json.generatedBy === 'string' ? json.generatedBy : 'unknown',
  };
}
