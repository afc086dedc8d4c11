import type { BufferView, Conv2dAttrs } from '@minnow/core';
import { collapseDims, contiguousStrides, sizeOf } from '@minnow/core';
import type { GpuBuffer } from '../buffer.js';
import { POSITION, addOperand, chunking, floorDiv, offsetOf, unravel, unrolledLoop } from '../codegen.js';
import { reduceChunks } from './reduce.js';
import type { Programs } from '../program.js';

/**
 * matmul, matmulInteger and conv2d as one dot product per output element, read through the
 * operands' strides (transposed and broadcast views need no copy). The accumulator is float32:
 * exact for integers while every partial sum stays below 2^24, which exactness.ts checks first.
 * Dot products longer than FRAGMENT_BUDGET run in chunks that a second pass adds up.
 */

/** Batched [..., M, K] x [..., K, N]; for matmulInteger, zero points per tensor, row or column. */
export function matmul(
  programs: Programs,
  a: BufferView<GpuBuffer>,
  b: BufferView<GpuBuffer>,
  output: BufferView<GpuBuffer>,
  zeros?: { a: BufferView<GpuBuffer>; b: BufferView<GpuBuffer> },
): void {
  const total = sizeOf(output.shape);
  if (total === 0) return;
  const r = a.shape.length;
  const [m, k, n] = [a.shape[r - 2], a.shape[r - 1], b.shape[r - 1]];
  const batchShape = output.shape.slice(0, -2);
  const batch = collapseDims(batchShape, [contiguousStrides(batchShape), a.strides.slice(0, -2), b.strides.slice(0, -2)]);
  const args = programs.args();
  addOperand(args, 'a', a, [...batch.strides[1], a.strides[r - 2], a.strides[r - 1]]);
  addOperand(args, 'b', b, [...batch.strides[2], b.strides[r - 1], b.strides[r - 2]]);
  batch.shape.forEach((d, i) => args.scalar(`d${i}`, d));
  args.scalar('m', m).scalar('n', n).scalar('k', k);
  const { chunks, size } = chunking(k);
  args.scalar('nc', chunks).scalar('len', size);
  const batchIndices = batch.shape.map((_, i) => `i${i}`);
  const lines = [
    POSITION,
    unravel('i', [...batch.shape.map((_, i) => `d${i}`), 'm', 'n', 'nc'], 'pos'),
  ];
  // After the batch dims come the row (m) and column (n) indices.
  const row = `i${batch.shape.length}`;
  const col = `i${batch.shape.length + 1}`;
  lines.push(
    `var aBase = ${offsetOf('a', [...batchIndices, row])};`,
    `var bBase = ${offsetOf('b', [...batchIndices, col])};`,
    `var aStep = a_s${batch.shape.length + 1};`,
    `var bStep = b_s${batch.shape.length + 1};`,
  );
  if (zeros) {
    addOperand(args, 'za', zeros.a, zeros.a.shape.length === 1 ? zeros.a.strides : [0]);
    addOperand(args, 'zb', zeros.b, zeros.b.shape.length === 1 ? zeros.b.strides : [0]);
    lines.push(`var za0 = za[za_o + ${row} * za_s0];`, `var zb0 = zb[zb_o + ${col} * zb_s0];`);
  }
  const product = (p: string): string =>
    zeros ? `(a[aBase + ${p} * aStep] - za0) * (b[bBase + ${p} * bStep] - zb0)` : `a[aBase + ${p} * aStep] * b[bBase + ${p} * bStep]`;
  lines.push(
    'var acc = 0.0;',
    ...unrolledLoop('p', `i${batch.shape.length + 2} * len`, 'len', (p) => [`if (${p} < k) { acc = acc + ${product(p)}; }`]),
    'return acc;',
  );
  const target = chunks === 1 ? output.buffer : programs.temporary(output.dtype, total * chunks);
  target.data = programs.run(args, [`// matmul${zeros ? 'Integer' : ''}`, ...lines].join('\n'), total * chunks);
  if (chunks > 1) reduceChunks(programs, 'sum', target, chunks, { ...output, shape: [total, 1], strides: [1, 1] });
}

/** NCHW input x OIHW weight, zero padding [top, left, bottom, right], groups, stride, dilation. */
export function conv2d(programs: Programs, x: BufferView<GpuBuffer>, w: BufferView<GpuBuffer>, output: BufferView<GpuBuffer>, attrs: Conv2dAttrs): void {
  const total = sizeOf(output.shape);
  if (total === 0) return;
  const [, , height, width] = x.shape;
  const [outChannels, groupChannels, kh, kw] = w.shape;
  const [, , outH, outW] = output.shape;
  const taps = groupChannels * kh * kw;
  const { chunks, size } = chunking(taps);
  const args = programs.args();
  addOperand(args, 'x', x);
  addOperand(args, 'w', w);
  args.scalar('oc', outChannels).scalar('oh', outH).scalar('ow', outW).scalar('h', height).scalar('wd', width);
  args.scalar('gc', groupChannels).scalar('gout', outChannels / attrs.groups).scalar('kh', kh).scalar('kw', kw).scalar('taps', taps);
  args.scalar('sh', attrs.stride[0]).scalar('sw', attrs.stride[1]).scalar('pt', attrs.padding[0]).scalar('pl', attrs.padding[1]);
  args.scalar('dh', attrs.dilation[0]).scalar('dw', attrs.dilation[1]).scalar('nc', chunks).scalar('len', size);
  // One flat loop over the taps (channel, row, column) of the window, unravelled per tap.
  const tap = (q: string, sfx: string): string[] => [
    `if (${q} < taps) {`,
    unravel(`t${sfx}_`, ['gc', 'kh', 'kw'], q),
    `var y${sfx} = o2 * sh - pt + t${sfx}_1 * dh;`,
    `var z${sfx} = o3 * sw - pl + t${sfx}_2 * dw;`,
    `if (y${sfx} >= 0.0 && y${sfx} < h && z${sfx} >= 0.0 && z${sfx} < wd) {`,
    `acc = acc + x[${offsetOf('x', ['o0', `g * gc + t${sfx}_0`, `y${sfx}`, `z${sfx}`])}] * w[${offsetOf('w', ['o1', `t${sfx}_0`, `t${sfx}_1`, `t${sfx}_2`])}];`,
    '}',
    '}',
  ];
  const body = [
    '// conv2d',
    POSITION,
    unravel('o', ['1.0', 'oc', 'oh', 'ow', 'nc'], 'pos'),
    floorDiv('g', 'o1', 'gout'),
    'var acc = 0.0;',
    ...unrolledLoop('q', 'o4 * len', 'len', tap),
    'return acc;',
  ].join('\n');
  const target = chunks === 1 ? output.buffer : programs.temporary(output.dtype, total * chunks);
  target.data = programs.run(args, body, total * chunks);
  if (chunks > 1) reduceChunks(programs, 'sum', target, chunks, { ...output, shape: [total, 1], strides: [1, 1] });
}
