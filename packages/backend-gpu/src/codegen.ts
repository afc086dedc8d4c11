import type { BufferView, DType } from '@minnow/core';
import { collapseDims, contiguousStrides } from '@minnow/core';
import type { GpuBuffer } from './buffer.js';
import type { KernelArgs } from './program.js';

/**
 * Source fragments shared by the kernels. All values are float32 in the shader; integer dtypes are
 * integers held exactly (|x| < 2^24), and results are wrapped to their dtype here, so int8 and uint8
 * arithmetic wraps exactly like a typed-array store.
 */

/** The output position as a float (gpu.js's thread index is an int). */
export const POSITION = 'var pos = 0.0 + this.thread.x;';

/**
 * Lines that split `source` into `${name}0 .. ${name}{k-1}` over dims `dims` (uniform names or
 * literals; the first dim's size is never needed). Float division is corrected by one step either
 * way, so the split is exact for every position below 2^24.
 */
export function unravel(name: string, dims: readonly string[], source: string): string {
  const k = dims.length;
  if (k === 0) return '';
  const lines = [`var ${name}_t = ${source};`];
  for (let d = k - 1; d >= 1; d--) {
    const q = `${name}_q${d}`;
    const i = `${name}${d}`;
    const size = dims[d];
    lines.push(
      `var ${q} = Math.floor((${name}_t + 0.5) / ${size});`,
      `var ${i} = ${name}_t - ${q} * ${size};`,
      `if (${i} < 0.0) { ${q} = ${q} - 1.0; ${i} = ${i} + ${size}; }`,
      `if (${i} >= ${size}) { ${q} = ${q} + 1.0; ${i} = ${i} - ${size}; }`,
      `${name}_t = ${q};`,
    );
  }
  lines.push(`var ${name}0 = ${name}_t;`);
  return lines.join('\n');
}

/** Exact floor(a / b) for non-negative integers a, b < 2^24, as an expression-free block assigning `target`. */
export function floorDiv(target: string, a: string, b: string): string {
  return [
    `var ${target} = Math.floor((${a} + 0.5) / ${b});`,
    `if (${a} - ${target} * ${b} < 0.0) { ${target} = ${target} - 1.0; }`,
    `if (${a} - ${target} * ${b} >= ${b}) { ${target} = ${target} + 1.0; }`,
  ].join('\n');
}

/** `offset + i0*stride0 + ...` for an operand named `op`, with uniforms `${op}_s{d}` and `${op}_o`. */
export function offsetOf(op: string, indices: readonly string[]): string {
  return [`${op}_o`, ...indices.map((index, d) => `(${index}) * ${op}_s${d}`)].join(' + ');
}

/** Adds an operand's buffer, strides and offset to a call (names as offsetOf reads them). */
export function addOperand(args: KernelArgs, op: string, view: BufferView<GpuBuffer>, strides: readonly number[] = view.strides): void {
  args.buffer(op, view.buffer);
  strides.forEach((s, d) => args.scalar(`${op}_s${d}`, s));
  args.scalar(`${op}_o`, view.offset);
}

/**
 * Statements that wrap `y` (an exact integer) to an integer dtype, as a typed-array store would.
 * y / 256 and the floor are exact (a power of two), and y mod 256 is representable, so the
 * subtraction is exact too, for any float32 integer y.
 */
export function wrapTo(dtype: DType, y = 'y'): string {
  switch (dtype) {
    case 'int8':
      return `${y} = ${y} - 256.0 * Math.floor(${y} / 256.0); if (${y} >= 128.0) { ${y} = ${y} - 256.0; }`;
    case 'uint8':
      return `${y} = ${y} - 256.0 * Math.floor(${y} / 256.0);`;
    case 'bool':
      return `${y} = ${y} != 0.0 ? 1.0 : 0.0;`;
    default:
      return ''; // float32 rounds in the texture; int32 results are bounded below 2^24 (exactness.ts)
  }
}

/**
 * Float to integer as a typed-array store does it: NaN and ±Infinity become 0, otherwise truncate
 * toward zero, then wrap modulo 2^32 (int32) or 2^8. Every step is exact in float32: the wrap
 * subtracts multiples of a power of two from a value that is already a multiple of its ulp.
 */
export function truncateAndWrap(dtype: 'int32' | 'int8' | 'uint8', v: string): string {
  const lines = [
    `var y = 0.0;`,
    `if (${v} == ${v} && Math.abs(${v}) < infv) {`,
    `  y = ${v} < 0.0 ? -Math.floor(-${v}) : Math.floor(${v});`,
  ];
  if (dtype === 'int32') {
    lines.push(
      // Only |y| >= 2^31 wraps, and there y is a multiple of 256, so y mod 2^32 is representable.
      `  if (y >= 2147483648.0 || y < -2147483648.0) {`,
      `    y = y - Math.floor(y / 4294967296.0) * 4294967296.0;`,
      `    if (y >= 2147483648.0) { y = y - 4294967296.0; }`,
      `  }`,
    );
  } else {
    lines.push(`  ${wrapTo(dtype)}`);
  }
  lines.push('}');
  return lines.join('\n');
}

export interface CollapsedOperands {
  /** Output dims after dropping size-1 dims and merging dims contiguous in every operand. */
  readonly dims: number[];
  /** strides[operand][dim], for the inputs only. */
  readonly strides: number[][];
}

/** Collapses an elementwise layout: inputs already broadcast to the output shape. */
export function collapseElementwise(shape: readonly number[], inputs: readonly BufferView<GpuBuffer>[]): CollapsedOperands {
  const collapsed = collapseDims(shape, [contiguousStrides(shape), ...inputs.map((v) => v.strides)]);
  return { dims: collapsed.shape, strides: collapsed.strides.slice(1) };
}

/**
 * Mesa's llvmpipe (the software rasteriser behind headless-gl under Xvfb) stops a fragment after
 * 65535 loop iterations in all, silently. Accumulating loops are therefore unrolled by UNROLL and
 * kernels that would run longer accumulate in chunks, one fragment per chunk, then add the chunks
 * up in a second pass (which also bounds how long a fragment runs on a real GPU).
 */
export const MAX_ITERATIONS = 65000;
export const UNROLL = 4;
/** Elements one fragment accumulates at most. */
export const FRAGMENT_BUDGET = MAX_ITERATIONS * UNROLL;

/**
 * `for (name in [start, start + extent))` unrolled UNROLL times: `body(index, suffix)` gives the
 * statements for one element (`suffix` keeps their variable names distinct).
 */
export function unrolledLoop(name: string, start: string, extent: string, body: (index: string, suffix: string) => string[]): string[] {
  const lines = [`for (var ${name}_b = 0.0; ${name}_b < ${extent}; ${name}_b = ${name}_b + ${UNROLL}.0) {`];
  for (let u = 0; u < UNROLL; u++) {
    lines.push(`if (${name}_b + ${u}.0 < ${extent}) {`, `var ${name}${u} = ${start} + ${name}_b + ${u}.0;`, ...body(`${name}${u}`, `_${u}`), '}');
  }
  lines.push('}');
  return lines;
}

/** How to split `length` accumulated elements into chunks of at most `budget`. */
export function chunking(length: number, budget = FRAGMENT_BUDGET): { chunks: number; size: number } {
  const chunks = Math.max(1, Math.ceil(length / budget));
  return { chunks, size: Math.ceil(length / chunks) };
}
