import type { Backend, BackendFactory, BackendInfo, DType, Kernels, TypedArray } from '@minnow/core';
import { DTYPES, MinnowError, allocateArray, bytesPerElement } from '@minnow/core';
import { binaryKernels, cast, unaryKernels, where } from './kernels/elementwise.js';
import { conv2d, matmul, matmulInteger } from './kernels/linalg.js';
import { gather, pad } from './kernels/movement.js';
import { dequantize, matmulIntegerScaled, quantize } from './kernels/quantize.js';
import { reduceMax, sum } from './kernels/reduce.js';
import { spmm } from './kernels/sparse.js';

/**
 * backend-js: every primitive in plain TypeScript over typed arrays. It is the oracle the WASM and
 * GPU backends are tested against, and float64 here is what gradient checks run on.
 */

export const jsKernels: Kernels<TypedArray> = {
  ...unaryKernels,
  cast,
  ...binaryKernels,
  where,
  sum,
  reduceMax,
  pad,
  matmul,
  conv2d,
  gather,
  matmulInteger,
  spmm,
  quantize,
  dequantize,
  matmulIntegerScaled,
};

export function createJsBackend(name = 'js'): Backend<TypedArray> {
  let buffers = 0;
  let bytes = 0;
  const freed = new WeakSet<TypedArray>();
  const info: BackendInfo = {
    name,
    description: 'plain TypeScript over typed arrays (the reference backend); blocked, packed GEMM with float64 accumulation',
    mode: 'typescript',
    threads: 1,
    dtypes: DTYPES,
    syncRead: true,
    notes: ['float32 results are computed in float64 and rounded once on store', 'int32 matmul is exact while |sums| < 2^53'],
  };
  return {
    name,
    info: () => info,
    allocate(dtype: DType, length: number): TypedArray {
      if (!Number.isInteger(length) || length < 0) throw new MinnowError('INVALID_ARGUMENT', `allocate: bad length ${length}`);
      buffers++;
      bytes += length * bytesPerElement(dtype);
      return allocateArray(dtype, length);
    },
    free(buffer: TypedArray): void {
      if (freed.has(buffer)) throw new MinnowError('INTERNAL', 'js backend: buffer freed twice');
      freed.add(buffer);
      buffers--;
      bytes -= buffer.byteLength;
    },
    write(buffer: TypedArray, data: TypedArray): void {
      if (data.length !== buffer.length) {
        throw new MinnowError('INVALID_ARGUMENT', `write: ${data.length} values for a buffer of ${buffer.length}`);
      }
      buffer.set(data);
    },
    read: async (buffer: TypedArray) => buffer.slice(),
    readSync: (buffer: TypedArray) => buffer.slice(),
    kernels: jsKernels,
    memory: () => ({ buffers, bytes }),
    dispose(): void {
      buffers = 0;
      bytes = 0;
    },
  };
}

/** Register with `await init(jsBackend)`; afterwards `init('js')` and `tensor.to('js')` work by name. */
export const jsBackend: BackendFactory<TypedArray> = {
  name: 'js',
  create: async () => createJsBackend('js'),
};
