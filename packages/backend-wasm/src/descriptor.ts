import type { BufferView, Conv2dAttrs } from '@minnow/core';

/**
 * Descriptors for the AssemblyScript kernels, written straight into the descriptor block: these
 * run once per kernel call, so for the small tensors of a streaming model (an LSTM step, a VAD
 * frame) they are a real part of each op's cost and allocate nothing.
 */

type View = BufferView<unknown>;

const MAX_OPERANDS = 3;
const RANK = 4;
/** Collapsed dims and per-operand strides of the layout being built (reused across calls). */
const dims = new Array<number>(RANK).fill(0);
const strides = new Array<number>(RANK * MAX_OPERANDS).fill(0);

/**
 * The elementwise descriptor of assembly/elementwise.ts (4 dims of shape, then 4 strides per
 * operand) for `inputs` over `shape`: size-1 dims dropped, neighbours that every operand walks
 * contiguously merged (core's collapseDims), left-padded with size-1 dims. Writes words[0..] and
 * returns true, or false when the layout needs more than 4 dims.
 */
export function writeElementwise(words: Int32Array, shape: readonly number[], inputs: readonly View[]): boolean {
  const operands = inputs.length;
  let count = 0;
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d];
    if (n === 1) continue;
    let merge = count > 0;
    for (let o = 0; merge && o < operands; o++) merge = strides[o * RANK + count - 1] === inputs[o].strides[d] * n;
    if (merge) {
      dims[count - 1] *= n;
      for (let o = 0; o < operands; o++) strides[o * RANK + count - 1] = inputs[o].strides[d];
    } else {
      if (count === RANK) return false;
      dims[count] = n;
      for (let o = 0; o < operands; o++) strides[o * RANK + count] = inputs[o].strides[d];
      count++;
    }
  }
  const pad = RANK - count;
  for (let i = 0; i < RANK; i++) words[i] = i < pad ? 1 : dims[i - pad];
  for (let o = 0; o < operands; o++) {
    const at = RANK + o * RANK;
    for (let i = 0; i < RANK; i++) words[at + i] = i < pad ? 0 : strides[o * RANK + i - pad];
  }
  return true;
}

/** Collapses one operand's dims (pushed in order) into at most `limit` dims: the reduce descriptor's halves. */
let count1 = 0;
function push1(n: number, stride: number, limit: number): boolean {
  if (n === 1) return true;
  if (count1 > 0 && strides[count1 - 1] === stride * n) {
    dims[count1 - 1] *= n;
    strides[count1 - 1] = stride;
    return true;
  }
  if (count1 === limit) return false;
  dims[count1] = n;
  strides[count1] = stride;
  count1++;
  return true;
}

/** Writes the collapsed dims, left-padded to `rank` (size 1, stride 0), at words[shapeAt..] and words[stridesAt..]. */
function flush1(words: Int32Array, shapeAt: number, stridesAt: number, rank: number): void {
  const pad = rank - count1;
  for (let i = 0; i < rank; i++) {
    words[shapeAt + i] = i < pad ? 1 : dims[i - pad];
    words[stridesAt + i] = i < pad ? 0 : strides[i - pad];
  }
  count1 = 0;
}

/**
 * The reduce descriptor of assembly/reduce.ts: the kept dims of x collapsed to 3 (shape at [0..2],
 * strides at [3..5]), then the reduced ones in `axes` order (shape at [6..8], strides at [9..11]).
 * False when either side needs more than 3 dims.
 */
export function writeReduce(words: Int32Array, x: View, axes: readonly number[]): boolean {
  count1 = 0;
  for (let d = 0; d < x.shape.length; d++) {
    if (!axes.includes(d) && !push1(x.shape[d], x.strides[d], 3)) return false;
  }
  flush1(words, 0, 3, 3);
  for (const d of axes) {
    if (!push1(x.shape[d], x.strides[d], 3)) return false;
  }
  flush1(words, 6, 9, 3);
  return true;
}

/**
 * Writes the 4 strides of a 4-D view at words[at..], those of size-1 dims replaced by what a
 * contiguous layout would have there. Such a stride never moves an address, but views often carry
 * 0 or an odd value in it (a squeezed or expanded dim), and the kernels' layout tests (contiguous
 * rows, flat weights) compare strides.
 */
function writeStrides4(words: Int32Array, at: number, v: View): void {
  let next = 1;
  for (let d = 3; d >= 0; d--) {
    const s = v.shape[d] === 1 ? next : v.strides[d];
    words[at + d] = s;
    next = s * v.shape[d];
  }
}

/** The conv2d descriptor of assembly/conv_f32.ts (27 words). */
export function writeConv2d(words: Int32Array, x: View, w: View, output: View, attrs: Conv2dAttrs): void {
  for (let d = 0; d < 4; d++) {
    words[d] = x.shape[d];
    words[8 + d] = w.shape[d];
    words[20 + d] = attrs.padding[d];
  }
  writeStrides4(words, 4, x);
  writeStrides4(words, 12, w);
  words[16] = output.shape[2];
  words[17] = output.shape[3];
  words[18] = attrs.stride[0];
  words[19] = attrs.stride[1];
  words[24] = attrs.dilation[0];
  words[25] = attrs.dilation[1];
  words[26] = attrs.groups;
}
