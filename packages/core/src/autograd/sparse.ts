import { gather, mul, sum } from '../ops/primitives.js';
import { csrTranspose, indexTensor, spmmChecked } from '../ops/sparse.js';
import type { GradientRule } from './gradients.js';

/**
 * The gradient of C = A B with A sparse (values, colIndices, rowPointers) and B dense [K, N]:
 * - dB = A^T dC, itself a sparse product: A's transpose is built on the host from the indices
 *   (counting sort by column, cached per storage) and its values gathered from A's on the device;
 * - dValues[p] = dC[row(p), :] . B[col(p), :], two row gathers and a row sum, O(nnz * N).
 * The indices get no gradient.
 */
export const spmmGradient: GradientRule<'spmm'> = {
  save: (needs) => ({ inputs: [1, 2, ...(needs[3] ? [0] : []), ...(needs[0] ? [3] : [])], output: false }),
  backward: ({ grad, needs, inputShapes, input }) => {
    const transpose = csrTranspose(input(1), input(2), inputShapes[3][0]);
    const valuesGrad = needs[0] ? sum(mul(gather(grad, indexTensor(transpose.rowOf, grad), 0), gather(input(3), input(1), 0)), { axes: 1 }) : null;
    const denseGrad = needs[3]
      ? spmmChecked(gather(input(0), indexTensor(transpose.source, grad), 0), indexTensor(transpose.colIndices, grad), indexTensor(transpose.rowPointers, grad), grad)
      : null;
    return [valuesGrad, null, null, denseGrad];
  },
};
