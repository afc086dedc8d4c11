import { MinnowError, Random, defaultBackendName, formatShape } from '@minnow/core';
import { Sequential, type Seed } from '@minnow/nn';
import { Attributes } from '../exec/attributes.js';
import { dataTypeName } from '../ir/tensor.js';
import { DataType, type ModelProto, type NodeProto } from '../ir/types.js';
import { normalizeAxis, type BatchDim, type ChainValue, type ImportContext, type Layer, type LayerPlacement } from './context.js';
import { IMPORTERS } from './converters.js';
import { GraphView } from './graph.js';
import { convertRegion, regionsFrom } from './patterns.js';

export interface ImportOptions {
  /**
   * The input shape to trace the graph at. Needed when the model leaves a dim other than the batch
   * open (a CNN's height and width); its first entry sets the traced batch size (default 1). Dims
   * the model fixes must match.
   */
  readonly inputShape?: readonly number[];
  /** Backend the parameters are created on (default: the default backend). */
  readonly backend?: string;
  /** Parameter dtype (default float32). */
  readonly dtype?: 'float32' | 'float64';
  /** Seeds the Dropout layers' masks (default 0). */
  readonly seed?: Seed;
}

/** One nn layer of the imported module and the ONNX nodes it came from. */
export interface ImportedLayer {
  /** Its name in the Sequential ('0', '1', ...). */
  readonly name: string;
  /** The nn class, e.g. 'Linear'. */
  readonly layer: string;
  /** "node 'name' (OpType)" for each ONNX node it replaces. */
  readonly nodes: readonly string[];
}

export interface ImportReport {
  readonly opset: number;
  readonly producer: string;
  readonly layers: readonly ImportedLayer[];
  /** Nodes that became no layer (Identity, a Cast to a float type, a reshape that merges nothing). */
  readonly identities: readonly string[];
  /** What the import changed or fixed that a user should know (a dropped Softmax, a traced spatial size). */
  readonly notes: readonly string[];
  /** Nodes the output does not depend on, left out. */
  readonly ignoredNodes: number;
  /** The Softmax or LogSoftmax that ended the model, dropped so the module outputs logits (undefined when there was none). */
  readonly droppedOutput?: { readonly node: string; readonly opType: 'Softmax' | 'LogSoftmax'; readonly axis: number };
}

export interface ImportedModule {
  /** The model's layers as an nn Sequential, in eval mode, trainable. */
  readonly module: Sequential;
  /** The shape the graph was traced at (the batch dim at its traced size). */
  readonly inputShape: readonly number[];
  /** The module's output shape at inputShape. */
  readonly outputShape: readonly number[];
  /** The model's symbolic batch dim name, or null when the model fixes its batch size (pass both to exportModule). */
  readonly batchDim: string | null;
  readonly inputName: string;
  readonly outputName: string;
  readonly report: ImportReport;
}

const TRAILING_SOFTMAX = new Set(['Softmax', 'LogSoftmax']);

/**
 * Turns an ONNX model whose graph is one chain of layer ops (from its one input to its one output)
 * into a trainable nn Sequential holding the model's weights: Gemm and MatMul(+Add) as Linear,
 * Conv (with a zero Pad before it folded in) as Conv2d, BatchNormalization and LayerNormalization,
 * Relu/LeakyRelu/Sigmoid/Tanh/Gelu, GELU and layer norm written out as elementwise nodes,
 * MaxPool/AveragePool (a Pad before them folded in)/GlobalAveragePool/GlobalMaxPool,
 * Flatten/Reshape/Squeeze that merge dims (a Reshape's shape may be computed from the activation's
 * own Shape), Dropout, Identity. Nodes computed from constants alone (a Transpose or
 * DequantizeLinear of a weight) are folded first.
 *
 * A trailing Softmax or LogSoftmax is dropped, so the module outputs logits: nn's losses
 * (crossEntropy) and distillation take logits, and a Softmax layer in a module being trained would
 * only have to be taken off again. The report records it (`droppedOutput`).
 *
 * Refused with a MinnowError naming the node and why: branches that do not form one of those
 * patterns (residual adds, concatenations) and ops nn has no layer for (UNSUPPORTED_OP), graphs
 * that break ONNX's rules (INVALID_MODEL), and shapes the import cannot resolve (a symbolic dim
 * other than the batch without `inputShape`).
 */
