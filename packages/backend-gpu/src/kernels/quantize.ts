import type { BufferView, DequantizeAttrs, QuantizeAttrs } from '@minnow/core';
import { quantizedRange, sizeOf } from '@minnow/core';
import type { GpuBuffer } from '../buffer.js';
import { POSITION, addOperand, floorDiv, offsetOf, unravel } from '../codegen.js';
import type { Programs } from '../program.js';

/**
 * ONNX QuantizeLinear / DequantizeLinear, per tensor, per axis and blocked in one form: the scale
 * and zero point are views with x's rank, indexed along `axis` by floor(i / blockSize).
 */

function quantParams(programs: Programs, x: BufferView<GpuBuffer>, scale: BufferView<GpuBuffer>, zero: BufferView<GpuBuffer>, axis: number, blockSize: number) {
  const args = programs.args();
  addOperand(args, 'x', x);
  addOperand(args, 'sc', scale);
  addOperand(args, 'zp', zero);
  x.shape.forEach((d, i) => args.scalar(`d${i}`, d));
  args.scalar('block', blockSize);
  const indices = x.shape.map((_, d) => `i${d}`);
  const paramIndices = x.shape.map((_, d) => (d === axis ? 'blk' : `i${d}`));
  const lines = [
    POSITION,
    unravel('i', x.shape.map((_, d) => `d${d}`), 'pos'),
    x.shape.length > 0 ? floorDiv('blk', `i${axis}`, 'block') : 'var blk = 0.0;',
    `var v = x[${offsetOf('x', indices)}];`,
    `var s = sc[${offsetOf('sc', paramIndices)}];`,
    `var z = zp[${offsetOf('zp', paramIndices)}];`,
  ];
  return { args, lines };
}

export function quantize(programs: Programs, inputs: readonly BufferView<GpuBuffer>[], output: BufferView<GpuBuffer>, attrs: QuantizeAttrs): void {
  const n = sizeOf(output.shape);
  if (n === 0) return;
  const [x, scale, zero] = inputs;
  const { min, max } = quantizedRange(attrs.type);
  const { args, lines } = quantParams(programs, x, scale, zero, attrs.axis, attrs.blockSize);
  args.scalar('qmin', min).scalar('qmax', max);
  const body = [
    '// quantize',
    ...lines,
    'var q = v / s;',
    // NaN maps to the zero point; ties round to even.
    'var r = 0.0;',
    'if (q == q) {',
    '  var f = Math.floor(q);',
    '  var d = q - f;',
    '  if (d > 0.5) { r = f + 1.0; } else if (d < 0.5) { r = f; } else { r = f - 2.0 * Math.floor(f / 2.0) == 0.0 ? f : f + 1.0; }',
    '  if (Math.abs(q) > 1.0e30) { r = q; }',
    '}',
    'r = r + z;',
    'return Math.min(Math.max(r, qmin), qmax);',
  ].join('\n');
  output.buffer.data = programs.run(args, body, n);
}

export function dequantize(programs: Programs, inputs: readonly BufferView<GpuBuffer>[], output: BufferView<GpuBuffer>, attrs: DequantizeAttrs): void {
  const n = sizeOf(output.shape);
  if (n === 0) return;
  const [x, scale, zero] = inputs;
  const { args, lines } = quantParams(programs, x, scale, zero, attrs.axis, attrs.blockSize);
  output.buffer.data = programs.run(args, ['// dequantize', ...lines, 'return (v - z) * s;'].join('\n'), n);
}
