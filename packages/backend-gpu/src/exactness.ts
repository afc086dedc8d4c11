import type { BufferView, DType, KernelOp, PrimitiveAttrs } from '@minnow/core';
import { MinnowError, integerRange, sizeOf } from '@minnow/core';
import type { GpuBuffer } from './buffer.js';

/**
 * Integers on the GPU are float32 values, exact only while |x| <= 2^24. Rather than compute
 * wrong answers past that, the backend tracks for every integer buffer a bound on |value| (exact
 * for uploads, derived for kernel results) and refuses, before running, any int32 result whose
 * bound passes 2^24. int8, uint8 and bool results always fit: their intermediates are at most
 * 255 * 255 * 2 before the wrap.
 *
 * So, for example, an int8 x int8 matmulInteger with zero points is exact for K up to
 * floor(2^24 / (255 * 255)) = 258, and for symmetric int8 (zero points 0, values in [-128, 127])
 * up to K = 1024; the bound uses the actual value ranges, so data that uses less of the range
 * allows more.
 */
export const EXACT_INTEGER_LIMIT = 2 ** 24;

/** The bound of an integer dtype's full range. */
export function dtypeBound(dtype: DType): number {
  if (dtype === 'bool') return 1;
  if (dtype === 'float32' || dtype === 'float64') return Infinity;
  const { min, max } = integerRange(dtype);
  return Math.max(-min, max);
}

/** max |x| of host data about to be uploaded. */
export function boundOfValues(values: ArrayLike<number>): number {
  let bound = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a > bound) bound = a;
  }
  return bound;
}

type Views = readonly BufferView<GpuBuffer>[];

/**
 * The bound on |result| of a kernel with an integer or bool output, from its inputs' bounds
 * (`boundOf` may measure a buffer whose bound is unknown). Float outputs return Infinity.
 */
export function resultBound<K extends KernelOp>(op: K, inputs: Views, output: BufferView<GpuBuffer>, attrs: PrimitiveAttrs[K], boundOf: (b: GpuBuffer) => number): number {
  const dtype = output.dtype;
  if (dtype === 'float32' || dtype === 'float64') return Infinity;
  const full = dtypeBound(dtype);
  if (dtype !== 'int32') return full; // int8, uint8, bool: wrapped into range, intermediates far below 2^24
  // Ops whose result can grow past their inputs measure unknown bounds; the others pass bounds on.
  const b = (i: number): number => Math.min(boundOf(inputs[i].buffer), dtypeBound(inputs[i].dtype));
  const known = (i: number): number => Math.min(inputs[i].buffer.bound, dtypeBound(inputs[i].dtype));
  let bound: number;
  switch (op) {
    case 'add':
    case 'sub':
      bound = b(0) + b(1);
      break;
    case 'mul':
      bound = b(0) * b(1);
      break;
    case 'sum': {
      const axes = (attrs as PrimitiveAttrs['sum']).axes;
      bound = b(0) * axes.reduce((p, a) => p * inputs[0].shape[a], 1);
      break;
    }
    case 'matmul':
      bound = b(0) * b(1) * inputs[0].shape[inputs[0].shape.length - 1];
      break;
    case 'matmulInteger': {
      // |x - zero| is at most the larger bound when both are uint8 (same sign), else their sum.
      const spread = (x: number, z: number): number => (inputs[x].dtype === 'uint8' && inputs[z].dtype === 'uint8' ? Math.max(b(x), b(z)) : b(x) + b(z));
      bound = spread(0, 2) * spread(1, 3) * inputs[0].shape[inputs[0].shape.length - 1];
      break;
    }
      break;
    case 'max':
    case 'min':
      return Math.max(known(0), known(1));
    case 'where':
      return Math.max(known(1), known(2));
    case 'pad':
      return Math.max(known(0), Math.abs((attrs as PrimitiveAttrs['pad']).value));
    case 'cast':
      // From float: any int32, exactly representable after truncation (codegen.truncateAndWrap).
      return inputs[0].dtype === 'float32' ? Infinity : Math.min(known(0), full);
    default:
      // neg, abs, sign, div, reduceMax, gather: |result| <= |input|
      return known(0);
  }
  if (bound > EXACT_INTEGER_LIMIT && sizeOf(output.shape) > 0) {
    throw new MinnowError(
      'PRECISION_LIMIT',
      `${op}: int32 result on the gpu backend may reach ${bound} (from operand bounds ${inputs.map((v) => boundOf(v.buffer)).join(', ')}), ` +
        `past 2^24 = ${EXACT_INTEGER_LIMIT}, the largest integer float32 textures hold exactly; ` +
        'run this op on js or wasm (await tensor.to("wasm")), or keep int32 values smaller',
    );
  }
  return bound;
}
