import { MinnowError, concat, contiguous, unsqueeze, type Tensor } from '@minnow/core';
import { DataType, type ValueInfoProto } from '../../../ir/types.js';
import { dataTypeName } from '../../../ir/tensor.js';
import { Value, type HostData } from '../../value.js';

/**
 * Joins same-shaped tensors along a new axis `axis` (numpy.stack). Core's concat pads every part to
 * the full length and adds, so joining n parts at once costs n times the result; joining halves
 * recursively keeps it to log n times, which matters for long sequences (RNN outputs over time,
 * Loop and Scan outputs over iterations).
 */
export function stack(parts: readonly Tensor[], axis: number): Tensor {
  if (parts.length === 0) throw new MinnowError('INTERNAL', 'stack: no tensors given');
  return joinHalves(parts.map((p) => unsqueeze(p, axis)), axis);
}

function joinHalves(parts: readonly Tensor[], axis: number): Tensor {
  if (parts.length === 1) return contiguous(parts[0]);
  const middle = parts.length >> 1;
  return concat([joinHalves(parts.slice(0, middle), axis), joinHalves(parts.slice(middle), axis)], axis);
}

/**
 * Per-iteration values (Loop and Scan outputs) stacked along a new axis `axis`. Values that all
 * still live on the host (shapes, int64 counters) are joined there along axis 0, exactly; the
 * rest are joined on `backend`. `what` names the output in errors.
 */
export function stackValues(values: readonly Value[], axis: number, backend: string, what: string): Value {
  const first = values[0];
  for (const v of values) {
    if (v.elemType !== first.elemType || v.shape.length !== first.shape.length || v.shape.some((d, i) => d !== first.shape[i])) {
      throw new MinnowError('INVALID_MODEL', `onnx: ${what}: iterations give ${first} and ${v}; scan outputs must keep one type and shape`);
    }
  }
  if (axis === 0 && values.every((v) => !v.isOnDevice)) {
    const parts = values.map((v) => v.hostData());
    const joined = new (parts[0].constructor as new (n: number) => HostData)(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      (joined as unknown as { set(source: ArrayLike<unknown>, offset: number): void }).set(p as ArrayLike<unknown>, at);
      at += p.length;
    }
    return Value.fromHost(first.elemType, [values.length, ...first.shape], joined);
  }
  return Value.fromTensor(stack(values.map((v) => v.tensor(backend, what)), axis), first.elemType);
}

const EMPTY: Partial<Record<number, () => HostData>> = {
  [DataType.FLOAT]: () => new Float32Array(0),
  [DataType.FLOAT16]: () => new Float32Array(0),
  [DataType.BFLOAT16]: () => new Float32Array(0),
  [DataType.DOUBLE]: () => new Float64Array(0),
  [DataType.INT64]: () => new BigInt64Array(0),
  [DataType.UINT64]: () => new BigUint64Array(0),
  [DataType.INT32]: () => new Int32Array(0),
  [DataType.UINT32]: () => new Uint32Array(0),
  [DataType.INT16]: () => new Int16Array(0),
  [DataType.UINT16]: () => new Uint16Array(0),
  [DataType.INT8]: () => new Int8Array(0),
  [DataType.INT4]: () => new Int8Array(0),
  [DataType.UINT8]: () => new Uint8Array(0),
  [DataType.UINT4]: () => new Uint8Array(0),
  [DataType.BOOL]: () => new Uint8Array(0),
};

/**
 * The stacked output of zero iterations: no value was produced, so its type and the dims beside
 * the iteration axis come from the body's declared output (unknown dims read as 0, as onnxruntime
 * does). An output the body declares no tensor type for cannot be made.
 */
export function emptyScanOutput(declared: ValueInfoProto | undefined, axis: number, what: string): Value {
  const tensorType = declared?.type?.tensorType;
  const elemType = tensorType?.elemType ?? DataType.UNDEFINED;
  const make = EMPTY[elemType];
  if (make === undefined) {
    throw new MinnowError('UNSUPPORTED_OP', `onnx: ${what}: the loop ran zero times and the body declares no computable type for it (${dataTypeName(elemType)})`);
  }
  const dims = (tensorType?.shape?.dim ?? []).map((d) => d.dimValue ?? 0);
  const at = axis < 0 ? axis + dims.length + 1 : axis;
  if (at < 0 || at > dims.length) throw new MinnowError('INVALID_MODEL', `onnx: ${what}: axis ${axis} is outside the stacked shape of rank ${dims.length + 1}`);
  dims.splice(at, 0, 0);
  return Value.fromHost(elemType, dims, make());
}