export function moduleFromOnnx(model: ModelProto, options: ImportOptions = {}): ImportedModule {
  const backend = options.backend ?? defaultBackendName();
  if (backend === null) throw new MinnowError('BACKEND_NOT_INITIALIZED', 'moduleFromOnnx: no backend is initialised; await init(...) one first');
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float64') throw new MinnowError('INVALID_ARGUMENT', `moduleFromOnnx: dtype must be float32 or float64, got ${String(dtype)}`);
  const view = new GraphView(model, backend);
  const { shape, batch, elemType } = tracedInput(view, options.inputShape);
  const notes: string[] = [];
  if ((elemType === DataType.DOUBLE ? 'float64' : elemType === DataType.FLOAT ? 'float32' : 'float16') !== dtype) {
    notes.push(`input '${view.input.name ?? ''}' is ${dataTypeName(elemType)}; the module computes in ${dtype}`);
  }
  const where: LayerPlacement = { dtype, backend, random: options.seed instanceof Random ? options.seed : new Random(options.seed ?? 0) };
  const context = makeContext(view, batch, where, notes);

  const layers: Layer[] = [];
  const imported: ImportedLayer[] = [];
  const identities: string[] = [];
  let droppedOutput: ImportReport['droppedOutput'];
  let x: ChainValue = { name: view.input.name ?? '', shape };
  try {
    while (x.name !== view.outputName || view.readersOf(x.name).length > 0) {
      const step = nextStep(view, x, context);
      if (step.dropped) {
        droppedOutput = step.dropped;
        notes.push(`${step.dropped.node}: the trailing ${step.dropped.opType} (axis ${step.dropped.axis}) is dropped; the module outputs logits`);
      }
      const labels = step.nodes.map((n) => context.label(n));
      if (step.layers.length === 0 && !step.dropped) identities.push(...labels);
      for (const layer of step.layers) {
        imported.push({ name: String(layers.length), layer: layer.constructor.name, nodes: labels });
        layers.push(layer);
      }
      x = step.output;
    }
  } catch (error) {
    // The layers built so far hold tensors (wasm memory the GC cannot see): free them.
    for (const layer of layers) layer.dispose();
    throw error;
  }
  if (view.ignored > 0) notes.push(`${view.ignored} node(s) the output does not depend on were left out`);
  const module = new Sequential(...layers).eval();
  const report: ImportReport = {
    opset: view.opset, producer: [model.producerName, model.producerVersion].filter(Boolean).join(' ') || 'unknown', layers: imported,
    identities, notes, ignoredNodes: view.ignored, ...(droppedOutput && { droppedOutput }),
  };
  return { module, inputShape: shape, outputShape: x.shape, batchDim: batch.symbolic, inputName: view.input.name ?? '', outputName: view.outputName, report };
}

interface Step {
  readonly layers: readonly Layer[];
  readonly output: ChainValue;
  /** The ONNX nodes the step replaces. */
  readonly nodes: readonly NodeProto[];
  readonly dropped?: ImportReport['droppedOutput'];
}

/** The layers for the node (or recognised region of nodes) that reads the chain value x next. */
function nextStep(view: GraphView, x: ChainValue, context: ImportContext): Step {
  const readers = view.readersOf(x.name);
  if (x.name === view.outputName) throw branchError(view, x, readers, 'it is the graph output and also read by');
  if (readers.length === 0) throw new MinnowError('INTERNAL', `moduleFromOnnx: value '${x.name}' leads nowhere yet is not the output`);
  if (readers.length > 1) {
    let join: NodeProto | undefined;
    for (const region of regionsFrom(view, x.name)) {
      join ??= region.nodes.find((n) => n.output.includes(region.output));
      const converted = convertRegion(view, region, x, context);
      if (converted) return { layers: converted.layers, output: converted.output, nodes: converted.consumed ?? region.nodes };
    }
    throw branchError(view, x, readers, 'it is read by', join);
  }
  const node = readers[0];
  const opType = node.opType ?? '';
  for (const input of node.input) {
    if (input !== '' && input !== x.name && !view.isConstant(input)) {
      throw context.unsupported(node, `it also reads '${input}', another branch of the graph: an nn Sequential is a single chain`);
    }
  }
  if ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx') throw context.unsupported(node, `its domain '${node.domain}' is not the default ONNX domain`);
  if (TRAILING_SOFTMAX.has(opType)) {
    if (node.output[0] !== view.outputName) throw context.unsupported(node, `${opType} inside the network (not at its output) has no nn layer`);
    const axis = normalizeAxis(context.attributes(node).int('axis', view.opset >= 13 ? -1 : 1), x.shape.length, (why) => context.invalid(node, why));
    const dropped = { node: context.label(node), opType: opType as 'Softmax' | 'LogSoftmax', axis };
    return { layers: [], output: { name: node.output[0], shape: x.shape }, nodes: [node], dropped };
  }
  const entry = IMPORTERS.get(opType);
  if (entry === undefined) throw context.unsupported(node, `nn has no layer for ${opType}`);
  if (view.opset < (entry.sinceVersion ?? 1)) throw context.unsupported(node, `${opType} exists from opset ${entry.sinceVersion}`);
  const converted = entry.convert(node, x, context);
  return { layers: converted.layers, output: converted.output, nodes: [node, ...(converted.consumed ?? [])] };
}

