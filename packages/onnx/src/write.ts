import { MinnowError } from '@minnow/core';
import { encodeMessage, type MessageHook } from './ir/codec.js';
import { MODEL, TENSOR, type MessageSpec } from './ir/schema.js';
import { isExternal, tensorByteLength, tensorRawBytes } from './ir/tensor.js';
import { DataLocation, DataType, type ModelProto, type TensorProto } from './ir/types.js';

export interface ExternalDataOptions {
  /** The external file's name, beside the model file (a plain file name: no folders). */
  readonly location: string;
  /** Tensors of at least this many bytes go to the external file (default 1024, as onnx's Python API). */
  readonly threshold?: number;
  /** Each tensor starts at a multiple of this many bytes in the external file (default 64). */
  readonly align?: number;
}

export interface WriteOptions {
  /** Put large tensors in an external data file instead of the model. */
  readonly externalData?: ExternalDataOptions;
}

export interface WrittenModel {
  /** The ModelProto's bytes. */
  readonly model: Uint8Array;
  /** The external data file's name and bytes, when `externalData` was asked for. */
  readonly externalData?: { readonly location: string; readonly bytes: Uint8Array };
}

type Obj = Record<string, unknown>;

const STORAGE_CLEARED = {
  rawData: undefined, floatData: undefined, int32Data: undefined, int64Data: undefined,
  doubleData: undefined, uint64Data: undefined, stringData: [] as Uint8Array[],
};

/** A tensor that was loaded from external data but still says so: written inline, it must not. */
function inlineTensor(t: TensorProto): TensorProto {
  if (t.dataLocation !== DataLocation.EXTERNAL || isExternal(t)) return t;
  const { dataLocation: _location, ...rest } = t;
  return { ...rest, externalData: [] };
}

/** The tensor's raw_data form, or undefined for strings, unknown types and tensors whose data does not fit their dims (those stay as they are). */
function rawBytesOrUndefined(t: TensorProto): Uint8Array | undefined {
  if (t.dataType === DataType.STRING) return undefined;
  try {
    tensorByteLength(t);
    return tensorRawBytes(t);
  } catch (error) {
    if (error instanceof MinnowError) return undefined;
    throw error;
  }
}

function checkOptions(options: ExternalDataOptions): { threshold: number; align: number } {
  const { location, threshold = 1024, align = 64 } = options;
  if (location === '' || location === '.' || location === '..' || /[\\/\0]/.test(location) || /^[A-Za-z]:/.test(location)) {
    throw new MinnowError('INVALID_ARGUMENT', `writeModel: external data location '${location}' must be a plain file name (no folders), for a file beside the model`);
  }
  if (!Number.isSafeInteger(threshold) || threshold < 0) throw new MinnowError('INVALID_ARGUMENT', `writeModel: external data threshold ${threshold} is not a non-negative integer`);
  if (!Number.isSafeInteger(align) || align < 1) throw new MinnowError('INVALID_ARGUMENT', `writeModel: external data align ${align} is not a positive integer`);
  return { threshold, align };
}

/**
 * Writes a model as ONNX bytes. With `externalData`, every tensor (initialisers, Constant values,
 * tensors in subgraphs and functions) whose data takes at least `threshold` bytes is written to one
 * external file instead, at an aligned offset, and the model records its location, offset and length.
 * Tensors still external (read without loading their data) keep their references unchanged (and
 * may not refer to the file being written).
 */
export function writeModel(model: ModelProto, options: WriteOptions = {}): WrittenModel {
  const external = options.externalData;
  if (!external) {
    const hook: MessageHook = (spec, m) => (spec === TENSOR ? (inlineTensor(m as unknown as TensorProto) as unknown as Obj) : m);
    return { model: encodeMessage(MODEL, model, hook) };
  }
  const { threshold, align } = checkOptions(external);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const hook: MessageHook = (spec: MessageSpec, m: Obj) => {
    if (spec !== TENSOR) return m;
    const t = m as unknown as TensorProto;
    if (isExternal(t) && t.externalData.some((e) => e.key === 'location' && e.value === external.location)) {
      throw new MinnowError('INVALID_ARGUMENT', `writeModel: tensor '${t.name ?? ''}' still refers to '${external.location}' without its data loaded; load the model's external data first, or write to another location`);
    }
    const bytes = isExternal(t) ? undefined : rawBytesOrUndefined(t);
    if (bytes === undefined) return inlineTensor(t) as unknown as Obj;
    if (bytes.length < threshold) return inlineTensor(t) as unknown as Obj;
    const offset = Math.ceil(size / align) * align;
    if (offset > size) chunks.push(new Uint8Array(offset - size));
    chunks.push(bytes);
    size = offset + bytes.length;
    const externalData = [
      { key: 'location', value: external.location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(bytes.length) },
    ];
    return { ...t, ...STORAGE_CLEARED, dataLocation: DataLocation.EXTERNAL, externalData } as unknown as Obj;
  };
  const bytes = encodeMessage(MODEL, model, hook);
  const data = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.length;
  }
  return { model: bytes, externalData: { location: external.location, bytes: data } };
}

/** Writes a TensorProto (the form of a test suite's input_N.pb). */
export function writeTensor(tensor: TensorProto): Uint8Array {
  return encodeMessage(TENSOR, inlineTensor(tensor));
}
