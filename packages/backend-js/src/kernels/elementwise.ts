import type { BufferView, DType, Kernel, TypedArray } from '@minnow/core';
import { MinnowError, roundHalfToEven, sizeOf } from '@minnow/core';
import { viewOffsets } from '../strided.js';

/**
 * Elementwise kernels. Each computes in float64 (JS numbers) and stores into the output typed array,
 * whose conversion gives the dtype's semantics: float32 rounds once, integers wrap.
 * Operands arrive broadcast to the output shape as strided views.
 */

type Buf = TypedArray;
type UnaryFn = (x: number) => number;
type BinaryFn = (a: number, b: number) => number;

function mapUnary(fn: UnaryFn): (inputs: readonly BufferView<Buf>[], output: BufferView<Buf>) => void {
  return (inputs, output) => {
    const x = inputs[0];
    const src = x.buffer;
    const dst = output.buffer;
    const offsets = viewOffsets(x);
    const n = sizeOf(output.shape);
    const base = x.offset;
    for (let i = 0; i < n; i++) dst[i] = fn(src[offsets ? offsets[i] : base + i]);
  };
}

function mapBinary(fn: BinaryFn): (inputs: readonly BufferView<Buf>[], output: BufferView<Buf>) => void {
  return (inputs, output) => {
    const [a, b] = inputs;
    const aData = a.buffer;
    const bData = b.buffer;
    const dst = output.buffer;
    const ao = viewOffsets(a);
    const bo = viewOffsets(b);
    const n = sizeOf(output.shape);
    for (let i = 0; i < n; i++) {
      dst[i] = fn(aData[ao ? ao[i] : a.offset + i], bData[bo ? bo[i] : b.offset + i]);
    }
  };
}

function isIntegerDType(dtype: DType): boolean {
  return dtype === 'int32' || dtype === 'int8' || dtype === 'uint8';
}

const bool = (v: boolean): number => (v ? 1 : 0);

export const unaryKernels = {
  neg: mapUnary((x) => -x),
  exp: mapUnary(Math.exp),
  log: mapUnary(Math.log),
  sqrt: mapUnary(Math.sqrt),
  reciprocal: mapUnary((x) => 1 / x),
  tanh: mapUnary(Math.tanh),
  abs: mapUnary(Math.abs),
  sign: mapUnary(Math.sign),
  floor: mapUnary(Math.floor),
  round: mapUnary(roundHalfToEven),
} satisfies Record<string, Kernel<Buf, 'neg'>>;

const castToBool = mapUnary((x) => bool(x !== 0));
const castTruncate = mapUnary(Math.trunc);
const castExact = mapUnary((x) => x);

/** float -> int truncates toward zero, then the typed-array store wraps; anything -> bool is x != 0. */
export const cast: Kernel<Buf, 'cast'> = (inputs, output, attrs) => {
  const from = inputs[0].dtype;
  if (attrs.dtype === 'bool') castToBool(inputs, output);
  else if (isIntegerDType(attrs.dtype) && (from === 'float32' || from === 'float64')) castTruncate(inputs, output);
  else castExact(inputs, output);
};

const addF = mapBinary((a, b) => a + b);
const subF = mapBinary((a, b) => a - b);
const mulF = mapBinary((a, b) => a * b);
// int32 products can exceed 2^53; Math.imul gives the exact low 32 bits (two's-complement wrap).
const mulInt32 = mapBinary(Math.imul);
const divF = mapBinary((a, b) => a / b);
const divInt = mapBinary((a, b) => {
  if (b === 0) throw new MinnowError('INVALID_ARGUMENT', 'div: integer division by zero');
  return Math.trunc(a / b);
});

export const binaryKernels = {
  add: addF,
  sub: subF,
  mul: (inputs, output) => (output.dtype === 'int32' ? mulInt32 : mulF)(inputs, output),
  div: (inputs, output) => (isIntegerDType(output.dtype) ? divInt : divF)(inputs, output),
  max: mapBinary(Math.max),
  min: mapBinary(Math.min),
  pow: mapBinary(Math.pow),
  cmplt: mapBinary((a, b) => bool(a < b)),
  cmpeq: mapBinary((a, b) => bool(a === b)),
} satisfies Record<string, Kernel<Buf, 'add'>>;

export const where: Kernel<Buf, 'where'> = (inputs, output) => {
  const [c, a, b] = inputs;
  const co = viewOffsets(c);
  const ao = viewOffsets(a);
  const bo = viewOffsets(b);
  const dst = output.buffer;
  const n = sizeOf(output.shape);
  for (let i = 0; i < n; i++) {
    const cond = c.buffer[co ? co[i] : c.offset + i];
    dst[i] = cond ? a.buffer[ao ? ao[i] : a.offset + i] : b.buffer[bo ? bo[i] : b.offset + i];
  }
};
