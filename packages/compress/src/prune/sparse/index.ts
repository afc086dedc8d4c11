// Sparse storage for pruned weights: CSR and bitmask forms on the host, SparseLinear (a Linear
// that runs on core's sparse product), and ONNX sparse initialisers for smaller files.
export {
  checkCsrArrays, csrByteSize, csrDensity, csrFromMatrix, csrFromTensor, csrToDense, csrToMatrix, denseToCsr, matrixShape, type CsrArrays,
} from './csr.js';
export { bitmaskByteSize, bitmaskDensity, bitmaskToDense, checkBitmaskArrays, denseToBitmask, type BitmaskArrays } from './bitmask.js';
export {
  SparseLinear, sparsifyLinears, type SparseLinearOptions, type SparsifiedLayer, type SparsifyOptions, type SparsifyResult,
} from './sparse-linear.js';
export {
  sparseInitializer, toDenseInitializers, toSparseInitializers, type SparseInitializerOptions, type SparseInitializerReport,
  type SparseInitializerResult,
} from './onnx.js';
