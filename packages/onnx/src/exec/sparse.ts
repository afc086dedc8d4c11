import { MinnowError, formatShape } from '@minnow/core';
import type { SparseTensorProto } from '../ir/types.js';
import { tensorValues } from '../ir/tensor.js';
import { Value, type HostData } from './value.js';

/**
 * A sparse initialiser as a dense value. ONNX gives the non-zero values ([NNZ]) and their indices,
 * either linear ([NNZ]) or as coordinates ([NNZ, rank]); every index is checked against the dims.
 */
export function densifySparse(s: SparseTensorProto): Value {
  const name = s.values?.name ?? '';
  const where = `sparse initialiser '${name}' ${formatShape(s.dims)}`;
  if (s.values === undefined || s.indices === undefined) throw new MinnowError('INVALID_MODEL', `onnx: ${where}: values or indices missing`);
  const values = tensorValues(s.values);
  if (Array.isArray(values)) throw new MinnowError('UNSUPPORTED_DTYPE', `onnx: ${where}: string values are not computed by minnow`);
  const indices = tensorValues(s.indices);
  if (Array.isArray(indices)) throw new MinnowError('INVALID_MODEL', `onnx: ${where}: indices must be integers`);
  const rank = s.dims.length;
  let size = 1;
  for (const d of s.dims) size *= d;
  const nnz = values.length;
  const linear = s.indices.dims.length === 1;
  if (linear ? indices.length !== nnz : s.indices.dims.length !== 2 || s.indices.dims[0] !== nnz || s.indices.dims[1] !== rank) {
    throw new MinnowError('INVALID_MODEL', `onnx: ${where}: indices of shape ${formatShape(s.indices.dims)} do not fit ${nnz} values`);
  }
  const dense = new (values.constructor as new (n: number) => HostData)(size);
  for (let k = 0; k < nnz; k++) {
    let at = 0;
    if (linear) at = Number(indices[k]);
    else {
      for (let d = 0; d < rank; d++) {
        const i = Number(indices[k * rank + d]);
        if (i < 0 || i >= s.dims[d]) throw new MinnowError('INVALID_MODEL', `onnx: ${where}: index ${i} out of range in dim ${d}`);
        at = at * s.dims[d] + i;
      }
    }
    if (!(at >= 0 && at < size)) throw new MinnowError('INVALID_MODEL', `onnx: ${where}: index ${at} out of range`);
    (dense as unknown as { [i: number]: number | bigint })[at] = values[k];
  }
  return Value.fromHost(s.values.dataType ?? 0, s.dims, dense, true);
}
