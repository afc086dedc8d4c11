// Decodes the weights a TensorFlow.js weights manifest describes, from the concatenation of its
// shards: float32 and int32 as stored, quantised weights restored the way tfjs restores them.
import { MinnowError, decodeFloat16, formatShape } from '@minnow/core';
import type { TfjsWeightSpec, TfjsWeightsGroup } from './model-json.js';

export interface TfjsWeight {
  readonly name: string;
  readonly shape: readonly number[];
  /** Values as float32 (int32 weights converted: the layers minnow converts compute in float). */
  readonly values: Float32Array;
}

/** Bytes per stored element of each dtype tfjs writes; strings have a variable-length form minnow does not read. */
const STORED_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

function corrupt(message: string): MinnowError {
  return new MinnowError('CORRUPT_FILE', `tfjs: ${message}`);
}

function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function storedDtype(spec: TfjsWeightSpec): string {
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  if (STORED_BYTES[dtype] === undefined) {
    throw new MinnowError('UNSUPPORTED_DTYPE', `tfjs: weight '${spec.name}' is stored as ${dtype}, which minnow does not read (float32, int32, bool, and uint8/uint16/float16 quantisation are read)`);
  }
  return dtype;
}

function readLittleEndian(bytes: Uint8Array, dtype: string, n: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  if (dtype === 'float32') for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  else if (dtype === 'int32') for (let i = 0; i < n; i++) out[i] = view.getInt32(i * 4, true);
  else if (dtype === 'uint16') for (let i = 0; i < n; i++) out[i] = view.getUint16(i * 2, true);
  else if (dtype === 'float16') {
    const bits = new Uint16Array(n);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(i * 2, true);
    return decodeFloat16(bits);
  } else for (let i = 0; i < n; i++) out[i] = bytes[i];
  return out;
}

/** `q * scale + min`, as tfjs dequantises uint8/uint16 weights (int32 weights rounded back to integers). */
function dequantize(spec: TfjsWeightSpec, stored: Float32Array): Float32Array {
  const q = spec.quantization!;
  if (q.dtype === 'float16') return stored;
  const { scale, min } = q;
  if (typeof scale !== 'number' || typeof min !== 'number' || !Number.isFinite(scale) || !Number.isFinite(min)) {
    throw corrupt(`weight '${spec.name}': ${q.dtype} quantisation needs finite numbers scale and min`);
  }
  const round = spec.dtype === 'int32';
  for (let i = 0; i < stored.length; i++) {
    const v = stored[i] * scale + min;
    stored[i] = round ? Math.round(v) : v;
  }
  return stored;
}

/**
 * Every weight of the manifest, by name, decoded from `weightData` (all shards of all groups,
 * concatenated in manifest order). The manifest must account for the bytes exactly.
 */
export function readTfjsWeights(manifest: readonly TfjsWeightsGroup[], weightData: Uint8Array): Map<string, TfjsWeight> {
  if (!(weightData instanceof Uint8Array)) throw new MinnowError('INVALID_ARGUMENT', 'tfjs: weightData must be a Uint8Array (the weight shards concatenated)');
  const weights = new Map<string, TfjsWeight>();
  let offset = 0;
  for (const group of manifest) {
    for (const spec of group.weights) {
      const dtype = storedDtype(spec);
      const n = count(spec.shape);
      const length = n * STORED_BYTES[dtype];
      if (offset + length > weightData.length) {
        throw corrupt(`weight '${spec.name}' (${dtype} ${formatShape(spec.shape)}) needs bytes ${offset}..${offset + length}, but the weight data holds ${weightData.length}`);
      }
      const bytes = weightData.subarray(offset, offset + length);
      offset += length;
      if (weights.has(spec.name)) throw corrupt(`two weights are named '${spec.name}'`);
      if (spec.dtype !== 'float32' && spec.dtype !== 'int32') continue; // read past; no converted layer uses them
      let values = readLittleEndian(bytes, dtype, n);
      if (spec.quantization) values = dequantize(spec, values);
      weights.set(spec.name, { name: spec.name, shape: spec.shape, values });
    }
  }
  if (offset !== weightData.length) throw corrupt(`the manifest accounts for ${offset} bytes of weight data, but there are ${weightData.length}`);
  return weights;
}
