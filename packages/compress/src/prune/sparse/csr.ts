import { MinnowError, checkCsrIndices, formatShape, fromArray, type CsrMatrix, type Tensor } from '@minnow/core';

/**
 * CSR (compressed sparse rows, scipy's layout) on the host: the form a pruned weight matrix is
 * kept in, and the one core's sparseMatmul runs on once uploaded (csrToMatrix).
 *
 * A zero of either sign is not stored, so -0 comes back as +0; every other value, NaN included,
 * round-trips bit for bit. Stored entries are row by row, columns ascending within a row.
 */
export interface CsrArrays {
  /** [rows, cols] of the matrix. */
  readonly shape: readonly [number, number];
  /** The stored (non-zero) entries, row by row: [nnz]. */
  readonly values: Float32Array;
  /** The column of each stored entry: [nnz]. */
  readonly colIndices: Int32Array;
  /** Row i holds entries rowPointers[i] .. rowPointers[i + 1] - 1: [rows + 1]. */
  readonly rowPointers: Int32Array;
}

/** [rows, cols] from a dense shape: 2-D as is; a higher rank (a conv weight [O, C, kH, kW]) as [shape[0], rest]. */
export function matrixShape(op: string, shape: readonly number[]): [number, number] {
  if (shape.length < 2 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new MinnowError('INVALID_SHAPE', `${op}: need a shape of rank 2 or more with non-negative integer dims, got ${formatShape(shape)}`);
  }
  return [shape[0], shape.slice(1).reduce((a, b) => a * b, 1)];
}

function checkLength(op: string, data: Float32Array, shape: readonly number[]): void {
  if (!(data instanceof Float32Array)) throw new MinnowError('UNSUPPORTED_DTYPE', `${op}: data must be a Float32Array`);
  const size = shape.reduce((a, b) => a * b, 1);
  if (data.length !== size) throw new MinnowError('INVALID_ARGUMENT', `${op}: ${data.length} values for shape ${formatShape(shape)} (${size} elements)`);
}

/** The CSR form of row-major `data` of `shape` (rank 2, or higher, read as [shape[0], rest]). */
export function denseToCsr(data: Float32Array, shape: readonly number[]): CsrArrays {
  const [rows, cols] = matrixShape('denseToCsr', shape);
  checkLength('denseToCsr', data, shape);
  let nnz = 0;
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) nnz++;
  const values = new Float32Array(nnz);
  const colIndices = new Int32Array(nnz);
  const rowPointers = new Int32Array(rows + 1);
  let p = 0;
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    for (let j = 0; j < cols; j++) {
      const v = data[base + j];
      if (v !== 0) {
        values[p] = v;
        colIndices[p++] = j;
      }
    }
    rowPointers[i + 1] = p;
  }
  return { shape: [rows, cols], values, colIndices, rowPointers };
}

/** Checks a CsrArrays' types, lengths and indices (INVALID_ARGUMENT naming the first fault). */
export function checkCsrArrays(op: string, csr: CsrArrays): void {
  const [rows, cols] = matrixShape(op, csr.shape);
  if (!(csr.values instanceof Float32Array) || !(csr.colIndices instanceof Int32Array) || !(csr.rowPointers instanceof Int32Array)) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: values must be a Float32Array, colIndices and rowPointers Int32Arrays`);
  }
  if (csr.colIndices.length !== csr.values.length) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: colIndices has ${csr.colIndices.length} entries but values has ${csr.values.length}`);
  }
  if (csr.rowPointers.length !== rows + 1) throw new MinnowError('INVALID_ARGUMENT', `${op}: rowPointers has ${csr.rowPointers.length} entries; ${rows} rows need ${rows + 1}`);
  checkCsrIndices(csr.rowPointers, csr.colIndices, cols);
}

/** The dense row-major matrix a CSR form holds (repeated columns add up). */
export function csrToDense(csr: CsrArrays): Float32Array {
  checkCsrArrays('csrToDense', csr);
  const [rows, cols] = csr.shape;
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let p = csr.rowPointers[i]; p < csr.rowPointers[i + 1]; p++) out[i * cols + csr.colIndices[p]] += csr.values[p];
  }
  return out;
}

/** Bytes the CSR arrays take: 4 per value, 4 per column index, 4 per row pointer. */
export function csrByteSize(csr: CsrArrays): number {
  return csr.values.byteLength + csr.colIndices.byteLength + csr.rowPointers.byteLength;
}

/** Fraction of the matrix stored: nnz / (rows * cols) (0 for an empty matrix). */
export function csrDensity(csr: CsrArrays): number {
  const size = csr.shape[0] * csr.shape[1];
  return size === 0 ? 0 : csr.values.length / size;
}

/** The CSR form of a float32 tensor of rank 2 or more (read back synchronously). */
export function csrFromTensor(t: Tensor): CsrArrays {
  if (t.dtype !== 'float32') throw new MinnowError('UNSUPPORTED_DTYPE', `csrFromTensor: expected a float32 tensor, got ${t.dtype}`);
  return denseToCsr(t.dataSync() as Float32Array, t.shape);
}

/** The CSR arrays as core tensors on `backend` (the default when omitted), ready for sparseMatmul. The caller owns the three tensors. */
export function csrToMatrix(csr: CsrArrays, backend?: string): CsrMatrix {
  checkCsrArrays('csrToMatrix', csr);
  const made: Tensor[] = [];
  try {
    const values = fromArray(csr.values, [csr.values.length], { backend });
    made.push(values);
    const colIndices = fromArray(csr.colIndices, [csr.colIndices.length], { dtype: 'int32', backend });
    made.push(colIndices);
    const rowPointers = fromArray(csr.rowPointers, [csr.rowPointers.length], { dtype: 'int32', backend });
    return { shape: [csr.shape[0], csr.shape[1]], values, colIndices, rowPointers };
  } catch (error) {
    for (const t of made) t.dispose();
    throw error;
  }
}

/** A core CsrMatrix read back to host arrays. */
export async function csrFromMatrix(matrix: CsrMatrix): Promise<CsrArrays> {
  if (matrix.values.dtype !== 'float32') throw new MinnowError('UNSUPPORTED_DTYPE', `csrFromMatrix: values must be float32, got ${matrix.values.dtype}`);
  const csr: CsrArrays = {
    shape: [matrix.shape[0], matrix.shape[1]],
    values: (await matrix.values.data()) as Float32Array,
    colIndices: (await matrix.colIndices.data()) as Int32Array,
    rowPointers: (await matrix.rowPointers.data()) as Int32Array,
  };
  checkCsrArrays('csrFromMatrix', csr);
  return csr;
}
