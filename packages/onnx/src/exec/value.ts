import { MinnowError, Tensor, fromArray, keep, type TypedArray, formatShape } from '@minnow/core';
import type { TensorProto } from '../ir/types.js';
import { DataType } from '../ir/types.js';
import { dataTypeName, tensorValues, type TensorValues } from '../ir/tensor.js';
import { computeDType, naturalType } from './dtypes.js';

/** Host data of a value: what `tensorValues` gives for the computable types (no strings). */
export type HostData = Exclude<TensorValues, string[]>;

// Reads of device data onto the host, counted so a node's steady plan (OpContext.steady) can tell
// whether it was derived from device values, which change from run to run unseen.
let deviceReads = 0;
export const deviceReadCount = (): number => deviceReads;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/**
 * A tensor flowing through an ONNX graph: its ONNX element type and shape, held as a minnow Tensor
 * on the session's backend, or as host data (initialisers, Shape's output, test inputs) that moves
 * to the backend only when an op computes with it. Shape-like inputs (Reshape's shape, Slice's
 * bounds) are read from the host form exactly, so an int64 such as INT64_MAX ("to the end") never
 * has to fit the engine's int32.
 */
export class Value {
  private device: Tensor | undefined;
  private host: HostData | undefined;
  private hostNumbers: number[] | undefined;

  private constructor(
    readonly elemType: number,
    readonly shape: readonly number[],
    host: HostData | undefined,
    device: Tensor | undefined,
    /** Constants (initialisers, folded nodes) outlive a run; the session disposes them. */
    readonly constant: boolean,
  ) {
    this.host = host;
    this.device = device;
  }

  /** A value over `tensor`; its ONNX type defaults to the one its dtype stands for. */
  static fromTensor(tensor: Tensor, elemType: number = naturalType(tensor.dtype), constant = false): Value {
    return new Value(elemType, tensor.shape, undefined, tensor, constant);
  }

  static fromHost(elemType: number, shape: readonly number[], data: HostData, constant = false): Value {
    let n = 1;
    for (const d of shape) n *= d;
    if (data.length !== n) throw new MinnowError('INTERNAL', `onnx: host value of shape ${formatShape(shape)} given ${data.length} elements`);
    return new Value(elemType, [...shape], data, undefined, constant);
  }

  static fromProto(t: TensorProto, constant = false): Value {
    const elemType = t.dataType ?? DataType.UNDEFINED;
    if (elemType === DataType.STRING) throw new MinnowError('UNSUPPORTED_DTYPE', `onnx: tensor '${t.name ?? ''}': strings are not computed by minnow`);
    return Value.fromHost(elemType, t.dims, tensorValues(t) as HostData, constant);
  }

  /** An int64 host value (Shape's output, say). */
  static int64(values: readonly number[], shape: readonly number[] = [values.length]): Value {
    return Value.fromHost(DataType.INT64, shape, BigInt64Array.from(values, (v) => BigInt(v)));
  }

  get size(): number {
    let n = 1;
    for (const d of this.shape) n *= d;
    return n;
  }

  get rank(): number {
    return this.shape.length;
  }

  get isOnDevice(): boolean {
    return this.device !== undefined;
  }

  /** The host data if the value has it, without reading the device. */
  get hostForm(): HostData | undefined {
    return this.host;
  }

  /** The device tensor if the value has been uploaded (or was computed there), without uploading. */
  get deviceTensor(): Tensor | undefined {
    return this.device;
  }

  /** A second value over the same data that can be disposed on its own (the graph runner hands these out where one value would otherwise have two owners). */
  alias(constant = false): Value {
    const device = this.device === undefined ? undefined : aliasTensor(this.device);
    return new Value(this.elemType, this.shape, this.host, device, constant);
  }

  /** The value as a Tensor on `backend`, uploading host data the first time; `where` names it in errors. */
  tensor(backend: string, where: string): Tensor {
    if (this.device !== undefined) {
      if (this.device.backend.name !== backend) {
        throw new MinnowError('BACKEND_MISMATCH', `onnx: ${where}: value lives on backend '${this.device.backend.name}', the session runs on '${backend}'`);
      }
      return this.device;
    }
    const dtype = computeDType(this.elemType, where);
    const host = this.host as HostData;
    let data: TypedArray;
    if (host instanceof BigInt64Array || host instanceof BigUint64Array || host instanceof Uint32Array) data = toInt32(host, where, this.elemType);
    else if (host instanceof Int16Array || host instanceof Uint16Array) data = Int32Array.from(host);
    else if (dtype === 'float32' && !(host instanceof Float32Array)) data = Float32Array.from(host as ArrayLike<number>);
    else data = host as TypedArray;
    // Kept out of any enclosing scope: the value owns the upload (a constant's, for the session's life).
    this.device = keep(fromArray(data, this.shape, { dtype, backend }));
    return this.device;
  }

  /**
   * The values as exact JS numbers (int64 beyond 2^53 rounds), read from the host form or the
   * device. Host values never change, so small ones have their numbers converted once (shape inputs
   * such as Unsqueeze's axes are read on every run); each call returns a copy.
   */
  numbers(): number[] {
    if (this.host !== undefined) {
      if (this.host.length > 1024) return Array.from(this.host as ArrayLike<number | bigint>, Number);
      this.hostNumbers ??= Array.from(this.host as ArrayLike<number | bigint>, Number);
      return this.hostNumbers.slice();
    }
    deviceReads++;
    return Array.from((this.device as Tensor).dataSync(), Number);
  }

  /** Host data in the form `tensorValues` gives (int64 as BigInt64Array), reading the device if needed. */
  hostData(): HostData {
    if (this.host !== undefined) return this.host;
    deviceReads++;
    const read = (this.device as Tensor).dataSync();
    // The wide integer types are computed in int32 (values beyond it never reach the engine).
    switch (this.elemType) {
      case DataType.INT64: return BigInt64Array.from(read as Int32Array, (v) => BigInt(v));
      case DataType.UINT64: return BigUint64Array.from(read as Int32Array, (v) => BigInt(v));
      case DataType.UINT32: return Uint32Array.from(read as Int32Array);
      case DataType.INT16: return Int16Array.from(read as Int32Array);
      case DataType.UINT16: return Uint16Array.from(read as Int32Array);
      default: return read;
    }
  }

  dispose(): void {
    this.device?.dispose();
    this.device = undefined;
  }

  toString(): string {
    return `${dataTypeName(this.elemType)}${formatShape(this.shape)}`;
  }
}

/** A new Tensor over the same storage (its own reference), so either can be disposed first. */
export function aliasTensor(t: Tensor): Tensor {
  return new Tensor(t.storage, t.shape, t.strides, t.offset);
}

function toInt32(values: BigInt64Array | BigUint64Array | Uint32Array, where: string, elemType: number): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = Number(values[i]);
    if (v < INT32_MIN || v > INT32_MAX) {
      throw new MinnowError('PRECISION_LIMIT', `onnx: ${where}: ${dataTypeName(elemType)} element ${i} is ${values[i]}, beyond the int32 that minnow computes ${dataTypeName(elemType)} in`);
    }
    out[i] = v;
  }
  return out;
}