/** The input's traced shape: the model's dims, with `inputShape` filling (and checked against) them. */
function tracedInput(view: GraphView, given: readonly number[] | undefined): { shape: number[]; batch: BatchDim; elemType: number } {
  const name = view.input.name ?? '';
  const tensorType = view.input.type?.tensorType;
  const elemType = tensorType?.elemType ?? DataType.UNDEFINED;
  if (elemType !== DataType.FLOAT && elemType !== DataType.DOUBLE && elemType !== DataType.FLOAT16) {
    throw new MinnowError('UNSUPPORTED_OP', `moduleFromOnnx: input '${name}' is ${dataTypeName(elemType)}; nn layers take float input`);
  }
  const dims = tensorType?.shape?.dim;
  if (given !== undefined && (!Array.isArray(given) || given.length === 0 || given.some((d) => !Number.isInteger(d) || d < 1))) {
    throw new MinnowError('INVALID_ARGUMENT', `moduleFromOnnx: inputShape must be a non-empty array of positive integers, got ${JSON.stringify(given)}`);
  }
  if (dims === undefined) {
    if (given === undefined) throw new MinnowError('UNSUPPORTED_OP', `moduleFromOnnx: input '${name}' has no shape in the model; pass inputShape`);
    return { shape: [...given], batch: { traced: given[0], symbolic: given.length > 1 ? 'batch' : null }, elemType };
  }
  if (given !== undefined && given.length !== dims.length) {
    throw new MinnowError('SHAPE_MISMATCH', `moduleFromOnnx: inputShape ${formatShape(given)} has rank ${given.length}; input '${name}' has rank ${dims.length}`);
  }
  const shape = dims.map((d, i) => {
    const fixed = d.dimValue;
    if (fixed !== undefined) {
      if (given !== undefined && given[i] !== fixed) {
        throw new MinnowError('SHAPE_MISMATCH', `moduleFromOnnx: inputShape ${formatShape(given)} disagrees with input '${name}', whose dim ${i} is ${fixed}`);
      }
      return fixed;
    }
    if (given !== undefined) return given[i];
    if (i === 0 && dims.length > 1) return 1;
    throw new MinnowError('UNSUPPORTED_OP', `moduleFromOnnx: input '${name}' dim ${i} is symbolic (${d.dimParam ? `'${d.dimParam}'` : 'unnamed'}); pass inputShape to trace the graph at a size`);
  });
  const first = dims[0];
  const symbolic = dims.length > 1 && first.dimValue === undefined ? first.dimParam || 'batch' : null;
  return { shape, batch: { traced: shape[0], symbolic }, elemType };
}

function makeContext(view: GraphView, batch: BatchDim, where: LayerPlacement, notes: string[]): ImportContext {
  const error = (code: 'UNSUPPORTED_OP' | 'INVALID_MODEL', node: NodeProto, why: string): MinnowError =>
    new MinnowError(code, `moduleFromOnnx: ${view.label(node)}, opset ${view.opset}: ${why}`);
  const context: ImportContext = {
    opset: view.opset,
    batch,
    where,
    label: (node) => view.label(node),
    attributes: (node) => new Attributes(node, view.label(node)),
    windowContext: (node) => ({
      attrs: new Attributes(node, view.label(node)),
      error: (code, message) => new MinnowError(code, `moduleFromOnnx: ${view.label(node)}: ${message}`),
    }),
    constant: (name) => view.constants.get(name),
    constantInput: (node, index, what) => {
      const name = node.input[index] ?? '';
      if (name === '') throw error('INVALID_MODEL', node, `input ${index} (${what}) is missing`);
      const c = view.constants.get(name);
      if (c === undefined) throw error('UNSUPPORTED_OP', node, `input ${index} (${what}) '${name}' is computed from the activation, not a constant: nn layers hold their ${what} as parameters`);
      return c;
    },
    optionalConstant: (node, index, what) => ((node.input[index] ?? '') === '' ? undefined : context.constantInput(node, index, what)),
    soleReader: (value) => {
      const readers = view.readersOf(value);
      return readers.length === 1 && value !== view.outputName ? readers[0] : undefined;
    },
    checkUnusedOutputs: (node, from) => {
      for (const output of node.output.slice(from)) {
        if (output !== '' && (view.readersOf(output).length > 0 || output === view.outputName)) {
          throw error('UNSUPPORTED_OP', node, `its output '${output}' is used; the nn layer gives only the first`);
        }
      }
    },
    unsupported: (node, why) => error('UNSUPPORTED_OP', node, why),
    invalid: (node, why) => error('INVALID_MODEL', node, why),
    note: (text) => notes.push(text),
  };
  return context;
}

/** UNSUPPORTED_OP for a fork that is no recognised pattern: names the value, its readers and where the branches join. */
function branchError(view: GraphView, x: ChainValue, readers: readonly NodeProto[], verb: string, join?: NodeProto): MinnowError {
  const names = readers.map((n) => view.label(n)).join(', ');
  const joined = join ? `; the branches join at ${view.label(join)}` : '';
  return new MinnowError('UNSUPPORTED_OP', `moduleFromOnnx: the graph branches at '${x.name}': ${verb} ${names}${joined}. An nn Sequential is a single chain (residual adds and concatenations are not; the written-out GELU and layer norm are recognised)`);
}
