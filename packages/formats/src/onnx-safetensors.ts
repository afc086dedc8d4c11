// ONNX initialisers to and from safetensors, matched by name: export a model's weights for tools
// that speak safetensors, or load weights trained elsewhere into an ONNX graph of the same shape.
import { MinnowError, formatShape } from '@minnow/core';
import { dataTypeName, makeTensor, tensorRawBytes, type GraphProto, type ModelProto, type TensorProto } from '@minnow/onnx';
import { onnxDataTypeOf, safetensorsDtypeOf, type SafetensorsFile, type SafetensorsTensor } from './safetensors/dtypes.js';
import type { SafetensorsTensors } from './safetensors/serialize.js';

function graphOf(model: ModelProto, caller: string): GraphProto {
  if (!model.graph) throw new MinnowError('INVALID_MODEL', `${caller}: the model has no graph`);
  return model.graph;
}

/** Initialisers by name, refusing the unnamed and the duplicated, which no name could match. */
function initializersByName(graph: GraphProto, caller: string): Map<string, TensorProto> {
  const byName = new Map<string, TensorProto>();
  graph.initializer.forEach((t, i) => {
    const name = t.name ?? '';
    if (name === '') throw new MinnowError('INVALID_MODEL', `${caller}: initializer ${i} has no name`);
    if (byName.has(name)) throw new MinnowError('INVALID_MODEL', `${caller}: two initializers are named '${name}'`);
    byName.set(name, t);
  });
  return byName;
}

/**
 * The main graph's initialisers as safetensors tensors, under their ONNX names, each dtype mapped to
 * the safetensors dtype of the same encoding. `data` is a view on the initialiser's raw_data where
 * it has one. Types safetensors has no form for (string, int4/uint4, float4, complex128) are
 * refused with UNSUPPORTED_DTYPE naming the tensor; external data must be loaded first (loadModel).
 */
export function safetensorsFromOnnx(model: ModelProto, metadata: Readonly<Record<string, string>> = {}): SafetensorsFile {
  const caller = 'safetensorsFromOnnx';
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, t] of initializersByName(graphOf(model, caller), caller)) {
    const dtype = safetensorsDtypeOf(t.dataType ?? 0);
    if (dtype === undefined) {
      throw new MinnowError('UNSUPPORTED_DTYPE', `${caller}: initializer '${name}' is ${dataTypeName(t.dataType)}, which safetensors cannot hold`);
    }
    tensors.set(name, { dtype, shape: [...t.dims], data: tensorRawBytes(t) });
  }
  return { tensors, metadata: { ...metadata } };
}

function tensorsOf(given: SafetensorsFile | SafetensorsTensors): ReadonlyMap<string, SafetensorsTensor> {
  if (given instanceof Map) return given as ReadonlyMap<string, SafetensorsTensor>;
  const file = given as Partial<SafetensorsFile>;
  if (file.tensors instanceof Map) return file.tensors;
  return new Map(Object.entries(given as Record<string, SafetensorsTensor>));
}

export interface ApplySafetensorsOptions {
  /** Throw (INVALID_ARGUMENT) unless every initialiser and every safetensors tensor found its match. */
  strict?: boolean;
}

export interface ApplySafetensorsResult {
  /** A new model: the graph's initialisers replaced where names matched; the input model is left as it was. */
  readonly model: ModelProto;
  /** Names of the initialisers replaced, in the graph's order. */
  readonly updated: string[];
  /** Safetensors tensors no initialiser is named after. */
  readonly notInModel: string[];
  /** Initialisers the safetensors tensors do not name (left as they were). */
  readonly notInSafetensors: string[];
}

/**
 * Replaces the main graph's initialisers with the safetensors tensors of the same names. Each must
 * agree with the initialiser it replaces: the same dtype (else DTYPE_MISMATCH) and the same shape
 * (else SHAPE_MISMATCH), the message naming the tensor. The new initialisers' raw_data are views on
 * the safetensors bytes. Names missing on either side are reported, or refused with `strict`.
 */
export function applySafetensorsToOnnx(
  model: ModelProto, safetensors: SafetensorsFile | SafetensorsTensors, options: ApplySafetensorsOptions = {},
): ApplySafetensorsResult {
  const caller = 'applySafetensorsToOnnx';
  const graph = graphOf(model, caller);
  const byName = initializersByName(graph, caller);
  const tensors = tensorsOf(safetensors);
  const updated: string[] = [];
  const notInSafetensors: string[] = [];
  const initializer = graph.initializer.map((old) => {
    const name = old.name!;
    const replacement = tensors.get(name);
    if (replacement === undefined) {
      notInSafetensors.push(name);
      return old;
    }
    const dataType = onnxDataTypeOf(replacement.dtype);
    if (dataType !== old.dataType) {
      throw new MinnowError('DTYPE_MISMATCH', `${caller}: tensor '${name}' is ${dataTypeName(old.dataType)} in the model but ${replacement.dtype} in the safetensors`);
    }
    const same = replacement.shape.length === old.dims.length && replacement.shape.every((d, i) => d === old.dims[i]);
    if (!same) {
      throw new MinnowError('SHAPE_MISMATCH', `${caller}: tensor '${name}' is ${formatShape(old.dims)} in the model but ${formatShape(replacement.shape)} in the safetensors`);
    }
    updated.push(name);
    return { ...makeTensor(name, dataType, old.dims, replacement.data), docString: old.docString, metadataProps: old.metadataProps };
  });
  const notInModel = [...tensors.keys()].filter((name) => !byName.has(name));
  if (options.strict && (notInModel.length > 0 || notInSafetensors.length > 0)) {
    const parts: string[] = [];
    if (notInSafetensors.length > 0) parts.push(`initializers missing from the safetensors: ${notInSafetensors.join(', ')}`);
    if (notInModel.length > 0) parts.push(`safetensors tensors the model does not have: ${notInModel.join(', ')}`);
    throw new MinnowError('INVALID_ARGUMENT', `${caller}: ${parts.join('; ')}`);
  }
  return { model: { ...model, graph: { ...graph, initializer } }, updated, notInModel, notInSafetensors };
}
