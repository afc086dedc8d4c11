import type { BufferView, MatmulIntegerScaledAttrs } from '@minnow/core';
import { MinnowError, contiguousStrides, quantizedRange, sizeOf } from '@minnow/core';
import type { GpuBuffer } from '../buffer.js';
import { POSITION, addOperand, unravel } from '../codegen.js';
import { EXACT_INTEGER_LIMIT, dtypeBound } from '../exactness.js';
import type { Programs } from '../program.js';
import { cast } from './elementwise.js';
import { matmul } from './linalg.js';

type View = BufferView<GpuBuffer>;

/**
 * matmulIntegerScaled as matmulInteger's shader into a temporary, then one epilogue pass:
 * y = f32(acc + bias) * scale, and for 8-bit outputs the clamp to [qmin - z, qmax - z], round half
 * to even and + z. The accumulator and the bias must stay within 2^24 to be exact in float32
 * textures: an operand that could pass it is refused (PRECISION_LIMIT) before anything runs.
 */
export function matmulIntegerScaled(programs: Programs, inputs: readonly View[], output: View, attrs: MatmulIntegerScaledAttrs, boundOf: (b: GpuBuffer) => number): void {
  const total = sizeOf(output.shape);
  if (total === 0) return;
  const [a, b, aZero, bZero, scale, bias, outZero] = inputs;
  const bound = (v: View): number => Math.min(boundOf(v.buffer), dtypeBound(v.dtype));
  // |x - zero| is at most the larger bound when both are uint8 (same sign), else their sum.
  const spread = (x: View, z: View): number => (x.dtype === 'uint8' && z.dtype === 'uint8' ? Math.max(bound(x), bound(z)) : bound(x) + bound(z));
  const k = a.shape[a.shape.length - 1];
  const accBound = spread(a, aZero) * spread(b, bZero) * k + bound(bias);
  if (accBound > EXACT_INTEGER_LIMIT) {
    throw new MinnowError(
      'PRECISION_LIMIT',
      `matmulIntegerScaled: the int32 accumulator on the gpu backend may reach ${accBound}, past 2^24 = ${EXACT_INTEGER_LIMIT}, the largest integer float32 textures hold exactly; run this op on js or wasm`,
    );
  }
  const acc = programs.temporary('int32', total);
  // b with several K or N dims (a convolution's patches): copied out as [...batch, K, N] first.
  let matrix = b;
  let gathered: GpuBuffer | undefined;
  if (attrs.bKDims !== 1 || attrs.bNDims !== 1) {
    gathered = programs.temporary(b.dtype, sizeOf(b.shape));
    cast(programs, b, { buffer: gathered, dtype: b.dtype, shape: b.shape, strides: contiguousStrides(b.shape), offset: 0 });
    const shape = [...output.shape.slice(0, -2), k, output.shape[output.shape.length - 1]];
    matrix = { buffer: gathered, dtype: b.dtype, shape, strides: contiguousStrides(shape), offset: 0 };
  }
  try {
    matmul(programs, a, matrix, { buffer: acc, dtype: 'int32', shape: output.shape, strides: contiguousStrides(output.shape), offset: 0 }, { a: aZero, b: bZero });
    const r = output.shape.length;
    const args = programs.args();
    args.buffer('acc', acc);
    addOperand(args, 'sc', scale, scale.shape.length === 1 ? scale.strides : [0]);
    addOperand(args, 'bi', bias, bias.shape.length === 1 ? bias.strides : [0]);
    args.scalar('m', output.shape[r - 2]).scalar('n', output.shape[r - 1]);
    const lines = [
      POSITION,
      unravel('i', ['0', 'm', 'n'], 'pos'),
      `var c = ${attrs.perRow ? 'i1' : 'i2'};`,
      'var y = (acc[pos] + bi[bi_o + c * bi_s0]) * sc[sc_o + c * sc_s0];',
    ];
    if (attrs.type === 'float32') {
      lines.push('return y;');
    } else {
      const { min, max } = quantizedRange(attrs.type);
      addOperand(args, 'zy', outZero, [0]);
      args.scalar('qmin', min).scalar('qmax', max);
      lines.push(
        'var z = zy[zy_o];',
        'var lo = qmin - z;',
        'var hi = qmax - z;',
        'if (y >= lo) { if (y > hi) { y = hi; } } else { y = lo; }',
        // Ties round to even (y is within 8 bits here).
        'var f = Math.floor(y);',
        'var d = y - f;',
        'var q = f;',
        'if (d > 0.5) { q = f + 1.0; } else if (d == 0.5) { q = f - 2.0 * Math.floor(f / 2.0) == 0.0 ? f : f + 1.0; }',
        'return q + z;',
      );
    }
    output.buffer.data = programs.run(args, [`// matmulIntegerScaled ${attrs.type}`, ...lines].join('\n'), total);
  } finally {
    programs.release(acc);
    if (gathered !== undefined) programs.release(gathered);
  }
}
