import { MinnowError, formatShape } from '../errors.js';
import { runKernel } from '../dispatch.js';
import type { Storage, Tensor } from '../tensor.js';
import { fromArray } from './creation.js';
import { expectTensor } from './primitives.js';
import { reshape } from './view.js';

/**
 * Sparse x dense products over a matrix in CSR form (compressed sparse rows, scipy's layout).
 *
 * A CsrMatrix is a plain object holding three tensors, so `scope()` keeps them when one is
 * returned, and `Module.to()` can move them as buffers. Its index tensors are checked on the host
 * (every pointer and column) the first time a product uses them; the result is remembered per
 * storage, and since ops never write into a storage and `assign()` gives a tensor a new one, the
 * check is never stale. The kernels then trust the indices: they are never read out of range.
 */
export interface CsrMatrix {
  /** [rows, cols] of the sparse matrix. */
  readonly shape: readonly [number, number];
  /** The stored entries, row after row: [nnz], float32 or float64. */
  readonly values: Tensor;
  /** The column of each stored entry: int32 [nnz]. Within a row any order; repeated columns add up. */
  readonly colIndices: Tensor;
  /** int32 [rows + 1]: row i holds entries rowPointers[i] .. rowPointers[i + 1] - 1; starts at 0, never decreases, ends at nnz. */
  readonly rowPointers: Tensor;
}

interface Checked {
  readonly colStorage: Storage;
  readonly rowPointers: Tensor;
  readonly rowStorage: Storage;
  readonly cols: number;
}

/** What was checked, keyed by the colIndices tensor (weak: it goes when the tensor does). */
const checked = new WeakMap<Tensor, Checked>();

function isChecked(a: CsrMatrix): boolean {
  const c = checked.get(a.colIndices);
  return c !== undefined && c.colStorage === a.colIndices.storage && c.rowPointers === a.rowPointers && c.rowStorage === a.rowPointers.storage && c.cols === a.shape[1];
}

const bad = (message: string): MinnowError => new MinnowError('INVALID_ARGUMENT', `sparse matrix: ${message}`);

/**
 * Checks that `a` is a well-formed CSR matrix: its shape, the three tensors' dtypes, ranks, lengths
 * and backend, rowPointers (0 first, nnz last, never decreasing) and every column index (in
 * [0, cols)). Throws INVALID_ARGUMENT naming the first fault (UNSUPPORTED_DTYPE for a dtype). Reads
 * the index tensors synchronously (SYNC_READ_UNSUPPORTED where the backend cannot).
 */
