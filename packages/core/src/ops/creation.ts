import type { DType, TypedArray } from '../dtype.js';
import { allocateArray, dtypeOfArray, isDType, isFloatDType, isTypedArray } from '../dtype.js';
import { MinnowError, formatShape } from '../errors.js';
import { Random } from '../random.js';
import { getBackend } from '../registry.js';
import { assertValidShape, sizeOf } from '../shape.js';
import { decodeFloat16, decodeBFloat16 } from '../storage/float16.js';
import { unpackInt4 } from '../storage/int4.js';
import { Storage, Tensor, type NestedArray } from '../tensor.js';

export interface CreateOptions {
  /** Defaults to the dtype of a typed array, else float32. */
  readonly dtype?: DType;
  /** A backend name; defaults to the default backend. */
  readonly backend?: string;
  /** Make the tensor a leaf that requires grad (float dtypes only: UNSUPPORTED_DTYPE otherwise). */
  readonly requiresGrad?: boolean;
}

export interface RandomOptions extends CreateOptions {
  /** A seed, or a Random to draw from (shared draws across tensors). Required: randomness in minnow is always replayable. */
  readonly seed: number | Random;
}

/** Wraps `values` (copied into the backend) as a tensor of `shape`; the one place tensors are made from host data. */
export function fromArray(values: TypedArray, shape: readonly number[], options: CreateOptions = {}): Tensor {
  assertValidShape('fromArray', shape);
  const dtype = options.dtype ?? dtypeOfArray(values);
  checkDType('fromArray', dtype);
  if (values.length !== sizeOf(shape)) {
    throw new MinnowError('INVALID_SHAPE', `fromArray: ${values.length} values do not fill shape ${formatShape(shape)} (${sizeOf(shape)} elements)`);
  }
  if (options.requiresGrad && !isFloatDType(dtype)) {
    throw new MinnowError('UNSUPPORTED_DTYPE', `requiresGrad: a ${dtype} tensor cannot require grad; only float32 and float64 can`);
  }
  const backend = getBackend(options.backend);
  // bool is normalised to 0/1 whatever the source, so every backend can rely on it.
  const data = dtypeOfArray(values) === dtype && dtype !== 'bool' ? values : convert(values, dtype);
  const t = new Tensor(Storage.fromData(backend, dtype, data), shape);
  return options.requiresGrad ? t.requireGrad() : t;
}

/**
 * A tensor from a number, a boolean, nested arrays, or a typed array (with an optional shape;
 * a typed array without one is 1-D).
 */
export function tensor(values: NestedArray | TypedArray, shapeOrOptions?: readonly number[] | CreateOptions, options?: CreateOptions): Tensor {
  const shape = Array.isArray(shapeOrOptions) ? shapeOrOptions : undefined;
  const opts = (Array.isArray(shapeOrOptions) ? options : (shapeOrOptions as CreateOptions | undefined)) ?? {};
  if (isTypedArray(values)) return fromArray(values, shape ?? [values.length], opts);
  const inferred = inferShape(values);
  const flat: number[] = [];
  let sawBool = false;
  flatten(values, inferred, 0, flat, (b) => (sawBool ||= b));
  const dtype = opts.dtype ?? (sawBool ? 'bool' : 'float32');
  checkDType('tensor', dtype);
  const array = allocateArray(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) array[i] = dtype === 'bool' ? (flat[i] !== 0 ? 1 : 0) : flat[i];
  const target = shape ?? inferred;
  if (shape && sizeOf(shape) !== flat.length) {
    throw new MinnowError('INVALID_SHAPE', `tensor: ${flat.length} values do not fill shape ${formatShape(shape)}`);
  }
  return fromArray(array, target, { ...opts, dtype });
}

export function scalar(value: number | boolean, options: CreateOptions = {}): Tensor {
  return tensor(value, options);
}

export function full(shape: readonly number[], value: number, options: CreateOptions = {}): Tensor {
  assertValidShape('full', shape);
  const dtype = options.dtype ?? 'float32';
  checkDType('full', dtype);
  const array = allocateArray(dtype, sizeOf(shape));
  if (value !== 0) array.fill(dtype === 'bool' ? (value ? 1 : 0) : value);
  return fromArray(array, shape, { ...options, dtype });
}

export function zeros(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}

