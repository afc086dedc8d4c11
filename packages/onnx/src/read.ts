import { MinnowError } from '@minnow/core';
import { decodeMessage } from './ir/codec.js';
import { MAP, MODEL, OPTIONAL, SEQUENCE, SPARSE_TENSOR, TENSOR, type MessageSpec } from './ir/schema.js';
import { dataTypeName, tensorByteLength } from './ir/tensor.js';
import { DataLocation, DataType, type ModelProto, type TensorProto, type TypeProto } from './ir/types.js';
import { forEachTensor } from './ir/walk.js';

/** One tensor's external data reference, parsed and checked (see `resolveExternalData`). */
export interface ExternalDataRequest {
  readonly tensor: TensorProto;
  /** Where the tensor sits in the model, e.g. `graph.initializer[3]`. */
  readonly path: string;
  /** Relative to the model's folder; already checked not to be absolute or contain `..`. */
  readonly location: string;
  readonly offset: number;
  /** Bytes to read; undefined means "to the end of the file". */
  readonly length: number | undefined;
}

/** Returns the bytes an external data reference names (the caller checks bounds against its file). */
export type ExternalDataResolver = (request: ExternalDataRequest) => Uint8Array;

export interface ReadOptions {
  /** Loads tensors whose data is in external files; without it they stay external (`isExternal(t)`). */
  readonly externalData?: ExternalDataResolver;
}

function corrupt(message: string): MinnowError {
  return new MinnowError('CORRUPT_FILE', `onnx: ${message}`);
}

/**
 * Reads an ONNX model (a ModelProto). Nothing is copied that need not be: initialisers' raw_data
 * are views on `bytes`, so keep `bytes` unchanged while the model is in use. A malformed file is a
 * MinnowError CORRUPT_FILE naming the byte offset and the field.
 */
export function readModel(bytes: Uint8Array, options: ReadOptions = {}): ModelProto {
  if (bytes.length === 0) throw corrupt('empty file at byte 0 (field model)');
  const model = decodeMessage<ModelProto>(bytes, MODEL, 'model');
  if (model.irVersion === undefined) throw corrupt('not an ONNX model: no ir_version at byte 0 (field model.irVersion)');
  if (options.externalData) resolveExternalData(model, options.externalData);
  return model;
}

/** Reads a TensorProto (a test suite's input_N.pb / output_N.pb). */
export function readTensor(bytes: Uint8Array): TensorProto {
  return decodeMessage<TensorProto>(bytes, TENSOR, 'tensor');
}

/**
 * The message a serialized value of this type is stored as (onnx-data.proto): TensorProto,
 * SparseTensorProto, SequenceProto, MapProto or OptionalProto. The test suites store each input
 * and output this way, typed by the graph's input or output.
 */
export function valueSpecFor(type: TypeProto | undefined): MessageSpec {
  if (type?.sequenceType) return SEQUENCE;
  if (type?.mapType) return MAP;
  if (type?.optionalType) return OPTIONAL;
  if (type?.sparseTensorType) return SPARSE_TENSOR;
  return TENSOR;
}

/** Reads a serialized value of the given type (see valueSpecFor). */
export function readValue<T = unknown>(bytes: Uint8Array, type: TypeProto | undefined): T {
  const spec = valueSpecFor(type);
  return decodeMessage<T>(bytes, spec, spec.name);
}

/**
 * Refuses an external data location that could leave the model's folder: empty, absolute (`/x`,
 * `\\x`, `C:x`), with a `..` segment, or with a NUL. The Node loader also refuses links that lead out.
 */
export function checkExternalLocation(location: string, tensorName = ''): void {
  const refuse = (why: string): never => {
    throw corrupt(`tensor '${tensorName}': external data location '${location}' refused: ${why}`);
  };
  if (location === '') refuse('empty');
  if (location.includes('\0')) refuse('contains NUL');
  if (location.startsWith('/') || location.startsWith('\\') || /^[A-Za-z]:/.test(location)) refuse('absolute path (must be relative to the model\'s folder)');
  if (location.split(/[\\/]/).includes('..')) refuse('`..` would leave the model\'s folder');
}

function parseInteger(t: TensorProto, key: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw corrupt(`tensor '${t.name ?? ''}': external data ${key} '${value}' is not a non-negative integer`);
  }
  return Number(value);
}

/** The tensor's external data reference, checked; undefined when the tensor is not external. */
export function externalDataRequest(t: TensorProto, path: string): ExternalDataRequest | undefined {
  if (t.dataLocation !== DataLocation.EXTERNAL) return undefined;
  const entry = (key: string): string | undefined => t.externalData.find((e) => e.key === key)?.value;
  const location = entry('location');
  if (location === undefined) throw corrupt(`tensor '${t.name ?? ''}' at ${path}: data_location is EXTERNAL but external_data has no location`);
  checkExternalLocation(location, t.name);
  if (t.dataType === DataType.STRING) throw corrupt(`tensor '${t.name ?? ''}' at ${path}: string tensors cannot be stored externally`);
  return { tensor: t, path, location, offset: parseInteger(t, 'offset', entry('offset')) ?? 0, length: parseInteger(t, 'length', entry('length')) };
}

/**
 * Loads every external tensor's data through `resolve` and stores it as the tensor's raw_data (the
 * tensor then no longer says it is external). Each result must hold exactly the tensor's bytes.
 */
export function resolveExternalData(model: ModelProto, resolve: ExternalDataResolver): void {
  const requests: ExternalDataRequest[] = [];
  forEachTensor(model, (t, path) => {
    const request = externalDataRequest(t, path);
    if (request) requests.push(request);
  });
  for (const request of requests) {
    const t = request.tensor;
    const need = tensorByteLength(t);
    if (request.length !== undefined && request.length !== need) {
      throw corrupt(`tensor '${t.name ?? ''}' (${dataTypeName(t.dataType)} [${t.dims.join(',')}]): external data length ${request.length} in '${request.location}', ${need} expected`);
    }
    const bytes = resolve(request);
    if (bytes.length !== need) {
      throw corrupt(`tensor '${t.name ?? ''}' (${dataTypeName(t.dataType)} [${t.dims.join(',')}]): external data in '${request.location}' at offset ${request.offset} gave ${bytes.length} bytes, ${need} expected`);
    }
    t.rawData = bytes;
    delete t.dataLocation;
    t.externalData = [];
  }
}
