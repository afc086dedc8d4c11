export { MinnowError, formatShape, type MinnowErrorCode } from './errors.js';
export {
  DTYPES, FLOAT_DTYPES, INT_DTYPES, NUMERIC_DTYPES, allocateArray, bytesPerElement, dtypeOfArray, integerRange,
  isDType, isFloatDType, isTypedArray, viewArray, type DType, type DTypeArrayMap, type TypedArray,
} from './dtype.js';
export {
  broadcastShapes, broadcastStrides, contiguousStrides, isContiguous, normalizeAxes, normalizeAxis, reshapeStrides,
  resolveReshape, shapesEqual, sizeOf, type Shape,
} from './shape.js';
export {
  bfloat16BitsOf, decodeBFloat16, decodeFloat16, encodeBFloat16, encodeFloat16, float16BitsOf, float16ToNumber,
} from './storage/float16.js';
export { INT4_RANGE, UINT4_RANGE, packInt4, packedInt4Bytes, unpackInt4 } from './storage/int4.js';
export { Random } from './random.js';
export { collapseDims, padRank, type Collapsed } from './layout.js';
export type { Backend, BackendFactory, BackendInfo, BackendMemory, BufferView, Kernel, Kernels } from './backend.js';
export {
  KERNEL_OPS, PRIMITIVES, type Conv2dAttrs, type DequantizeAttrs, type KernelOp, type PrimOp, type PrimitiveAttrs,
  type PrimitiveKind, type PrimitiveSpec, type QuantizeAttrs, type QuantizedType, type ViewOp,
  type MatmulIntegerScaledAttrs, type ScaledOutputType,
} from './ops/table.js';
export {
  backendStatus, defaultBackendName, eraseBufferType, getBackend, init, isInitialized, registerBackend, registeredBackends,
  setDefaultBackend, shutdownBackend, type BackendStatus,
} from './registry.js';
export { assertNoLeaks, enterScope, exitScope, keep, liveTensors, scope } from './memory.js';
export { Storage, Tensor, type BackwardOptions, type NestedArray } from './tensor.js';
export { runKernel } from './dispatch.js';
export {
  arange, fromArray, fromFloat16, fromInt4, full, ones, randomNormal, randomUniform, scalar, tensor, zeros,
  type CreateOptions, type RandomOptions,
} from './ops/creation.js';
export { contiguous, expand, flatten, permute, reshape, slice, squeeze, transpose, unsqueeze } from './ops/view.js';
export {
  abs, add, cast, clone, conv2d, dequantize, div, equal, exp, floor, gather, less, log, matmul, matmulInteger, max,
  maximum, minimum, mul, neg, pad, pow, quantize, reciprocal, round, sign, sqrt, sub, sum, tanh, where,
  type Conv2dOptions, type Operand, type QuantizationAxis, type ReduceOptions,
} from './ops/primitives.js';
export { checkCsr, checkCsrIndices, sparseMatmul, type CsrMatrix } from './ops/sparse.js';
export {
  argmax, clamp, concat, erf, gelu, layerNorm, leakyRelu, linear, logSoftmax, logsumexp, mean, min, relu, sigmoid,
  silu, softmax, softplus, square, variance,
} from './ops/math.js';
export { matmulIntegerScaled, type MatmulIntegerScaledOptions } from './ops/matmul-integer-scaled.js';
export { quantizedRange, roundHalfToEven } from './numeric.js';
export { broadcastParameter, fakeQuantize, type FakeQuantizeOptions } from './ops/fake-quantize.js';
export { isGradEnabled, noGrad, type SavePolicy, type SaveSpec } from './autograd/graph.js';
export { GRADIENTS, type GradientContext, type GradientRule } from './autograd/gradients.js';
// Installs Tensor.backward() (it needs the ops, which need Tensor).
import './autograd/backward.js';
