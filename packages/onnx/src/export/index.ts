import { MinnowError } from '@minnow/core';
import type { AnyModule } from '@minnow/nn';
import { tensorValueInfo } from '../builder.js';
import { DataType, type ModelProto } from '../ir/types.js';
import { describeLayer, formatDims, type ConvertContext, type ModuleClass } from './converter.js';
import { CONVERTERS } from './converters.js';
import { ModuleGraphBuilder, type Dim, type ExportValue } from './graph.js';

export interface ExportModuleOptions {
  /** The input's shape, e.g. [1, 3, 32, 32]. With `batchDim` (the default) its first size only has to be valid. */
  readonly inputShape: readonly number[];
  /**
   * The name of the symbolic batch dim the input's first dim is exported as (default 'batch'), so
   * the model runs on any batch size; null keeps inputShape[0] fixed. Ignored for 1-D input,
   * whose only dim is the features.
   */
  readonly batchDim?: string | null;
  /** The graph input's name (default 'input'). */
  readonly inputName?: string;
  /** The graph output's name (default 'output'). */
  readonly outputName?: string;
  /** The default-domain opset, 17 (the default, the first with LayerNormalization) to 22. */
  readonly opset?: number;
  /** The model's producer_name and producer_version (default 'minnow', '0.1.0'). */
  readonly producer?: { readonly name?: string; readonly version?: string };
}

/** The IR version each supported opset was released with: the oldest a runtime needs to load it. */
const IR_VERSION_FOR_OPSET: Readonly<Record<number, number>> = { 17: 8, 18: 8, 19: 9, 20: 9, 21: 10, 22: 10 };

/**
 * Exports an nn module (a Sequential of nn's layers, nested Sequentials included) as an ONNX
 * model of its eval-mode forward, whatever mode the module is in now (it is not changed):
 * Dropout is the identity and batch norm uses its running statistics. Parameters and buffers
 * become float32 initialisers under their state dict names (a tied tensor once, under its first
 * name); the input and output are float32.
 *
 * Weights are read synchronously, so the module must live on a backend that can (js, wasm; move a
 * gpu model with `await module.to('js')` first). A layer with no converter is UNSUPPORTED_OP,
 * naming its class and its path in the module tree; an inputShape the layers cannot take is
 * SHAPE_MISMATCH, naming the layer that cannot. Write the result with `writeModel`.
 */
export function exportModule(module: AnyModule, options: ExportModuleOptions): ModelProto {
  const { inputName = 'input', outputName = 'output', opset = 17, batchDim = 'batch' } = options;
  const inputShape = checkInputShape(options.inputShape);
  const irVersion = IR_VERSION_FOR_OPSET[opset];
  if (!Number.isInteger(opset) || irVersion === undefined) {
    throw new MinnowError('INVALID_ARGUMENT', `exportModule: opset ${String(opset)} is not supported; use 17 to 22`);
  }
  const stateNames = [...module.stateDict().keys()];
  for (const [what, name] of [['inputName', inputName], ['outputName', outputName]] as const) {
    if (typeof name !== 'string' || name === '') throw new MinnowError('INVALID_ARGUMENT', `exportModule: ${what} must be a non-empty string, got ${JSON.stringify(name)}`);
    if (stateNames.includes(name)) throw new MinnowError('INVALID_ARGUMENT', `exportModule: ${what} "${name}" is also the name of a parameter or buffer`);
  }
  if (batchDim !== null && (typeof batchDim !== 'string' || batchDim === '')) {
    throw new MinnowError('INVALID_ARGUMENT', `exportModule: batchDim must be a non-empty string or null, got ${JSON.stringify(batchDim)}`);
  }
  if (inputName === outputName) throw new MinnowError('INVALID_ARGUMENT', `exportModule: inputName and outputName are both "${inputName}"`);

  const graph = new ModuleGraphBuilder(opset);
  graph.reserve([inputName, outputName, ...stateNames]);
  const inputDims: Dim[] = inputShape.map((d, i) => (i === 0 && batchDim !== null && inputShape.length > 1 ? batchDim : d));
  const result = convertModule(graph, module, '', { name: inputName, shape: inputDims });
  // The output needs a node of its own: a model that is all Dropout would otherwise output its input.
  const last = graph.produces(result.name) ? result.name : graph.node('Identity', [result.name], 'output_identity');
  graph.rename(last, outputName);

  return graph.build({
    graphName: module.constructor.name,
    opset,
    irVersion,
    inputs: [tensorValueInfo(inputName, DataType.FLOAT, inputDims)],
    outputs: [tensorValueInfo(outputName, DataType.FLOAT, result.shape)],
    producer: { name: options.producer?.name ?? 'minnow', version: options.producer?.version ?? '0.1.0' },
  });
}

function checkInputShape(shape: readonly number[]): readonly number[] {
  if (!Array.isArray(shape) || shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new MinnowError('INVALID_ARGUMENT', `exportModule: inputShape must be a non-empty array of positive integers, got ${JSON.stringify(shape)}`);
  }
  return shape;
}

/** Finds the module's converter and runs it with a context that knows where in the tree it is. */
function convertModule(graph: ModuleGraphBuilder, module: AnyModule, path: string, input: ExportValue): ExportValue {
  const converter = CONVERTERS.get(module.constructor as ModuleClass);
  if (!converter) {
    const known = [...CONVERTERS.keys()].map((c) => c.name).join(', ');
    throw new MinnowError('UNSUPPORTED_OP', `exportModule: no ONNX converter for ${describeLayer(module, path)}; the exporter knows ${known}`);
  }
  const context: ConvertContext = {
    graph,
    path,
    hint: (what) => `${path === '' ? module.constructor.name : path}/${what}`,
    stateName: (local) => (path === '' ? local : `${path}.${local}`),
    convertChild: (child, name, value) => convertModule(graph, child, path === '' ? name : `${path}.${name}`, value),
    shapeError: (value, expected) =>
      new MinnowError('SHAPE_MISMATCH', `exportModule: ${describeLayer(module, path)} expects input ${expected}, got ${formatDims(value.shape)} (check inputShape)`),
  };
  return converter(module, input, context);
}