/** start, start+step, ... up to but excluding end (numpy.arange). One argument means [0, end). */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (!Number.isFinite(start) || !Number.isFinite(end) || !Number.isFinite(step) || step === 0) {
    throw new MinnowError('INVALID_ARGUMENT', `arange: start ${start}, end ${end} and step ${step} must be finite and step non-zero`);
  }
  const count = Math.max(0, Math.ceil((end - start) / step));
  const dtype = options.dtype ?? 'float32';
  const array = allocateArray(dtype, count);
  for (let i = 0; i < count; i++) array[i] = start + i * step;
  return fromArray(array, [count], { ...options, dtype });
}

export function randomUniform(shape: readonly number[], options: RandomOptions & { low?: number; high?: number }): Tensor {
  assertValidShape('randomUniform', shape);
  const rng = toRandom('randomUniform', options.seed);
  const { low = 0, high = 1 } = options;
  const array = floatArray('randomUniform', options.dtype, sizeOf(shape));
  for (let i = 0; i < array.length; i++) array[i] = low + (high - low) * rng.uniform();
  return fromArray(array, shape, options);
}

export function randomNormal(shape: readonly number[], options: RandomOptions & { mean?: number; std?: number }): Tensor {
  assertValidShape('randomNormal', shape);
  const rng = toRandom('randomNormal', options.seed);
  const { mean = 0, std = 1 } = options;
  const array = floatArray('randomNormal', options.dtype, sizeOf(shape));
  for (let i = 0; i < array.length; i++) array[i] = mean + std * rng.normal();
  return fromArray(array, shape, options);
}

/** A float32 tensor from IEEE binary16 bits (or bfloat16 with `format: 'bfloat16'`). */
export function fromFloat16(bits: Uint16Array, shape: readonly number[], options: CreateOptions & { format?: 'float16' | 'bfloat16' } = {}): Tensor {
  const values = options.format === 'bfloat16' ? decodeBFloat16(bits) : decodeFloat16(bits);
  return fromArray(values, shape, { backend: options.backend, dtype: 'float32' });
}

/** An int8 (int4) or uint8 (uint4) tensor from packed nibbles, low nibble first. */
export function fromInt4(bytes: Uint8Array, shape: readonly number[], options: { signed: boolean; backend?: string }): Tensor {
  assertValidShape('fromInt4', shape);
  return fromArray(unpackInt4(bytes, sizeOf(shape), options.signed), shape, { backend: options.backend });
}

function toRandom(op: string, seed: number | Random | undefined): Random {
  if (seed instanceof Random) return seed;
  if (typeof seed !== 'number') throw new MinnowError('INVALID_ARGUMENT', `${op}: a seed (number or Random) is required so results can be replayed`);
  return new Random(seed);
}

function floatArray(op: string, dtype: DType | undefined, length: number): Float32Array | Float64Array {
  if (dtype !== undefined && dtype !== 'float32' && dtype !== 'float64') {
    throw new MinnowError('UNSUPPORTED_DTYPE', `${op}: dtype ${dtype} is not supported (expected float32 or float64)`);
  }
  return dtype === 'float64' ? new Float64Array(length) : new Float32Array(length);
}

function checkDType(op: string, dtype: unknown): asserts dtype is DType {
  if (!isDType(dtype)) throw new MinnowError('UNSUPPORTED_DTYPE', `${op}: unknown dtype ${String(dtype)}`);
}

function convert(values: TypedArray, dtype: DType): TypedArray {
  const out = allocateArray(dtype, values.length);
  for (let i = 0; i < values.length; i++) out[i] = dtype === 'bool' ? (values[i] !== 0 ? 1 : 0) : values[i];
  return out;
}

function inferShape(values: NestedArray): number[] {
  const shape: number[] = [];
  let level: NestedArray = values;
  while (Array.isArray(level)) {
    shape.push(level.length);
    if (level.length === 0) break;
    level = level[0];
  }
  return shape;
}

function flatten(values: NestedArray, shape: readonly number[], dim: number, out: number[], onBool: (b: boolean) => void): void {
  if (dim === shape.length) {
    if (typeof values === 'boolean') {
      onBool(true);
      out.push(values ? 1 : 0);
    } else if (typeof values === 'number') out.push(values);
    else throw new MinnowError('INVALID_SHAPE', `tensor: ragged nested array: expected a number at depth ${dim}, found an array`);
    return;
  }
  if (!Array.isArray(values) || values.length !== shape[dim]) {
    throw new MinnowError('INVALID_SHAPE', `tensor: ragged nested array: expected ${shape[dim]} elements at depth ${dim}, got ${Array.isArray(values) ? values.length : typeof values}`);
  }
  for (const v of values) flatten(v, shape, dim + 1, out, onBool);
}
