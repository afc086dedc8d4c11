import type { Kernel, TypedArray } from '@minnow/core';
import { MinnowError } from '@minnow/core';

type Buf = TypedArray;

/**
 * spmm, the reference: C[i, :] = sum over row i's entries p of values[p] * B[colIndices[p], :],
 * accumulated in float64 and rounded once on store, every operand read through its strides. Core
 * checks the indices before any kernel runs; this one checks them again as it goes (it is cheap
 * here), so even a kernel call that bypassed core never reads out of range.
 */
export const spmm: Kernel<Buf, 'spmm'> = (inputs, output) => {
  const [values, colIndices, rowPointers, dense] = inputs;
  const rows = rowPointers.shape[0] - 1;
  const nnz = values.shape[0];
  const [k, n] = dense.shape;
  const [bRow, bCol] = dense.strides;
  const vs = values.strides[0];
  const cs = colIndices.strides[0];
  const rs = rowPointers.strides[0];
  const b = dense.buffer;
  const c = output.buffer as Float32Array | Float64Array;
  const acc = new Float64Array(n);
  for (let i = 0; i < rows; i++) {
    const start = rowPointers.buffer[rowPointers.offset + i * rs];
    const end = rowPointers.buffer[rowPointers.offset + (i + 1) * rs];
    if (!(start >= 0 && start <= end && end <= nnz)) {
      throw new MinnowError('INVALID_ARGUMENT', `spmm: row ${i} spans entries ${start} to ${end} of ${nnz}`);
    }
    acc.fill(0);
    for (let p = start; p < end; p++) {
      const col = colIndices.buffer[colIndices.offset + p * cs];
      if (!(col >= 0 && col < k)) throw new MinnowError('INVALID_ARGUMENT', `spmm: column index ${col} at entry ${p} is out of range for ${k} columns`);
      const v = values.buffer[values.offset + p * vs];
      const base = dense.offset + col * bRow;
      for (let j = 0; j < n; j++) acc[j] += v * b[base + j * bCol];
    }
    c.set(acc, i * n);
  }
};
