import type { OpContext } from '../../operator.js';

/**
 * The window geometry Conv, ConvTranspose and the pools share: kernel, strides, dilations and
 * pads per spatial dim, with ONNX's auto_pad rules and the pools' ceil_mode. Pads are in ONNX
 * order: all the begins, then all the ends ([x1_begin, x2_begin, ..., x1_end, x2_end, ...]).
 */
export interface WindowGeometry {
  readonly kernel: readonly number[];
  readonly strides: readonly number[];
  readonly dilations: readonly number[];
  readonly pads: readonly number[];
  /** Output spatial dims. */
  readonly output: readonly number[];
}

/** What the geometry reads of a node: its attributes, and errors that name it (an OpContext, or the ONNX importer's view of a node). */
export type WindowContext = Pick<OpContext, 'attrs' | 'error'>;

export const AUTO_PADS = ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'] as const;
export type AutoPad = (typeof AUTO_PADS)[number];

export function autoPadOf(ctx: WindowContext): AutoPad {
  const value = ctx.attrs.string('auto_pad', 'NOTSET');
  if (!(AUTO_PADS as readonly string[]).includes(value)) {
    throw ctx.error('INVALID_MODEL', `auto_pad '${value}' is not one of ${AUTO_PADS.join(', ')}`);
  }
  return value as AutoPad;
}

/** An ints attribute with one entry per spatial dim (default `fallback` each), checked to be >= `min`. */
export function perDimAttr(ctx: WindowContext, name: string, dims: number, fallback: number, min: number): number[] {
  const values = ctx.attrs.ints(name, new Array<number>(dims).fill(fallback));
  if (values.length !== dims) throw ctx.error('INVALID_MODEL', `attribute '${name}' has ${values.length} entries, the input has ${dims} spatial dims`);
  if (values.some((v) => v < min)) throw ctx.error('INVALID_MODEL', `attribute '${name}' [${values}] must be >= ${min}`);
  return values;
}

/** Explicit pads (2 per spatial dim), defaulting to zeros. */
export function padsAttr(ctx: WindowContext, dims: number): number[] {
  const pads = ctx.attrs.ints('pads', new Array<number>(2 * dims).fill(0));
  if (pads.length !== 2 * dims) throw ctx.error('INVALID_MODEL', `attribute 'pads' has ${pads.length} entries, ${2 * dims} expected (a begin and an end per spatial dim)`);
  return pads;
}

/** The kernel_shape attribute when given (it must agree with `fromWeight` when that is known). */
export function kernelShapeAttr(ctx: WindowContext, dims: number, fromWeight?: readonly number[]): number[] {
  if (!ctx.attrs.has('kernel_shape')) {
    if (fromWeight === undefined) throw ctx.error('INVALID_MODEL', "required attribute 'kernel_shape' is missing");
    return [...fromWeight];
  }
  const kernel = ctx.attrs.ints('kernel_shape');
  if (kernel.length !== dims || kernel.some((k) => k < 1)) throw ctx.error('INVALID_MODEL', `kernel_shape [${kernel}] must have ${dims} positive entries`);
  if (fromWeight !== undefined && kernel.some((k, i) => k !== fromWeight[i])) {
    throw ctx.error('INVALID_MODEL', `kernel_shape [${kernel}] disagrees with the weight's spatial dims [${fromWeight}]`);
  }
  return kernel;
}

const extent = (kernel: number, dilation: number): number => (kernel - 1) * dilation + 1;

/**
 * Pads and output dims of a sliding window over `input` (spatial dims). SAME pads so the output is
 * ceil(input / stride), the odd unit at the end (SAME_UPPER) or the beginning (SAME_LOWER); VALID
 * pads nothing. With explicit pads, `ceilMode` rounds the window count up, dropping a last window
 * that would start in the end padding (as ONNX's reference and onnxruntime do).
 */
export function windowGeometry(
  ctx: WindowContext,
  input: readonly number[],
  kernel: readonly number[],
  options: { ceilMode?: boolean } = {},
): WindowGeometry {
  const dims = input.length;
  const strides = perDimAttr(ctx, 'strides', dims, 1, 1);
  const dilations = perDimAttr(ctx, 'dilations', dims, 1, 1);
  const autoPad = autoPadOf(ctx);
  let pads: number[];
  const output: number[] = [];
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pads = new Array<number>(2 * dims).fill(0);
    for (let i = 0; i < dims; i++) {
      output.push(Math.ceil(input[i] / strides[i]));
      const total = Math.max(0, (output[i] - 1) * strides[i] + extent(kernel[i], dilations[i]) - input[i]);
      const small = Math.floor(total / 2);
      pads[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      pads[dims + i] = total - pads[i];
    }
  } else {
    pads = autoPad === 'VALID' ? new Array<number>(2 * dims).fill(0) : padsAttr(ctx, dims);
    for (let i = 0; i < dims; i++) {
      const span = input[i] + pads[i] + pads[dims + i] - extent(kernel[i], dilations[i]);
      let count = (options.ceilMode ? Math.ceil(span / strides[i]) : Math.floor(span / strides[i])) + 1;
      if (options.ceilMode && (count - 1) * strides[i] >= input[i] + pads[i]) count--;
      output.push(count);
    }
  }
  if (output.some((d) => d < 1)) {
    throw ctx.error('SHAPE_MISMATCH', `kernel [${kernel}] (dilations [${dilations}], pads [${pads}], strides [${strides}]) leaves no output for spatial dims [${input}]`);
  }
  return { kernel, strides, dilations, pads, output };
}