export function checkCsr(a: CsrMatrix): void {
  if (a === null || typeof a !== 'object') throw bad(`expected { shape, values, colIndices, rowPointers }, got ${a === null ? 'null' : typeof a}`);
  const shape = a.shape as unknown;
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw bad(`shape must be [rows, cols] of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const [rows, cols] = a.shape;
  expectTensor('sparse matrix', 'values', a.values);
  expectTensor('sparse matrix', 'colIndices', a.colIndices);
  expectTensor('sparse matrix', 'rowPointers', a.rowPointers);
  if (a.values.dtype !== 'float32' && a.values.dtype !== 'float64') {
    throw new MinnowError('UNSUPPORTED_DTYPE', `sparse matrix: values must be float32 or float64, got ${a.values.dtype}`);
  }
  for (const [name, t] of [['colIndices', a.colIndices], ['rowPointers', a.rowPointers]] as const) {
    if (t.dtype !== 'int32') throw new MinnowError('UNSUPPORTED_DTYPE', `sparse matrix: ${name} must be int32, got ${t.dtype}`);
  }
  for (const [name, t] of [['values', a.values], ['colIndices', a.colIndices], ['rowPointers', a.rowPointers]] as const) {
    if (t.rank !== 1) throw bad(`${name} must be 1-D, got ${formatShape(t.shape)}`);
  }
  const nnz = a.values.shape[0];
  if (a.colIndices.shape[0] !== nnz) throw bad(`colIndices has ${a.colIndices.shape[0]} entries but values has ${nnz}`);
  if (a.rowPointers.shape[0] !== rows + 1) throw bad(`rowPointers has ${a.rowPointers.shape[0]} entries; ${rows} rows need ${rows + 1}`);
  if (a.colIndices.backend !== a.values.backend || a.rowPointers.backend !== a.values.backend) {
    throw new MinnowError('BACKEND_MISMATCH', `sparse matrix: values, colIndices and rowPointers live on backends "${a.values.backend.name}", "${a.colIndices.backend.name}" and "${a.rowPointers.backend.name}"`);
  }
  if (isChecked(a)) return;
  checkCsrIndices(a.rowPointers.dataSync(), a.colIndices.dataSync(), cols);
  checked.set(a.colIndices, { colStorage: a.colIndices.storage, rowPointers: a.rowPointers, rowStorage: a.rowPointers.storage, cols });
}

/**
 * Checks CSR index arrays on the host: rowPointers starts at 0, never decreases and ends at the
 * number of colIndices; every column lies in [0, cols). Throws INVALID_ARGUMENT naming the first
 * fault. The one check of CSR structure: checkCsr runs it on tensors, formats on host arrays.
 */
export function checkCsrIndices(rowPointers: ArrayLike<number>, colIndices: ArrayLike<number>, cols: number): void {
  const rows = rowPointers.length - 1;
  const nnz = colIndices.length;
  if (rows < 0) throw bad('rowPointers is empty; it needs rows + 1 entries');
  if (rowPointers[0] !== 0) throw bad(`rowPointers[0] is ${rowPointers[0]}, must be 0`);
  for (let i = 0; i < rows; i++) {
    if (!(rowPointers[i + 1] >= rowPointers[i])) throw bad(`rowPointers decreases at row ${i}: ${rowPointers[i]} then ${rowPointers[i + 1]}`);
  }
  if (rowPointers[rows] !== nnz) throw bad(`rowPointers[${rows}] is ${rowPointers[rows]}, must be nnz = ${nnz}`);
  for (let p = 0; p < nnz; p++) {
    const c = colIndices[p];
    if (!(c >= 0 && c < cols)) throw bad(`colIndices[${p}] is ${c}, out of range for ${cols} columns`);
  }
}

/** The kernel call, for indices known to be well formed: [rows, K] sparse x [K, N] dense. */
export function spmmChecked(values: Tensor, colIndices: Tensor, rowPointers: Tensor, dense: Tensor): Tensor {
  const rows = rowPointers.shape[0] - 1;
  return runKernel('spmm', [values, colIndices, rowPointers, dense], {}, { shape: [rows, dense.shape[1]], dtype: values.dtype });
}

/**
 * The product of a sparse matrix `a` [M, K] and a dense `b` [K, N] (or [K], giving [M]), in the
 * dtype of a's values, which b must share. Work and memory traffic scale with a's stored entries,
 * not with M * K. Differentiable in b and in a's values (the indices are not).
 */
export function sparseMatmul(a: CsrMatrix, b: Tensor): Tensor {
  checkCsr(a);
  expectTensor('sparseMatmul', 'b', b);
  if (b.dtype !== a.values.dtype) throw new MinnowError('DTYPE_MISMATCH', `sparseMatmul: b is ${b.dtype} but the sparse values are ${a.values.dtype}`);
  if (b.rank !== 1 && b.rank !== 2) throw new MinnowError('INVALID_SHAPE', `sparseMatmul: b must be [K] or [K, N], got ${formatShape(b.shape)}`);
  if (b.shape[0] !== a.shape[1]) {
    throw new MinnowError('SHAPE_MISMATCH', `sparseMatmul: inner dims differ: sparse [${a.shape.join(', ')}] x ${formatShape(b.shape)} (${a.shape[1]} vs ${b.shape[0]})`);
  }
  if (b.rank === 2) return spmmChecked(a.values, a.colIndices, a.rowPointers, b);
  const column = reshape(b, [b.shape[0], 1]);
  try {
    const out = spmmChecked(a.values, a.colIndices, a.rowPointers, column);
    const flat = reshape(out, [a.shape[0]]);
    out.dispose();
    return flat;
  } finally {
    column.dispose();
  }
}

/** A CSR structure's transpose on the host: where each transposed entry comes from, its row pointers and columns. */
export interface CsrTranspose {
  /** Entry q of the transpose is entry source[q] of the original. */
  readonly source: Int32Array;
  readonly rowPointers: Int32Array;
  readonly colIndices: Int32Array;
  /** The row of each original entry (the transpose's columns, in the original order). */
  readonly rowOf: Int32Array;
}

const transposes = new WeakMap<Storage, { rowStorage: Storage; transpose: CsrTranspose }>();

/** The transpose of the structure (colIndices, rowPointers) with `cols` columns, counting-sorted by column; cached per storage. */
export function csrTranspose(colIndices: Tensor, rowPointers: Tensor, cols: number): CsrTranspose {
  const cached = transposes.get(colIndices.storage);
  if (cached && cached.rowStorage === rowPointers.storage && cached.transpose.rowPointers.length === cols + 1) return cached.transpose;
  const columns = colIndices.dataSync();
  const pointers = rowPointers.dataSync();
  const rows = pointers.length - 1;
  const nnz = columns.length;
  const rowOf = new Int32Array(nnz);
  for (let i = 0; i < rows; i++) rowOf.fill(i, pointers[i], pointers[i + 1]);
  const next = new Int32Array(cols + 1);
  for (let p = 0; p < nnz; p++) next[columns[p] + 1]++;
  for (let c = 0; c < cols; c++) next[c + 1] += next[c];
  const transposedPointers = next.slice();
  const source = new Int32Array(nnz);
  const transposedColumns = new Int32Array(nnz);
  for (let p = 0; p < nnz; p++) {
    const q = next[columns[p]]++;
    source[q] = p;
    transposedColumns[q] = rowOf[p];
  }
  const transpose = { source, rowPointers: transposedPointers, colIndices: transposedColumns, rowOf };
  transposes.set(colIndices.storage, { rowStorage: rowPointers.storage, transpose });
  return transpose;
}

/** Host int32 data as a tensor on the backend of `like`. */
export function indexTensor(data: Int32Array, like: Tensor): Tensor {
  return fromArray(data, [data.length], { dtype: 'int32', backend: like.backend.name });
}
